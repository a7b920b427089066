"""The series a span of a generated size (a day, or some hours of it) would have in Prometheus, as
OpenMetrics text for promtool.

The span's pods, nodes and namespaces are written as the series cAdvisor and kube-state-metrics expose
(the shapes of ``tests/services/prometheus.py``: ``kube_pod_info``, ``kube_pod_labels``,
``kube_pod_start_time``, ``kube_pod_completion_time``, ``kube_pod_status_phase`` (the ``Running`` phase,
the one the collector reads), ``kube_pod_container_resource_requests``, ``container_cpu_usage_seconds_total``
and ``container_memory_working_set_bytes`` of each container and of the pod's own cgroup,
``kube_namespace_labels``, ``kube_node_info``, ``kube_node_labels``, ``kube_node_status_capacity``), scraped
every ``step`` seconds, with usage following the generated pod-hours (a CPU counter rising at each hour's
mean rate, the working set at its hour's mean). A span of some hours is written with the samples a
Prometheus holds when the hourly collect fires at :15 (``Span.written``). The text is built column-wise
with pyarrow (no Python per sample); ``benchmarks.collection`` backfills and serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.basics import DAY, GIB, HOUR, MONTH_START
from benchmarks.layout import Layout
from benchmarks.prometheus_server import KSM, KSM_OFFSET, cgroup_id
from benchmarks.tables import label_at, namespace_label_set, pod_hours_table, spark_identity, spark_pods_of
from collectors.prometheus_queries import sanitize
from sample_data import generate as sample

CHUNK_PODS = 100  # pods written per batch: bounds the text held in memory
SPARK_CREATED_BEFORE, SPARK_DELETED_AFTER = 15, 120  # seconds a Spark pod exists before it runs and after it ends


@dataclass(frozen=True)
class Span:
    """``hours`` UTC hours of day ``day`` (0-based) of the generated month, from ``first_hour``: what one
    collection run is asked for (``start``, ``end``), and the samples the Prometheus holds for it."""

    day: int
    first_hour: int = 0
    hours: int = 24

    LEAD = 300  # seconds of samples before the first hour: the queries look up to three scrapes back
    TAIL = 900  # and after the last: the hourly collect fires at :15 (docs/scheduling.md)

    def __post_init__(self) -> None:
        if self.first_hour < 0 or self.hours < 1 or self.first_hour + self.hours > 24:
            raise ValueError(f"a span lies within one day: hours {self.first_hour} + {self.hours} do not")

    @property
    def day_start(self) -> int:
        return MONTH_START + self.day * DAY

    @property
    def start(self) -> int:
        return self.day_start + self.first_hour * HOUR

    @property
    def end(self) -> int:
        return self.start + self.hours * HOUR

    @property
    def whole_day(self) -> bool:
        return self.hours == 24

    @property
    def key(self) -> str:
        """Names its cached blocks (``day1``: a whole day, as before spans had hours)."""
        return f"day{self.day}" if self.whole_day else f"day{self.day}-{self.first_hour:02d}h-{self.hours}h"

    def written(self, step: int) -> tuple[int, int]:
        """The samples' interval [lo, hi): the span, ``LEAD`` before and ``TAIL`` after it, within the day
        (a whole day has no margins, as the day of M was always measured), on the day's scrape phase."""
        lo = max(self.day_start, self.start - self.LEAD)
        lo -= (lo - self.day_start) % step
        return lo, min(self.day_start + DAY, self.end + self.TAIL)

    def describe(self) -> str:
        day = datetime.fromtimestamp(self.start, UTC)
        if self.whole_day:
            return f"one day ({day:%Y-%m-%d})"
        end = datetime.fromtimestamp(self.end, UTC)
        hours = "one hour" if self.hours == 1 else f"{self.hours} hours"
        return f"{hours} ({day:%Y-%m-%d %H:%M}–{end:%H:%M} UTC)"


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _k8s_labels(labels: dict[str, str]) -> dict[str, str]:
    """Kubernetes labels as kube-state-metrics exports them: ``label_<sanitized key>``."""
    return {f"label_{sanitize(k)}": v for k, v in labels.items()}


class OpenMetricsWriter:
    """Writes samples column-wise; checks that timestamps are seconds and each series is in time order."""

    def __init__(self, path: Path):
        self.file = path.open("wb")
        self.series = 0
        self.samples = 0

    def write(self, prefixes: list[str], owner: np.ndarray, t: np.ndarray, values: np.ndarray) -> None:
        """Samples of the series ``prefixes[owner[i]]`` (``name{labels}``), grouped by series, in time order."""
        if not len(owner):
            return
        if not ((t > 1e9) & (t < 1e10)).all():
            raise ValueError("OpenMetrics timestamps must be in seconds")
        same = owner[1:] == owner[:-1]
        if (np.diff(owner) < 0).any() or not (t[1:][same] > t[:-1][same]).all():
            raise ValueError("each series' samples must be together and in time order")
        prefix = pa.array([p + " " for p in prefixes]).take(pa.array(owner))
        value = pc.cast(pa.array(values, pa.float64()), pa.string())
        stamp = pc.cast(pa.array(t, pa.int64()), pa.string())
        lines = pc.binary_join_element_wise(prefix, value, " ", stamp, "\n", "")
        offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
        self.file.write(memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]])
        self.series += len(np.unique(owner))
        self.samples += len(owner)

    def close(self) -> None:
        self.file.write(b"# EOF\n")
        self.file.close()


def scrapes(lo: int, hi: int, offset: np.ndarray, a: np.ndarray, b: np.ndarray, step: int):
    """Scrape instants ``lo + offset + k * step`` (whole seconds) inside [a, b) and [lo, hi): (owner, t)."""
    offset = np.asarray(offset, np.int64)
    a, b = np.maximum(np.asarray(a, np.int64), lo), np.minimum(np.asarray(b, np.int64), hi)
    first = -((lo + offset - a) // step)  # ceil((a - lo - offset) / step)
    last = -((lo + offset - b) // step)
    count = np.maximum(last - first, 0)
    owner = np.repeat(np.arange(len(a)), count)
    k = np.repeat(first, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    return owner, lo + offset[owner] + k * step


@dataclass
class DayPods:
    """The pods of one day, as columns: who they are, their lifetimes and requests."""

    namespace: list[str]
    pod: list[str]
    uid: list[str]
    node: np.ndarray  # index into layout.nodes
    owner: list[tuple[str, str]]
    labels: list[dict[str, str]]
    container: list[str]
    created: np.ndarray
    start: np.ndarray
    end: np.ndarray
    deleted: np.ndarray
    completes: np.ndarray
    cpu_request: np.ndarray
    memory_request: np.ndarray
    gpu_request: np.ndarray


def day_pods(layout: Layout, lo: int, hi: int) -> DayPods:
    p, n = layout.pods, len(layout.pods)
    s = layout.spark
    ids = spark_pods_of(layout, lo, hi)
    spark = spark_identity(layout, ids)
    spark_labels = [dict(pairs) for pairs in spark["labels"].to_pylist()]
    roles = ["spark-kubernetes-driver" if i == 0 else "spark-kubernetes-executor" for i in s.index[ids].tolist()]
    owners = [
        (k or "<none>", o or "<none>")
        for k, o in zip(spark["owner_kind"].to_pylist(), spark["owner_name"].to_pylist(), strict=True)
    ]
    return DayPods(
        namespace=[x.namespace for x in p] + spark["namespace"].to_pylist(),
        pod=[x.name for x in p] + spark["pod"].to_pylist(),
        uid=[x.uid for x in p] + spark["pod_uid"].to_pylist(),
        node=np.concatenate([[layout.node_index[x.node.name] for x in p], s.node[ids]]).astype(np.int64),
        owner=[(x.owner_kind or "<none>", x.owner_name or "<none>") for x in p] + owners,
        labels=[x.labels for x in p] + spark_labels,
        container=[x.labels["app"] for x in p] + roles,
        created=np.concatenate([layout.pod_start, s.start[ids] - SPARK_CREATED_BEFORE]),
        start=np.concatenate([layout.pod_start, s.start[ids]]),
        end=np.concatenate([np.full(n, 2**40), s.end[ids]]),
        deleted=np.concatenate([np.full(n, 2**40), s.end[ids] + SPARK_DELETED_AFTER]),
        completes=np.concatenate([np.zeros(n, bool), np.ones(len(ids), bool)]),
        cpu_request=np.concatenate([layout.pod_cpu_request, s.cpu_request_cores[ids]]),
        memory_request=np.concatenate([layout.pod_memory_request, s.memory_request_bytes[ids]]),
        gpu_request=np.concatenate([layout.pod_gpu, np.zeros(len(ids))]),
    )


def write_span(layout: Layout, span: Span, path: Path, step: int) -> tuple[int, int, pa.Table]:
    """The span's series as OpenMetrics text; returns (series, samples, the span's generated pod-hours)."""
    day_lo = span.day_start
    lo, hi = span.written(step)
    truth, *_ = pod_hours_table(layout, span.day)
    pods = day_pods(layout, max(day_lo, lo - SPARK_DELETED_AFTER), min(day_lo + DAY, hi + SPARK_CREATED_BEFORE))
    out = OpenMetricsWriter(path)
    ksm_offset = int(KSM_OFFSET) % step
    node_offset = np.arange(len(layout.nodes)) % step  # each kubelet scraped at its own offset
    nodes = layout.nodes
    every = np.full(len(nodes), lo)
    owner, t = scrapes(lo, hi, np.full(len(nodes), ksm_offset), every, every + (hi - lo), step)
    info = [
        "kube_node_info"
        + _labels(
            KSM
            | {
                "node": n.name,
                "provider_id": n.provider_id,
                "internal_ip": "10.0.0.1",
                "kernel_version": "6.1.0",
                "kubelet_version": "v1.29.3-eks-ae9a62a",
                "container_runtime_version": "containerd://1.7.11",
            }
        )
        for n in nodes
    ]
    out.write(info, owner, t, np.ones(len(t)))
    out.write(
        ["kube_node_labels" + _labels(KSM | {"node": n.name} | _k8s_labels(n.labels)) for n in nodes],
        owner,
        t,
        np.ones(len(t)),
    )
    for resource, unit, values in (
        ("cpu", "core", [float(n.spec.vcpu) for n in nodes]),
        ("memory", "byte", [n.spec.memory_gib * GIB for n in nodes]),
        ("pods", "integer", [58.0] * len(nodes)),
    ):
        kind = {"resource": resource, "unit": unit}
        series = ["kube_node_status_capacity" + _labels(KSM | {"node": n.name} | kind) for n in nodes]
        out.write(series, owner, t, np.asarray(values)[owner])
    gpus = [i for i, n in enumerate(nodes) if n.spec.gpu]
    if gpus:
        g_owner, g_t = scrapes(lo, hi, np.full(len(gpus), ksm_offset), every[gpus], every[gpus] + (hi - lo), step)
        gpu = {"resource": "nvidia_com_gpu", "unit": "integer"}
        series = ["kube_node_status_capacity" + _labels(KSM | {"node": nodes[i].name} | gpu) for i in gpus]
        out.write(series, g_owner, g_t, np.array([float(nodes[i].spec.gpu) for i in gpus])[g_owner])
    _write_namespaces(out, layout, lo, hi, ksm_offset, step)
    rate, memory, cumulative = _hourly_usage(pods, truth, day_lo)
    alive = np.flatnonzero((pods.created < hi) & (pods.deleted > lo))  # the pods with samples in [lo, hi)
    for first in range(0, len(alive), CHUNK_PODS):
        _write_pods(
            out,
            layout,
            pods,
            alive[first : first + CHUNK_PODS],
            day_lo,
            lo,
            hi,
            step,
            ksm_offset,
            node_offset,
            rate,
            memory,
            cumulative,
        )
    out.close()
    hour = truth.column("hour").cast(pa.int64())
    lo_us, hi_us = span.start * 1_000_000, span.end * 1_000_000
    in_span = pc.and_(pc.greater_equal(hour, lo_us), pc.less(hour, hi_us))
    return out.series, out.samples, truth.filter(in_span)


def _write_namespaces(out: OpenMetricsWriter, layout: Layout, lo: int, hi: int, offset: float, step: int) -> None:
    series, since, until = [], [], []
    for namespace, _created, initial, base in layout.namespaces:
        change = sample.NAMESPACE_LABEL_CHANGES.get(base)
        edges = [lo, hi]
        if change and lo < change[0] < hi:
            edges = [lo, change[0], hi]
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            labels = namespace_label_set(namespace, label_at(base, initial, a))
            series.append("kube_namespace_labels" + _labels(KSM | {"namespace": namespace} | _k8s_labels(labels)))
            since.append(a)
            until.append(b)
    owner, t = scrapes(lo, hi, np.full(len(series), offset), np.array(since), np.array(until), step)
    out.write(series, owner, t, np.ones(len(t)))


def _hourly_usage(pods: DayPods, truth: pa.Table, lo: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pod and hour of the day: CPU cores (the hour's mean rate), working-set bytes, and the CPU
    core-seconds used in the day before that hour. ``pods`` may be some of the day's (those of a span)."""
    n = len(pods.uid)
    index = pc.index_in(truth.column("pod_uid"), value_set=pa.array(pods.uid))
    truth = truth.filter(pc.is_valid(index))
    index = index.drop_null().to_numpy()
    hour = (truth.column("hour").cast(pa.int64()).to_numpy() // 1_000_000 - lo) // HOUR
    running = truth.column("running_seconds").to_numpy()
    used = np.zeros((n, 24))
    memory = np.zeros((n, 24))
    used[index, hour] = truth.column("cpu_usage_core_seconds").to_numpy()
    seconds = np.ones((n, 24))
    seconds[index, hour] = running
    memory[index, hour] = truth.column("memory_working_set_byte_seconds").to_numpy() / running
    cumulative = np.cumsum(used, axis=1) - used
    return used / seconds, memory, cumulative


def _write_pods(
    out, layout, pods: DayPods, chunk, day_lo, lo, hi, step, ksm_offset, node_offset, rate, memory, cumulative
):
    """The series of some pods, sampled in [lo, hi) of the day starting at ``day_lo`` (whose hours index
    ``rate``, ``memory`` and ``cumulative``)."""
    nodes = layout.nodes
    who = [{"namespace": pods.namespace[i], "pod": pods.pod[i], "uid": pods.uid[i]} for i in chunk]
    node = pods.node[chunk]
    ksm = np.full(len(chunk), ksm_offset)
    life, t = scrapes(lo, hi, ksm, pods.created[chunk], pods.deleted[chunk], step)
    ones = np.ones(len(t))
    out.write(
        [
            "kube_pod_info"
            + _labels(
                KSM
                | w
                | {
                    "created_by_kind": pods.owner[i][0],
                    "created_by_name": pods.owner[i][1],
                    "node": nodes[pods.node[i]].name,
                    "host_ip": "10.0.0.1",
                    "pod_ip": "10.0.9.9",
                }
            )
            for w, i in zip(who, chunk, strict=True)
        ],
        life,
        t,
        ones,
    )
    out.write(
        ["kube_pod_labels" + _labels(KSM | w | _k8s_labels(pods.labels[i])) for w, i in zip(who, chunk, strict=True)],
        life,
        t,
        ones,
    )
    running = (t >= pods.start[chunk][life]) & (t < pods.end[chunk][life])
    out.write(
        ["kube_pod_status_phase" + _labels(KSM | w | {"phase": "Running"}) for w in who],
        life,
        t,
        running.astype(np.float64),
    )
    for resource, unit, values in (
        ("cpu", "core", pods.cpu_request),
        ("memory", "byte", pods.memory_request),
        ("nvidia_com_gpu", "integer", pods.gpu_request),
    ):
        has = values[chunk][life] > 0
        series = [
            "kube_pod_container_resource_requests"
            + _labels(
                KSM
                | w
                | {"container": pods.container[i], "node": nodes[pods.node[i]].name, "resource": resource, "unit": unit}
            )
            for w, i in zip(who, chunk, strict=True)
        ]
        out.write(series, life[has], t[has], values[chunk][life[has]])
    started, t_start = scrapes(lo, hi, ksm, pods.start[chunk], pods.deleted[chunk], step)
    out.write(
        ["kube_pod_start_time" + _labels(KSM | w) for w in who],
        started,
        t_start,
        pods.start[chunk][started].astype(np.float64),
    )
    done = chunk[pods.completes[chunk]]
    if len(done):
        ended, t_end = scrapes(lo, hi, np.full(len(done), ksm_offset), pods.end[done], pods.deleted[done], step)
        names = [{"namespace": pods.namespace[i], "pod": pods.pod[i], "uid": pods.uid[i]} for i in done]
        out.write(
            ["kube_pod_completion_time" + _labels(KSM | w) for w in names],
            ended,
            t_end,
            pods.end[done][ended].astype(np.float64),
        )
    # cAdvisor, from each node's kubelet at its own offset, while the pod runs
    ran, t_run = scrapes(lo, hi, node_offset[node], pods.start[chunk], pods.end[chunk], step)
    pod = chunk[ran]
    hour = (t_run - day_lo) // HOUR
    segment = np.maximum(day_lo + hour * HOUR, pods.start[pod])
    before_day = np.maximum(day_lo - pods.start[pod], 0) * pods.cpu_request[pod] * 0.5
    counter = before_day + cumulative[pod, hour] + rate[pod, hour] * (t_run - segment)
    working_set = memory[pod, hour]
    for cgroup in ("container", "pod"):
        series = []
        for w, i in zip(who, chunk, strict=True):
            node_name = nodes[pods.node[i]].name
            container = pods.container[i] if cgroup == "container" else ""
            path = cgroup_id(pods.uid[i], container, systemd=bool(pods.node[i] % 2))
            if cgroup == "pod":
                path = path.rsplit("/", 1)[0]
            kubelet = {
                "job": "kubelet",
                "metrics_path": "/metrics/cadvisor",
                "instance": f"{node_name}:10250",
                "node": node_name,
                "namespace": w["namespace"],
                "pod": w["pod"],
                "container": container,
                "id": path,
            }
            if cgroup == "container":
                kubelet["image"] = f"{container}:1"
            series.append(_labels(kubelet))
        out.write(["container_cpu_usage_seconds_total" + s for s in series], ran, t_run, counter)
        out.write(["container_memory_working_set_bytes" + s for s in series], ran, t_run, working_set)
