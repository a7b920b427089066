"""The raw tables: each stream a source emits (``collectors.streams``) as it lands in the data directory.

A raw table lives under ``<data_dir>/raw/<source>/<table>/`` as Parquet, partitioned by UTC day
(``day=YYYY-MM-DD``, the day of the row's ``day_column``), except the CUR, which is partitioned by billing
period (``billing_period=YYYY-MM``) because a billing period is replaced as a whole. The models read every
raw table as a view named ``raw.<source>__<table>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from collectors import streams
from collectors.streams import Stream


@dataclass(frozen=True)
class RawTable:
    """A stream, where it lands and how it is partitioned."""

    stream: Stream
    partition: Literal["date", "billing_period"]
    day_column: str  # the column whose UTC day (or month) names the row's partition

    @property
    def source(self) -> str:
        return self.stream.source

    @property
    def name(self) -> str:
        return self.stream.name

    @property
    def key(self) -> str:
        return self.stream.key

    @property
    def schema(self) -> pa.Schema:
        return self.stream.schema

    @property
    def description(self) -> str:
        return self.stream.description

    @property
    def relation(self) -> str:
        """The view the models read it as."""
        return f"raw.{self.source}__{self.name}"

    def conform(self, data: pa.Table, origin: str) -> pa.Table:
        return self.stream.conform(data, origin)


POD_HOURS = RawTable(streams.POD_HOURS, "date", "hour")
PODS = RawTable(streams.PODS, "date", "date")
NAMESPACE_LABELS = RawTable(streams.NAMESPACE_LABELS, "date", "hour")
NODE_HOURS = RawTable(streams.NODE_HOURS, "date", "hour")
K8S_NAMESPACES = RawTable(streams.K8S_NAMESPACES, "date", "collected_at")
K8S_NODES = RawTable(streams.K8S_NODES, "date", "collected_at")
K8S_RESOURCE_QUOTAS = RawTable(streams.K8S_RESOURCE_QUOTAS, "date", "collected_at")
K8S_LIMIT_RANGES = RawTable(streams.K8S_LIMIT_RANGES, "date", "collected_at")
K8S_PRIORITY_CLASSES = RawTable(streams.K8S_PRIORITY_CLASSES, "date", "collected_at")
EMR_VIRTUAL_CLUSTERS = RawTable(streams.EMR_VIRTUAL_CLUSTERS, "date", "collected_at")
EMR_JOB_RUNS = RawTable(streams.EMR_JOB_RUNS, "date", "created_at")
CUR_LINE_ITEMS = RawTable(streams.CUR_LINE_ITEMS, "billing_period", "bill_billing_period_start_date")
COST_EXPLORER_DAILY = RawTable(streams.COST_EXPLORER_DAILY, "date", "date")

RAW_TABLES: tuple[RawTable, ...] = (
    POD_HOURS,
    PODS,
    NAMESPACE_LABELS,
    NODE_HOURS,
    K8S_NAMESPACES,
    K8S_NODES,
    K8S_RESOURCE_QUOTAS,
    K8S_LIMIT_RANGES,
    K8S_PRIORITY_CLASSES,
    EMR_VIRTUAL_CLUSTERS,
    EMR_JOB_RUNS,
    CUR_LINE_ITEMS,
    COST_EXPLORER_DAILY,
)
BY_KEY: dict[str, RawTable] = {table.key: table for table in RAW_TABLES}


def of(stream: Stream) -> RawTable:
    """The raw table a stream lands in."""
    return BY_KEY[stream.key]
