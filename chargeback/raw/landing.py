"""Landing: raw Arrow tables to Parquet partitions under ``<data_dir>/raw``, atomically.

A partition is ``<data_dir>/raw/<source>/<table>/<part>=<value>/``; it holds one file per target that
wrote it: ``data.parquet`` for account-wide sources (EMR, CUR, Cost Explorer) and the sample month,
``data-<cluster>.parquet`` for a cluster's collection (so clusters never overwrite each other's day).
Each file is written to a temporary name beside it and moved into place with ``os.replace``: readers
see the old file or the new one, never half of either. Landing the same partition again replaces it,
which is what makes collection idempotent and a restated CUR billing period replace the first version.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chargeback.core.errors import DataError, naming
from chargeback.raw import tables
from chargeback.raw.tables import RawTable
from collectors.streams import Stream

PARTITION_FILE = "data.parquet"
DEMO_MARKER = ".chargeback-demo"  # in a data directory whose raw/ is a copy of the sample month
PARTITION_GLOB = "*=*/data*.parquet"  # published files only: temporary files start with "."


Landable = RawTable | Stream  # a raw table, or the source stream that lands in it


def table_dir(data_dir: Path, table: Landable) -> Path:
    return Path(data_dir) / "raw" / table.source / table.name


def partition_path(data_dir: Path, table: Landable, value: str, target: str | None = None) -> Path:
    table = tables.of(table)
    part = "billing_period" if table.partition == "billing_period" else "day"
    name = PARTITION_FILE if target is None else f"data-{_safe(target)}.parquet"
    return table_dir(data_dir, table) / f"{part}={value}" / name


def _safe(target: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", target):
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
                    writer = pq.ParquetWriter(temporary, batch.schema, compression="zstd")
                writer.write_table(batch.cast(writer.schema) if batch.schema != writer.schema else batch)
            if writer is None:  # an empty partition is still a partition: the window was collected
                pq.write_table(table.schema.empty_table(), temporary, compression="zstd")
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


def partitions(data_dir: Path, table: Landable) -> list[Path]:
    """The published partition files of a raw table, in partition order."""
    return sorted(table_dir(data_dir, table).glob(PARTITION_GLOB))


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
                    pq.ParquetWriter(temporary, table.schema, compression="zstd"),
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
