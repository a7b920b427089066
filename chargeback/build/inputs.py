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

A month's inputs' fingerprint is the SHA-256 of the sorted ``(path, bytes, sha256)`` of those files: what a
closed month keeps, and what builds compare with while a month is closed. Files are hashed only then, and
their hashes cached in ``<data_dir>/state/file_hashes.json`` by path, size and modification time, so a build
hashes only the files landed since the last one. Every build also records each month's ``marks`` (paths,
sizes, modification times: no reading), by which closing checks that the files are those the build read.
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
    mtime_ns: int
    table: RawTable
    value: str  # the partition's day (YYYY-MM-DD) or billing period (YYYY-MM)

    def read_by(self, period: str) -> bool:
        """Whether month ``period``'s bill reads this file (see the module's docstring)."""
        if self.table.partition == "billing_period":
            return self.value <= period
        if self.table.day_column == "collected_at":
            return True
        return self.value[:7] <= period


class RawInputs:
    """The raw files a bill can read, as found once (a build takes them at its start), hashed on demand."""

    def __init__(self, data_dir: Path, files: Iterable[InputFile]):
        self.data_dir = Path(data_dir)
        self.files = tuple(files)
        self._dirty = False
        self._cache_path = self.data_dir / HASH_CACHE
        try:
            self._cache = json.loads(self._cache_path.read_text()) if self._cache_path.is_file() else {}
        except (OSError, ValueError):
            self._cache = {}  # only a cache: hashed again from the files

    def of(self, period: str) -> list[InputFile]:
        return sorted((f for f in self.files if f.read_by(period)), key=lambda f: f.path)

    def marks(self, period: str) -> str:
        """What identifies the files ``period`` reads as a build saw them: paths, sizes and modification times
        (cheap: recorded by every build for every month, so closing can tell the files are those it built)."""
        digest = hashlib.sha256()
        for file in self.of(period):
            digest.update(f"{file.path}\t{file.size}\t{file.mtime_ns}\n".encode())
        return digest.hexdigest()

    def fingerprint(self, period: str) -> str:
        """What identifies the content of the files ``period`` reads: paths, sizes and SHA-256s (what a closed
        month keeps; a copied data directory keeps it too)."""
        digest = hashlib.sha256()
        for entry in self.listing(period):
            digest.update(f"{entry['path']}\t{entry['bytes']}\t{entry['sha256']}\n".encode())
        return digest.hexdigest()

    def listing(self, period: str) -> list[dict]:
        """Each file ``period`` reads: path, size and SHA-256 (hashed unless the cache knows the file unchanged)."""
        found = [{"path": f.path, "bytes": f.size, "sha256": self._sha256(f)} for f in self.of(period)]
        self._save()
        return found

    def _sha256(self, file: InputFile) -> str:
        mark = [file.size, file.mtime_ns]
        known = self._cache.get(file.path)
        if known and known[:2] == mark:
            return known[2]
        digest = hashlib.sha256()
        try:
            with (self.data_dir / file.path).open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
        except OSError as exc:
            raise ChargebackError(
                f"{exc.filename}: cannot read a raw partition to fingerprint it ({exc.strerror})"
            ) from None
        self._cache[file.path] = [*mark, digest.hexdigest()]
        self._dirty = True
        return digest.hexdigest()

    def _save(self) -> None:
        """Write the hash cache atomically (files gone are dropped); one that cannot be written is only a slower
        next build."""
        if not self._dirty:
            return
        present = {f.path for f in self.files}
        cache = {path: entry for path, entry in self._cache.items() if path in present}
        temporary = self._cache_path.with_name(f".{self._cache_path.name}.{uuid.uuid4().hex}.tmp")
        try:
            self._cache_path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(cache, sort_keys=True))
            os.replace(temporary, self._cache_path)
            self._dirty = False
        except OSError:
            temporary.unlink(missing_ok=True)


def raw_inputs(data_dir: Path, tables: Iterable[RawTable]) -> RawInputs:
    """Every published partition of ``tables``, with its size and modification time."""
    data_dir, files = Path(data_dir), []
    try:
        for table in tables:
            for path in partitions(data_dir, table):
                stat = path.stat()
                value = path.parent.name.split("=", 1)[1]
                files.append(
                    InputFile(path.relative_to(data_dir).as_posix(), stat.st_size, stat.st_mtime_ns, table, value)
                )
    except OSError as exc:
        raise ChargebackError(
            f"{exc.filename}: cannot read a raw partition to fingerprint it ({exc.strerror})"
        ) from None
    return RawInputs(data_dir, files)
