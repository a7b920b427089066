"""Where a build's large results live: Parquet files outside the warehouse file, one folder per build.

``<data_dir>/builds/<build id>/<schema>.<relation>/day=<YYYY-MM-DD>/cluster=<cluster>/*.parquet``

- the DuckDB engine writes there the models built by day (the priced pod-hours and what is derived per
  pod-day: ``-- incremental: day``); a day whose inputs did not change is carried forward from the previous
  build by hard links (``carry_forward``), never rewritten;
- the Spark engine writes there every mart (Spark leaves the partition columns in the folder names only;
  DuckDB writes them in the files too, so a DuckDB build's files read back alone).

The published warehouse holds views over these files (``parquet_view``) beside the small tables, so readers
query the same relations as ever; a view names its files relative to the data directory (``relative``), where
every connection resolves them (``chargeback.build.warehouse.search_from``). A build id sorts by the time it
started; a folder is marked published (``PUBLISHED``) once its warehouse is. After each publish ``prune``
deletes the folders of earlier builds but the last ``KEEP_BUILDS`` published ones (a reader may still be
querying the one before) and those of builds that died before publishing.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

BUILDS_DIR = "builds"  # in the data directory
KEEP_BUILDS = 2  # the published build's files and the one before, which a reader may still be querying
PUBLISHED = "PUBLISHED"  # a marker file in a build's folder once its warehouse is published
DAY_SOURCES = ("date", "hour")  # the column a relation's day partition is taken from, first found
HIVE_TYPES = {"day": "DATE", "cluster": "VARCHAR"}


def root(data_dir: Path) -> Path:
    return (Path(data_dir) / BUILDS_DIR).resolve()


def new_build_id() -> str:
    """A build's folder name: when it started (UTC, sorts by time) and a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8]


def folder(version: Path, relation: str) -> Path:
    """Where a build writes one relation (``schema.name``)."""
    return version / relation


def partition_columns(columns: Iterable[str]) -> list[str]:
    """A relation's partitions: ``day`` where it has a date or an hour, ``cluster`` where it has one."""
    columns = list(columns)
    return (["day"] if any(c in columns for c in DAY_SOURCES) else []) + (["cluster"] if "cluster" in columns else [])


def day_source(columns: Iterable[str], named: str | None = None) -> str | None:
    """The column a relation's day is taken from: ``named`` (a model's ``-- incremental: day by``), else the
    first of DAY_SOURCES it has."""
    columns = list(columns)
    return named or next((c for c in DAY_SOURCES if c in columns), None)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def day_folder(path: Path, day: object) -> Path:
    return path / f"day={day}"


def files(path: Path) -> list[Path]:
    return sorted(path.rglob("*.parquet")) if path.is_dir() else []


def relative(path: Path, data_dir: Path) -> str:
    """``path``, under ``data_dir``, as a view names it: relative to the data directory, so that a data
    directory moved, mounted elsewhere or restored from a backup still reads."""
    return Path(path).resolve().relative_to(Path(data_dir).resolve()).as_posix()


def parquet_view(relation: str, types: list[tuple[str, str]], path: Path, hive: bool, data_dir: Path) -> str:
    """The DuckDB statement publishing one relation written under ``path`` (in ``data_dir``): a view over its
    Parquet files, with its columns in order and typed as the DuckDB model types them (an empty table where
    no file was written: Spark and DuckDB write none for an empty partitioned result). ``hive``: the partition
    columns are in the folder names only (Spark's files)."""
    columns = ", ".join(f"{quote(name)} {duckdb_type}" for name, duckdb_type in types)
    if not files(path):
        return f"create table {relation} ({columns})"
    options = ", hive_partitioning = false"
    parts = partition_columns(name for name, _ in types)
    if hive and parts:
        typed = ", ".join(f"{literal(p)}: {HIVE_TYPES[p]}" for p in parts)
        options = f", hive_partitioning = true, hive_types = {{{typed}}}"
    casts = ", ".join(f"cast({quote(name)} as {duckdb_type}) as {quote(name)}" for name, duckdb_type in types)
    pattern = literal(f"{relative(path, data_dir)}/**/*.parquet")
    return f"create view {relation} as select {casts} from read_parquet({pattern}{options})"


def carry_forward(source: Path, target: Path) -> int:
    """Hard-link every file under ``source`` (one day of a relation in an earlier build) to the same place under
    ``target``; the number of files linked. Nothing is copied: a day kept from build to build is one file."""
    linked = 0
    for file in files(source):
        destination = target / file.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.link(file, destination)
        linked += 1
    return linked


def mark_published(version: Path) -> None:
    version.mkdir(parents=True, exist_ok=True)
    (version / PUBLISHED).touch()


def prune(builds: Path, current: str) -> list[Path]:
    """After ``current`` is published: delete the folders of the builds before the last ``KEEP_BUILDS``
    published ones and of builds that died unpublished (a build id later than ``current`` is a build still
    running, and is left alone); the folders deleted."""
    if not builds.is_dir():
        return []
    earlier = sorted(p for p in builds.iterdir() if p.is_dir() and p.name <= current)
    published = [p for p in earlier if (p / PUBLISHED).is_file()]
    keep = {p.name for p in published[-KEEP_BUILDS:]} | {current}
    deleted = [p for p in earlier if p.name not in keep]
    for old in deleted:
        shutil.rmtree(old, ignore_errors=True)
    return deleted


def disk_use(path: Path) -> int:
    """Bytes under ``path``, each file counted once however many builds link it."""
    seen, total = set(), 0
    for file in Path(path).rglob("*"):
        if file.is_file():
            stat = file.stat()
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total
