"""What every benchmark module shares: the sizes (``SIZES``), the month's time constants, and column helpers.

See ``benchmarks.generate`` for the scenario each size makes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
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

# bump when the raw data of a given Size changes: it keys the benchmark's cache (benchmarks/data/<size key>)
GENERATOR_VERSION = 2  # 2: volumes, PersistentVolumes, pods' network bytes, data transfer, load balancers
HOUR, DAY, GIB, MIB = sample.HOUR, sample.DAY, sample.GIB, sample.MIB
MONTH_START = sample.MONTH_START
MONTH_DAYS = (sample.MONTH_END - sample.MONTH_START) // DAY
_CLUSTER_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")  # an EKS cluster name that can also name a landed file

# --- sizes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    """A generated month of one cluster. ``long_running_pods`` counts every pod running all month, the three
    DaemonSet pods of each node included; each Spark job is one driver and ``executors_per_job`` executors.
    ``cluster`` names the EKS cluster; ``member`` numbers it in a fleet (``Fleet``): its node addresses, pod
    uids and virtual cluster ids differ from every other member's."""

    name: str
    nodes: int
    long_running_pods: int
    spark_jobs_per_day: int
    executors_per_job: int
    days: int = 30
    executor_seconds: tuple[int, int] = (600, 3600)
    seed: int = 7
    cluster: str = sample.CLUSTER
    member: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.days <= MONTH_DAYS:
            raise ValueError(f"size {self.name}: days must be 1 to {MONTH_DAYS} (one billing period)")
        if self.nodes < 6 or self.spark_jobs_per_day < 1 or self.executors_per_job < 1:
            raise ValueError(f"size {self.name}: needs at least 6 nodes, 1 Spark job a day and 1 executor")
        low, high = self.executor_seconds
        if not 60 <= low <= high <= 6 * HOUR:
            raise ValueError(f"size {self.name}: executor_seconds must be within 60 s to 6 h, low first")
        if not _CLUSTER_NAME.fullmatch(self.cluster) or not 0 <= self.member < 16:
            raise ValueError(f"size {self.name}: cluster {self.cluster!r} member {self.member} (0 to 15)")

    @property
    def key(self) -> str:
        """Names its cache: changes with any parameter or with the generator's version."""
        text = json.dumps([GENERATOR_VERSION, dataclasses.asdict(self)], sort_keys=True)
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"

    @property
    def clusters(self) -> tuple[str, ...]:
        return (self.cluster,)

    def describe(self) -> str:
        return (
            f"{self.nodes:,} nodes, {self.long_running_pods:,} long-running pods, {self.spark_jobs_per_day:,} Spark"
            f" jobs/day of 1 driver + {self.executors_per_job} executors living"
            f" {self.executor_seconds[0] // 60}-{self.executor_seconds[1] // 60} min, {self.days} days"
        )


@dataclass(frozen=True)
class Fleet:
    """Several clusters in one account, one payer CUR and one data directory (one warehouse): member ``k`` is
    ``size`` named ``clusters[k]``, with seed ``size.seed + k`` (so the first member is ``size`` itself)."""

    name: str
    size: Size
    clusters: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(set(self.clusters)) != len(self.clusters) or not self.clusters:
            raise ValueError(f"fleet {self.name}: needs distinct cluster names")
        self.members()  # validates each name

    @property
    def days(self) -> int:
        return self.size.days

    def members(self) -> list[Size]:
        return [
            dataclasses.replace(self.size, name=f"{self.name}-{k + 1}", seed=self.size.seed + k, cluster=c, member=k)
            for k, c in enumerate(self.clusters)
        ]

    @property
    def key(self) -> str:
        text = json.dumps([GENERATOR_VERSION, dataclasses.asdict(self)], sort_keys=True)
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"

    def describe(self) -> str:
        return f"{len(self.clusters)} clusters ({', '.join(self.clusters)}), each {self.size.describe()}"


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


_L = Size("L", nodes=500, long_running_pods=20_000, spark_jobs_per_day=2_000, executors_per_job=20)
SIZES: dict[str, Size | SampleMonth | Fleet] = {
    "S": SampleMonth(),
    "M": Size("M", nodes=100, long_running_pods=3_000, spark_jobs_per_day=300, executors_per_job=20),
    "L": _L,
    "XL": Fleet("XL", _L, tuple(f"{sample.CLUSTER}{f'-{k}' if k > 1 else ''}" for k in range(1, 5))),
}

# --- column helpers ------------------------------------------------------------------------------------


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
