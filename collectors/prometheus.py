"""Prometheus (and Thanos, Mimir, Amazon Managed Prometheus): pod-hours, pods, namespace labels, node-hours,
PersistentVolume-hours and the claims pods mount.

Standard series only: cAdvisor's ``container_cpu_usage_seconds_total``, ``container_memory_working_set_bytes``
and ``container_network_{receive,transmit}_bytes_total``; kube-state-metrics' ``kube_pod_info``,
``kube_pod_labels``, ``kube_pod_status_phase``, ``kube_pod_container_resource_requests``,
``kube_pod_start_time``, ``kube_pod_completion_time``, ``kube_pod_spec_volumes_persistentvolumeclaims_info``
(and ``_readonly``), ``kube_namespace_labels``, ``kube_node_info``, ``kube_node_labels``,
``kube_node_status_capacity``, ``kube_persistentvolume_info``, ``kube_persistentvolume_claim_ref``,
``kube_persistentvolume_status_phase``, ``kube_persistentvolume_capacity_bytes``, ``kube_replicaset_owner`` and
``kube_job_owner`` (``METRICS`` in
``collectors.prometheus_queries``). The server aggregates to one value per pod (or node, PV, or label set) per
UTC hour with the queries of ``collectors.prometheus_queries`` (which say how an hour is measured, how accurate
that is, and how kube-state-metrics' label names map back to Kubernetes keys), sent through
``collectors.prometheus_http``; this module only reshapes those values into the raw tables of
``collectors.streams`` (seconds and bytes, as the source gives them), keeping each pod's and node's running
time inside its life (``collectors.prometheus_boundaries``): a pod-hour's usage and network bytes go with it,
and a host-network pod's bytes (its sandbox counts the node's interfaces) land as null. PersistentVolumes and
pods' claims are reshaped by ``collectors.prometheus_volumes``, the owners of pods' ReplicaSets and Jobs (the
Deployment or CronJob above them) by ``collectors.prometheus_owners``. It prices nothing.

Pod uids
    cAdvisor series have no pod uid; it is read from the cgroup path in their ``id`` label (cgroupfs
    ``pod<uid>`` or systemd ``pod<uid with _>``), so a StatefulSet pod rescheduled under the same name
    keeps its usage apart. Where ``id`` was dropped by relabelling, usage goes to the pod uid of that name
    that ran longest in the hour (counted in the log).

Windows
    A window covers the UTC hours that start in it, each integrated in full; the orchestrator asks for
    whole UTC days. Hours are queried in chunks of ``chunk_hours`` (each ``query_range`` stays far under
    Prometheus's 11,000 points per series), at most ``max_concurrency`` requests at a time.
    A failed query fails the window with a ``CollectError`` naming the source, the window, the query and
    the cause (after the retry policy of ``chargeback.core.http`` for throttling, 5xx and refused connections).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import requests

from chargeback.core.config import ClusterSettings, PrometheusSettings
from chargeback.core.errors import CollectError
from chargeback.core.http import RetryPolicy
from collectors.base import HOUR, Batch, Window
from collectors.prometheus_answers import finite, hourly, none_if_empty, timestamp
from collectors.prometheus_boundaries import running_seconds
from collectors.prometheus_http import MAX_POINTS, PrometheusClient, QueryError
from collectors.prometheus_owners import Owners
from collectors.prometheus_queries import (
    CHUNK_QUERIES,
    HOURLY_QUERIES,
    INSTANCE_TYPE_KEYS,
    LOOK_AHEAD_INTERVALS,
    label_key_map,
    original_labels,
    promql,
)
from collectors.prometheus_volumes import PodClaims, persistent_volume_hours
from collectors.streams import (
    LABELS,
    NAMESPACE_LABELS,
    NODE_HOURS,
    OWNERS,
    PERSISTENT_VOLUME_HOURS,
    POD_HOUR_MEASURES,
    POD_HOUR_NETWORK,
    POD_HOURS,
    POD_VOLUME_CLAIMS,
    PODS,
    TS,
    Stream,
)

log = logging.getLogger(__name__)

SOURCE = "prometheus"

PodKey = tuple[str, str, str]  # namespace, pod, uid
USAGE_MEASURES = ("cpu_usage_core_seconds", "memory_working_set_byte_seconds")


class PrometheusCollector:
    """Pod-hours, pods, namespace labels and node-hours of one cluster from its Prometheus.

    ``label_keys``: original label keys to restore besides ``WELL_KNOWN_LABEL_KEYS`` (pass the configured
    ``tenancy.namespace_label`` and ``tenancy.node_label``). ``credentials``: botocore credentials for SigV4.
    ``retry``: the HTTP retry policy (default: the settings' ``max_attempts`` tries).
    """

    source = SOURCE

    def __init__(
        self,
        cluster: ClusterSettings | str,
        settings: PrometheusSettings | None = None,
        *,
        label_keys: Iterable[str] = (),
        credentials: Any = None,
        retry: RetryPolicy | None = None,
        chunk_hours: int = 6,
    ):
        if isinstance(cluster, ClusterSettings):
            settings = settings or cluster.prometheus
            cluster = cluster.name
        if settings is None:
            raise ValueError(f"cluster {cluster!r} has no [clusters.prometheus] settings")
        if not 1 <= chunk_hours < MAX_POINTS:
            raise ValueError(f"chunk_hours must be between 1 and {MAX_POINTS - 1}")
        self.cluster = cluster
        self.settings = settings
        self.client = PrometheusClient(settings, retry=retry, credentials=credentials)
        self.key_map = label_key_map(label_keys)
        self.chunk_hours = chunk_hours

    def streams(self) -> tuple[Stream, ...]:
        return (POD_HOURS, PODS, NAMESPACE_LABELS, NODE_HOURS, PERSISTENT_VOLUME_HOURS, POD_VOLUME_CLAIMS, OWNERS)

    def collect(self, window: Window) -> Iterator[Batch]:
        for day in window.days():
            yield from self._collect_day(day)

    # -- one UTC day, chunk by chunk -------------------------------------------------------------

    def _collect_day(self, window: Window) -> Iterator[Batch]:
        hours = [hour for hour in window.hours() if hour >= window.start]
        chunks = [hours[i : i + self.chunk_hours] for i in range(0, len(hours), self.chunk_hours)]
        pods: dict[PodKey, dict] = {}
        claims = PodClaims()
        owners = Owners()
        with ThreadPoolExecutor(self.settings.max_concurrency, thread_name_prefix="prometheus") as pool:
            pending = [self._submit(pool, chunk) for chunk in chunks[:2]]  # one chunk of look-ahead
            try:
                for index, chunk in enumerate(chunks):
                    results = self._results(window, chunk, pending.pop(0))
                    if index + 2 < len(chunks):
                        pending.append(self._submit(pool, chunks[index + 2]))
                    yield from self._chunk_batches(window, results)
                    self._merge_pods(pods, results)
                    claims.merge(results)
                    owners.merge(results)
            finally:  # a failed or abandoned day: drop the queries not yet started
                pool.shutdown(wait=True, cancel_futures=True)
        yield Batch(PODS, self._pods_table(window, pods))
        origin = f"{self.source} {self.cluster} {window}"
        day = window.start.astimezone(UTC).date()
        yield Batch(POD_VOLUME_CLAIMS, POD_VOLUME_CLAIMS.conform(claims.table(self.cluster, day), origin))
        yield Batch(OWNERS, OWNERS.conform(owners.table(self.cluster, day), origin))

    def _submit(self, pool: ThreadPoolExecutor, chunk: list[datetime]) -> dict[str, Future]:
        step = self.settings.step_seconds
        first_end, last_end = (chunk[0] + HOUR).timestamp(), (chunk[-1] + HOUR).timestamp()
        span = last_end - chunk[0].timestamp()
        futures = {
            name: pool.submit(self.client.query_range, promql(query, step), first_end, last_end, 3600)
            for name, query in HOURLY_QUERIES.items()
        }
        for name, query in CHUNK_QUERIES.items():
            ahead = LOOK_AHEAD_INTERVALS.get(name, 0) * step
            futures[name] = pool.submit(self.client.query, promql(query, step, span + ahead), last_end + ahead)
        return futures

    def _results(self, window: Window, chunk: list[datetime], futures: dict[str, Future]) -> dict[str, list[dict]]:
        results = {}
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except (QueryError, requests.RequestException, OSError) as exc:
                hours = Window(chunk[0], chunk[-1] + HOUR)
                raise CollectError(self.source, window, f"query {name} for hours {hours} failed: {exc}") from exc
        return results

    def _chunk_batches(self, window: Window, results: dict[str, list[dict]]) -> Iterator[Batch]:
        origin = f"{self.source} {self.cluster} {window}"
        yield Batch(POD_HOURS, POD_HOURS.conform(self._pod_hours(results), origin))
        yield Batch(NAMESPACE_LABELS, NAMESPACE_LABELS.conform(self._namespace_labels(results), origin))
        yield Batch(NODE_HOURS, NODE_HOURS.conform(self._node_hours(results), origin))
        volumes = persistent_volume_hours(self.cluster, results)
        yield Batch(PERSISTENT_VOLUME_HOURS, PERSISTENT_VOLUME_HOURS.conform(volumes, origin))

    # -- reshaping: one value per key and hour ---------------------------------------------------

    def _pod_hours(self, results: dict[str, list[dict]]) -> pa.Table:
        fields = POD_HOUR_MEASURES
        rows: dict[tuple[PodKey, float], dict[str, float]] = defaultdict(lambda: dict.fromkeys(fields, 0.0))
        requests_: dict[tuple[PodKey, float], dict[str, float]] = defaultdict(dict)
        nodes: dict[tuple[PodKey, float], tuple[float, str]] = {}
        malformed = 0

        def each(name: str) -> Iterator[tuple[dict[str, str], float, float]]:
            nonlocal malformed
            for metric, values in hourly(results[name]):
                for hour, raw in values:
                    value = finite(raw)
                    if value is None:
                        malformed += 1
                    else:
                        yield metric, hour, value

        def key(metric: dict[str, str]) -> PodKey:
            return metric.get("namespace", ""), metric.get("pod", ""), metric.get("uid", "")

        for metric, hour, value in each("pod_running_seconds"):
            if value > 0:
                rows[(key(metric), hour)]["running_seconds"] = value
        for metric, hour, value in each("pod_node"):
            k = (key(metric), hour)
            if value > nodes.get(k, (0.0, ""))[0]:
                nodes[k] = (value, metric.get("node", ""))
        for metric, hour, value in each("pod_requests"):
            resource = "gpu" if metric.get("resource", "").endswith("_gpu") else metric.get("resource", "")
            bucket = requests_[(key(metric), hour)]
            bucket[resource] = bucket.get(resource, 0.0) + value
        # Usage, and network bytes (where 0 is data too: a pod with no network series has no byte data).
        usage: list[tuple[str, dict[str, str], float, float]] = [
            (column, metric, hour, value)
            for name, column in (
                ("pod_cpu_core_seconds", "cpu_usage_core_seconds"),
                ("pod_memory_byte_seconds", "memory_working_set_byte_seconds"),
                ("pod_network_receive_bytes", "network_receive_bytes"),
                ("pod_network_transmit_bytes", "network_transmit_bytes"),
            )
            for metric, hour, value in each(name)
            if value > 0 or column in POD_HOUR_NETWORK
        ]
        unattributed = 0
        by_name: dict[tuple[str, str, float], list[str]] = defaultdict(list)
        for pod_key, hour in rows:
            by_name[(pod_key[0], pod_key[1], hour)].append(pod_key[2])
        for column, metric, hour, value in usage:
            pod_key = key(metric)
            if not pod_key[2]:  # no cgroup id to read the uid from: the uid of that name that ran longest
                candidates = by_name.get((pod_key[0], pod_key[1], hour), [])
                uid = max(
                    candidates, key=lambda u: rows[((pod_key[0], pod_key[1], u), hour)]["running_seconds"], default=""
                )
                unattributed += not uid
                pod_key = (pod_key[0], pod_key[1], uid)
            row = rows[(pod_key, hour)]
            row[column] = row.get(column, 0.0) + value
        edges: dict[tuple[PodKey, float], dict[str, float]] = defaultdict(dict)
        for metric, hour, value in each("pod_running_edges"):
            edges[(key(metric), hour)][metric.get("edge", "")] = value
        for k, edge in edges.items():  # the hour a pod completes in may hold no Running scrape, only time
            if "before" in edge:
                rows.setdefault(k, dict.fromkeys(fields, 0.0))
        if malformed or unattributed:
            log.warning(
                "prometheus %s: %d non-finite value(s) skipped; %d usage value(s) with no pod uid",
                self.cluster,
                malformed,
                unattributed,
            )
        keys = self._inside_life(
            sorted(rows),
            rows,
            edges,
            start=self._pod_times(results["pod_start_time"]),
            end=self._pod_times(results["pod_completion_time"]),
        )
        for pod_key, hour in keys:
            row, asked = rows[(pod_key, hour)], requests_.get((pod_key, hour), {})
            row["cpu_request_core_seconds"] = asked.get("cpu", 0.0) * row["running_seconds"]
            row["memory_request_byte_seconds"] = asked.get("memory", 0.0) * row["running_seconds"]
            row["gpu_request_seconds"] = asked.get("gpu", 0.0) * row["running_seconds"]
        columns: dict[str, Any] = {
            "cluster": [self.cluster] * len(keys),
            "namespace": [k[0][0] for k in keys],
            "pod": [k[0][1] for k in keys],
            "pod_uid": [k[0][2] for k in keys],
            "node": [nodes.get(k, (0.0, ""))[1] for k in keys],
            "hour": pa.array([timestamp(k[1]) for k in keys], TS),
        }
        for name in fields:
            columns[name] = pa.array([rows[k][name] for k in keys], pa.float64())
        # A host-network pod's counters are the node's: no byte data of its own (null, like a pod with none).
        host = {key(s["metric"]) for s in results["pod_info"] if s["metric"].get("host_network") == "true"}
        for name in POD_HOUR_NETWORK:
            columns[name] = pa.array([None if k[0] in host else rows[k].get(name) for k in keys], pa.float64())
        return pa.table(columns)

    @staticmethod
    def _pod_times(result: list[dict]) -> dict[PodKey, float]:
        """Pod key -> a chunk query's time (start or completion), for pods that have it."""
        times = {}
        for series in result:
            metric, value = series["metric"], finite(series["value"][1])
            if value:
                times[(metric.get("namespace", ""), metric.get("pod", ""), metric.get("uid", ""))] = value
        return times

    def _inside_life(
        self,
        keys: list[tuple[Any, float]],
        rows: dict[tuple[Any, float], dict[str, float]],
        edges: dict[tuple[Any, float], dict[str, float]],
        start: dict[Any, float],
        end: dict[Any, float],
    ) -> list[tuple[Any, float]]:
        """Set each row's running seconds by ``collectors.prometheus_boundaries``; the keys of the hours inside
        the object's life that hold running time or usage (the others are hours it did not run in)."""
        if not keys:
            return keys

        def column(values: Iterable[float | None]) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        seconds, life = running_seconds(
            hour=column(k[1] for k in keys),
            sampled=column(rows[k]["running_seconds"] for k in keys),
            before=column(edges.get(k, {}).get("before") for k in keys),
            last=column(edges.get(k, {}).get("last") for k in keys),
            start=column(start.get(k[0]) for k in keys),
            end=column(end.get(k[0]) for k in keys),
            step=self.settings.step_seconds,
        )
        used = column(sum(rows[k].get(name, 0.0) for name in USAGE_MEASURES) for k in keys)
        kept = (life > 0) & ((seconds > 0) | (used > 0))
        for k, value in zip(keys, seconds.tolist(), strict=True):
            rows[k]["running_seconds"] = value
        return [k for k, keep in zip(keys, kept.tolist(), strict=True) if keep]

    def _label_sets(self, result: list[dict], key_label: str) -> dict[tuple[str, float], dict[tuple, float]]:
        """(key, hour) -> {sorted label items: seconds in force}, series with the same labels added up."""
        seconds: dict[tuple[str, float], dict[tuple, float]] = defaultdict(dict)
        for metric, values in hourly(result):
            labels = tuple(sorted(original_labels(metric, self.key_map).items()))
            for hour, raw in values:
                value = finite(raw)
                if value:
                    sets = seconds[(metric.get(key_label, ""), hour)]
                    sets[labels] = min(sets.get(labels, 0.0) + value, 3600.0)
        return seconds

    def _namespace_labels(self, results: dict[str, list[dict]]) -> pa.Table:
        label_sets = self._label_sets(results["namespace_label_seconds"], "namespace")
        rows = [
            (namespace, hour, value, list(labels))
            for (namespace, hour), sets in sorted(label_sets.items())
            for labels, value in sorted(sets.items())
        ]
        return pa.table(
            {
                "cluster": [self.cluster] * len(rows),
                "namespace": [r[0] for r in rows],
                "hour": pa.array([timestamp(r[1]) for r in rows], TS),
                "seconds_in_force": pa.array([r[2] for r in rows], pa.float64()),
                "labels": pa.array([r[3] for r in rows], LABELS),
            }
        )

    def _node_hours(self, results: dict[str, list[dict]]) -> pa.Table:
        up: dict[tuple[str, float], tuple[float, str]] = {}
        for metric, values in hourly(results["node_seconds"]):
            for hour, raw in values:
                value = finite(raw)
                k = (metric.get("node", ""), hour)
                if value and value > up.get(k, (0.0, ""))[0]:
                    up[k] = (value, metric.get("provider_id", ""))
        edges: dict[tuple[str, float], dict[str, float]] = defaultdict(dict)
        for metric, values in hourly(results["node_edges"]):
            for hour, raw in values:
                value = finite(raw)
                if value is not None:
                    edges[(metric.get("node", ""), hour)][metric.get("edge", "")] = value
        created = {
            series["metric"].get("node", ""): value
            for series in results["node_created"]
            if (value := finite(series["value"][1]))
        }
        seconds = {k: {"running_seconds": v[0]} for k, v in up.items()}
        kept = self._inside_life(sorted(seconds), seconds, edges, start=created, end={})
        up = {k: (seconds[k]["running_seconds"], up[k][1]) for k in kept}
        capacity: dict[tuple[str, float], dict[str, float]] = defaultdict(dict)
        for metric, values in hourly(results["node_capacity"]):
            resource = "gpu" if metric.get("resource", "").endswith("_gpu") else metric.get("resource", "")
            for hour, raw in values:
                value = finite(raw)
                if value is not None:
                    bucket = capacity[(metric.get("node", ""), hour)]
                    bucket[resource] = bucket.get(resource, 0.0) + value
        label_sets = self._label_sets(results["node_label_seconds"], "node")
        keys = sorted(up)
        labels = [
            dict(max(label_sets[k].items(), key=lambda s: (s[1], s[0]))[0]) if label_sets.get(k) else None for k in keys
        ]
        return pa.table(
            {
                "cluster": [self.cluster] * len(keys),
                "node": [k[0] for k in keys],
                "hour": pa.array([timestamp(k[1]) for k in keys], TS),
                "provider_id": [none_if_empty(up[k][1]) for k in keys],
                "instance_type": [
                    next((lab[key] for key in INSTANCE_TYPE_KEYS if lab and lab.get(key)), None) for lab in labels
                ],
                "running_seconds": pa.array([up[k][0] for k in keys], pa.float64()),
                "cpu_capacity_cores": pa.array([capacity[k].get("cpu") for k in keys], pa.float64()),
                "memory_capacity_bytes": pa.array([capacity[k].get("memory") for k in keys], pa.float64()),
                "gpu_capacity": pa.array([capacity[k].get("gpu") for k in keys], pa.float64()),
                "labels": pa.array([sorted(lab.items()) if lab is not None else None for lab in labels], LABELS),
            }
        )

    # -- pods: merged over the day's chunks ------------------------------------------------------

    def _merge_pods(self, pods: dict[PodKey, dict], results: dict[str, list[dict]]) -> None:
        def key(metric: dict[str, str]) -> PodKey:
            return metric.get("namespace", ""), metric.get("pod", ""), metric.get("uid", "")

        for series in results["pod_info"]:
            metric, seen = series["metric"], float(series["value"][1])
            pod = pods.setdefault(key(metric), {"seen": defaultdict(float), "labels": defaultdict(float)})
            owner = (none_if_empty(metric.get("created_by_kind")), none_if_empty(metric.get("created_by_name")))
            pod["seen"][owner] += seen
            if metric.get("host_network") in ("true", "false"):  # a pod's spec.hostNetwork cannot change
                pod["host_network"] = metric["host_network"] == "true"
        for name, field in (("pod_start_time", "start_time"), ("pod_completion_time", "completion_time")):
            for series in results[name]:
                pod = pods.get(key(series["metric"]))
                value = finite(series["value"][1])
                if pod is not None and value:
                    pod[field] = max(pod.get(field, value), value)
        for series in results["pod_labels"]:
            pod = pods.get(key(series["metric"]))
            if pod is not None:
                labels = tuple(sorted(original_labels(series["metric"], self.key_map).items()))
                pod["labels"][labels] += float(series["value"][1])

    def _pods_table(self, window: Window, pods: dict[PodKey, dict]) -> pa.Table:
        keys = sorted(pods)
        owners = [max(pods[k]["seen"].items(), key=lambda s: s[1])[0] for k in keys]
        labels = [
            sorted(max(pods[k]["labels"].items(), key=lambda s: (s[1], s[0]))[0]) if pods[k]["labels"] else None
            for k in keys
        ]
        day: date = window.start.astimezone(UTC).date()
        table = pa.table(
            {
                "cluster": [self.cluster] * len(keys),
                "date": pa.array([day] * len(keys), pa.date32()),
                "namespace": [k[0] for k in keys],
                "pod": [k[1] for k in keys],
                "pod_uid": [k[2] for k in keys],
                "owner_kind": pa.array([o[0] for o in owners], pa.string()),
                "owner_name": pa.array([o[1] for o in owners], pa.string()),
                "start_time": pa.array([timestamp(pods[k].get("start_time")) for k in keys], TS),
                "completion_time": pa.array([timestamp(pods[k].get("completion_time")) for k in keys], TS),
                "labels": pa.array(labels, LABELS),
                "host_network": pa.array([pods[k].get("host_network") for k in keys], pa.bool_()),
            }
        )
        return PODS.conform(table, f"{self.source} {self.cluster} {window}")
