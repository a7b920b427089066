"""From the CUR to the bill: the waterfall of ``chargeback.reports.reconcile`` as a plotly waterfall, what the
in-scope cost and the bill are made of, its rows as a table, the sentences that link other pages' figures to
its rows, and AWS's split cost allocation data against this allocation. Every amount is the report's own cents
(what `chargeback reconcile` prints), handed to plotly and tables as floats."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from chargeback.reports.reconcile import SPLIT_DIFFERENCES, Figure, Reconciliation, Row
from dashboards.charts.common import LAYOUT, empty_figure, money, money_column, money_columns

MEASURES = {"start": "absolute", "step": "relative", "subtotal": "total"}
# The short names the chart's axis shows (the table has the full labels).
SHORT = {
    ("cur", "total"): "CUR total",
    ("out_of_scope", "tax"): "Tax",
    ("out_of_scope", "credits_refunds"): "Credits, refunds",
    ("out_of_scope", "commitments"): "SP/RI fees, negation",
    ("out_of_scope", "aws_split_rows"): "AWS split rows",
    ("out_of_scope", "no_cluster"): "No cluster",
    ("other_clusters", "in_scope"): "Other clusters",
    ("basis", "cost_basis"): "Cost basis",
    ("in_scope", "total"): "In scope",
    ("estimated", "nodes"): "Estimated",
    ("restated", "since_closed"): "Since closed",
    ("source", "total"): "Source total",
    ("adjustments", "closed_months"): "Adjustments",
    ("billed", "total"): "Billed",
}
ROW_COLUMNS = {
    "row": st.column_config.TextColumn("Row", width="large"),
    "line_items": st.column_config.NumberColumn("CUR lines", format="%.0f"),
}
SPLIT_COLUMNS = {
    "cluster": "Cluster",
    "namespace": "Namespace",
    "billed_to": st.column_config.TextColumn("Billed to here", help="the bill line the namespace's pods went to"),
    "days": st.column_config.NumberColumn("Days"),
    "aws_pod_hours": st.column_config.NumberColumn("AWS pod-hours"),
}
SPLIT_MONEY = {
    "aws_split_cost": "AWS split",
    "aws_unused_cost": "AWS unused",
    "aws_cost": "AWS total",
    "split_cost": "Split here",
    "idle_cost": "Idle share here",
    "cost": "Total here",
    "difference": "Here minus AWS",
}


def _short(row: Row) -> str:
    return SHORT.get((row.section, row.name), row.label)


def _shown(row: Row) -> bool:
    """The chart's bars: the total and subtotals always, a step only when it moves money."""
    return row.kind in ("start", "subtotal") or (row.kind == "step" and row.amount != 0)


def waterfall(rec: Reconciliation, currency: str = "USD") -> go.Figure:
    """The CUR's total, the steps out of it, and the subtotals down to what is billed."""
    bars = [row for row in rec.rows if _shown(row)]
    if not bars:
        return empty_figure("From the CUR to the bill", "no CUR lines")
    fig = go.Figure(
        go.Waterfall(
            x=[_short(row) for row in bars],
            y=[float(row.amount) for row in bars],
            measure=[MEASURES[row.kind] for row in bars],
            text=[money(row.amount, currency) for row in bars],
            textposition="outside",
            connector={"line": {"color": "#888", "width": 1}},
            increasing={"marker": {"color": "#2ca02c"}},
            decreasing={"marker": {"color": "#d62728"}},
            totals={"marker": {"color": "#1f77b4"}},
            hovertext=[row.label for row in bars],
        )
    )
    title = f"From the CUR to the bill · {rec.period}"
    fig.update_layout(title=title, yaxis_title=currency, showlegend=False, **LAYOUT)
    return fig


def composition(rec: Reconciliation, currency: str = "USD") -> go.Figure:
    """Two bars of one height: the in-scope cost by category (with the estimates) and the bill by line."""
    rows = [
        {"bar": "In scope by category", "item": row.label, "amount": float(row.amount)}
        for row in rec.rows
        if (row.section == "in_scope" and row.kind == "part") or row.section in ("estimated", "restated")
        if row.amount != 0
    ]
    rows += [
        {"bar": "Bill by line", "item": row.label, "amount": float(row.amount)}
        for row in rec.rows
        if row.section == "bill" and row.amount != 0
    ]
    if not rows:
        return empty_figure("In scope and billed", "nothing in scope")
    fig = px.bar(
        pl.DataFrame(rows),
        x="amount",
        y="bar",
        color="item",
        orientation="h",
        labels={"amount": f"Cost ({currency})", "bar": "", "item": ""},
        title="What the in-scope cost is made of, and who is billed for it",
    )
    fig.update_layout(barmode="relative", **LAYOUT)
    return fig


def rows_table(rec: Reconciliation) -> pl.DataFrame:
    """The waterfall's rows: a step's change, a subtotal's running total, a part's share, indented under its
    subtotal; CUR lines where the row holds some."""
    return pl.DataFrame(
        {
            "row": [("    " if row.kind == "part" else "") + row.label for row in rec.rows],
            "change": [float(row.amount) if row.kind in ("step", "part") else None for row in rec.rows],
            "total": [float(row.amount) if row.kind in ("start", "subtotal") else None for row in rec.rows],
            "line_items": [row.line_items for row in rec.rows],
        },
        schema={"row": pl.String, "change": pl.Float64, "total": pl.Float64, "line_items": pl.Float64},
    )


def row_columns(currency: str = "USD") -> dict:
    return {
        **ROW_COLUMNS,
        "change": money_column("Change or share", currency),
        "total": money_column("Running total", currency),
    }


def explained(figure: Figure, currency: str = "USD") -> str:
    """A figure with the rows that make it up: "$2,280.75 = $2,280.75 (row Nodes ...) + $0.00 (...)"."""
    terms = []
    for label, value in figure.terms:
        sign = "−" if value < 0 else "+"
        terms.append(f"{sign} {money(abs(value), currency)} ({label})")
    first = terms[0][2:] if terms and terms[0].startswith("+") else (terms[0] if terms else "")
    return f"{money(figure.amount, currency)} = " + " ".join([first, *terms[1:]])


def source_sentence(rec: Reconciliation, currency: str = "USD") -> str:
    """How the CUR's total becomes the source total, in the rows' own figures."""
    cur, in_scope = rec.row("cur"), rec.row("in_scope")
    removed = in_scope.amount - cur.amount  # the steps between them: out of scope and the cost basis
    estimated = rec.row("estimated", "nodes").amount
    return (
        f"the reconciliation's row *Source total*: the CUR's {money(cur.amount, currency)}"
        f" {'−' if removed < 0 else '+'} {money(abs(removed), currency)} out of scope and cost basis ="
        f" *In scope* {money(in_scope.amount, currency)}, + {money(estimated, currency)} estimated"
    )


def split_table(rec: Reconciliation) -> pl.DataFrame:
    """AWS's split against this allocation per namespace over the period, the largest difference first."""
    rows = [{**{k: row[k] for k in SPLIT_COLUMNS}, **{k: float(row[k]) for k in SPLIT_MONEY}} for row in rec.split]
    schema = {
        "cluster": pl.String, "namespace": pl.String, "billed_to": pl.String, "days": pl.Int64,
        "aws_pod_hours": pl.Int64, **dict.fromkeys(SPLIT_MONEY, pl.Float64),
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def split_columns(currency: str = "USD") -> dict:
    return {**SPLIT_COLUMNS, **money_columns(SPLIT_MONEY, currency)}


def split_differences(rec: Reconciliation) -> str:
    """What the comparison shows and why the two differ, as markdown."""
    reasons = "\n".join(f"- **{name}**: {why}" for name, why in SPLIT_DIFFERENCES)
    return (
        "AWS's split and unused cost per namespace against this allocation's split cost and idle share of the same"
        f" pods (idle mode `{rec.idle_mode}`, shared mode `{rec.shared_mode}`, cost basis `{rec.cost_basis}`)."
        f" Why they differ:\n\n{reasons}"
    )
