"""The Explore page's figures: costs over a range by group, per day or month (``chargeback.reports.costs``)."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import polars as pl

from chargeback.reports.bill import PARTS
from chargeback.reports.costs import NOT_BY_DAY, REST_GROUP, SHARED_OUT
from dashboards.charts.common import LAYOUT, PART_LABELS, SENTINEL_LABELS, empty_figure

TOP = 12  # groups drawn on their own; the others are one series
OTHERS = "(other groups)"
# the groups that are not items in greys (rest of the bill, other groups) and a pale red (shared out); the items
# in a palette of 24, so no two of the TOP share a colour
SPECIAL = {OTHERS: "#7f7f7f", REST_GROUP: "#c7c7c7", SHARED_OUT: "#f4b6b6", NOT_BY_DAY: "#bcbd22"}


def in_dollars(frame: pl.DataFrame, columns) -> pl.DataFrame:
    """Cent columns (``Int64``) as dollars (``Float64``): exact to the cent when shown."""
    return frame.with_columns((pl.col(c) / 100).alias(c) for c in columns)


def table(groups: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str]]:
    """``Costs.table()`` in dollars with the parts that hold money, and their column titles."""
    parts = [p for p in PARTS if (groups[p] != 0).any()]
    keys = [c for c in groups.columns if c not in (*PARTS, "total")]
    titles = {p: PART_LABELS.get(p, p.capitalize()) for p in parts} | {"total": "Total"}
    frame = groups.select(*keys, *parts, "total").with_columns(_line_names("group"))
    return in_dollars(frame, [*parts, "total"]), titles


def _line_names(column: str) -> pl.Expr:
    """The idle, shared and unallocated lines under the names the other pages give them."""
    return pl.col(column).replace(SENTINEL_LABELS)


def trend(series: pl.DataFrame, every: str, currency: str, title: str) -> go.Figure:
    """Each group's total per day or month, stacked; the largest ``TOP`` groups (by total over the range) on their
    own, the others summed into one series."""
    if series.is_empty():
        return empty_figure(title, "no costs in these days")
    series = series.with_columns(_line_names("group"))
    size = series.group_by("group").agg(pl.col("total").abs().sum().alias("size"))
    top = size.sort(["size", "group"], descending=[True, False]).head(TOP)["group"].to_list()
    shown = (
        series.with_columns(group=pl.when(pl.col("group").is_in(top)).then(pl.col("group")).otherwise(pl.lit(OTHERS)))
        .group_by("when", "group")
        .agg(pl.col("total").sum())
        .sort("when", "group")
    )
    shown = in_dollars(shown, ["total"])
    label = "Day" if every == "day" else "Month"
    items = [g for g in top if g not in SPECIAL]
    colors = dict(zip(items, px.colors.qualitative.Dark24, strict=False)) | SPECIAL
    fig = px.bar(
        shown, x="when", y="total", color="group", title=title, color_discrete_map=colors,
        category_orders={"group": [*items, *(g for g in SPECIAL if g in set(shown["group"]))]},
        labels={"total": f"Cost ({currency})", "when": label, "group": ""},
    )  # fmt: skip
    fig.update_layout(barmode="relative", **LAYOUT)
    if every == "month":
        fig.update_xaxes(type="category")
    return fig
