"""The raw tables: each stream a source emits (``collectors.streams``) as it lands in the data directory.

A raw table lives under ``<data_dir>/raw/<source>/<table>/`` as Parquet, partitioned by UTC day
(``day=YYYY-MM-DD``, the day of the row's ``day_column``), except the CUR, which is partitioned by billing
period (``billing_period=YYYY-MM``) because a billing period is replaced as a whole. The models read every
raw table as a view named ``raw.<source>__<table>`` (``relation``), through the value rules it declares here
(``chargeback.raw.rules``), which the build applies in its ``validated`` layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chargeback.raw.rules import Capacity, Rule, SettingRule, TenantValue, ValueRule
from collectors import streams
from collectors.streams import Stream

# The column whose UTC day names a row's partition, where it is not ``collected_at`` (the snapshots' time).
_DAY_COLUMN = {
    "prometheus/pod_hours": "hour",
    "prometheus/pods": "date",
    "prometheus/namespace_labels": "hour",
    "prometheus/node_hours": "hour",
    "prometheus/persistent_volume_hours": "hour",
    "prometheus/pod_volume_claims": "date",
    "prometheus/owners": "date",
    "emr/job_runs": "created_at",
    "cost_explorer/daily_costs": "date",
}


_FINITE = ("finite",)
_MEASURE = ("finite", "non_negative", "within_capacity")
_SECONDS = ("finite", "non_negative", "within_hour")
_AMOUNT = ("finite", "non_negative")

# The value rules of each raw table (chargeback.raw.rules; docs/method.md#validation), applied by the build's
# `validated` layer before staging reads a row. Pod-hour measures: a bad request counts as 0, bad usage as the
# request (as AWS does when usage is missing). Reserved names from labels and tags are ignored. An in-scope CUR
# line that breaks a rule stops the build.
_RULES: dict[str, tuple[Rule, ...]] = {
    "prometheus/pod_hours": (
        ValueRule("running_seconds", _SECONDS, "the_hour"),
        ValueRule("cpu_request_core_seconds", _MEASURE, "zero", capacity="cpu_capacity_cores"),
        ValueRule("memory_request_byte_seconds", _MEASURE, "zero", capacity="memory_capacity_bytes"),
        ValueRule("gpu_request_seconds", _MEASURE, "zero", capacity="gpu_capacity"),
        ValueRule("cpu_usage_core_seconds", _MEASURE, "cpu_request_core_seconds", capacity="cpu_capacity_cores"),
        ValueRule(
            "memory_working_set_byte_seconds", _MEASURE, "memory_request_byte_seconds", capacity="memory_capacity_bytes"
        ),
        ValueRule("network_receive_bytes", _AMOUNT, "unknown"),  # unknown: no byte data, see docs/method.md
        ValueRule("network_transmit_bytes", _AMOUNT, "unknown"),
    ),
    "prometheus/persistent_volume_hours": (
        ValueRule("claim_seconds", _SECONDS, "clamped_or_zero"),
        ValueRule("capacity_bytes", _AMOUNT, "unknown"),
    ),
    "prometheus/node_hours": (
        ValueRule("running_seconds", _SECONDS, "the_hour"),
        ValueRule("cpu_capacity_cores", _AMOUNT, "unknown"),
        ValueRule("memory_capacity_bytes", _AMOUNT, "unknown"),
        ValueRule("gpu_capacity", _AMOUNT, "unknown"),
        TenantValue("tenant_label", "labels", "node_label"),
    ),
    "prometheus/namespace_labels": (
        ValueRule("seconds_in_force", _SECONDS, "clamped_or_zero"),
        TenantValue("tenant_label", "labels", "namespace_label"),
    ),
    "emr/virtual_clusters": (TenantValue("tenant_tag", "tags", "virtual_cluster_tag"),),
    "cur/line_items": (
        SettingRule("line_item_currency_code", "currency", "currency"),
        *(
            ValueRule(column, _AMOUNT, "stop_in_scope")
            for column in (
                "line_item_usage_amount",
                "line_item_unblended_cost",
                "line_item_net_unblended_cost",
                "pricing_public_on_demand_cost",
                "reservation_effective_cost",
                "reservation_net_effective_cost",
                "savings_plan_savings_plan_effective_cost",
                "savings_plan_net_savings_plan_effective_cost",
            )
        ),
        TenantValue("node_tenant_tag", "resource_tags", "node_tag", prefix="user_"),
        TenantValue("tenant_tag", "resource_tags", "tagged_tag", prefix="user_"),
    ),
    "cost_explorer/daily_costs": (
        ValueRule("amount", _FINITE, "unknown"),
        ValueRule("usage_quantity", _AMOUNT, "unknown"),
    ),
}
# The columns that name a row in a report of corrections (with its file).
_ROW_KEYS = {
    "prometheus/pod_hours": ("cluster", "namespace", "pod", "pod_uid", "hour"),
    "prometheus/node_hours": ("cluster", "node", "hour"),
    "prometheus/persistent_volume_hours": ("cluster", "persistent_volume", "hour", "claim_namespace", "claim_name"),
    "prometheus/namespace_labels": ("cluster", "namespace", "hour"),
    "emr/virtual_clusters": ("virtual_cluster_id", "collected_at"),
    "cur/line_items": ("line_item_resource_id", "line_item_usage_start_date", "line_item_usage_type"),
    "cost_explorer/daily_costs": ("date", "group_by", "group_key", "metric"),
}


@dataclass(frozen=True)
class RawTable(Stream):
    """A stream, and how it lands: by day, or (the CUR) by billing period; the value rules its rows must
    satisfy (``rules``, with ``capacity`` where a rule bounds a measure by its node's capacity) and the columns
    that name a row in a report (``row_key``)."""

    partition: Literal["date", "billing_period"] = "date"
    day_column: str = "collected_at"  # the column whose UTC day (or month) names the row's partition
    rules: tuple[Rule, ...] = ()
    capacity: Capacity | None = None
    row_key: tuple[str, ...] = ()

    @property
    def relation(self) -> str:
        """The view the models read it as."""
        return f"raw.{self.source}__{self.name}"


def _raw(stream: Stream) -> RawTable:
    rules = _RULES.get(stream.key, ())
    capacity = Capacity() if any(isinstance(r, ValueRule) and r.capacity for r in rules) else None
    declared = {"rules": rules, "capacity": capacity, "row_key": _ROW_KEYS.get(stream.key, ())}
    if stream is streams.CUR_LINE_ITEMS:
        return RawTable(
            **vars(stream), partition="billing_period", day_column="bill_billing_period_start_date", **declared
        )
    return RawTable(**vars(stream), day_column=_DAY_COLUMN.get(stream.key, "collected_at"), **declared)


RAW_TABLES: tuple[RawTable, ...] = tuple(_raw(stream) for stream in streams.STREAMS)
BY_KEY: dict[str, RawTable] = {table.key: table for table in RAW_TABLES}

# The raw tables the collection and the build name.
POD_HOURS = BY_KEY[streams.POD_HOURS.key]
PODS = BY_KEY[streams.PODS.key]
OWNERS = BY_KEY[streams.OWNERS.key]
NODE_HOURS = BY_KEY[streams.NODE_HOURS.key]
CUR_LINE_ITEMS = BY_KEY[streams.CUR_LINE_ITEMS.key]


def of(stream: Stream) -> RawTable:
    """The raw table a stream lands in."""
    return stream if isinstance(stream, RawTable) else BY_KEY[stream.key]
