"""Nodes and idle: node-hours by node group and purchase option, idle cost by node group, and sole-tenancy
nodes with their ghost hours (hours with no pod of their tenant)."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import polars as pl

from dashboards.charts.common import LAYOUT, empty_figure, with_total

PURCHASE_LABELS = {
    "on_demand": "On-Demand",
    "spot": "Spot",
    "savings_plan": "Savings Plan",
    "reserved": "Reserved",
}


def _purchase() -> pl.Expr:
    """The purchase option as finance names it; an unknown one as it is; none (an hour only the node's volumes
    billed, after the instance was gone: docs/method.md#storage) as "(volumes only)"."""
    option = pl.col("purchase_option")
    return (
        pl.when(option.is_null() | (option == ""))
        .then(pl.lit("(volumes only)"))
        .otherwise(option.replace(PURCHASE_LABELS))
        .alias("purchase_option")
    )


def node_hours_by_group(groups: pl.DataFrame) -> go.Figure:
    if groups.is_empty():
        return empty_figure("Node-hours by node group", "no nodes")
    frame = groups.with_columns(_purchase().alias("purchase"))
    fig = px.bar(
        frame,
        x="node_group",
        y="node_hours",
        color="purchase",
        labels={"node_hours": "Node-hours", "node_group": "", "purchase": "Purchase option"},
        title="Node-hours by node group and purchase option",
    )
    fig.update_layout(barmode="stack", **LAYOUT)
    return fig


def idle_by_group(groups: pl.DataFrame, currency: str = "USD") -> go.Figure:
    if groups.is_empty():
        return empty_figure("Idle cost by node group", "no nodes")
    frame = (
        groups.group_by("node_group")
        .agg(pl.col("cost", "idle").sum())
        .sort("node_group")
        .with_columns(used=pl.col("cost") - pl.col("idle"))
        .unpivot(index="node_group", on=["used", "idle"], variable_name="part", value_name="amount")
        .with_columns(pl.col("part").replace_strict({"used": "Requested (allocated)", "idle": "Idle"}))
    )
    fig = px.bar(
        frame,
        x="node_group",
        y="amount",
        color="part",
        color_discrete_map={"Requested (allocated)": "#1f77b4", "Idle": "#ff7f0e"},
        labels={"amount": f"Cost ({currency})", "node_group": ""},
        title="Idle cost by node group",
    )
    fig.update_layout(barmode="stack", **LAYOUT)
    return fig


def node_groups_table(groups: pl.DataFrame) -> pl.DataFrame:
    """Node groups with readable purchase options, a total row, and each row's idle share of its cost."""
    totals = with_total(groups.with_columns(_purchase()), "node_group")
    return totals.with_columns(idle_share=pl.when(pl.col("cost") != 0).then(pl.col("idle") / pl.col("cost")))


def ghost_hours(nodes: pl.DataFrame) -> go.Figure:
    if nodes.is_empty():
        return empty_figure("Sole-tenancy nodes", "no dedicated nodes")
    frame = (
        nodes.select(
            label=pl.concat_str([pl.col("tenant"), pl.lit(" · "), pl.col("node")]),
            with_tenant=pl.col("node_hours") - pl.col("ghost_hours"),
            ghost_hours=pl.col("ghost_hours").cast(pl.Float64),
        )
        .unpivot(index="label", on=["with_tenant", "ghost_hours"], variable_name="hours", value_name="count")
        .with_columns(pl.col("hours").replace_strict({"with_tenant": "with its tenant's pods", "ghost_hours": "ghost"}))
    )
    fig = px.bar(
        frame,
        x="count",
        y="label",
        color="hours",
        orientation="h",
        color_discrete_map={"with its tenant's pods": "#1f77b4", "ghost": "#7f7f7f"},
        labels={"count": "Node-hours", "label": ""},
        title="Sole-tenancy nodes: ghost hours (no pod of their tenant)",
    )
    fig.update_layout(barmode="stack", **LAYOUT)
    return fig
