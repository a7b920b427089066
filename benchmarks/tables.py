"""One day of a generated month as raw tables (``chargeback.raw.tables``), and the snapshots taken after it."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks import network
from benchmarks.basics import DAY, GIB, HOUR, MIB, MONTH_START, Size, hour_slices, join, maps, ts
from benchmarks.layout import Layout, usage_matrix
from collectors import streams
from sample_data import generate as sample


def day_rng(size: Size, day: int, stream: int) -> np.random.Generator:
    """The random stream ``stream`` of one day: a day's rows do not depend on the days generated before it."""
    return np.random.default_rng([size.seed, 2, day, stream])


def _outcome(state: str) -> tuple[str | None, str]:
    """The sample's failure reason and state details for a state."""
    for outcome_state, _minutes, reason, details in sample.RUN_OUTCOMES.values():
        if outcome_state == state and reason in (None, "USER_ERROR"):
            return reason, details
    raise LookupError(state)


def spark_pods_of(layout: Layout, lo: int, hi: int) -> np.ndarray:
    s = layout.spark
    return np.nonzero((s.start < hi) & (s.end > lo))[0]


def spark_identity(layout: Layout, ids: np.ndarray) -> dict[str, pa.Array]:
    """Namespace, pod name, uid, node, owner and labels of some Spark pods."""
    s = layout.spark
    job = s.job[ids]
    job_ids = pa.array(job)
    run_id = pa.array(s.run_id).take(job_ids)
    name = pa.array(s.name).take(job_ids)
    is_driver = s.index[ids] == 0
    driver = join("spark-", run_id, "-driver")
    executor = join(pa.array(s.executor_prefix).take(job_ids), pc.cast(pa.array(s.index[ids]), pa.string()))
    pod = pc.if_else(pa.array(is_driver), driver, executor)
    vc = layout.virtual_clusters
    template = pa.array(s.template[job])
    namespace = pa.array([v.namespace for v in vc]).take(template)
    vc_id = pa.array([v.id for v in vc]).take(template)
    selector = pa.array(s.selector).take(job_ids)
    exec_id = pc.if_else(
        pa.array(is_driver), pa.scalar(None, pa.string()), pc.cast(pa.array(s.index[ids]), pa.string())
    )
    role = pc.if_else(pa.array(is_driver), "driver", "executor")
    # sorted keys, as the sample's dict(sorted(labels)); drivers have no spark-exec-id
    keys = (
        "app",
        "app.kubernetes.io/name",
        "emr-containers.amazonaws.com/job.id",
        "emr-containers.amazonaws.com/virtual-cluster-id",
        "spark-app-name",
        "spark-app-selector",
        "spark-exec-id",
        "spark-role",
    )
    values = (name, name, run_id, vc_id, name, selector, exec_id, role)
    n, k = len(ids), len(keys)
    order = (np.arange(k)[None, :] * n + np.arange(n)[:, None]).ravel()
    items = pa.concat_arrays(values).take(pa.array(order))
    key_column = pa.array(keys).take(pa.array(np.tile(np.arange(k), n)))
    present = pc.invert(pc.is_null(items))
    counts = np.where(is_driver, k - 1, k)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    labels = pa.MapArray.from_arrays(offsets, key_column.filter(present), items.filter(present), type=streams.LABELS)
    return {
        "namespace": namespace,
        "pod": pod,
        "pod_uid": s.uid.take(pa.array(ids)),
        "node": layout.node_names.take(pa.array(s.node[ids])),
        "owner_kind": pc.if_else(pa.array(is_driver), pa.scalar(None, pa.string()), "Pod"),
        "owner_name": pc.if_else(pa.array(is_driver), pa.scalar(None, pa.string()), driver),
        "labels": labels,
    }


def pod_hours_table(layout: Layout, day: int) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """prometheus/pod_hours of one day, the requested core- and byte-seconds per job run and hour, and the pods'
    bytes in and out that crossed an AZ per node and hour (``network.crossed_bytes``)."""
    size = layout.size
    rng = day_rng(size, day, 1)
    lo, hi = MONTH_START + day * DAY, MONTH_START + (day + 1) * DAY
    hours = np.arange(lo, hi, HOUR, dtype=np.int64)
    n = len(layout.pods)
    cpu, memory = usage_matrix(rng, layout.pod_cpu_use, layout.pod_memory_use, layout.pod_diurnal, hours)
    traffic = day_rng(size, day, 5)  # the bytes' own stream: every figure drawn before they existed is unchanged
    received, sent, crossing = network.long_running_bytes(layout, traffic, hours)
    which = pa.array(np.tile(np.arange(n), len(hours)))
    seconds = np.full(n * len(hours), float(HOUR))
    long_running = pa.table(
        {
            "namespace": layout.pod_namespace.take(which),
            "pod": layout.pod_name.take(which),
            "pod_uid": layout.pod_uid.take(which),
            "node": layout.pod_node.take(which),
            "hour": ts(np.repeat(hours, n)),
            "running_seconds": seconds,
            "cpu_request_core_seconds": np.tile(layout.pod_cpu_request, len(hours)) * seconds,
            "cpu_usage_core_seconds": np.round(cpu.T.ravel() * seconds, 3),
            "memory_request_byte_seconds": np.tile(layout.pod_memory_request, len(hours)) * seconds,
            "memory_working_set_byte_seconds": np.round(memory.T.ravel() * seconds),
            "gpu_request_seconds": np.tile(layout.pod_gpu, len(hours)) * seconds,
            "network_receive_bytes": pa.array(received, pa.float64(), from_pandas=True),  # NaN: host network
            "network_transmit_bytes": pa.array(sent, pa.float64(), from_pandas=True),
        }
    )
    s = layout.spark
    ids = spark_pods_of(layout, lo, hi)
    local, hour, running = hour_slices(s.start[ids], s.end[ids], lo, hi)
    pod = ids[local]
    identity = spark_identity(layout, ids)
    take = pa.array(local)
    noise = 1 + 0.12 * rng.standard_normal(len(pod))
    cpu_use = s.cpu_request_cores[pod] * s.cpu_share[pod] * np.clip(noise, 0.05, 2.5)
    memory_use = s.memory_request_bytes[pod] * s.memory_share[pod] * (1 + 0.04 * rng.standard_normal(len(pod)))
    cpu_request = s.cpu_request_cores[pod] * running
    memory_request = s.memory_request_bytes[pod] * running
    spark_received, spark_sent, spark_crossing = network.spark_bytes(layout, traffic, pod, hour, running)
    crossed = network.crossed_bytes(
        layout,
        lo,
        np.concatenate([np.tile(layout.pod_node_index, len(hours)), s.node[pod]]),
        np.concatenate([np.repeat(hours, n), hour]),
        np.concatenate([received, spark_received]),
        np.concatenate([sent, spark_sent]),
        np.concatenate([crossing, spark_crossing]),
    )
    spark = pa.table(
        {
            "namespace": identity["namespace"].take(take),
            "pod": identity["pod"].take(take),
            "pod_uid": identity["pod_uid"].take(take),
            "node": identity["node"].take(take),
            "hour": ts(hour),
            "running_seconds": running,
            "cpu_request_core_seconds": cpu_request,
            "cpu_usage_core_seconds": np.round(cpu_use * running, 3),
            "memory_request_byte_seconds": memory_request,
            "memory_working_set_byte_seconds": np.round(memory_use * running),
            "gpu_request_seconds": np.zeros(len(pod)),
            "network_receive_bytes": spark_received,
            "network_transmit_bytes": spark_sent,
        }
    )
    table = pa.concat_tables([long_running, spark])
    table = table.add_column(0, "cluster", pa.repeat(layout.cluster, table.num_rows)).sort_by("hour")
    # EMR on EKS meters each job run's requested vCPU and memory per hour
    key = s.job[pod] * 24 + (hour - lo) // HOUR
    keys, inverse = np.unique(key, return_inverse=True)
    emr = pa.table(
        {
            "job": keys // 24,
            "hour": lo + (keys % 24) * HOUR,
            "cpu_core_seconds": np.bincount(inverse, cpu_request),
            "memory_byte_seconds": np.bincount(inverse, memory_request),
        }
    )
    return table, emr, crossed


def pods_table(layout: Layout, day: int) -> pa.Table:
    """prometheus/pods of one day: every long-running pod and every Spark pod that ran that day."""
    lo, hi = MONTH_START + day * DAY, MONTH_START + (day + 1) * DAY
    n = len(layout.pods)
    long_running = pa.table(
        {
            "namespace": layout.pod_namespace,
            "pod": layout.pod_name,
            "pod_uid": layout.pod_uid,
            "owner_kind": layout.pod_owner_kind,
            "owner_name": layout.pod_owner_name,
            "start_time": ts(layout.pod_start),
            "completion_time": pa.nulls(n, streams.TS),
            "labels": layout.pod_labels,
            "host_network": layout.pod_host_network,
        }
    )
    ids = spark_pods_of(layout, lo, hi)
    identity = spark_identity(layout, ids)
    spark = pa.table(
        {
            "namespace": identity["namespace"],
            "pod": identity["pod"],
            "pod_uid": identity["pod_uid"],
            "owner_kind": identity["owner_kind"],
            "owner_name": identity["owner_name"],
            "start_time": ts(layout.spark.start[ids]),
            "completion_time": ts(layout.spark.end[ids]),
            "labels": identity["labels"],
            "host_network": pa.repeat(False, len(ids)),
        }
    )
    table = pa.concat_tables([long_running, spark])
    date = datetime.fromtimestamp(lo, UTC).date()
    table = table.add_column(0, "date", pa.repeat(pa.scalar(date, pa.date32()), table.num_rows))
    return table.add_column(0, "cluster", pa.repeat(layout.cluster, table.num_rows))


def namespace_label_set(namespace: str, label: str | None) -> dict[str, str]:
    labels = {"kubernetes.io/metadata.name": namespace}
    if label:
        labels[sample.NAMESPACE_TENANT_LABEL] = label
    return labels


def label_at(base: str, initial: str | None, at: int) -> str | None:
    change = sample.NAMESPACE_LABEL_CHANGES.get(base)
    return change[1] if change and at >= change[0] else initial


def namespace_labels_table(layout: Layout, day: int) -> pa.Table:
    """prometheus/namespace_labels of one day (the sample's relabel of feature-store applies to its copies)."""
    rows = []
    for namespace, _created, initial, base in layout.namespaces:
        change = sample.NAMESPACE_LABEL_CHANGES.get(base)
        for hour in range(MONTH_START + day * DAY, MONTH_START + (day + 1) * DAY, HOUR):
            if change and hour < change[0] < hour + HOUR:
                pieces = [(hour, change[0] - hour), (change[0], hour + HOUR - change[0])]
            else:
                pieces = [(hour, HOUR)]
            for at, seconds in pieces:
                rows.append(
                    {
                        "cluster": layout.cluster,
                        "namespace": namespace,
                        "hour": hour * 1_000_000,
                        "seconds_in_force": float(seconds),
                        "labels": namespace_label_set(namespace, label_at(base, initial, at)),
                    }
                )
    return pa.Table.from_pylist(rows, schema=streams.NAMESPACE_LABELS.schema)


def node_hours_table(layout: Layout, day: int) -> pa.Table:
    nodes = layout.nodes
    hours = np.arange(MONTH_START + day * DAY, MONTH_START + (day + 1) * DAY, HOUR, dtype=np.int64)
    which = np.repeat(np.arange(len(nodes)), len(hours))
    take = pa.array(which)
    return pa.table(
        {
            "cluster": pa.repeat(layout.cluster, len(which)),
            "node": layout.node_names.take(take),
            "hour": ts(np.tile(hours, len(nodes))),
            "provider_id": pa.array([n.provider_id for n in nodes]).take(take),
            "instance_type": pa.array([n.instance_type for n in nodes]).take(take),
            "running_seconds": np.full(len(which), float(HOUR)),
            "cpu_capacity_cores": np.array([float(n.spec.vcpu) for n in nodes])[which],
            "memory_capacity_bytes": np.array([n.spec.memory_gib * GIB for n in nodes])[which],
            "gpu_capacity": np.array([float(n.spec.gpu) for n in nodes])[which],
            "labels": maps([n.labels for n in nodes], which),
        }
    )


def job_runs_table(layout: Layout, day: int) -> pa.Table:
    s = layout.spark
    jobs = np.nonzero(s.day == day)[0]
    specs = sample.SPARK_JOBS
    template = s.template[jobs]
    vcs = layout.virtual_clusters
    take = pa.array(template)
    run_id = pa.array([s.run_id[i] for i in jobs.tolist()], pa.string())
    name = pa.array([s.name[i] for i in jobs.tolist()], pa.string())
    states = ("COMPLETED", "FAILED", "CANCELLED")
    outcomes = [(None, None), _outcome("FAILED"), _outcome("CANCELLED")]
    state = s.state[jobs]
    return pa.table(
        {
            "collected_at": ts(np.full(len(jobs), layout.collected_at)),
            "job_run_id": run_id,
            "virtual_cluster_id": pa.array([v.id for v in vcs]).take(take),
            "arn": join(pa.array([v.arn for v in vcs]).take(take), "/jobruns/", run_id),
            "name": name,
            "state": pa.array(states).take(pa.array(state)),
            "created_at": ts(s.created[jobs]),
            "finished_at": ts(s.finished[jobs]),
            "release_label": pa.repeat(sample.SPARK_RELEASE, len(jobs)),
            "execution_role_arn": pa.array([sample.SPARK_ROLE_ARN[j.virtual_cluster] for j in specs]).take(take),
            "executor_instances": np.full(len(jobs), layout.size.executors_per_job, np.int64),
            "executor_cores": np.array([float(j.executor_cores) for j in specs])[template],
            "executor_memory_bytes": np.array([float(j.executor_memory_mib * MIB) for j in specs])[template],
            "driver_cores": np.array([float(j.driver_cores) for j in specs])[template],
            "driver_memory_bytes": np.array([float(j.driver_memory_mib * MIB) for j in specs])[template],
            "tags": pa.MapArray.from_arrays(
                pa.array(np.arange(len(jobs) + 1, dtype=np.int32)),
                pa.repeat("job-name", len(jobs)),
                name,
                type=streams.LABELS,
            ),
            "failure_reason": pa.array([o[0] for o in outcomes], pa.string()).take(pa.array(state)),
            "state_details": pa.array([o[1] for o in outcomes], pa.string()).take(pa.array(state)),
        }
    )


# --- Kubernetes and EMR snapshots ------------------------------------------------------------------------


def _snapshot_of(layout: Layout, table: pa.Table) -> pa.Table:
    """A sample snapshot table, taken from the layout's cluster at its collection."""
    column = table.schema.get_field_index("collected_at")
    table = table.set_column(column, "collected_at", ts(np.full(table.num_rows, layout.collected_at)))
    column = table.schema.get_field_index("cluster")
    return table.set_column(column, "cluster", pa.repeat(layout.cluster, table.num_rows))


def virtual_clusters_table(layout: Layout) -> pa.Table:
    """emr/virtual_clusters: the cluster's two (``sample.virtual_clusters_table``'s, with the layout's ids)."""
    vcs = list({vc.id: vc for vc in layout.virtual_clusters}.values())
    rows = [
        {
            "collected_at": layout.collected_at * 1_000_000,
            "virtual_cluster_id": vc.id,
            "name": vc.name,
            "arn": vc.arn,
            "state": "RUNNING",
            "eks_cluster": layout.cluster,
            "namespace": vc.namespace,
            "created_at": sample._epoch(vc.created) * 1_000_000,
            "tags": vc.tags,
        }
        for vc in sorted(vcs, key=lambda vc: list(sample.VIRTUAL_CLUSTERS).index(vc.name))
    ]
    return pa.Table.from_pylist(rows, schema=streams.EMR_VIRTUAL_CLUSTERS.schema)


def snapshot_tables(layout: Layout) -> dict[streams.Stream, pa.Table]:
    at = layout.collected_at
    common = {"cluster": layout.cluster, "collected_at": at * 1_000_000}
    namespace_rows = [
        {
            **common,
            "namespace": ns,
            "uid": layout.namespace_uid(ns),
            "created_at": sample._epoch(created) * 1_000_000,
            "labels": namespace_label_set(ns, label_at(base, label, at)),
            "annotations": {},
        }
        for ns, created, label, base in layout.namespaces
    ]
    node_rows = [
        {
            **common,
            "node": n.name,
            "provider_id": n.provider_id,
            "instance_type": n.instance_type,
            "created_at": n.start * 1_000_000,
            "labels": n.labels,
            "taints": n.taints,
            "cpu_capacity_cores": float(n.spec.vcpu),
            "memory_capacity_bytes": n.spec.memory_gib * GIB,
            "gpu_capacity": float(n.spec.gpu),
            "cpu_allocatable_cores": n.cpu_allocatable_cores,
            "memory_allocatable_bytes": n.memory_allocatable_bytes,
            "gpu_allocatable": float(n.spec.gpu),
        }
        for n in layout.nodes
    ]
    # quota use: the requests and limits of the pods running at the snapshot, per namespace
    used: dict[str, dict[str, float]] = {}

    def add(namespace: str, cpu: float, memory: float, limit: float, gpu: float) -> None:
        u = used.setdefault(
            namespace,
            dict.fromkeys(
                ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "pods", "requests.nvidia.com/gpu"),
                0.0,
            ),
        )
        u["requests.cpu"] += cpu
        u["requests.memory"] += memory
        u["limits.cpu"] += limit
        u["limits.memory"] += memory  # memory limit = request
        u["pods"] += 1
        u["requests.nvidia.com/gpu"] += gpu

    for p in layout.pods:
        add(p.namespace, p.cpu_request_cores, float(p.memory_request_bytes), p.cpu_limit_cores, float(p.gpu))
    s = layout.spark
    running = np.nonzero((s.start <= at) & (s.end > at))[0]
    spark_namespaces = [vc.namespace for vc in layout.virtual_clusters]
    for i in running.tolist():
        cores = float(s.cpu_request_cores[i])
        add(spark_namespaces[s.template[s.job[i]]], cores, float(s.memory_request_bytes[i]), cores, 0.0)
    quota_rows = []
    for ns, _created, _label, base in layout.namespaces:
        for resource, hard in sample.QUOTAS.get(base, {}).items():
            use = used.get(ns, {}).get(resource, 0.0)
            quota_rows.append(
                {
                    **common,
                    "namespace": ns,
                    "quota": "compute-resources",
                    "resource": resource,
                    "hard": max(hard, math.ceil(use * 1.25)),
                    "used": use,
                }
            )
    limit_rows = [
        {
            **common,
            "namespace": ns,
            "limit_range": "container-defaults",
            "type": "Container",
            "resource": resource,
            "default_limit": limit,
            "default_request": request,
            "min": low,
            "max": high,
        }
        for ns, _created, _label, base in layout.namespaces
        for limit_ns, resource, limit, request, low, high in sample.LIMIT_RANGES
        if limit_ns == base
    ]
    return {
        streams.K8S_NAMESPACES: pa.Table.from_pylist(namespace_rows, schema=streams.K8S_NAMESPACES.schema),
        streams.K8S_NODES: pa.Table.from_pylist(node_rows, schema=streams.K8S_NODES.schema),
        streams.K8S_RESOURCE_QUOTAS: pa.Table.from_pylist(quota_rows, schema=streams.K8S_RESOURCE_QUOTAS.schema),
        streams.K8S_LIMIT_RANGES: pa.Table.from_pylist(limit_rows, schema=streams.K8S_LIMIT_RANGES.schema),
        streams.K8S_PRIORITY_CLASSES: _snapshot_of(layout, sample.k8s_priority_classes_table()),
        streams.EMR_VIRTUAL_CLUSTERS: virtual_clusters_table(layout),
    }
