"""The overview and the tenant bill: bill lines and parts, cost by day, month over month, and the drill-down
from a tenant to its namespaces, workloads and EMR job runs.

Money comes from ``chargeback.reports.bill`` (a ``Bill``) or, per day, namespace, workload and EMR job run, from
``chargeback.reports.breakdown`` (the bill's figures in cents that add up to them); nothing here re-prices or
re-rounds anything. Parts are read from the bill itself, so a part the bill gains shows up here unedited.
"""

from __future__ import annotations

from decimal import Decimal

import plotly.express as px
import plotly.graph_objects as go
import polars as pl

from chargeback.core.config import SENTINELS
from chargeback.reports.bill import PARTS, Bill
from chargeback.reports.breakdown import WORKLOAD_PARTS
from dashboards.charts.common import (
    DUST,
    LAYOUT,
    PART_COLORS,
    REST_LABEL,
    empty_figure,
    line_labels,
    part_label,
    with_total,
)


def bill_parts_of(bill: Bill) -> list[str]:
    """The parts the bill's lines carry, in the bill's order (``PARTS`` when it has no line)."""
    return list(bill.lines[0].parts) if bill.lines else list(PARTS)


def bill_columns(bill: Bill) -> dict[str, str]:
    """The money columns of ``bill_frame``: the total, then each part, with the names finance reads."""
    return {"total": "Total", **{p: part_label(p) for p in bill_parts_of(bill)}}


def bill_frame(result: Bill) -> pl.DataFrame:
    """A bill's lines as a frame: ``line`` (a tenant or a sentinel), each part and the total."""
    parts = bill_parts_of(result)
    rows = [
        {"line": line.tenant, **{p: float(line.parts[p]) for p in parts}, "total": float(line.total)}
        for line in result.lines
    ]
    return pl.DataFrame(rows, schema={"line": pl.String, **dict.fromkeys(parts, pl.Float64), "total": pl.Float64})


def bill_split_totals(bill: Bill) -> dict[str, Decimal]:
    """The bill's total in four: tenants, idle (unshared), shared (kept) and unallocated."""
    split = {"tenants": Decimal("0.00"), "idle": Decimal("0.00"), "shared": Decimal("0.00")}
    split["unallocated"] = Decimal("0.00")
    for line in bill.lines:
        key = {"__idle__": "idle", "__shared__": "shared", "__unallocated__": "unallocated"}.get(line.tenant, "tenants")
        split[key] += line.total
    return split


def bill_lines_table(bill_frame: pl.DataFrame) -> pl.DataFrame:
    """Bill lines (tenants, then idle, shared and unallocated) with readable names and a total row."""
    frame = bill_frame.with_columns(sentinel=pl.col("line").is_in(list(SENTINELS)), line=line_labels("line")).sort(
        ["sentinel", "total"], descending=[False, True], maintain_order=True
    )
    return with_total(frame.drop("sentinel"), "line")


def bill_split(bill_frame: pl.DataFrame, currency: str = "USD") -> go.Figure:
    """Each bill line as a horizontal bar stacked by part: where the month's money went."""
    if bill_frame.is_empty():
        return empty_figure("Where the money went", "no bill lines")
    parts = [c for c in bill_frame.columns if c not in ("line", "total")]
    labels = {p: part_label(p) for p in parts}
    long = bill_frame.unpivot(index="line", on=parts, variable_name="part", value_name="amount")
    long = long.with_columns(pl.col("part").replace_strict(labels), line_labels("line"))
    order = bill_frame.sort("total", maintain_order=True).select(line_labels("line"))["line"].to_list()
    fig = px.bar(
        long,
        x="amount",
        y="line",
        color="part",
        orientation="h",
        color_discrete_map=PART_COLORS,
        category_orders={"line": order[::-1], "part": list(labels.values())},
        labels={"amount": f"Cost ({currency})", "line": ""},
        title="Where the money went",
    )
    fig.update_layout(barmode="relative", **LAYOUT)
    return fig


def daily_trend(trend: pl.DataFrame, currency: str = "USD") -> go.Figure:
    """Cost per day stacked by bill line (each line's days add up to it); lines holding only rounding dust, and
    what no day holds, are left out."""
    trend = trend.filter(pl.col("date").is_not_null()) if not trend.is_empty() else trend
    if trend.is_empty():
        return empty_figure("Cost by day", "no daily costs")
    kept = trend.filter(pl.col("total").abs().sum().over("tenant") >= DUST).with_columns(line=line_labels("tenant"))
    fig = px.bar(
        kept, x="date", y="total", color="line", labels={"total": f"Cost ({currency})", "date": ""}, title="Cost by day"
    )
    fig.update_layout(barmode="relative", **LAYOUT)
    return fig


def has_previous(mom: pl.DataFrame) -> bool:
    """Whether the month before has a bill to compare with (``dashboards.data.month_over_month``)."""
    return not mom.is_empty() and mom["previous_month"].null_count() < mom.height


def month_over_month(mom: pl.DataFrame, currency: str = "USD", previous: str = "last month") -> go.Figure:
    """Each line's change from ``previous`` as billed; no bars at all when that month has no bill."""
    if mom.is_empty():
        return empty_figure("Change from last month", "no costs in either month")
    if not has_previous(mom):
        return empty_figure("Change from last month", f"no data for {previous}: nothing to compare with")
    frame = mom.with_columns(
        line=line_labels("tenant"),
        direction=pl.when(pl.col("change") >= 0).then(pl.lit("up")).otherwise(pl.lit("down")),
    )
    fig = px.bar(
        frame.sort("change", maintain_order=True),
        x="change",
        y="line",
        color="direction",
        orientation="h",
        color_discrete_map={"up": "#d62728", "down": "#2ca02c"},
        labels={"change": f"Change ({currency})", "line": ""},
        title="Change from last month",
    )
    fig.update_layout(showlegend=False, **LAYOUT)
    return fig


def month_over_month_table(mom: pl.DataFrame) -> pl.DataFrame:
    """Each line this month and last, the change, and the change in percent where last month was not nothing;
    this month only when last month has no bill (no data is not $0)."""
    if not has_previous(mom):
        return with_total(mom.select(line_labels("tenant").alias("line"), "this_month"), "line")
    frame = mom.with_columns(
        line=line_labels("tenant"),
        change_pct=pl.when(pl.col("previous_month").abs() > DUST).then(pl.col("change") / pl.col("previous_month")),
    )
    table = with_total(frame.select("line", "this_month", "previous_month", "change", "change_pct"), "line")
    table = table.with_columns(change_pct=pl.when(pl.col("line") != "Total").then(pl.col("change_pct")))
    return table.drop("change_pct") if table["change_pct"].null_count() == table.height else table


# --- one tenant's bill ----------------------------------------------------------------------------


def bill_parts_table(parts: dict[str, Decimal], total: Decimal) -> pl.DataFrame:
    """One tenant's bill as finance sends it: a line per part, then the total."""
    rows = [{"item": part_label(p), "amount": float(amount)} for p, amount in parts.items()]
    rows.append({"item": "Total", "amount": float(total)})
    return pl.DataFrame(rows, schema={"item": pl.String, "amount": pl.Float64})


def bill_parts(parts: dict[str, Decimal], currency: str = "USD") -> go.Figure:
    labels = [part_label(p) for p in parts]
    frame = pl.DataFrame({"item": labels, "amount": [float(amount) for amount in parts.values()]})
    fig = px.bar(
        frame,
        x="amount",
        y="item",
        color="item",
        orientation="h",
        color_discrete_map=PART_COLORS,
        category_orders={"item": labels},
        labels={"amount": f"Cost ({currency})", "item": ""},
        title="The bill by part",
    )
    fig.update_layout(showlegend=False, **LAYOUT)
    return fig


# --- the drill-down: namespace -> workload -> EMR job run ------------------------------------------

NAMESPACE_ITSELF = "(the namespace's own)"  # its volumes no pod mounted and its load balancers: no workload


def drilldown(workloads: pl.DataFrame, tenant: str, currency: str = "USD") -> go.Figure:
    """Tenant -> namespace -> workload -> EMR job run, sized by compute, idle share, storage and network (what the
    tenant's parts hold beyond its namespaces is a box of its own; a namespace's own storage and load balancers,
    with no workload, are the box ``NAMESPACE_ITSELF``)."""
    if workloads.is_empty():
        return empty_figure("Drill-down", f"no workloads for {tenant}")
    rest = pl.col("namespace").is_null()
    frame = workloads.with_columns(
        tenant=pl.lit(tenant),
        namespace=pl.col("namespace").fill_null(REST_LABEL),
        workload=pl.when(rest)
        .then(None)
        .when(pl.col("workload_kind").is_null() & pl.col("workload_name").is_null())
        .then(pl.lit(NAMESPACE_ITSELF))
        .otherwise(
            pl.concat_str(
                [pl.col("workload_kind").fill_null("pods"), pl.col("workload_name").fill_null("(none)")], separator=" "
            )
        ),
        job_run=pl.col("emr_job_run_id"),
        size=pl.col("total").clip(lower_bound=0),
    )
    fig = px.treemap(
        frame,
        path=["tenant", "namespace", "workload", "job_run"],
        values="size",
        title="Compute, idle share, storage and network: tenant → namespace → workload → job run",
    )
    fig.update_traces(hovertemplate="%{label}<br>%{value:,.2f} " + currency + "<extra></extra>", root_color="#f5f5f5")
    fig.update_layout(**LAYOUT)
    return fig


def namespaces(workloads: pl.DataFrame) -> list[str]:
    """The tenant's namespaces, in name order (the drill-down's choices)."""
    return workloads["namespace"].drop_nulls().unique().sort().to_list()


def spark_applications(workloads: pl.DataFrame, namespace: str) -> list[str]:
    """The workloads of ``namespace`` that ran as EMR job runs, in name order."""
    spark = workloads.filter((pl.col("namespace") == namespace) & pl.col("emr_job_run_id").is_not_null())
    return spark["workload_name"].drop_nulls().unique().sort().to_list()


def namespaces_table(workloads: pl.DataFrame) -> pl.DataFrame:
    """The tenant's namespaces, the largest first, then what its parts hold beyond its namespaces (if a cent); the
    total is the bill's compute, idle share, storage and network."""
    frame = (
        workloads.with_columns(rest=pl.col("namespace").is_null(), namespace=pl.col("namespace").fill_null(REST_LABEL))
        .group_by("namespace", "rest")
        .agg(
            *(pl.col(part).sum() for part in WORKLOAD_PARTS),
            workloads=pl.col("workload_name").drop_nulls().n_unique().cast(pl.Int64),
            pod_hours=pl.col("pod_hours").sum(),
            total=pl.col("total").sum(),
        )
        .select("namespace", "rest", "workloads", "pod_hours", *WORKLOAD_PARTS, "total")
        .sort("rest", pl.col("total"), "namespace", descending=[False, True, False])
        .drop("rest")
    )
    return with_total(frame, "namespace")


def workloads_table(workloads: pl.DataFrame, namespace: str) -> pl.DataFrame:
    """The workloads of ``namespace``, the largest first; its own volumes and load balancers (no workload) as
    ``NAMESPACE_ITSELF``."""
    own = pl.col("workload_kind").is_null() & pl.col("workload_name").is_null()
    frame = (
        workloads.filter(pl.col("namespace") == namespace)
        .with_columns(workload_name=pl.when(own).then(pl.lit(NAMESPACE_ITSELF)).otherwise("workload_name"))
        .group_by("workload_kind", "workload_name")
        .agg(
            *(pl.col(part).sum() for part in WORKLOAD_PARTS),
            job_runs=pl.col("emr_job_run_id").drop_nulls().n_unique().cast(pl.Int64),
            pods=pl.col("pods").sum(),
            pod_hours=pl.col("pod_hours").sum(),
            total=pl.col("total").sum(),
        )
        .select("workload_kind", "workload_name", "job_runs", "pods", "pod_hours", *WORKLOAD_PARTS, "total")
        .sort("workload_kind", "workload_name", nulls_last=True)
        .sort("total", descending=True, maintain_order=True)
    )
    return with_total(frame, "workload_name")


def job_runs_table(workloads: pl.DataFrame, jobs: pl.DataFrame, namespace: str, workload: str) -> pl.DataFrame:
    """The EMR job runs of one workload (a Spark application name), with their full cost."""
    mine = workloads.filter((pl.col("namespace") == namespace) & (pl.col("workload_name") == workload))
    runs = mine["emr_job_run_id"].drop_nulls().unique().to_list()
    frame = (
        jobs.filter(pl.col("job_run_id").is_in(runs))
        .select("job_run_id", "state", "created_at", "finished_at", "pod_count", *WORKLOAD_PARTS, "emr", "total")
        .sort("created_at", nulls_last=True, maintain_order=True)
    )
    return with_total(frame, "job_run_id")
