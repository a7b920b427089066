"""Capacity and quotas: tables of ``chargeback.reports.quotas.QuotaReport``,
``chargeback.reports.capacity.CapacityReport`` and ``chargeback.reports.rightsize.RightsizeReport`` (the
reports' own numbers, one row per item), hourly quota use against the hard limit, and the savings of
right-sizing.

Each table has a fixed schema, so an empty report gives an empty table with the usual columns.
"""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import polars as pl

from dashboards.charts.common import LAYOUT, empty_figure

QUOTA_STATS = (
    "requested_median",
    "requested_p95",
    "requested_p99",
    "requested_max",
    "used_median",
    "used_p95",
    "used_p99",
    "used_max",
)
QUOTA_SCHEMA = {
    "namespace": pl.String,
    "cluster": pl.String,
    "quota": pl.String,
    "resource": pl.String,
    "unit": pl.String,
    "hard": pl.Float64,
    **dict.fromkeys(QUOTA_STATS, pl.Float64),
    "hours": pl.Int64,
    "hours_near_limit": pl.Int64,
    "near_limit_cost": pl.Float64,
    "recommended": pl.Float64,
    "recommended_quantity": pl.String,
    "money_at_stake": pl.Float64,
    "evidence": pl.String,
}
QUOTA_COLUMNS = list(QUOTA_SCHEMA)
QUOTA_ADVICE_SCHEMA = {
    "namespace": pl.String,
    "cluster": pl.String,
    "quota": pl.String,
    "hours": pl.Int64,
    "advice": pl.String,
    "money_at_stake": pl.Float64,
    "manifest": pl.Boolean,
}
NODE_GROUP_SCHEMA = {
    "cluster": pl.String,
    "node_group": pl.String,
    "peak_nodes": pl.Int64,
    **dict.fromkeys(("node_hours", "cpu_available", "cpu_requested", "cpu_headroom"), pl.Float64),
    "cpu_allocated_share": pl.Float64,
    **dict.fromkeys(("memory_available", "memory_requested", "memory_headroom"), pl.Float64),
    "memory_allocated_share": pl.Float64,
    "spot_share": pl.Float64,
    "cost": pl.Float64,
}
FORECAST_SCHEMA = {
    "cluster": pl.String,
    "next_period": pl.String,
    "series": pl.String,
    **dict.fromkeys(("history_total", "predicted_total", "band", "slope_per_day", "r2"), pl.Float64),
    "status": pl.String,
}
WHATIF_SCHEMA = {
    "cluster": pl.String,
    "tenant": pl.String,
    "tenancy": pl.String,
    "current_cost": pl.Float64,
    "alternative": pl.String,
    "alternative_cost": pl.Float64,
    "difference": pl.Float64,
    "basis": pl.String,
}
RIGHTSIZING_SCHEMA = {
    **dict.fromkeys(("workload_name", "workload_kind", "namespace", "tenant", "cluster"), pl.String),
    **dict.fromkeys(("resource", "unit"), pl.String),
    **dict.fromkeys(("pod_hours", "request", "recommended", "usage_quantile", "monthly_saving"), pl.Float64),
    "verdict": pl.String,
    "note": pl.String,
}
RIGHTSIZING_COLUMNS = list(RIGHTSIZING_SCHEMA)


def _num(value) -> float | None:
    return None if value is None else float(value)


# --- cluster capacity, forecast, tenancy what-if --------------------------------------------------


def node_group_table(report) -> pl.DataFrame:
    """One row per node group of a ``chargeback.reports.capacity.CapacityReport``: available, allocated, headroom."""
    rows = [
        {
            "cluster": g.cluster,
            "node_group": g.node_group or "(no node group label)",
            "peak_nodes": g.peak_nodes,
            "node_hours": g.node_hours,
            "cpu_available": g.cpu_available,
            "cpu_requested": g.cpu_requested,
            "cpu_headroom": g.cpu_headroom,
            "cpu_allocated_share": g.cpu_requested / g.cpu_available if g.cpu_available else None,
            "memory_available": g.memory_available,
            "memory_requested": g.memory_requested,
            "memory_headroom": g.memory_headroom,
            "memory_allocated_share": g.memory_requested / g.memory_available if g.memory_available else None,
            "spot_share": g.spot_share,
            "cost": float(g.cost),
        }
        for g in report.node_groups
    ]
    return pl.DataFrame(rows, schema=NODE_GROUP_SCHEMA)


def forecast_table(report) -> pl.DataFrame:
    """One row per cluster and forecast series (requested cpu, memory, cost) of a ``CapacityReport``."""
    rows = [
        {
            "cluster": f.cluster,
            "next_period": f.next_period,
            "series": f"{series.name} ({series.unit})",
            "history_total": series.history_total,
            "predicted_total": series.predicted_total,
            "band": series.band,
            "slope_per_day": series.slope_per_day,
            "r2": series.r2,
            "status": f.status,
        }
        for f in report.forecasts
        for series in f.series
    ]
    return pl.DataFrame(rows, schema=FORECAST_SCHEMA)


def whatif_table(report) -> pl.DataFrame:
    """One row per tenant of a ``CapacityReport``'s tenancy what-if: cost now against the alternative."""
    rows = [
        {
            "cluster": w.cluster,
            "tenant": w.tenant,
            "tenancy": f"{w.tenancy} tenancy",
            "current_cost": float(w.current_cost),
            "alternative": w.alternative,
            "alternative_cost": _num(w.alternative_cost),
            "difference": _num(w.difference),
            "basis": w.basis,
        }
        for w in report.whatifs
    ]
    return pl.DataFrame(rows, schema=WHATIF_SCHEMA)


# --- quota use ------------------------------------------------------------------------------------


def quota_use_table(report) -> pl.DataFrame:
    """One row per namespace and quota resource of a ``chargeback.reports.quotas.QuotaReport``: use against hard."""
    rows = [
        {
            "namespace": ns.namespace,
            "cluster": ns.cluster,
            "quota": ns.quota,
            "resource": use.resource,
            "unit": use.unit,
            "hard": use.hard,
            **{stat: _num(getattr(use, stat)) for stat in QUOTA_STATS},
            "hours": use.hours,
            "hours_near_limit": use.hours_near_limit,
            "near_limit_cost": _num(use.near_limit_cost),
            "recommended": use.recommended,
            "recommended_quantity": use.recommended_quantity,
            "money_at_stake": _num(use.money_at_stake),
            "evidence": use.evidence,
        }
        for ns in (report.namespaces if report is not None else [])
        for use in ns.resources
    ]
    return pl.DataFrame(rows, schema=QUOTA_SCHEMA)


def with_hard_limit(quotas: pl.DataFrame) -> pl.DataFrame:
    """The quota resources that have a hard limit."""
    return quotas.filter(pl.col("hard").is_not_null())


def near_limit_summary(quotas: pl.DataFrame) -> dict[str, float | int]:
    """Over quota resources with a hard limit: namespaces, resource-hours at or near the limit, their cost."""
    with_hard = with_hard_limit(quotas)
    return {
        "namespaces": with_hard["namespace"].n_unique(),
        "hours_near_limit": int(with_hard["hours_near_limit"].fill_null(0).sum()),
        "near_limit_cost": with_hard["near_limit_cost"].fill_null(0).sum(),
    }


def quota_namespaces(quotas: pl.DataFrame) -> tuple[list[str], str]:
    """Every namespace in the quota table (name order) and the one to show first: the first with a hard limit."""
    names = quotas["namespace"].unique().sort().to_list()
    with_hard = with_hard_limit(quotas)["namespace"].unique().sort().to_list()
    return names, (with_hard or names)[0]


def quota_resources(quotas: pl.DataFrame, namespace: str) -> list[str]:
    return quotas.filter(pl.col("namespace") == namespace)["resource"].to_list()


def quota_recommendations(quotas: pl.DataFrame) -> pl.DataFrame:
    """The quota resources with a hard limit now or a recommended one."""
    return quotas.filter(pl.col("recommended_quantity").is_not_null() | pl.col("hard").is_not_null())


def quota_advice_table(report) -> pl.DataFrame:
    """One row per namespace: the advice, the money at stake and whether a manifest is written for it."""
    rows = [
        {
            "namespace": ns.namespace,
            "cluster": ns.cluster,
            "quota": ns.quota,
            "hours": ns.hours,
            "advice": ns.advice,
            "money_at_stake": float(ns.money_at_stake),
            "manifest": ns.has_quota,
        }
        for ns in (report.namespaces if report is not None else [])
    ]
    return pl.DataFrame(rows, schema=QUOTA_ADVICE_SCHEMA)


def quota_hourly(hourly: pl.DataFrame, namespace: str, resource: str) -> go.Figure:
    """Hourly requested (and used) against the hard limit for one namespace's quota resource."""
    title = f"{namespace} · {resource}: hourly requests against the hard limit"
    if hourly.is_empty():
        return empty_figure(title, "no hours")
    units = hourly["unit"].drop_nulls()
    unit = units[0] if len(units) else ""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=hourly["hour"], y=hourly["requested"], name="Requested", mode="lines"))
    if hourly["used"].is_not_null().any():
        fig.add_trace(go.Scatter(x=hourly["hour"], y=hourly["used"], name="Used", mode="lines"))
    if hourly["hard"].is_not_null().any():
        fig.add_trace(
            go.Scatter(x=hourly["hour"], y=hourly["hard"], name="Hard limit", mode="lines", line={"dash": "dash"})
        )
    fig.update_layout(title=title, yaxis_title=unit, **LAYOUT)
    return fig


# --- Spark jobs against their quota ---------------------------------------------------------------


def misfit_jobs(fits: pl.DataFrame) -> int:
    """How many recurring Spark jobs would not fit their namespace's ResourceQuota at full scale."""
    return fits.filter(~pl.col("fits").fill_null(False))["job_name"].n_unique()


# --- right-sizing ---------------------------------------------------------------------------------


def rightsizing_table(report) -> pl.DataFrame:
    """One row per workload and resource of a ``chargeback.reports.rightsize.RightsizeReport``."""
    rows = [
        {
            "workload_name": rec.workload_name,
            "workload_kind": rec.workload_kind,
            "namespace": rec.namespace,
            "tenant": rec.tenant,
            "cluster": rec.cluster,
            "resource": rec.resource,
            "unit": rec.unit,
            "pod_hours": rec.pod_hours,
            "request": rec.request,
            "recommended": rec.recommended,
            "usage_quantile": rec.usage_quantile,
            "monthly_saving": _num(rec.monthly_saving),
            "verdict": rec.verdict,
            "note": rec.note,
        }
        for rec in report.recommendations
    ]
    return pl.DataFrame(rows, schema=RIGHTSIZING_SCHEMA)


def rightsizing_savings(table: pl.DataFrame, currency: str = "USD", n: int = 15) -> go.Figure:
    """The workloads whose lower requests save the most in the month."""
    title = "Monthly saving from lowering requests"
    lower = table.filter(pl.col("verdict") == "lower request") if not table.is_empty() else table
    if lower.is_empty():
        return empty_figure(title, "no request to lower")
    frame = lower.with_columns(workload=pl.concat_str([pl.col("namespace"), pl.lit("/"), pl.col("workload_name")]))
    top = (
        frame.group_by("workload")
        .agg(pl.col("monthly_saving").sum())
        .sort(["monthly_saving", "workload"], descending=[True, False])
        .head(n)["workload"]
        .to_list()
    )
    fig = px.bar(
        frame.filter(pl.col("workload").is_in(top)),
        x="monthly_saving",
        y="workload",
        color="resource",
        orientation="h",
        labels={"monthly_saving": f"Saving ({currency})", "workload": "", "resource": "Resource"},
        title=title,
    )
    fig.update_layout(barmode="stack", yaxis={"categoryorder": "total ascending"}, **LAYOUT)
    return fig
