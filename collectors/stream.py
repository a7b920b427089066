"""A stream: one kind of row a source emits, its Arrow schema, and the check every batch passes before it lands.

The streams themselves are declared in ``collectors.streams``; this module holds only the type they share, so
that module stays a list of schemas.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from chargeback.core.errors import DataError

TS = pa.timestamp("us", tz="UTC")
LABELS = pa.map_(pa.string(), pa.string())


@dataclass(frozen=True)
class Stream:
    """One kind of row a source emits: its name and its columns."""

    source: str
    name: str
    schema: pa.Schema
    description: str

    @property
    def key(self) -> str:
        return f"{self.source}/{self.name}"

    def conform(self, data: pa.Table, origin: str) -> pa.Table:
        """Cast ``data`` to exactly this stream's schema, or say what is wrong (``origin``: where it came from).

        Extra columns are dropped; optional (nullable) columns the source lacks are filled with nulls.
        """
        missing = [f.name for f in self.schema if f.name not in data.column_names and not f.nullable]
        if missing:
            raise DataError(f"{origin}: {self.key} is missing column(s) {', '.join(missing)}")
        columns = []
        for field in self.schema:
            if field.name not in data.column_names:  # an optional column the source lacks (e.g. net_ costs)
                columns.append(pa.nulls(data.num_rows, field.type))
                continue
            column = data.column(field.name)
            try:
                columns.append(column.cast(field.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataError(
                    f"{origin}: {self.key} column {field.name!r} is {column.type}, expected {field.type}: {exc}"
                ) from exc
            if not field.nullable and column.null_count:
                raise DataError(f"{origin}: {self.key} column {field.name!r} has {column.null_count} null value(s)")
        return pa.Table.from_arrays(columns, schema=self.schema)


def schema_of(*fields: tuple[str, pa.DataType, bool]) -> pa.Schema:
    return pa.schema([pa.field(name, dtype, nullable=nullable) for name, dtype, nullable in fields])
