"""Figures and table shapes for the dashboard, built from the data frames ``dashboards.data`` returns.

Pure functions: a frame in, a plotly figure (or a display-ready frame, or a column config) out. No
queries, no Streamlit state, so they are easy to test and the pages stay a list of widgets.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from chargeback.core.config import SENTINELS
from chargeback.reports.bill import PARTS, Bill

# Bill parts as finance reads them on a tenant's bill.
PART_LABELS = {
    "compute": "Compute",
    "idle": "Idle share",
    "shared": "Shared share",
    "emr": "EMR charges",
    "tagged": "Tagged resources",
}
SENTINEL_LABELS = {"__idle__": "Idle (unshared)", "__shared__": "Shared (kept)", "__unallocated__": "Unallocated"}
PURCHASE_LABELS = {
    "on_demand": "On-Demand",
    "spot": "Spot",
    "savings_plan": "Savings Plan",
    "reserved": "Reserved",
}
PART_COLORS = {
    "Compute": "#1f77b4",
    "Idle share": "#ff7f0e",
    "Shared share": "#2ca02c",
    "EMR charges": "#9467bd",
    "Tagged resources": "#8c564b",
}
BILL_COLUMNS = {"total": "Total", **PART_LABELS}
CHECK_COLUMNS = {
    "passed": st.column_config.CheckboxColumn("Holds"),
    "check_name": "Check",
    "severity": "Severity",
    "cluster": "Cluster",
    "expected": st.column_config.NumberColumn("Expected", format="%.2f"),
    "actual": st.column_config.NumberColumn("Counted", format="%.2f", help="rows, hours or amount the check found"),
    "detail": st.column_config.TextColumn("What it checks", width="large"),
}
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
DUST = 0.005  # below half a cent a series is rounding dust, not a line anyone pays
_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "legend_title_text": ""}


# --- money ----------------------------------------------------------------------------------------


def money(amount: float | Decimal | None, currency: str = "USD") -> str:
    """``$2,402.32`` (or ``-$3.10``) for dollars; ``2,402.32 EUR`` for anything else."""
    if amount is None or (isinstance(amount, float) and pd.isna(amount)):
        return "–"
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    sign = "-" if value < 0 else ""
    if currency == "USD":
        return f"{sign}${abs(value):,.2f}"
    return f"{sign}{abs(value):,.2f} {currency}"


def money_column(label: str, currency: str = "USD", help: str | None = None) -> st.column_config.NumberColumn:
    fmt = {"USD": "dollar", "EUR": "euro", "JPY": "yen"}.get(currency, f"%.2f {currency}")
    return st.column_config.NumberColumn(label, format=fmt, help=help)


def money_columns(columns: dict[str, str], currency: str = "USD") -> dict[str, st.column_config.NumberColumn]:
    """Column config for money columns: ``{"total": "Total"}`` -> dollar-formatted ``Total``."""
    return {name: money_column(label, currency) for name, label in columns.items()}


def line_label(line: str) -> str:
    return SENTINEL_LABELS.get(line, line)


def with_total(frame: pd.DataFrame, label_column: str, label: str = "Total") -> pd.DataFrame:
    """The frame with a last row summing its numeric columns (the way a bill ends)."""
    if frame.empty:
        return frame
    sums = frame.select_dtypes("number").sum()
    text = set(frame.select_dtypes(include=["object", "string"]).columns)
    total = {column: sums[column] if column in sums.index else ("" if column in text else None) for column in frame}
    total[label_column] = label
    return pd.concat([frame, pd.DataFrame([total])], ignore_index=True)


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(title=title, xaxis_visible=False, yaxis_visible=False, **_LAYOUT)
    return fig


# --- overview -------------------------------------------------------------------------------------


def bill_lines_table(bill_frame: pd.DataFrame) -> pd.DataFrame:
    """Bill lines (tenants, then idle, shared and unallocated) with readable names and a total row."""
    frame = bill_frame.assign(
        _sentinel=bill_frame["line"].isin(SENTINELS), line=bill_frame["line"].map(line_label)
    ).sort_values(["_sentinel", "total"], ascending=[True, False])
    return with_total(frame.drop(columns="_sentinel").reset_index(drop=True), "line")


def bill_split(bill_frame: pd.DataFrame, currency: str = "USD") -> go.Figure:
    """Each bill line as a horizontal bar stacked by part: where the month's money went."""
    if bill_frame.empty:
        return _empty("Where the money went", "no bill lines")
    long = bill_frame.melt(id_vars="line", value_vars=list(PARTS), var_name="part", value_name="amount")
    long = long.assign(part=long["part"].map(PART_LABELS), line=long["line"].map(line_label))
    order = bill_frame.assign(line=bill_frame["line"].map(line_label)).sort_values("total")["line"].tolist()
    fig = px.bar(
        long,
        x="amount",
        y="line",
        color="part",
        orientation="h",
        color_discrete_map=PART_COLORS,
        category_orders={"line": order[::-1], "part": list(PART_LABELS.values())},
        labels={"amount": f"Cost ({currency})", "line": ""},
        title="Where the money went",
    )
    fig.update_layout(barmode="relative", **_LAYOUT)
    return fig


def daily_trend(trend: pd.DataFrame, currency: str = "USD") -> go.Figure:
    """Cost per day stacked by bill line; lines holding only rounding dust are left out."""
    if trend.empty:
        return _empty("Cost by day", "no daily costs")
    weight = trend.groupby("tenant")["total"].apply(lambda s: s.abs().sum())
    kept = trend[trend["tenant"].isin(weight[weight >= DUST].index)]
    kept = kept.assign(line=kept["tenant"].map(line_label))
    fig = px.bar(
        kept, x="date", y="total", color="line", labels={"total": f"Cost ({currency})", "date": ""}, title="Cost by day"
    )
    fig.update_layout(barmode="relative", **_LAYOUT)
    return fig


def month_over_month(mom: pd.DataFrame, currency: str = "USD") -> go.Figure:
    if mom.empty:
        return _empty("Change from last month", "no costs in either month")
    frame = mom.assign(
        line=mom["tenant"].map(line_label), direction=mom["change"].ge(0).map({True: "up", False: "down"})
    )
    fig = px.bar(
        frame.sort_values("change"),
        x="change",
        y="line",
        color="direction",
        orientation="h",
        color_discrete_map={"up": "#d62728", "down": "#2ca02c"},
        labels={"change": f"Change ({currency})", "line": ""},
        title="Change from last month",
    )
    fig.update_layout(showlegend=False, **_LAYOUT)
    return fig


def bill_split_totals(bill: Bill) -> dict[str, Decimal]:
    """The bill's total in four: tenants, idle (unshared), shared (kept) and unallocated."""
    split = {"tenants": Decimal("0.00"), "idle": Decimal("0.00"), "shared": Decimal("0.00")}
    split["unallocated"] = Decimal("0.00")
    for line in bill.lines:
        key = {"__idle__": "idle", "__shared__": "shared", "__unallocated__": "unallocated"}.get(line.tenant, "tenants")
        split[key] += line.total
    return split


def month_over_month_table(mom: pd.DataFrame) -> pd.DataFrame:
    frame = mom.assign(
        line=mom["tenant"].map(line_label),
        change_pct=(mom["change"] / mom["previous_month"]).where(mom["previous_month"].abs() > DUST),
    )
    table = with_total(frame[["line", "this_month", "previous_month", "change", "change_pct"]], "line")
    table = table.assign(change_pct=table["change_pct"].where(table["line"] != "Total"))
    return table.drop(columns="change_pct") if table["change_pct"].isna().all() else table


def invariants(checks: pd.DataFrame) -> tuple[int, list[str]]:
    """How many error-severity checks there are, and the names of those that fail."""
    errors = checks[checks["severity"] == "error"] if "severity" in checks.columns else checks
    return len(errors), sorted(set(errors.loc[~errors["passed"].astype(bool), "check_name"]))


def checks_table(checks: pd.DataFrame) -> pd.DataFrame:
    """The checks, whether each holds first; errors before informational counts."""
    return checks[["passed", *[c for c in checks.columns if c != "passed"]]]


# --- tenant bill ----------------------------------------------------------------------------------


def bill_parts_table(parts: dict[str, Decimal], total: Decimal) -> pd.DataFrame:
    """One tenant's bill as finance sends it: a line per part, then the total."""
    rows = [{"item": PART_LABELS[p], "amount": float(parts[p])} for p in PARTS]
    rows.append({"item": "Total", "amount": float(total)})
    return pd.DataFrame(rows)


def bill_parts(parts: dict[str, Decimal], currency: str = "USD") -> go.Figure:
    frame = pd.DataFrame({"item": [PART_LABELS[p] for p in PARTS], "amount": [float(parts[p]) for p in PARTS]})
    fig = px.bar(
        frame,
        x="amount",
        y="item",
        color="item",
        orientation="h",
        color_discrete_map=PART_COLORS,
        category_orders={"item": list(PART_LABELS.values())},
        labels={"amount": f"Cost ({currency})", "item": ""},
        title="The bill by part",
    )
    fig.update_layout(showlegend=False, **_LAYOUT)
    return fig


def _job_label(frame: pd.DataFrame) -> pd.Series:
    return frame["emr_job_run_id"].where(frame["emr_job_run_id"].notna(), None)


def drilldown(workloads: pd.DataFrame, tenant: str, currency: str = "USD") -> go.Figure:
    """Tenant -> namespace -> workload -> EMR job run, sized by compute plus idle share."""
    if workloads.empty:
        return _empty("Drill-down", f"no workloads for {tenant}")
    frame = workloads.assign(
        tenant=tenant,
        workload=workloads["workload_kind"].fillna("pods") + " " + workloads["workload_name"].fillna("(none)"),
        job_run=_job_label(workloads),
        size=workloads["total"].clip(lower=0),
    )
    fig = px.treemap(
        frame,
        path=["tenant", "namespace", "workload", "job_run"],
        values="size",
        title="Compute and idle share: tenant → namespace → workload → job run",
    )
    fig.update_traces(hovertemplate="%{label}<br>%{value:,.2f} " + currency + "<extra></extra>", root_color="#f5f5f5")
    fig.update_layout(**_LAYOUT)
    return fig


def namespaces_table(workloads: pd.DataFrame) -> pd.DataFrame:
    frame = (
        workloads.groupby("namespace", as_index=False)
        .agg(
            workloads=("workload_name", "nunique"),
            pod_hours=("pod_hours", "sum"),
            compute=("compute", "sum"),
            idle=("idle", "sum"),
            total=("total", "sum"),
        )
        .sort_values("total", ascending=False)
    )
    return with_total(frame.reset_index(drop=True), "namespace")


def workloads_table(workloads: pd.DataFrame, namespace: str) -> pd.DataFrame:
    frame = workloads[workloads["namespace"] == namespace]
    frame = (
        frame.groupby(["workload_kind", "workload_name"], as_index=False, dropna=False)
        .agg(
            job_runs=("emr_job_run_id", "nunique"),
            pods=("pods", "sum"),
            pod_hours=("pod_hours", "sum"),
            compute=("compute", "sum"),
            idle=("idle", "sum"),
            total=("total", "sum"),
        )
        .sort_values("total", ascending=False)
    )
    return with_total(frame.reset_index(drop=True), "workload_name")


def job_runs_table(workloads: pd.DataFrame, jobs: pd.DataFrame, namespace: str, workload: str) -> pd.DataFrame:
    """The EMR job runs of one workload (a Spark application name), with their full cost."""
    mine = workloads[(workloads["namespace"] == namespace) & (workloads["workload_name"] == workload)]
    runs = set(mine["emr_job_run_id"].dropna())
    frame = jobs[jobs["job_run_id"].isin(runs)][
        ["job_run_id", "state", "created_at", "finished_at", "pod_count", "compute", "idle", "emr", "total"]
    ].sort_values("created_at")
    return with_total(frame.reset_index(drop=True), "job_run_id")


# --- EMR jobs -------------------------------------------------------------------------------------


def by_virtual_cluster(jobs: pd.DataFrame) -> pd.DataFrame:
    frame = (
        jobs.assign(virtual_cluster=jobs["virtual_cluster_name"].fillna(jobs["virtual_cluster_id"]).fillna("(none)"))
        .groupby(["virtual_cluster", "tenant"], as_index=False)
        .agg(
            job_runs=("job_run_id", "count"),
            compute=("compute", "sum"),
            idle=("idle", "sum"),
            emr=("emr", "sum"),
            total=("total", "sum"),
        )
        .sort_values("total", ascending=False)
    )
    return with_total(frame.reset_index(drop=True), "virtual_cluster")


def virtual_cluster_costs(jobs: pd.DataFrame, currency: str = "USD") -> go.Figure:
    if jobs.empty:
        return _empty("Cost per virtual cluster", "no job runs")
    frame = jobs.assign(
        virtual_cluster=jobs["virtual_cluster_name"].fillna(jobs["virtual_cluster_id"]).fillna("(none)")
    )
    return _parts_bar(frame, "virtual_cluster", "Cost per virtual cluster", currency, barmode="stack")


def _parts_bar(frame: pd.DataFrame, key: str, title: str, currency: str, barmode: str) -> go.Figure:
    """Compute, idle share and EMR charges summed per ``key``, as bars."""
    long = (
        frame.groupby(key)[["compute", "idle", "emr"]]
        .sum()
        .reset_index()
        .melt(id_vars=key, var_name="part", value_name="amount")
    )
    long = long.assign(part=long["part"].map(PART_LABELS))
    fig = px.bar(
        long,
        x=key,
        y="amount",
        color="part",
        barmode=barmode,
        color_discrete_map=PART_COLORS,
        labels={"amount": f"Cost ({currency})", key: ""},
        title=title,
    )
    fig.update_layout(**_LAYOUT)
    return fig


def top_jobs(jobs: pd.DataFrame, currency: str = "USD", n: int = 10) -> go.Figure:
    if jobs.empty:
        return _empty("Most expensive job runs", "no job runs")
    frame = jobs.nlargest(n, "total").assign(
        run=lambda f: f["job_name"].fillna("(unknown job)") + " · " + f["job_run_id"].str[-6:]
    )
    fig = px.bar(
        frame.sort_values("total"),
        x="total",
        y="run",
        color="state",
        orientation="h",
        hover_data=["job_run_id", "created_at", "virtual_cluster_name"],
        labels={"total": f"Cost ({currency})", "run": ""},
        title=f"Most expensive job runs (top {min(n, len(frame))})",
    )
    fig.update_layout(**_LAYOUT)
    return fig


def job_cost_over_time(jobs: pd.DataFrame, job_name: str, currency: str = "USD") -> go.Figure:
    frame = jobs[jobs["job_name"] == job_name].sort_values("created_at")
    if frame.empty:
        return _empty(f"{job_name}: cost per run", "no runs")
    fig = px.line(
        frame,
        x="created_at",
        y="total",
        markers=True,
        hover_data=["job_run_id", "state", "compute", "idle", "emr"],
        labels={"total": f"Cost per run ({currency})", "created_at": ""},
        title=f"{job_name}: cost per run",
    )
    failed = frame[frame["state"] != "COMPLETED"]
    if not failed.empty:
        fig.add_scatter(
            x=failed["created_at"],
            y=failed["total"],
            mode="markers",
            name="not completed",
            marker={"symbol": "x", "size": 11, "color": "#d62728"},
        )
    fig.update_layout(**_LAYOUT)
    return fig


def emr_against_compute(jobs: pd.DataFrame, currency: str = "USD") -> go.Figure:
    """Per job name: the EMR on EKS charge beside the compute and idle it ran on."""
    if jobs.empty:
        return _empty("EMR charge against compute", "no job runs")
    frame = jobs.assign(job=jobs["job_name"].fillna("(unknown job)"))
    return _parts_bar(frame, "job", "EMR charge against compute, per job", currency, barmode="group")


def requested_vs_used(jobs: pd.DataFrame) -> go.Figure:
    """Executor CPU and memory requested against used, one point per run; the diagonal is a perfect fit."""
    if jobs.empty:
        return _empty("Executors: requested against used", "no job runs")
    cpu = jobs.assign(
        resource="CPU (core-hours)",
        requested=jobs["executor_cpu_request_core_hours"],
        used=jobs["executor_cpu_usage_core_hours"],
    )
    memory = jobs.assign(
        resource="Memory (GiB-hours)",
        requested=jobs["executor_memory_request_gib_hours"],
        used=jobs["executor_memory_usage_gib_hours"],
    )
    frame = pd.concat([cpu, memory], ignore_index=True).assign(job=lambda f: f["job_name"].fillna("(unknown job)"))
    fig = px.scatter(
        frame,
        x="requested",
        y="used",
        color="job",
        facet_col="resource",
        hover_data=["job_run_id"],
        title="Executors: requested against used",
    )
    fig.update_xaxes(matches=None)
    fig.update_yaxes(matches=None)
    for column, resource in enumerate(["CPU (core-hours)", "Memory (GiB-hours)"], start=1):
        top = frame.loc[frame["resource"] == resource, ["requested", "used"]].max().max()
        if pd.notna(top) and top > 0:
            fig.add_scatter(
                x=[0, top],
                y=[0, top],
                mode="lines",
                line={"dash": "dot", "color": "grey"},
                showlegend=False,
                hoverinfo="skip",
                row=1,
                col=column,
            )
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_layout(**_LAYOUT)
    return fig


def jobs_table(jobs: pd.DataFrame) -> pd.DataFrame:
    frame = jobs.assign(
        duration_min=(jobs["finished_at"] - jobs["created_at"]).dt.total_seconds() / 60,
        cpu_used_share=jobs["executor_cpu_usage_core_hours"] / jobs["executor_cpu_request_core_hours"],
    )
    return frame[
        [
            "job_run_id",
            "job_name",
            "virtual_cluster_name",
            "tenant",
            "state",
            "created_at",
            "duration_min",
            "executor_instances",
            "cpu_used_share",
            "compute",
            "idle",
            "emr",
            "total",
        ]
    ]


# --- nodes and idle -------------------------------------------------------------------------------


def _purchase(frame: pd.DataFrame) -> pd.Series:
    return frame["purchase_option"].map(lambda p: PURCHASE_LABELS.get(p, p or "(unknown)"))


def node_hours_by_group(groups: pd.DataFrame) -> go.Figure:
    if groups.empty:
        return _empty("Node-hours by node group", "no nodes")
    frame = groups.assign(purchase=_purchase(groups))
    fig = px.bar(
        frame,
        x="node_group",
        y="node_hours",
        color="purchase",
        labels={"node_hours": "Node-hours", "node_group": "", "purchase": "Purchase option"},
        title="Node-hours by node group and purchase option",
    )
    fig.update_layout(barmode="stack", **_LAYOUT)
    return fig


def idle_by_group(groups: pd.DataFrame, currency: str = "USD") -> go.Figure:
    if groups.empty:
        return _empty("Idle cost by node group", "no nodes")
    frame = groups.groupby("node_group", as_index=False)[["cost", "idle"]].sum()
    frame = frame.assign(used=frame["cost"] - frame["idle"]).melt(
        id_vars="node_group", value_vars=["used", "idle"], var_name="part", value_name="amount"
    )
    frame = frame.assign(part=frame["part"].map({"used": "Requested (allocated)", "idle": "Idle"}))
    fig = px.bar(
        frame,
        x="node_group",
        y="amount",
        color="part",
        color_discrete_map={"Requested (allocated)": "#1f77b4", "Idle": "#ff7f0e"},
        labels={"amount": f"Cost ({currency})", "node_group": ""},
        title="Idle cost by node group",
    )
    fig.update_layout(barmode="stack", **_LAYOUT)
    return fig


def node_groups_table(groups: pd.DataFrame) -> pd.DataFrame:
    frame = groups.assign(
        purchase_option=_purchase(groups), idle_share=(groups["idle"] / groups["cost"]).where(groups["cost"] != 0)
    )
    totals = with_total(frame.drop(columns="idle_share"), "node_group")
    return totals.assign(idle_share=(totals["idle"] / totals["cost"]).where(totals["cost"] != 0))


def ghost_hours(nodes: pd.DataFrame) -> go.Figure:
    if nodes.empty:
        return _empty("Sole-tenancy nodes", "no dedicated nodes")
    frame = nodes.assign(
        with_tenant=nodes["node_hours"] - nodes["ghost_hours"], label=nodes["tenant"] + " · " + nodes["node"]
    ).melt(id_vars="label", value_vars=["with_tenant", "ghost_hours"], var_name="hours", value_name="count")
    frame = frame.assign(hours=frame["hours"].map({"with_tenant": "with its tenant's pods", "ghost_hours": "ghost"}))
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
    fig.update_layout(barmode="stack", **_LAYOUT)
    return fig


# --- data quality ---------------------------------------------------------------------------------


def reconciliation_daily(recon: pd.DataFrame) -> pd.DataFrame:
    return (
        recon.groupby("date", as_index=False)
        .agg(
            cur=("cur", "sum"),
            cost_explorer=("cost_explorer", "sum"),
            difference=("difference", "sum"),
            ce_is_estimated=("ce_is_estimated", "any"),
        )
        .sort_values("date")
    )


def reconciliation(recon: pd.DataFrame, currency: str = "USD") -> go.Figure:
    """CUR and Cost Explorer per day (lines) and their difference (bars, right axis)."""
    if recon.empty:
        return _empty("CUR against Cost Explorer", "nothing to reconcile")
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
        **_LAYOUT,
    )
    return fig


def coverage(cov: pd.DataFrame) -> go.Figure:
    """Which days each raw table holds, and the gaps."""
    if cov.empty:
        return _empty("Collector coverage", "nothing collected")
    frame = cov.dropna(subset=["first_day", "last_day"]).assign(
        table=lambda f: f["source"] + " · " + f["raw_table"],
        start=lambda f: pd.to_datetime(f["first_day"]),
        end=lambda f: pd.to_datetime(f["last_day"]) + pd.Timedelta(days=1),
        gaps=lambda f: f["missing_days"].map(lambda n: "complete" if n == 0 else "with gaps"),
    )
    if frame.empty:
        return _empty("Collector coverage", "no days landed")
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
    fig.update_layout(**_LAYOUT)
    return fig


# --- capacity and quotas --------------------------------------------------------------------------

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
QUOTA_COLUMNS = [
    "namespace",
    "cluster",
    "quota",
    "resource",
    "unit",
    "hard",
    *QUOTA_STATS,
    "hours",
    "hours_near_limit",
    "near_limit_cost",
    "recommended",
    "recommended_quantity",
    "money_at_stake",
    "evidence",
]
RIGHTSIZING_COLUMNS = [
    "workload_name",
    "workload_kind",
    "namespace",
    "tenant",
    "cluster",
    "resource",
    "unit",
    "pod_hours",
    "request",
    "recommended",
    "usage_quantile",
    "monthly_saving",
    "verdict",
    "note",
]


def _num(value) -> float | None:
    return None if value is None else float(value)


def node_group_table(report) -> pd.DataFrame:
    """One row per node group of a ``chargeback.capacity.CapacityReport``: available, allocated, headroom."""
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
    return pd.DataFrame(rows)


def forecast_table(report) -> pd.DataFrame:
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
    return pd.DataFrame(rows)


def whatif_table(report) -> pd.DataFrame:
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
    return pd.DataFrame(rows)


def quota_use_table(report) -> pd.DataFrame:
    """One row per namespace and quota resource of a ``chargeback.quotas.QuotaReport``: use against hard."""
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
    return pd.DataFrame(rows, columns=QUOTA_COLUMNS)


def quota_advice_table(report) -> pd.DataFrame:
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
    columns = ["namespace", "cluster", "quota", "hours", "advice", "money_at_stake", "manifest"]
    return pd.DataFrame(rows, columns=columns)


def quota_hourly(hourly: pd.DataFrame, namespace: str, resource: str) -> go.Figure:
    """Hourly requested (and used) against the hard limit for one namespace's quota resource."""
    title = f"{namespace} · {resource}: hourly requests against the hard limit"
    if hourly.empty:
        return _empty(title, "no hours")
    unit = hourly["unit"].dropna().iloc[0] if hourly["unit"].notna().any() else ""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=hourly["hour"], y=hourly["requested"], name="Requested", mode="lines"))
    if hourly["used"].notna().any():
        fig.add_trace(go.Scatter(x=hourly["hour"], y=hourly["used"], name="Used", mode="lines"))
    if hourly["hard"].notna().any():
        fig.add_trace(
            go.Scatter(x=hourly["hour"], y=hourly["hard"], name="Hard limit", mode="lines", line={"dash": "dash"})
        )
    fig.update_layout(title=title, yaxis_title=unit, **_LAYOUT)
    return fig


def rightsizing_table(report) -> pd.DataFrame:
    """One row per workload and resource of a ``chargeback.rightsize.RightsizeReport``."""
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
    return pd.DataFrame(rows, columns=RIGHTSIZING_COLUMNS)


def rightsizing_savings(table: pd.DataFrame, currency: str = "USD", n: int = 15) -> go.Figure:
    """The workloads whose lower requests save the most in the month."""
    title = "Monthly saving from lowering requests"
    lower = table[table["verdict"] == "lower request"] if not table.empty else table
    if lower.empty:
        return _empty(title, "no request to lower")
    frame = lower.assign(workload=lower["namespace"] + "/" + lower["workload_name"])
    top = frame.groupby("workload")["monthly_saving"].sum().nlargest(n).index
    frame = frame[frame["workload"].isin(top)]
    fig = px.bar(
        frame,
        x="monthly_saving",
        y="workload",
        color="resource",
        orientation="h",
        labels={"monthly_saving": f"Saving ({currency})", "workload": "", "resource": "Resource"},
        title=title,
    )
    fig.update_layout(barmode="stack", yaxis={"categoryorder": "total ascending"}, **_LAYOUT)
    return fig
