"""What every page shares: money as finance writes it, the names and colours of bill parts and lines, the
total row that ends a table, the empty figure, and the figures' layout."""

from __future__ import annotations

import math
from decimal import Decimal

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from chargeback.core.money import to_cents

# Bill parts as finance reads them on a tenant's bill (a part not named here is shown by its own name).
PART_LABELS = {
    "compute": "Compute",
    "idle": "Idle share",
    "shared": "Shared share",
    "storage": "Storage",
    "network": "Network",
    "emr": "EMR charges",
    "tagged": "Tagged resources",
}
SENTINEL_LABELS = {"__idle__": "Idle (unshared)", "__shared__": "Shared (kept)", "__unallocated__": "Unallocated"}
PART_COLORS = {
    "Compute": "#1f77b4",
    "Idle share": "#ff7f0e",
    "Shared share": "#2ca02c",
    "Storage": "#17becf",
    "Network": "#bcbd22",
    "EMR charges": "#9467bd",
    "Tagged resources": "#8c564b",
}
REST_LABEL = "(in no namespace)"  # what a tenant's parts hold beyond its namespaces (chargeback.reports.breakdown)
DUST = 0.005  # below half a cent a series is rounding dust, not a line anyone pays
LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "legend_title_text": ""}


def money(amount: float | Decimal | None, currency: str = "USD") -> str:
    """``$2,402.32`` (or ``-$3.10``) for dollars; ``2,402.32 EUR`` for anything else."""
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return "–"
    value = to_cents(Decimal(str(amount)))  # half-up, as the bill rounds
    sign = "-" if value < 0 else ""
    if currency == "USD":
        return f"{sign}${abs(value):,.2f}"
    return f"{sign}{abs(value):,.2f} {currency}"


def part_label(part: str) -> str:
    """A bill part as finance reads it: ``Idle share`` for ``idle``; a part added later by its own name."""
    return PART_LABELS.get(part, part.replace("_", " ").capitalize())


def money_column(label: str, currency: str = "USD", help: str | None = None) -> st.column_config.NumberColumn:
    fmt = {"USD": "dollar", "EUR": "euro", "JPY": "yen"}.get(currency, f"%.2f {currency}")
    return st.column_config.NumberColumn(label, format=fmt, help=help)


def money_columns(columns: dict[str, str], currency: str = "USD") -> dict[str, st.column_config.NumberColumn]:
    """Column config for money columns: ``{"total": "Total"}`` -> dollar-formatted ``Total``."""
    return {name: money_column(label, currency) for name, label in columns.items()}


def line_labels(column: str) -> pl.Expr:
    """``column`` (a tenant or a sentinel line) with the sentinels' readable names."""
    return pl.col(column).replace(SENTINEL_LABELS)


def with_total(frame: pl.DataFrame, label_column: str, label: str = "Total") -> pl.DataFrame:
    """The frame with a last row summing its numeric columns (the way a bill ends); text columns are blank
    and anything else (dates, flags) empty on that row."""
    if frame.is_empty():
        return frame

    def total(name: str, dtype: pl.DataType) -> pl.Expr:
        if name == label_column:
            return pl.lit(label)
        if dtype.is_numeric():
            return pl.col(name).sum()
        return pl.lit("") if dtype == pl.String else pl.lit(None, dtype=dtype)

    row = frame.select(total(name, dtype).alias(name) for name, dtype in frame.schema.items())
    return pl.concat([frame, row], how="vertical_relaxed")


def empty_figure(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(title=title, xaxis_visible=False, yaxis_visible=False, **LAYOUT)
    return fig
