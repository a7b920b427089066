"""Landing: raw Arrow tables to Parquet partitions under ``<data_dir>/raw``, atomically.

A partition is ``<data_dir>/raw/<source>/<table>/<part>=<value>/``; it holds one file per target that
wrote it: ``data.parquet`` for account-wide sources (EMR, CUR, Cost Explorer) and the sample month,
``data-<cluster>.parquet`` for a cluster's collection (so clusters never overwrite each other's day).
Each file is written to a temporary name beside it and moved into place with ``os.replace``: readers
see the old file or the new one, never half of either. Landing the same partition again replaces it,
which is what makes collection idempotent and a restated CUR billing period replace the first version.
Every file is written with Parquet page checksums (``chargeback.raw.integrity``), which a build verifies.

Only partition files are read: ``<part>=<value>/data.parquet`` or ``data-<target>.parquet`` in a raw
table's folder, ``<part>`` being the table's (``day`` or ``billing_period``) and ``<value>`` a real day or
month. Anything else under ``<data_dir>/raw`` is a stray file (``stray_files``): reported, never read.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chargeback.core.errors import DataError, naming
from chargeback.raw import integrity, tables
from chargeback.raw.tables import RawTable
from collectors.streams import Stream

PARTITION_FILE = "data.parquet"
DEMO_MARKER = ".chargeback-demo"  # in a data directory whose raw/ is a copy of the sample month
PARTITION_GLOB = "*=*/data*.parquet"  # what may be a partition file (see is_partition_file for what is one)
_TARGET = r"[A-Za-z0-9][A-Za-z0-9._-]*"  # a target (cluster) name that can name a file
_FILE_NAME = re.compile(rf"data(?:-{_TARGET})?\.parquet")
# The part of a partition file's path that names it wherever the raw tree lives (a data directory, S3):
# <source>/<table>/<part>=<value>/<file>, what reports of a row's file show after "raw/".
FILE_PATTERN = "[^/]+/[^/]+/[^/]+=[^/]+/[^/]+$"
_VALUE = {"day": re.compile(r"\d{4}-\d{2}-\d{2}"), "billing_period": re.compile(r"\d{4}-\d{2}")}


Landable = RawTable | Stream  # a raw table, or the source stream that lands in it


def table_dir(data_dir: Path, table: Landable) -> Path:
    return Path(data_dir) / "raw" / table.source / table.name


def partition_path(data_dir: Path, table: Landable, value: str, target: str | None = None) -> Path:
    table = tables.of(table)
    part = "billing_period" if table.partition == "billing_period" else "day"
    name = PARTITION_FILE if target is None else f"data-{_safe(target)}.parquet"
    return table_dir(data_dir, table) / f"{part}={value}" / name


def _safe(target: str) -> str:
    if not re.fullmatch(_TARGET, target):
        raise DataError(f"target name {target!r} cannot name a file: use letters, digits, '.', '_' and '-'")
    return target


def partition_target(path: Path) -> str | None:
    """The target a partition file belongs to (None: account-wide)."""
    return None if path.name == PARTITION_FILE else path.name.removeprefix("data-").removesuffix(".parquet")


def write_partition(data_dir: Path, table: Landable, value: str, batches: Iterable[pa.Table]) -> Path:
    """Write one whole partition from a stream of batches, then publish it atomically."""
    target = partition_path(data_dir, table, value)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{PARTITION_FILE}.{uuid.uuid4().hex}.tmp")
    writer: pq.ParquetWriter | None = None
    try:
        with naming(target):  # Arrow's write errors name no file
            for batch in batches:
                if writer is None:
                    writer = pq.ParquetWriter(temporary, integrity.marked(batch.schema), **integrity.WRITE_OPTIONS)
                writer.write_table(batch.cast(writer.schema) if batch.schema != writer.schema else batch)
            if writer is None:  # an empty partition is still a partition: the window was collected
                empty = table.schema.empty_table()
                pq.write_table(empty.cast(integrity.marked(empty.schema)), temporary, **integrity.WRITE_OPTIONS)
            else:
                writer.close()
                writer = None
        os.replace(temporary, target)
    finally:
        if writer is not None:
            with contextlib.suppress(OSError):  # after a failed write (a full disk) closing fails too
                writer.close()
        if temporary.exists():  # not unlink(missing_ok): on a read-only file system that fails too
            temporary.unlink()
    return target


def land(data_dir: Path, table: Landable, data: pa.Table, origin: str = "batch") -> list[Path]:
    """Conform ``data`` to its schema and write it, one partition per UTC day (or billing period).

    Each partition ``data`` touches is replaced as a whole by the rows of ``data`` for it.
    """
    table = tables.of(table)
    data = table.conform(data, origin)
    month = table.partition == "billing_period"
    keys = pc.strftime(data.column(table.day_column), format="%Y-%m" if month else "%Y-%m-%d")
    written = []
    for value in sorted(pc.unique(keys).to_pylist()):
        part = data.filter(pc.equal(keys, value))
        written.append(write_partition(data_dir, table, value, [part]))
    return written


def check_partition(table: Landable, file: Path | str) -> None:
    """Read a partition's footer and name the file and column that break the raw-table contract (``file``: a
    path, or a URI pyarrow reads)."""
    try:
        schema = pq.read_schema(file)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{file}: not a readable Parquet file ({exc}); re-collect that partition") from None
    for column in table.schema:
        if column.name not in schema.names:
            raise DataError(f"{file}: {table.key} partition lacks column {column.name!r}; re-collect that partition")
        found = schema.field(column.name).type
        if found != column.type and not (pa.types.is_map(found) and pa.types.is_map(column.type)):
            raise DataError(f"{file}: column {column.name!r} is {found}, expected {column.type} ({table.key})")


def is_partition_file(table: Landable, relative: str) -> bool:
    """Whether ``relative`` (a path inside the table's folder, ``/``-separated) names a partition file of it."""
    table = tables.of(table)
    parts = relative.split("/")
    if len(parts) != 2 or not _FILE_NAME.fullmatch(parts[1]):
        return False
    key, _, value = parts[0].partition("=")
    part = "billing_period" if table.partition == "billing_period" else "day"
    return key == part and bool(_VALUE[part].fullmatch(value)) and _real(part, value)


def _real(part: str, value: str) -> bool:
    try:
        date.fromisoformat(value if part == "day" else f"{value}-01")
    except ValueError:
        return False
    return True


def partitions(data_dir: Path, table: Landable) -> list[Path]:
    """The published partition files of a raw table, in partition order (nothing else is read: see
    stray_files)."""
    folder = table_dir(data_dir, table)
    return sorted(p for p in folder.glob(PARTITION_GLOB) if is_partition_file(table, p.relative_to(folder).as_posix()))


@dataclass(frozen=True)
class StrayFile:
    """A file under ``<data_dir>/raw`` that no build reads, and why."""

    path: str  # relative to the data directory
    reason: str


def stray_files(data_dir: Path) -> list[StrayFile]:
    """Every file under ``<data_dir>/raw`` that is not a partition file of a raw table: reported by the build
    and `chargeback check`, never read."""
    root = Path(data_dir) / "raw"
    found = []
    for path in sorted(root.rglob("*")) if root.is_dir() else []:
        if path.is_dir():
            continue
        parts = path.relative_to(root).parts
        table = tables.BY_KEY.get("/".join(parts[:2])) if len(parts) > 2 else None
        if table is not None and is_partition_file(table, "/".join(parts[2:])):
            continue
        if path.name.startswith(f".{PARTITION_FILE}.") and path.name.endswith(".tmp"):
            reason = "a temporary file of a landing that is running, or was killed (delete it if none is running)"
        elif table is None:
            reason = "not in a raw table's folder (raw/<source>/<table>/)"
        elif len(parts) != 4 or not is_partition_file(table, f"{parts[2]}/{PARTITION_FILE}"):
            part = "billing_period=YYYY-MM" if table.partition == "billing_period" else "day=YYYY-MM-DD"
            reason = f"not in a partition folder ({part})"
        else:
            reason = "not named data.parquet or data-<cluster>.parquet"
        found.append(StrayFile(path.relative_to(data_dir).as_posix(), reason))
    return found


class DayWriter:
    """Collects one window's batches for several raw tables and publishes them together.

    Each (table, partition) gets a temporary Parquet file; ``commit()`` moves them all into place
    with ``os.replace`` (every table of ``tables`` is written, empty if no batch came, because the
    window was collected). Leaving the ``with`` block by an exception deletes the temporary files
    and leaves every published partition as it was.
    """

    def __init__(
        self, data_dir: Path, partition: str, tables: Iterable[Landable], origin: str, target: str | None = None
    ):
        self.data_dir = Path(data_dir)
        self.partition = partition
        self.target = target
        self.tables = tuple(tables)
        self.origin = origin
        self.rows: dict[str, int] = {t.key: 0 for t in self.tables}
        self._writers: dict[str, tuple[pq.ParquetWriter, Path, Path]] = {}

    def __enter__(self) -> DayWriter:
        return self

    def write(self, stream: Landable, data: pa.Table) -> None:
        """Add a batch of ``stream``'s rows (a source's stream, or its raw table) to the window's files."""
        table = tables.of(stream)
        if table.key not in self.rows:
            raise DataError(f"{self.origin}: wrote {table.key}, which it does not declare")
        data = table.conform(data, self.origin)
        target = partition_path(self.data_dir, table, self.partition, self.target)
        with naming(target):  # Arrow's write errors name no file
            if table.key not in self._writers:
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary = target.with_name(f".{PARTITION_FILE}.{uuid.uuid4().hex}.tmp")
                self._writers[table.key] = (
                    pq.ParquetWriter(temporary, integrity.marked(table.schema), **integrity.WRITE_OPTIONS),
                    temporary,
                    target,
                )
            self._writers[table.key][0].write_table(data)
        self.rows[table.key] += data.num_rows

    def commit(self) -> None:
        for table in self.tables:
            if table.key not in self._writers:
                self.write(table, table.schema.empty_table())
        for writer, _, target in self._writers.values():
            with naming(target):
                writer.close()
        for _, temporary, target in self._writers.values():
            os.replace(temporary, target)
        self._writers.clear()

    def __exit__(self, kind, value, traceback) -> None:
        for writer, temporary, _ in self._writers.values():
            with contextlib.suppress(OSError):  # after a failed write (a full disk) closing fails too
                writer.close()
            temporary.unlink(missing_ok=True)
        self._writers.clear()
