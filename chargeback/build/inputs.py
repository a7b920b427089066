"""What a month's bill is made from: the raw partitions it reads and the models that read them, as
fingerprints a closed month keeps (docs/method.md#closed-periods-and-adjustments).

The raw tables a bill reads are those the bill's marts (``BILL_MARTS``) reach through the models, found by
walking the models, not listed by hand. Of each, month ``M`` reads (counted generously: a partition that
cannot change the month's bill only costs a recomputation that books nothing):

- a table partitioned by day of its rows (pod-hours, node-hours, labels, job runs, Cost Explorer): every
  day up to the last day of ``M`` (a pod's first record, or a job run created the month before, can
  decide where ``M``'s cost goes);
- the CUR, partitioned by billing period: every billing period up to ``M``;
- a snapshot table (partitioned by the day it was collected: EMR virtual clusters): every snapshot, since
  the latest one decides a virtual cluster's tenant for all of history.

A month's inputs' fingerprint is the SHA-256 of the sorted ``(path, bytes, sha256)`` of those files. File
hashes are cached in ``<data_dir>/state/file_hashes.json`` by path, size and modification time, so a build
hashes only the files landed since the last one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from chargeback.build.runner import Model, closure
from chargeback.core import periods
from chargeback.core.errors import ChargebackError
from chargeback.raw.landing import partitions
from chargeback.raw.tables import RAW_TABLES, RawTable

# The marts a bill and its exports read: what a closed month freezes.
BILL_MARTS = ("marts.fct_tenant_costs_daily", "marts.fct_tenant_allocation_daily")
HASH_CACHE = Path("state") / "file_hashes.json"
_RAW = re.compile(r"\braw\.([a-z0-9_]+)\b")
_CHUNK = 1 << 20


def bill_models(models: Iterable[Model]) -> dict[str, str]:
    """The SQL of the bill's marts and of every model they read, by relation."""
    by_relation = {m.relation: m for m in models}
    found: dict[str, str] = {}
    for mart in BILL_MARTS:
        found.update(closure(by_relation[mart], by_relation))
    return found


def models_fingerprint(models: Iterable[Model]) -> str:
    """A short hash of the SQL that turns raw data into a bill: a release that changes what a bill counts
    (a new cost category) changes it."""
    digest = hashlib.sha256()
    for relation, sql in sorted(bill_models(models).items()):
        digest.update(f"{relation}\n{sql}\n".encode())
    return digest.hexdigest()[:12]


def bill_tables(models: Iterable[Model]) -> list[RawTable]:
    """The raw tables the bill's marts read, directly or not."""
    names = {f"raw.{name}" for sql in bill_models(models).values() for name in _RAW.findall(sql)}
    return [table for table in RAW_TABLES if table.relation in names]


@dataclass(frozen=True)
class InputFile:
    path: str  # relative to the data directory
    size: int
    sha256: str
    table: RawTable
    value: str  # the partition's day (YYYY-MM-DD) or billing period (YYYY-MM)

    def read_by(self, period: str) -> bool:
        """Whether month ``period``'s bill reads this file (see the module's docstring)."""
        if self.table.partition == "billing_period":
            return self.value <= period
        if self.table.day_column == "collected_at":
            return True
        return self.value[:7] <= period


@dataclass(frozen=True)
class RawInputs:
    """The raw files a bill can read, each with its hash, as found once (a build takes them at its start)."""

    files: tuple[InputFile, ...]

    def of(self, period: str) -> list[InputFile]:
        return [f for f in self.files if f.read_by(period)]

    def fingerprint(self, period: str) -> str:
        digest = hashlib.sha256()
        for file in sorted(self.of(period), key=lambda f: f.path):
            digest.update(f"{file.path}\t{file.size}\t{file.sha256}\n".encode())
        return digest.hexdigest()

    def listing(self, period: str) -> list[dict]:
        """What a closed month records of its inputs: each file's path, size and SHA-256."""
        return [
            {"path": f.path, "bytes": f.size, "sha256": f.sha256} for f in sorted(self.of(period), key=lambda f: f.path)
        ]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def raw_inputs(data_dir: Path, tables: Iterable[RawTable]) -> RawInputs:
    """Every published partition of ``tables`` with its SHA-256 (from the cache when the file is unchanged)."""
    data_dir = Path(data_dir)
    cache_path = data_dir / HASH_CACHE
    try:
        cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    except (OSError, ValueError):
        cache = {}  # a cache: rebuilt from the files
    fresh, files = {}, []
    try:
        for table in tables:
            for path in partitions(data_dir, table):
                stat = path.stat()
                relative = path.relative_to(data_dir).as_posix()
                mark = [stat.st_size, stat.st_mtime_ns]
                known = cache.get(relative)
                digest = known[2] if known and known[:2] == mark else _sha256(path)
                fresh[relative] = [*mark, digest]
                value = path.parent.name.split("=", 1)[1]
                files.append(InputFile(relative, stat.st_size, digest, table, value))
    except OSError as exc:
        raise ChargebackError(
            f"{exc.filename}: cannot read a raw partition to fingerprint it ({exc.strerror})"
        ) from None
    if fresh != cache:
        _save(cache_path, fresh)
    return RawInputs(tuple(files))


def _save(path: Path, cache: dict) -> None:
    """Write the hash cache atomically; a cache that cannot be written is only a slower next build."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(cache, sort_keys=True))
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)


def month_of(value: str) -> str:
    """The month of a partition value (a day or a billing period)."""
    return periods.parse_period(value[:7], "partition")
