"""The published warehouse: one DuckDB file, ``<data_dir>/warehouse.duckdb``, replaced whole by each build.

A build writes a new file beside the published one and only then ``os.replace``-s it into place, so readers
(the dashboard, exports, reports) never see a half-built state; they open it read-only per request
(``connect``) and so never hold a lock the builder needs. One build runs at a time per data directory: a
build holds ``<data_dir>/.build.lock`` (``flock``, across processes), and a second one fails with
``LockedError`` saying which process is building. So whatever work files a build finds when it starts
(``.warehouse.<id>.building.duckdb`` and its ``.wal``, DuckDB's spill files in ``<data_dir>/.tmp``) belong
to builds that died without cleaning up (killed, OOM-killed, the machine stopped): it deletes them.

Readers query ``marts.*`` (the models' results), ``config.*`` (the settings the build ran with) and
``bookkeeping.*``: what the build recorded beside the marts (``build_info``, ``cur_versions``,
``raw_coverage``, ``collection_status``; see ``chargeback.build.bookkeeping``).

The views over files (the raw tables, and the models a build writes as Parquet under ``builds/``) name them
relative to the data directory, and every connection resolves them there (``search_from``), so a data
directory reads the same wherever it is mounted, moved or restored. Another DuckDB client opening the file
runs ``set file_search_path = '<data directory>'`` first, or starts in the data directory.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import duckdb

from chargeback.core.config import Config
from chargeback.core.errors import ChargebackError, DataError
from chargeback.core.locks import file_lock

BUILD_LOCK = ".build.lock"  # in the data directory; see build_lock
WORK_FILES = ".warehouse.*.building.duckdb*"  # a build's new warehouse and its write-ahead log; see building
SPILL_DIR = ".tmp"  # DuckDB's temp_directory during a build: where large joins spill


def build_lock(data_dir: Path, wait: bool = False) -> AbstractContextManager[None]:
    """The lock every build of ``data_dir`` holds, across processes (the scheduler's builds and a manual
    ``chargeback build``): a second build raises ``LockedError`` naming the running one, or waits."""
    return file_lock(Path(data_dir) / BUILD_LOCK, "a build of this data directory", wait)


def remove_dead_work(data_dir: Path) -> list[Path]:
    """Delete the work files of builds that died (their warehouse files, write-ahead logs and spill files);
    the paths deleted. Only under the build lock: then no live build of ``data_dir`` has any."""
    data_dir = Path(data_dir)
    dead = sorted(data_dir.glob(WORK_FILES))
    spill = data_dir / SPILL_DIR
    if spill.is_dir():
        dead += sorted(p for p in spill.rglob("*") if not p.is_dir())
    for path in dead:
        path.unlink(missing_ok=True)
    if spill.is_dir():
        shutil.rmtree(spill, ignore_errors=True)
    return dead


@contextmanager
def building(config: Config) -> Iterator[Path]:
    """A new warehouse file beside the published one, for the block to fill; published by ``publish``,
    deleted (with its write-ahead log) however the block ends. Called under the build lock, it first deletes
    what builds that died left behind (``remove_dead_work``)."""
    remove_dead_work(config.data_dir)
    path = Path(config.data_dir) / f".warehouse.{uuid.uuid4().hex}.building.duckdb"
    try:
        yield path
    finally:
        for leftover in (path, path.with_name(path.name + ".wal")):
            if leftover.exists():
                leftover.unlink()


def publish(built: Path, config: Config) -> Path:
    """Replace the published warehouse with ``built`` in one rename."""
    os.replace(built, config.warehouse_path)
    return config.warehouse_path


def records(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> list[dict]:
    """A query's rows as dicts keyed by column name."""
    result = con.execute(sql, params or [])
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, values, strict=True)) for values in result.fetchall()]


def search_from(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    """Resolve the relative file paths of ``con``'s views (``raw/...``, ``builds/...``) in ``data_dir``."""
    where = str(Path(data_dir).resolve())
    if "," in where:  # DuckDB's file_search_path is a comma-separated list of folders
        raise ChargebackError(f"{where}: a data directory's path cannot contain a comma; move or link it elsewhere")
    con.execute("set file_search_path = ?", [where])


@contextmanager
def read_only(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the warehouse file ``path`` (published or just built, in its data directory),
    in UTC, its views' files found in that directory; closed on exit."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        search_from(con, Path(path).parent)
        yield con
    finally:
        con.close()


def connect(config: Config) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A read-only connection to the published warehouse, closed on exit."""
    path = config.warehouse_path
    if not path.is_file():
        raise DataError(f"{path}: no warehouse yet; run `chargeback build` (or `chargeback demo`)")
    return read_only(path)
