"""The shape of a generated cluster month: sizes, nodes, long-running pods and the Spark schedule.

See ``benchmarks.generate`` for the scenario. Everything here is fixed for a size (it does not change
from day to day) and is built once: ``Layout.build(size)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script or from another directory
    sys.path.insert(0, str(REPO_ROOT))

from collectors import streams  # noqa: E402
from sample_data import generate as sample  # noqa: E402

GENERATOR_VERSION = 1  # bump when the raw data of a given Size changes: it keys the benchmark's cache
HOUR, DAY, GIB, MIB = sample.HOUR, sample.DAY, sample.GIB, sample.MIB
MONTH_START = sample.MONTH_START
MONTH_DAYS = (sample.MONTH_END - sample.MONTH_START) // DAY

# --- sizes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    """A generated month. ``long_running_pods`` counts every pod running all month, the three DaemonSet
    pods of each node included; each Spark job is one driver and ``executors_per_job`` executors."""

    name: str
    nodes: int
    long_running_pods: int
    spark_jobs_per_day: int
    executors_per_job: int
    days: int = 30
    executor_seconds: tuple[int, int] = (600, 3600)
    seed: int = 7

    def __post_init__(self) -> None:
        if not 1 <= self.days <= MONTH_DAYS:
            raise ValueError(f"size {self.name}: days must be 1 to {MONTH_DAYS} (one billing period)")
        if self.nodes < 6 or self.spark_jobs_per_day < 1 or self.executors_per_job < 1:
            raise ValueError(f"size {self.name}: needs at least 6 nodes, 1 Spark job a day and 1 executor")
        low, high = self.executor_seconds
        if not 60 <= low <= high <= 6 * HOUR:
            raise ValueError(f"size {self.name}: executor_seconds must be within 60 s to 6 h, low first")

    @property
    def key(self) -> str:
        """Names its cache: changes with any parameter or with the generator's version."""
        text = json.dumps([GENERATOR_VERSION, dataclasses.asdict(self)], sort_keys=True)
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"

    def describe(self) -> str:
        return (
            f"{self.nodes:,} nodes, {self.long_running_pods:,} long-running pods, {self.spark_jobs_per_day:,} Spark"
            f" jobs/day of 1 driver + {self.executors_per_job} executors living"
            f" {self.executor_seconds[0] // 60}-{self.executor_seconds[1] // 60} min, {self.days} days"
        )


@dataclass(frozen=True)
class SampleMonth:
    """Size S: the bundled sample month, written by ``sample_data/generate.py`` byte for byte."""

    name: str = "S"
    days: int = MONTH_DAYS

    @property
    def key(self) -> str:
        # generate.py and the modules it writes the month with (month.py, volumes.py, network.py, ...)
        source = b"".join(p.read_bytes() for p in sorted((REPO_ROOT / "sample_data").glob("*.py")))
        return f"{self.name}-{hashlib.sha256(source).hexdigest()[:10]}"

    def describe(self) -> str:
        return f"the sample month ({len(sample.NODES)} nodes, {MONTH_DAYS} days; sample_data/generate.py)"


SIZES: dict[str, Size | SampleMonth] = {
    "S": SampleMonth(),
    "M": Size("M", nodes=100, long_running_pods=3_000, spark_jobs_per_day=300, executors_per_job=20),
    "L": Size("L", nodes=500, long_running_pods=20_000, spark_jobs_per_day=2_000, executors_per_job=20),
}

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
FAILED_SHARE, CANCELLED_SHARE = 0.02, 0.01


# --- helpers ---------------------------------------------------------------------------------------------


def ts(seconds: np.ndarray) -> pa.Array:
    return sample._timestamps(np.asarray(seconds))


def uuids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random version-4 UUIDs as strings, without a Python loop."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2], hexed[:, 1::2] = digits[raw >> 4], digits[raw & 0x0F]
    dashed = np.full((n, 36), ord("-"), dtype=np.uint8)
    for a, b, c in ((0, 8, 0), (9, 13, 8), (14, 18, 12), (19, 23, 16), (24, 36, 20)):
        dashed[:, a:b] = hexed[:, c : c + b - a]
    return pa.array(dashed.reshape(-1).view("S36")).cast(pa.string())


def join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def maps(dicts: list[dict[str, str]], index: np.ndarray) -> pa.Array:
    """A map column: ``dicts[index[i]]`` for each row (each distinct dict converted once)."""
    return pa.array(dicts, type=streams.LABELS).take(pa.array(index))


def hour_slices(start: np.ndarray, end: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each interval's UTC hours inside [lo, hi): (interval index, hour start, seconds covered)."""
    s, e = np.maximum(start, lo), np.minimum(end, hi)
    keep = np.nonzero(e > s)[0]
    s, e = s[keep], e[keep]
    first = s - s % HOUR
    count = (e - first + HOUR - 1) // HOUR
    which = np.repeat(keep, count)
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    hours = np.repeat(first, count) + offset * HOUR
    seconds = np.minimum(hours + HOUR, np.repeat(e, count)) - np.maximum(hours, np.repeat(s, count))
    return which, hours, seconds.astype(np.float64)


def _smooth_noise(rng: np.random.Generator, rows: int, columns: int, window: int) -> np.ndarray:
    """``sample._smooth_noise`` for many series at once: unit variance, moving-average memory of ``window``."""
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
    cpu = cpu_use[:, None] * cycle * (1 + 0.12 * _smooth_noise(rng, len(cpu_use), len(hours), 4))
    cpu = np.clip(cpu, 0.05 * cpu_use[:, None], 2.5 * cpu_use[:, None])
    memory = memory_use[:, None] * (1 + 0.04 * _smooth_noise(rng, len(cpu_use), len(hours), 12))
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
            host = f"ip-10-{a + 1}-{b}-{c + 4}"
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
class SparkSchedule:
    """Every job run (of the month and the day after it) and its pods, as columns."""

    # per job
    day: np.ndarray
    template: np.ndarray
    name: list[str]
    run_id: list[str]
    executor_prefix: list[str]  # "<name>-<16 hex>-exec-"
    selector: list[str]
    created: np.ndarray
    finished: np.ndarray
    state: np.ndarray  # 0 completed, 1 failed, 2 cancelled
    # per pod (driver first, then executors 1..E, job after job)
    job: np.ndarray
    index: np.ndarray  # 0 driver, k executor k
    start: np.ndarray
    end: np.ndarray
    node: np.ndarray  # index into the layout's nodes
    cpu_request_cores: np.ndarray
    memory_request_bytes: np.ndarray
    cpu_share: np.ndarray
    memory_share: np.ndarray
    uid: pa.Array


def _spark_schedule(
    size: Size, lanes: int, spark_nodes: list[int], per_node: int, rng: np.random.Generator
) -> SparkSchedule:
    jobs_per_day, executors = size.spark_jobs_per_day, size.executors_per_job
    days = size.days + 1  # the day after the month too: the benchmark lands it as "one more day"
    n = days * jobs_per_day
    day = np.repeat(np.arange(days), jobs_per_day)
    # submitted at random times of its day, created (and so partitioned) on that day too
    offset = np.sort(rng.uniform(0, DAY - 10, (days, jobs_per_day)), axis=1).ravel().astype(np.int64)
    created = MONTH_START + day * DAY + offset + rng.integers(2, 10, n)
    wanted = created + rng.integers(25, 46, n)
    ordinal = np.tile(np.arange(jobs_per_day), days)
    template = ordinal % len(sample.SPARK_JOBS)
    base = rng.uniform(*size.executor_seconds, n)
    executor_offset = rng.integers(60, 121, (n, executors))
    executor_life = np.clip(base[:, None] - rng.uniform(0, 45, (n, executors)), *size.executor_seconds).astype(np.int64)
    driver_life = (executor_offset + executor_life).max(axis=1) + rng.integers(15, 46, n)
    finished_after = driver_life + rng.integers(5, 16, n)
    # each job takes the lane that frees first; it waits when every lane is busy
    lane_of, driver_start = np.empty(n, np.int64), np.empty(n, np.int64)
    free = [(0, lane) for lane in range(lanes)]
    for i in range(n):
        free_at, lane = heapq.heappop(free)
        lane_of[i] = lane
        driver_start[i] = max(int(wanted[i]), free_at)
        heapq.heappush(free, (int(driver_start[i] + driver_life[i] + 10), lane))
    draw = rng.random(n)
    state = np.where(draw < FAILED_SHARE, 1, np.where(draw < FAILED_SHARE + CANCELLED_SHARE, 2, 0))
    names = [
        f"{sample.SPARK_JOBS[k % len(sample.SPARK_JOBS)].name}-{k // len(sample.SPARK_JOBS):04d}"
        for k in range(jobs_per_day)
    ]
    name = [names[k] for k in ordinal.tolist()]
    run_id = [sample._job_run_id(f"{job}/{at}") for job, at in zip(name, created.tolist(), strict=True)]
    executor_prefix = [
        f"{job}-{sample._token(f'exec/{rid}', 16, sample.HEX)}-exec-" for job, rid in zip(name, run_id, strict=True)
    ]
    selector = ["spark-" + sample._token(f"app/{rid}", 32, sample.HEX) for rid in run_id]
    # pods: a driver and the executors of each job, on the job's lane's slots
    width = 1 + executors
    job = np.repeat(np.arange(n), width)
    index = np.tile(np.arange(width), n)
    offsets = np.concatenate([np.zeros((n, 1), np.int64), executor_offset], axis=1)
    lives = np.concatenate([driver_life[:, None], executor_life], axis=1)
    start = (driver_start[:, None] + offsets).ravel()
    end = start + lives.ravel()
    slot = lane_of[job] * width + index
    node = np.asarray(spark_nodes)[slot // per_node]
    specs = sample.SPARK_JOBS
    driver_cores = np.array([j.driver_cores for j in specs], np.float64)
    executor_cores = np.array([j.executor_cores for j in specs], np.float64)
    driver_bytes = np.array([sample._memory_with_overhead(j.driver_memory_mib) for j in specs], np.float64)
    executor_bytes = np.array([sample._memory_with_overhead(j.executor_memory_mib) for j in specs], np.float64)
    is_driver = index == 0
    pod_template = template[job]
    cpu = np.where(is_driver, driver_cores[pod_template], executor_cores[pod_template])
    memory = np.where(is_driver, driver_bytes[pod_template], executor_bytes[pod_template])
    cpu_share = np.where(is_driver, rng.uniform(0.1, 0.3, len(job)), rng.uniform(0.55, 0.9, len(job)))
    memory_share = np.where(is_driver, rng.uniform(0.35, 0.6, len(job)), rng.uniform(0.45, 0.8, len(job)))
    return SparkSchedule(
        day,
        template,
        name,
        run_id,
        executor_prefix,
        selector,
        created,
        driver_start + finished_after,
        state,
        job,
        index,
        start,
        end,
        node,
        cpu,
        memory,
        cpu_share,
        memory_share,
        uuids(rng, len(job)),
    )


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
        spark = _spark_schedule(size, lanes, list(range(counts[0])), per_node, rng)
        return cls(size, nodes, pods, spark, namespaces(size))

    @property
    def collected_at(self) -> int:
        """Kubernetes and EMR snapshots: five minutes after the month's last day."""
        return MONTH_START + self.size.days * DAY + 300

    # columns of the long-running pods and the nodes, built once
    def __post_init__(self) -> None:
        p = self.pods
        self.node_index = {node.name: i for i, node in enumerate(self.nodes)}
        self.node_names = pa.array([n.name for n in self.nodes])
        self.pod_namespace = pa.array([x.namespace for x in p])
        self.pod_name = pa.array([x.name for x in p])
        self.pod_uid = pa.array([x.uid for x in p])
        self.pod_node = pa.array([x.node.name for x in p])
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
