"""Whether the numbers can be trusted: the checks, the raw rows the validation rules corrected and the raw files
not read, the CUR reconciled against Cost Explorer per day, collector freshness and coverage, and the days
priced before the CUR landed."""

from __future__ import annotations

from datetime import timedelta

import plotly.express as px
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboards.charts.common import DUST, LAYOUT, empty_figure, money_columns

CHECK_COLUMNS = {
    "passed": st.column_config.CheckboxColumn("Holds"),
    "check_name": "Check",
    "severity": "Severity",
    "cluster": "Cluster",
    "expected": st.column_config.NumberColumn("Expected", format="%.2f"),
    "actual": st.column_config.NumberColumn("Counted", format="%.2f", help="rows, hours or amount the check found"),
    "detail": st.column_config.TextColumn("What it checks", width="large"),
}
CORRECTION_COLUMNS = {
    "raw_table": "Raw table",
    "file": st.column_config.TextColumn("File", width="medium"),
    "row_key": st.column_config.TextColumn("Row", width="medium"),
    "rules": st.column_config.TextColumn("Rules broken", width="medium"),
    "original_values": st.column_config.TextColumn("As landed", width="medium"),
    "corrected_values": st.column_config.TextColumn("As corrected", width="medium"),
    "tenant": "Billed to",
    "tenant_with_raw_value": "Raw value would bill",
    "cost_with_raw_value": st.column_config.NumberColumn(
        "Cost with raw values", format="%.6f", help="the row's cost had its raw values been used; empty: not a number"
    ),
    "cost_as_corrected": st.column_config.NumberColumn("Cost as corrected", format="%.6f", help="what the bill holds"),
}
FILE_ISSUE_COLUMNS = {"issue": "Issue", "file": "File", "detail": st.column_config.TextColumn("What", width="large")}
FRESHNESS_COLUMNS = {
    "source": "Source",
    "target": "Target",
    "complete_through": "Complete through",
    "last_success": "Last success",
    "last_error": "Last error",
}
COVERAGE_COLUMNS = {
    "source": "Source",
    "raw_table": "Raw table",
    "target": "Target",
    "first_day": st.column_config.DateColumn("First day"),
    "last_day": st.column_config.DateColumn("Last day"),
    "missing_days": st.column_config.NumberColumn("Missing days"),
    "missing": "Missing (first 20)",
}


# --- checks ---------------------------------------------------------------------------------------


def invariants(checks: pl.DataFrame) -> tuple[int, list[str]]:
    """How many error-severity checks there are, and the names of those that fail."""
    errors = checks.filter(pl.col("severity") == "error") if "severity" in checks.columns else checks
    if errors.is_empty():
        return 0, []
    failing = errors.filter(~pl.col("passed").fill_null(False))["check_name"]
    return errors.height, sorted(set(failing.to_list()))


def checks_summary(checks: pl.DataFrame, period: str) -> tuple[bool, str]:
    """Whether every invariant holds, and one sentence saying what was counted: how many checks, over how many
    clusters and periods, how many of them invariants (which block a publish) and how many informational."""
    total, failing = invariants(checks)
    clusters = checks["cluster"].drop_nulls().n_unique() if "cluster" in checks.columns else 0
    scope = f"{checks.height} check{'s' if checks.height != 1 else ''} over {clusters} cluster"
    scope += f"{'s' if clusters != 1 else ''} × 1 period ({period})"
    counts = checks.height - total
    kinds = f"{total} invariant{'s' if total != 1 else ''}" + (
        f" and {counts} informational count{'s' if counts != 1 else ''}" if counts else ""
    )
    if failing:
        errors = checks.filter(pl.col("severity") == "error") if "severity" in checks.columns else checks
        broken = errors.filter(~pl.col("passed").fill_null(False)).height
        return False, f"{scope}: {broken} of {total} invariants fail ({', '.join(failing)})."
    return True, f"{scope}: all pass ({kinds})."


def checks_table(checks: pl.DataFrame) -> pl.DataFrame:
    """The checks, whether each holds first; errors before informational counts."""
    return checks.select("passed", pl.exclude("passed"))


# --- validation -----------------------------------------------------------------------------------


def corrections_summary(corrections: pl.DataFrame) -> pl.DataFrame:
    """Per raw table: rows corrected, and their cost with the raw values and as corrected where both are known
    (a row whose raw values are not numbers has no cost with them)."""
    if corrections.is_empty():
        return pl.DataFrame(schema={"raw_table": pl.String, "rows": pl.Int64, "cost_with_raw_value": pl.Float64,
                                    "cost_as_corrected": pl.Float64})  # fmt: skip
    priced = pl.col("cost_with_raw_value").is_not_null()
    return (
        corrections.group_by("raw_table")
        .agg(
            pl.len().cast(pl.Int64).alias("rows"),
            pl.col("cost_with_raw_value").filter(priced).sum(),
            pl.col("cost_as_corrected").filter(priced).sum(),
        )
        .sort("raw_table")
    )


def summary_columns(currency: str) -> dict:
    """The column labels of ``corrections_summary``'s table, money in ``currency``."""
    money = {"cost_with_raw_value": "Cost with raw values", "cost_as_corrected": "Cost as corrected"}
    return {"raw_table": "Raw table", "rows": "Rows", **money_columns(money, currency)}


def file_issue_counts(issues: pl.DataFrame) -> tuple[int, int]:
    """How many stray files (not read) and files without page checksums (not verified) the build found."""
    return issues.filter(pl.col("issue") == "stray").height, issues.filter(pl.col("issue") == "unchecked").height


# --- CUR against Cost Explorer --------------------------------------------------------------------


def reconciliation_daily(recon: pl.DataFrame) -> pl.DataFrame:
    return (
        recon.group_by("date")
        .agg(
            pl.col("cur").sum(),
            pl.col("cost_explorer").sum(),
            pl.col("difference").sum(),
            pl.col("ce_is_estimated").any(),
        )
        .sort("date")
    )


def reconciliation_totals(daily: pl.DataFrame) -> dict[str, float | int]:
    """The period's CUR and Cost Explorer totals, the largest daily difference, and Cost Explorer's estimated days."""
    return {
        "cur": daily["cur"].sum(),
        "cost_explorer": daily["cost_explorer"].sum(),
        "largest_difference": daily["difference"].abs().max(),
        "estimated_days": int(daily["ce_is_estimated"].sum()),
    }


def reconciliation(recon: pl.DataFrame, currency: str = "USD") -> go.Figure:
    """CUR and Cost Explorer per day (lines) and their difference (bars, right axis)."""
    if recon.is_empty():
        return empty_figure("CUR against Cost Explorer", "nothing to reconcile")
    daily = reconciliation_daily(recon)
    fig = go.Figure()
    fig.add_scatter(x=daily["date"], y=daily["cur"], name="CUR", mode="lines+markers")
    fig.add_scatter(x=daily["date"], y=daily["cost_explorer"], name="Cost Explorer", mode="lines", line={"dash": "dot"})
    fig.add_bar(x=daily["date"], y=daily["difference"], name="difference", yaxis="y2", marker_color="#d62728")
    fig.update_layout(
        title="CUR against Cost Explorer, per day",
        yaxis={"title": f"Cost ({currency})"},
        yaxis2={
            "title": "Difference",
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            **({"range": [-1, 1]} if daily["difference"].abs().max() < DUST else {}),
        },
        **LAYOUT,
    )
    return fig


# --- collector coverage ---------------------------------------------------------------------------


def coverage_gaps(cov: pl.DataFrame) -> pl.DataFrame:
    """The raw tables with days missing between their first and last."""
    return cov.filter(pl.col("missing_days") > 0)


def coverage(cov: pl.DataFrame) -> go.Figure:
    """Which days each raw table holds, and the gaps."""
    if cov.is_empty():
        return empty_figure("Collector coverage", "nothing collected")
    frame = cov.drop_nulls(["first_day", "last_day"]).with_columns(
        table=pl.concat_str([pl.col("source"), pl.lit(" · "), pl.col("raw_table")]),
        start=pl.col("first_day").cast(pl.Datetime),
        end=pl.col("last_day").cast(pl.Datetime) + timedelta(days=1),
        gaps=pl.when(pl.col("missing_days") == 0).then(pl.lit("complete")).otherwise(pl.lit("with gaps")),
        # The hover's days as text: plotly stacks hover columns into one numpy array, and polars 2.1 finds no
        # common type for a Date beside an integer (DTypePromotionError) where pandas would make objects.
        first_day=pl.col("first_day").dt.to_string("%Y-%m-%d"),
        last_day=pl.col("last_day").dt.to_string("%Y-%m-%d"),
    )
    if frame.is_empty():
        return empty_figure("Collector coverage", "no days landed")
    fig = px.timeline(
        frame,
        x_start="start",
        x_end="end",
        y="table",
        color="gaps",
        color_discrete_map={"complete": "#2ca02c", "with gaps": "#d62728"},
        hover_data=["first_day", "last_day", "missing_days", "missing"],
        title="Collector coverage (days landed per raw table)",
    )
    fig.update_yaxes(autorange="reversed", title="")
    fig.update_layout(**LAYOUT)
    return fig


# --- days priced before the CUR landed ------------------------------------------------------------


def estimated_day_count(estimated: pl.DataFrame) -> int:
    return estimated["date"].n_unique()
