"""The shape of a generated cluster month: nodes, long-running pods, the Spark schedule, virtual clusters.

See ``benchmarks.generate`` for the scenario. Everything here is fixed for a size (it does not change
from day to day) and is built once: ``Layout.build(size)``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from benchmarks.basics import DAY, GIB, HOUR, MONTH_START, Size
from benchmarks.spark import SparkSchedule, spark_schedule
from collectors import streams
from sample_data import generate as sample

# --- the cluster's shape -----------------------------------------------------------------------------

SPARK_GROUP = ("spark-spot", "m5.4xlarge", "SPOT")
OTHER_GROUPS = (  # node group (the sample's), instance type, capacity type, share of the non-Spark nodes
    ("general", "m5.4xlarge", "ON_DEMAND", 0.50),
    ("general-sp", "m5.4xlarge", "ON_DEMAND", 0.25),
    ("memory", "r5.4xlarge", "ON_DEMAND", 0.15),
    ("gpu", "g4dn.xlarge", "ON_DEMAND", 0.05),
    ("risk-dedicated", "m5.2xlarge", "ON_DEMAND", 0.05),
)
TENANT_OF_GROUP = {"risk-dedicated": "risk"}  # the sample's sole-tenancy node group
ZONES = ("a", "b", "c")
# The sample's long-running workloads by the node class they run on (Jobs and bare pods are not long-running).
WORKLOAD_CLASSES = {
    "general": ("coredns", "kube-state-metrics", "payments-api", "storefront", "reconciler", "etl-api",
                "airflow-webserver", "airflow-scheduler", "airflow-postgresql", "airflow-worker",
                "feature-server", "model-server", "load-test"),
    "memory": ("prometheus-server", "feature-redis", "embedding-cache"),
    "risk-dedicated": ("pricer", "report-api", "report-builder"),
    "gpu": ("gpu-trainer",),
}  # fmt: skip
CLASS_OF_GROUP = {"general": "general", "general-sp": "general", "memory": "memory",
                  "risk-dedicated": "risk-dedicated", "gpu": "gpu"}  # fmt: skip
SHARED_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system", "monitoring")
VC_NAMESPACES = tuple(vc.namespace for vc in sample.VIRTUAL_CLUSTERS.values())
PODS_PER_NAMESPACE_COPY = 1_000
REPLICAS = (2, 3, 4, 5, 6)
TARGET_REQUEST_SHARE = 0.65  # requests fill this share of a node class's allocatable capacity
LANE_HEADROOM = 1.3  # Spark lanes = expected concurrent jobs x this (+1)


# --- usage ---------------------------------------------------------------------------------------------


def smooth_noise(rng: np.random.Generator, rows: int, columns: int, window: int) -> np.ndarray:
    """``sample.smooth_noise`` for many series at once: unit variance, moving-average memory of ``window``."""
    raw = rng.standard_normal((rows, columns + window - 1))
    total = np.cumsum(np.pad(raw, ((0, 0), (1, 0))), axis=1)
    return (total[:, window:] - total[:, :-window]) / np.sqrt(window)


def usage_matrix(
    rng: np.random.Generator, cpu_use: np.ndarray, memory_use: np.ndarray, diurnal: np.ndarray, hours: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``sample.usage`` for many pods at once: (pods x hours) mean cores and working-set bytes."""
    hour_of_day = (hours // HOUR) % 24
    weekend = ((hours // DAY + 3) % 7) >= 5
    amplitude = diurnal[:, None]
    cycle = 1 + amplitude * np.sin(2 * np.pi * (hour_of_day - 9) / 24)[None, :]
    cycle = cycle * np.where(weekend[None, :], 1 - 0.5 * amplitude, 1.0)
    cpu = cpu_use[:, None] * cycle * (1 + 0.12 * smooth_noise(rng, len(cpu_use), len(hours), 4))
    cpu = np.clip(cpu, 0.05 * cpu_use[:, None], 2.5 * cpu_use[:, None])
    memory = memory_use[:, None] * (1 + 0.04 * smooth_noise(rng, len(cpu_use), len(hours), 12))
    memory = np.clip(memory, 0.5 * memory_use[:, None], 1.3 * memory_use[:, None])
    return cpu, memory


# --- layout: nodes, long-running pods, the Spark schedule -----------------------------------------------


def _node_counts(size: Size) -> tuple[int, list[int], int]:
    """Spark lanes, nodes per group (Spark first, then OTHER_GROUPS), slots per Spark node."""
    probe = sample.Node("probe", "probe", SPARK_GROUP[0], SPARK_GROUP[1], SPARK_GROUP[2], "", 0, 1)
    ds_cpu = sum(d.cpu_request_cores for d in sample.DAEMONSETS)
    ds_memory = sum(round(d.memory_request_gib * GIB) for d in sample.DAEMONSETS)
    per_node = int(
        min(
            (probe.cpu_allocatable_cores - ds_cpu) // SLOT_CORES,
            (probe.memory_allocatable_bytes - ds_memory) // SLOT_BYTES,
        )
    )
    assert per_node >= 1, SPARK_GROUP
    span = sum(size.executor_seconds) / 2 + 155  # submit to driver ~35 s, executors start ~90 s in, tail ~30 s
    lanes = math.ceil(size.spark_jobs_per_day * span / DAY * LANE_HEADROOM) + 1
    spark = math.ceil(lanes * (1 + size.executors_per_job) / per_node)
    rest = size.nodes - spark
    if rest < len(OTHER_GROUPS):
        raise ValueError(
            f"size {size.name}: {size.nodes} nodes cannot hold {spark} Spark nodes and one of each other"
            f" group; use at least {spark + len(OTHER_GROUPS)} nodes or fewer Spark jobs"
        )
    counts = [max(1, round(share * rest)) for *_, share in OTHER_GROUPS[1:]]
    counts = [rest - sum(counts), *counts]
    if counts[0] < 1:
        raise ValueError(f"size {size.name}: too few nodes for every node group")
    return lanes, [spark, *counts], per_node


SLOT_CORES = max(max(j.executor_cores, j.driver_cores) for j in sample.SPARK_JOBS)
SLOT_BYTES = max(
    sample._memory_with_overhead(max(j.executor_memory_mib, j.driver_memory_mib)) for j in sample.SPARK_JOBS
)


def _nodes(size: Size, counts: list[int]) -> list[sample.Node]:
    groups = [SPARK_GROUP] + [g[:3] for g in OTHER_GROUPS]
    nodes, index = [], 0
    for (group, instance_type, capacity), count in zip(groups, counts, strict=True):
        for _ in range(count):
            a, b, c = index // 62_500, index // 250 % 250, index % 250
            host = f"ip-10-{16 * size.member + a + 1}-{b}-{c + 4}"  # a fleet member: its own /12
            zone = f"{sample.REGION}{ZONES[index % 3]}"
            start = MONTH_START - 9 * DAY + 13 * index  # up well before the month, still running after it
            nodes.append(
                sample.Node(
                    host,
                    f"{host}.ec2.internal",
                    group,
                    instance_type,
                    capacity,
                    zone,
                    start,
                    sample.STILL_RUNNING,
                    TENANT_OF_GROUP.get(group),
                )
            )
            index += 1
    return nodes


def _namespace_copies(size: Size) -> int:
    workload_pods = size.long_running_pods - len(sample.DAEMONSETS) * size.nodes
    return max(1, math.ceil(workload_pods / PODS_PER_NAMESPACE_COPY))


def _copy_namespace(namespace: str, copy: int) -> str:
    if namespace in SHARED_NAMESPACES or namespace in VC_NAMESPACES:
        return namespace
    return f"{namespace}-{copy:02d}"


def namespaces(size: Size) -> list[tuple[str, str, str | None, str]]:
    """(namespace, created, tenant label at the start of the month, the sample namespace it copies)."""
    out = []
    for namespace, created, label in sample.NAMESPACES:
        if namespace in SHARED_NAMESPACES or namespace in VC_NAMESPACES:
            out.append((namespace, created, label, namespace))
        else:
            out += [(_copy_namespace(namespace, c), created, label, namespace) for c in range(_namespace_copies(size))]
    return out


def _long_running_pods(size: Size, nodes: list[sample.Node], rng: np.random.Generator) -> list[sample.Pod]:
    """DaemonSet pods on every node, then the sample's workloads, scaled and placed per node class."""
    pods = [
        sample._service_pod(ds, 0, node, node.start + 20 + 4 * i, node.end)
        for node in nodes
        for i, ds in enumerate(sample.DAEMONSETS)
    ]
    ds_cpu = sum(d.cpu_request_cores for d in sample.DAEMONSETS)
    ds_memory = sum(round(d.memory_request_gib * GIB) for d in sample.DAEMONSETS)
    by_name = {w.name: w for w in sample.WORKLOADS}
    members = {cls: [n for n in nodes if CLASS_OF_GROUP.get(n.nodegroup) == cls] for cls in WORKLOAD_CLASSES}
    gpu_pods = len(members["gpu"])
    workload_pods = size.long_running_pods - len(pods) - gpu_pods
    if workload_pods < 3 * len(REPLICAS):
        raise ValueError(
            f"size {size.name}: {size.long_running_pods} long-running pods leave too few beside the"
            f" {len(pods)} DaemonSet pods of {size.nodes} nodes"
        )
    cpu_room = {cls: sum(n.cpu_allocatable_cores - ds_cpu for n in ns) for cls, ns in members.items() if cls != "gpu"}
    shares = {cls: room / sum(cpu_room.values()) for cls, room in cpu_room.items()}
    quota = {cls: int(workload_pods * share) for cls, share in shares.items()}
    quota["general"] += workload_pods - sum(quota.values())
    quota["gpu"] = gpu_pods
    copies = _namespace_copies(size)
    start = sample.WORKLOAD_EPOCH
    for cls, count in quota.items():
        templates = [by_name[name] for name in WORKLOAD_CLASSES[cls]]
        plan: list[tuple[sample.Workload, int]] = []  # (workload instance, replicas)
        instance = 0
        while sum(r for _, r in plan) < count:
            template = templates[instance % len(templates)]
            j = instance // len(templates)
            namespace = _copy_namespace(template.namespace, j % copies)
            if namespace == template.namespace:
                name = template.name if j == 0 else f"{template.name}-{j}"
            else:
                name = template.name if j < copies else f"{template.name}-{j // copies}"
            replicas = 1 if cls == "gpu" else REPLICAS[instance % len(REPLICAS)]
            replicas = min(replicas, count - sum(r for _, r in plan))
            plan.append(
                (
                    dataclasses.replace(
                        template, namespace=namespace, name=name, replicas=(), rollout_at=None, app=template.app_name
                    ),
                    replicas,
                )
            )
            instance += 1
        cpu_demand = sum(w.cpu_request_cores * r for w, r in plan)
        memory_demand = sum(w.memory_request_gib * GIB * r for w, r in plan)
        capacity = members[cls]
        cpu_free = np.array([n.cpu_allocatable_cores - ds_cpu for n in capacity])
        memory_free = np.array([n.memory_allocatable_bytes - ds_memory for n in capacity], dtype=np.float64)
        scale = (
            1.0
            if cls == "gpu"
            else min(
                1.0,
                TARGET_REQUEST_SHARE * cpu_free.sum() / cpu_demand,
                TARGET_REQUEST_SHARE * memory_free.sum() / memory_demand,
            )
        )
        cpu_total, gpu_free = cpu_free.copy(), np.array([float(n.spec.gpu) for n in capacity])
        replicas_list = [(w, ordinal) for w, r in plan for ordinal in range(r)]
        for position in rng.permutation(len(replicas_list)):
            template, ordinal = replicas_list[position]
            w = dataclasses.replace(
                template,
                cpu_request_cores=round(template.cpu_request_cores * scale, 4),
                memory_request_gib=template.memory_request_gib * scale,
                cpu_use_cores=template.cpu_use_cores * scale,
                memory_use_gib=template.memory_use_gib * scale,
            )
            memory = round(w.memory_request_gib * GIB)
            fits = (cpu_free >= w.cpu_request_cores - 1e-9) & (memory_free >= memory) & (gpu_free >= w.gpu)
            if not fits.any():
                raise AssertionError(f"size {size.name}: no {cls} node fits {w.namespace}/{w.name}")
            load = np.where(fits, 1 - cpu_free / cpu_total, np.inf)
            best = int(np.argmin(load))
            cpu_free[best] -= w.cpu_request_cores
            memory_free[best] -= memory
            gpu_free[best] -= w.gpu
            start += 7
            pods.append(sample._service_pod(w, ordinal, capacity[best], start, sample.STILL_RUNNING))
    return pods


@dataclass
class Layout:
    """A size's cluster: what does not change from day to day."""

    size: Size
    nodes: list[sample.Node]
    pods: list[sample.Pod]  # long-running
    spark: SparkSchedule
    namespaces: list[tuple[str, str, str | None, str]]

    @classmethod
    def build(cls, size: Size) -> Layout:
        rng = np.random.default_rng([size.seed, 1])
        lanes, counts, per_node = _node_counts(size)
        nodes = _nodes(size, counts)
        pods = _long_running_pods(size, nodes, rng)
        spark = spark_schedule(size, lanes, list(range(counts[0])), per_node, rng)
        if size.member:  # a fleet's other clusters: pod uids of their own (pod names repeat across clusters)
            pods = [dataclasses.replace(p, uid=sample._uuid(f"pod/{size.cluster}/{p.namespace}/{p.name}/{p.start}"))
                    for p in pods]  # fmt: skip
        return cls(size, nodes, pods, spark, namespaces(size))

    @property
    def cluster(self) -> str:
        return self.size.cluster

    @property
    def cluster_arn(self) -> str:
        return f"arn:aws:eks:{sample.REGION}:{sample.ACCOUNT}:cluster/{self.cluster}"

    def namespace_uid(self, namespace: str) -> str:
        seed = f"namespace/{namespace}" if not self.size.member else f"namespace/{self.cluster}/{namespace}"
        return sample._uuid(seed)

    @property
    def collected_at(self) -> int:
        """Kubernetes and EMR snapshots: five minutes after the month's last day."""
        return MONTH_START + self.size.days * DAY + 300

    # columns of the long-running pods and the nodes, built once
    def __post_init__(self) -> None:
        p = self.pods
        # the sample's two virtual clusters, one of each per cluster (ids of their own beyond the first member)
        self.virtual_clusters = [virtual_cluster(self.size, j.virtual_cluster) for j in sample.SPARK_JOBS]
        self.node_index = {node.name: i for i, node in enumerate(self.nodes)}
        self.node_names = pa.array([n.name for n in self.nodes])
        self.pod_namespace = pa.array([x.namespace for x in p])
        self.pod_name = pa.array([x.name for x in p])
        self.pod_uid = pa.array([x.uid for x in p])
        self.pod_node = pa.array([x.node.name for x in p])
        self.pod_node_index = np.array([self.node_index[x.node.name] for x in p], np.int64)
        self.pod_host_network = pa.array([x.host_network for x in p], pa.bool_())
        self.pod_labels = pa.array([x.labels for x in p], type=streams.LABELS)
        self.pod_owner_kind = pa.array([x.owner_kind for x in p], pa.string())
        self.pod_owner_name = pa.array([x.owner_name for x in p], pa.string())
        self.pod_start = np.array([x.start for x in p], np.int64)
        self.pod_cpu_request = np.array([x.cpu_request_cores for x in p])
        self.pod_memory_request = np.array([x.memory_request_bytes for x in p], np.float64)
        self.pod_gpu = np.array([x.gpu for x in p], np.float64)
        self.pod_cpu_use = np.array([x.cpu_use_cores for x in p])
        self.pod_memory_use = np.array([x.memory_use_bytes for x in p])
        self.pod_diurnal = np.array([x.diurnal for x in p])


@dataclass(frozen=True)
class VirtualCluster:
    """One of a cluster's EMR virtual clusters: the sample's, with an id of its own in a fleet's other members."""

    name: str
    namespace: str
    created: str
    tags: dict[str, str]
    id: str

    @property
    def arn(self) -> str:
        return f"arn:aws:emr-containers:{sample.REGION}:{sample.ACCOUNT}:/virtualclusters/{self.id}"


def virtual_cluster(size: Size, name: str) -> VirtualCluster:
    vc = sample.VIRTUAL_CLUSTERS[name]
    vc_id = vc.id
    if size.member:
        vc_id = "vc0" + vc.name.replace("-", "")[:7] + sample._token(f"vc/{size.cluster}/{vc.name}", 15, sample.BASE36)
    return VirtualCluster(vc.name, vc.namespace, vc.created, vc.tags, vc_id)
