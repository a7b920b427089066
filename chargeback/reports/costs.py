"""Costs over any date range, grouped by any dimension: ``chargeback costs`` and the dashboard's Explore page.

A range is whole UTC days, ``start`` to ``end`` included, across as many months as it touches. Each month is its
bill broken down (``chargeback.reports.breakdown``'s rule: whole cents, largest remainder, within the cents of what
they break down), first by the dimension, then by day:

- ``tenant``: each bill line by day; ``cluster``: each line by cluster, then day;
- ``namespace`` and ``workload`` (its owner: Deployment, StatefulSet, DaemonSet, Job, Spark application…): the
  bill's drill-down (compute and idle share of the pods, storage of the claims they mount and the namespace's own,
  data transfer and load balancers), the same cents as the Tenant bill page's for a whole month;
- ``label:KEY``: the compute and idle share of the pods carrying Kubernetes label KEY, by its value
  (``marts.fct_label_costs_daily``); pods without it, and every other part, are the line's rest.

What a line holds beyond its items (shared costs, EMR charges, tagged resources, and for a label the pods without
it) is the group ``REST_GROUP``, split over the days as the line's daily costs beyond its items are. What no day
holds (adjustments of closed months, booked in a month as a whole) is ``NOT_BY_DAY``, counted only when the range
covers its whole month. So a range of whole months adds up, group by group, to the months' bills to the cent; a
range that cuts a month counts that month's days in it. The shared namespaces' pods (the line ``__shared__``, which
the bill spreads over the tenants' lines as their shared part) are items like any other; their line's rest, minus
what they cost, is ``SHARED_OUT``, so nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal

import duckdb
import polars as pl

from chargeback.build.warehouse import connect
from chargeback.core.config import Config
from chargeback.core.errors import ChargebackError, DataError
from chargeback.core.periods import between, days_in, first_day
from chargeback.reports import queries_trends
from chargeback.reports.bill import COST_PARTS, PARTS, Bill, monthly_bill
from chargeback.reports.breakdown import EXACT, REST, cascade, line_targets

DIMENSIONS = ("tenant", "cluster", "namespace", "workload")
LABEL = "label:"  # ``label:<key>``: by the value of a pod label
REST_GROUP = "(rest of the bill)"
NOT_BY_DAY = "(not by day: adjustments)"
SHARED = "__shared__"  # the shared namespaces' pods: their costs are the tenants' shared parts
SHARED_OUT = "(shared namespaces, on the tenants' lines as shared)"
Every = Literal["day", "month"]

# per dimension: the columns of its items, and the levels the month's cents go through before the day
_LEVELS: dict[str, list[list[str]]] = {
    "tenant": [],
    "cluster": [["cluster"]],
    "namespace": [["namespace"]],
    "workload": [["namespace"], ["workload_kind", "workload_name"]],
    "label": [["label_value"]],
}
# the columns a group is told apart by beyond ``group`` (a namespace is a tenant's: tenant goes with it; a workload
# a namespace's)
_TABLE_KEYS = {
    "tenant": [],
    "cluster": [],
    "namespace": ["tenant"],
    "workload": ["tenant", "namespace"],
    "label": [],
}


# what an item with no name is: a namespace's volumes no pod mounted and its load balancers (the drill-down's row of
# the same name); money booked to a tenant in no namespace
_NO_ITEM = {"workload": "(the namespace's own)", "namespace": "(in no namespace)"}


@dataclass(frozen=True)
class Dimension:
    kind: str  # a DIMENSIONS entry, or "label"
    label_key: str | None = None

    def __str__(self) -> str:
        return f"{LABEL}{self.label_key}" if self.kind == "label" else self.kind

    @property
    def columns(self) -> list[str]:
        return [c for level in _LEVELS[self.kind] for c in level]

    @property
    def table_keys(self) -> list[str]:
        return _TABLE_KEYS[self.kind]


def parse_dimension(text: str) -> Dimension:
    """``tenant``, ``cluster``, ``namespace``, ``workload`` (its owner) or ``label:KEY``; else a ``ChargebackError``."""
    if text in DIMENSIONS:
        return Dimension(text)
    if text.startswith(LABEL) and text[len(LABEL) :].strip():
        return Dimension("label", text[len(LABEL) :].strip())
    raise ChargebackError(
        f"cannot group costs by {text!r}: use {', '.join(DIMENSIONS)} or label:KEY (a Kubernetes pod label such as"
        " label:app.kubernetes.io/name; `chargeback costs --labels` lists the collected keys)"
    )


@dataclass(frozen=True)
class Costs:
    """The range's costs, one row per month, day, bill line and item of the dimension (``rows``): ``period``,
    ``date`` (null: not by day), ``tenant``, the dimension's columns, ``group`` (what a person reads: the item, or
    ``REST_GROUP`` or ``NOT_BY_DAY``), each of ``PARTS`` and ``total`` in whole cents (``Int64``)."""

    start: date
    end: date
    by: Dimension
    currency: str
    periods: tuple[str, ...]  # the months of the range that have a bill
    whole: tuple[str, ...]  # of them, the months the range covers from their first day to their last
    rows: pl.DataFrame

    def total(self) -> Decimal:
        return Decimal(int(self.rows["total"].sum())) / 100

    def coverage(self) -> str:
        """Which months the range holds whole (equal to their bills) and which only in part."""
        partial = [p for p in self.periods if p not in self.whole]
        notes = []
        if self.whole:
            notes.append(
                f"{', '.join(self.whole)} whole: equal to {'its bill' if len(self.whole) == 1 else 'their bills'}"
            )
        if partial:
            notes.append(
                f"{', '.join(partial)}: the days in the range (adjustments of closed months count with whole months)"
            )
        return "; ".join(notes)

    def table(self) -> pl.DataFrame:
        """One row per group (a namespace with its tenant, a workload with its tenant and namespace): each part and
        the total in cents, the largest total first."""
        keys = ["group", *self.by.table_keys]
        out = self.rows.group_by(keys).agg(pl.col(p).sum() for p in (*PARTS, "total"))
        return out.sort(["total", *keys], descending=[True] + [False] * len(keys), nulls_last=True)

    def series(self, every: Every = "day") -> pl.DataFrame:
        """Each group's total per day (``when``: the date; what no day holds is left out) or per month (``when``:
        the period), in cents."""
        if every == "day":
            frame = self.rows.filter(pl.col("date").is_not_null()).with_columns(when=pl.col("date").cast(pl.String))
        else:
            frame = self.rows.with_columns(when=pl.col("period"))
        out = frame.group_by("when", "group").agg(pl.col("total").sum())
        return out.sort("when", "group")


def _zero_parts(frame: pl.DataFrame) -> pl.DataFrame:
    """Every one of ``PARTS`` as an exact column (0 where ``frame`` has none)."""
    return frame.with_columns(
        *(pl.col(p).cast(EXACT) if p in frame.columns else pl.lit(0, dtype=EXACT).alias(p) for p in PARTS)
    )


def break_down(bill: Bill, daily: pl.DataFrame, leaves: pl.DataFrame | None, by: Dimension) -> pl.DataFrame:
    """A month's bill in whole cents by ``by``'s items, then by day (the module's rule).

    ``daily``: each line's exact ``COST_PARTS`` per ``cluster`` and ``date``; ``leaves`` (the namespace, workload
    and label dimensions): the items' exact parts per ``tenant``, the dimension's columns and ``date``."""
    targets = line_targets(bill, PARTS)
    if by.kind in ("tenant", "cluster"):
        keys = ["tenant", *by.columns, "date"]
        items = _zero_parts(daily.group_by(keys).agg(pl.col(p).sum() for p in COST_PARTS))
        return cascade(items, targets, PARTS, ["tenant"], [*_LEVELS[by.kind], ["date"]])
    assert leaves is not None
    # only the parts the items hold are split over them (a part none holds is all the line's rest: the same cents,
    # without a pass over the items for it)
    held_parts = [p for p in PARTS if p in leaves.columns]
    items = leaves.select("tenant", *by.columns, "date", *(pl.col(p).cast(EXACT) for p in held_parts))
    wanted = targets.select("tenant", *held_parts, *(f"{p}_cents" for p in held_parts))
    first = cascade(items, wanted, held_parts, ["tenant"], [*_LEVELS[by.kind], ["date"]])
    # the rest of each line (what its items do not hold): its exact amounts and cents, split over the days as the
    # line's daily costs beyond its items' are; what no day holds stays one row with no date
    item_days = _zero_parts(items.group_by("tenant", "date").agg(pl.col(p).sum() for p in held_parts))
    held = item_days.group_by("tenant").agg(pl.col(p).sum() for p in PARTS)
    # (a line the bill does not have, e.g. the shared namespaces' __shared__ whose costs the tenants' lines hold as
    # their shared part, bills nothing: its rest is minus its items)
    exact = (
        targets.select("tenant", *PARTS)
        .join(held, on="tenant", how="full", coalesce=True, suffix="_held")
        .select(
            "tenant",
            *((pl.col(p).fill_null(0) - pl.col(f"{p}_held").fill_null(0)).cast(EXACT).alias(p) for p in PARTS),
        )
    )
    cents = first.filter(pl.col(REST)).select("tenant", *(pl.col(p).alias(f"{p}_cents") for p in held_parts))
    whole = targets.select("tenant", *(f"{p}_cents" for p in PARTS if p not in held_parts))
    rest_targets = (
        exact.join(cents, on="tenant", how="left")
        .join(whole, on="tenant", how="left")
        .with_columns(pl.col(f"{p}_cents").fill_null(0) for p in PARTS)
    )
    line_days = _zero_parts(daily.group_by("tenant", "date").agg(pl.col(p).sum() for p in COST_PARTS))
    rest_days = (
        line_days.join(item_days, on=["tenant", "date"], how="full", coalesce=True, suffix="_items")
        .select(
            "tenant", "date", *((pl.col(p).fill_null(0) - pl.col(f"{p}_items").fill_null(0)).alias(p) for p in PARTS)
        )
        .with_columns(pl.col(p).cast(EXACT) for p in PARTS)
    )
    second = cascade(rest_days, rest_targets, PARTS, ["tenant"], [["date"]]).with_columns(pl.lit(True).alias(REST))
    first = first.filter(~pl.col(REST)).with_columns(
        pl.lit(0, dtype=pl.Int64).alias(p) for p in PARTS if p not in held_parts
    )
    return pl.concat([first, second], how="diagonal_relaxed")


def _group(by: Dimension) -> pl.Expr:
    """What a person reads for each row's item."""
    if by.kind == "tenant":
        item = pl.col("tenant")
    elif by.kind == "workload":
        item = pl.concat_str(pl.col("workload_kind"), pl.lit("/"), pl.col("workload_name"))
    else:
        item = pl.col(by.columns[0])
    if by.kind == "tenant":
        return item
    undated = pl.col("date").is_null()
    return (
        pl.when(pl.col(REST) & undated)
        .then(pl.lit(NOT_BY_DAY))
        .when(pl.col(REST) & (pl.col("tenant") == SHARED))
        .then(pl.lit(SHARED_OUT))
        .when(pl.col(REST))
        .then(pl.lit(REST_GROUP))
        .otherwise(item.fill_null(_NO_ITEM.get(by.kind, "(none)")))
    )


def month_costs(con: duckdb.DuckDBPyConnection, bill: Bill, by: Dimension) -> pl.DataFrame:
    """The month of ``bill`` broken down by ``by`` (``break_down``), read from the warehouse on ``con``."""
    params = {"period": bill.period, "cluster": bill.cluster}
    daily = con.sql(queries_trends.COSTS_DAILY, params=params).pl()
    leaves = None
    if by.kind in ("namespace", "workload"):
        leaves = con.sql(queries_trends.COSTS_LEAVES_DAILY[by.kind], params=params).pl()
    elif by.kind == "label":
        leaves = con.sql(queries_trends.COSTS_LABEL_DAILY, params=params | {"label_key": by.label_key}).pl()
    out = break_down(bill, daily, leaves, by)
    for column in by.columns:
        if column not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    return out.with_columns(
        pl.lit(bill.period).alias("period"),
        _group(by).alias("group"),
        pl.sum_horizontal(*PARTS).alias("total"),
    ).select("period", "date", "tenant", *by.columns, "group", REST, *PARTS, "total")


def costs(
    config: Config,
    start: date,
    end: date,
    by: Dimension | str = "tenant",
    cluster: str | None = None,
    tenant: str | None = None,
    bill_of: Callable[[str, str | None], Bill] | None = None,
) -> Costs:
    """The costs of the days ``start`` to ``end`` (included) grouped by ``by`` (the module's rule); ``cluster``:
    that cluster's bills; ``tenant``: its line only. ``bill_of(period, cluster)`` gives a month's bill (default:
    ``monthly_bill``; the dashboard passes its cached one). Raises ``DataError`` when no month of the range has
    costs, ``ChargebackError`` for a range that ends before it starts."""
    by = parse_dimension(by) if isinstance(by, str) else by
    if end < start:
        raise ChargebackError(f"the range {start} to {end} ends before it starts")
    bill_of = bill_of or (lambda period, on: monthly_bill(config, period, cluster=on))
    first = datetime.combine(start, time(), UTC)
    months = between(first, datetime.combine(end + timedelta(days=1), time(), UTC))
    bills, frames = [], []
    for period in months:
        try:
            bills.append(bill_of(period, cluster))
        except DataError:
            continue  # a month without costs adds nothing
    if not bills:
        raise DataError(
            f"no costs between {start} and {end}{f' in cluster {cluster}' if cluster else ''}: run `chargeback build`"
            " for those months, or pick days the warehouse holds (`chargeback bill` lists its periods)"
        )
    with connect(config) as con:
        for month in bills:
            frames.append(month_costs(con, month, by))
    whole = tuple(
        b.period
        for b in bills
        if first_day(b.period) >= start and first_day(b.period) + timedelta(days_in(b.period) - 1) <= end
    )
    rows = pl.concat(frames, how="diagonal_relaxed")
    in_range = pl.col("date").is_between(start, end) | (pl.col("date").is_null() & pl.col("period").is_in(whole))
    rows = rows.filter(in_range if tenant is None else in_range & (pl.col("tenant") == tenant))
    rows = rows.filter(pl.any_horizontal(pl.col(p) != 0 for p in PARTS))
    return Costs(start, end, by, bills[0].currency, tuple(b.period for b in bills), whole, rows)


def label_keys(config: Config, start: date, end: date) -> list[tuple[str, int]]:
    """The pod label keys collected for pods that ran in the range, with how many values each has."""
    with connect(config) as con:
        return [
            tuple(r) for r in con.execute(queries_trends.COSTS_LABEL_KEYS, {"since": start, "until": end}).fetchall()
        ]


def parse_range(start: str | None, end: str | None, period: str | None) -> tuple[date, date]:
    """``--from``/``--to`` (days ``YYYY-MM-DD``, both included) or ``--period`` (a whole month)."""
    if period is not None:
        if start or end:
            raise ChargebackError("give --period or --from/--to, not both")
        day = first_day(period)
        return day, day + timedelta(days=days_in(period) - 1)
    if not start or not end:
        raise ChargebackError("give a range: --from YYYY-MM-DD --to YYYY-MM-DD (both included), or --period YYYY-MM")
    return _day(start, "--from"), _day(end, "--to")


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ChargebackError(f"{what} {text!r} is not a day YYYY-MM-DD (for example 2026-10-01)") from None


def dollars(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Cent columns as exact dollars (``Decimal(38, 2)``) for printing and files."""
    return frame.with_columns(
        (pl.col(c).cast(pl.Decimal(38, 2)) * Decimal("0.01")).cast(pl.Decimal(38, 2)).alias(c) for c in columns
    )
