"""The raw tables: each stream a source emits (``collectors.streams``) as it lands in the data directory.

A raw table lives under ``<data_dir>/raw/<source>/<table>/`` as Parquet, partitioned by UTC day
(``day=YYYY-MM-DD``, the day of the row's ``day_column``), except the CUR, which is partitioned by billing
period (``billing_period=YYYY-MM``) because a billing period is replaced as a whole. The models read every
raw table as a view named ``raw.<source>__<table>`` (``relation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from collectors import streams
from collectors.streams import Stream

# The column whose UTC day names a row's partition, where it is not ``collected_at`` (the snapshots' time).
_DAY_COLUMN = {
    "prometheus/pod_hours": "hour",
    "prometheus/pods": "date",
    "prometheus/namespace_labels": "hour",
    "prometheus/node_hours": "hour",
    "emr/job_runs": "created_at",
    "cost_explorer/daily_costs": "date",
}


@dataclass(frozen=True)
class RawTable(Stream):
    """A stream, and how it lands: by day, or (the CUR) by billing period."""

    partition: Literal["date", "billing_period"] = "date"
    day_column: str = "collected_at"  # the column whose UTC day (or month) names the row's partition

    @property
    def relation(self) -> str:
        """The view the models read it as."""
        return f"raw.{self.source}__{self.name}"


def _raw(stream: Stream) -> RawTable:
    if stream is streams.CUR_LINE_ITEMS:
        return RawTable(**vars(stream), partition="billing_period", day_column="bill_billing_period_start_date")
    return RawTable(**vars(stream), day_column=_DAY_COLUMN.get(stream.key, "collected_at"))


RAW_TABLES: tuple[RawTable, ...] = tuple(_raw(stream) for stream in streams.STREAMS)
BY_KEY: dict[str, RawTable] = {table.key: table for table in RAW_TABLES}

# The raw tables the collection and the build name.
POD_HOURS = BY_KEY[streams.POD_HOURS.key]
PODS = BY_KEY[streams.PODS.key]
NODE_HOURS = BY_KEY[streams.NODE_HOURS.key]
CUR_LINE_ITEMS = BY_KEY[streams.CUR_LINE_ITEMS.key]


def of(stream: Stream) -> RawTable:
    """The raw table a stream lands in."""
    return stream if isinstance(stream, RawTable) else BY_KEY[stream.key]

