"""Landing: raw Arrow tables to Parquet partitions under ``<data_dir>/raw``, atomically.

A partition is ``<data_dir>/raw/<source>/<table>/<part>=<value>/``; it holds one file per target that
wrote it: ``data.parquet`` for account-wide sources (EMR, CUR, Cost Explorer) and the sample month,
``data-<cluster>.parquet`` for a cluster's collection (so clusters never overwrite each other's day).
Each file is written to a temporary name beside it and moved into place with ``os.replace``: readers
see the old file or the new one, never half of either. Landing the same partition again replaces it,
which is what makes collection idempotent and a restated CUR billing period replace the first version.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chargeback.errors import DataError
from collectors.schemas import RawTable

PARTITION_FILE = "data.parquet"
PARTITION_GLOB = "*=*/data*.parquet"  # published files only: temporary files start with "."
# Column each date-partitioned table is split on, by table key.
_DATE_COLUMN = {
    "prometheus/pod_hours": "hour",
    "prometheus/pods": "date",
    "prometheus/namespace_labels": "hour",
    "prometheus/node_hours": "hour",
    "emr/job_runs": "created_at",
    "cost_explorer/daily_costs": "date",
}


def table_dir(data_dir: Path, table: RawTable) -> Path:
    return Path(data_dir) / "raw" / table.source / table.name


def partition_path(data_dir: Path, table: RawTable, value: str, target: str | None = None) -> Path:
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


def conform(table: RawTable, data: pa.Table, origin: str) -> pa.Table:
    """Cast ``data`` to exactly the raw table's schema, or say what is wrong.

    Extra columns are dropped; optional (nullable) columns the source lacks are filled with nulls.
    """
    missing = [f.name for f in table.schema if f.name not in data.column_names and not f.nullable]
    if missing:
        raise DataError(f"{origin}: {table.key} is missing column(s) {', '.join(missing)}")
    columns = []
    for field in table.schema:
        if field.name not in data.column_names:  # an optional column the source lacks (e.g. net_ costs)
            columns.append(pa.nulls(data.num_rows, field.type))
            continue
        column = data.column(field.name)
        try:
            columns.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataError(
                f"{origin}: {table.key} column {field.name!r} is {column.type}, expected {field.type}: {exc}"
            ) from exc
        if not field.nullable and column.null_count:
            raise DataError(f"{origin}: {table.key} column {field.name!r} has {column.null_count} null value(s)")
    return pa.Table.from_arrays(columns, schema=table.schema)


def write_partition(data_dir: Path, table: RawTable, value: str, batches: Iterable[pa.Table]) -> Path:
    """Write one whole partition from a stream of batches, then publish it atomically."""
    target = partition_path(data_dir, table, value)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{PARTITION_FILE}.{uuid.uuid4().hex}.tmp")
    writer: pq.ParquetWriter | None = None
    try:
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
            writer.close()
        if temporary.exists():
            temporary.unlink()
    return target


def land(data_dir: Path, table: RawTable, data: pa.Table, origin: str = "batch") -> list[Path]:
    """Conform ``data`` to its schema and write it, one partition per UTC day (or billing period).

    Each partition ``data`` touches is replaced as a whole by the rows of ``data`` for it.
    """
    data = conform(table, data, origin)
    if table.partition == "billing_period":
        keys = pc.strftime(data.column("bill_billing_period_start_date"), format="%Y-%m")
    else:
        column = _DATE_COLUMN.get(table.key, "collected_at")
        keys = pc.strftime(data.column(column), format="%Y-%m-%d")
    written = []
    for value in sorted(pc.unique(keys).to_pylist()):
        part = data.filter(pc.equal(keys, value))
        written.append(write_partition(data_dir, table, value, [part]))
    return written


def partitions(data_dir: Path, table: RawTable) -> list[Path]:
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
        self, data_dir: Path, partition: str, tables: Iterable[RawTable], origin: str, target: str | None = None
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

    def write(self, table: RawTable, data: pa.Table) -> None:
        if table.key not in self.rows:
            raise DataError(f"{self.origin}: wrote {table.key}, which it does not declare")
        data = conform(table, data, self.origin)
        if table.key not in self._writers:
            target = partition_path(self.data_dir, table, self.partition, self.target)
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
        for writer, _, _ in self._writers.values():
            writer.close()
        for _, temporary, target in self._writers.values():
            os.replace(temporary, target)
        self._writers.clear()

    def __exit__(self, kind, value, traceback) -> None:
        for writer, temporary, _ in self._writers.values():
            writer.close()
            temporary.unlink(missing_ok=True)
        self._writers.clear()
