"""Capacity and quotas, for the platform team: ResourceQuota use against hard limits and the recommended
quotas with their evidence (``chargeback.reports.quotas``), node-group capacity, next month's forecast and the tenancy
what-if (``chargeback.reports.capacity``), right-sizing of requests, LimitRange violations and Spark jobs against their
quota (``chargeback.reports.rightsize``). Quota use and capacity are cluster-wide, so for all-access viewers only;
right-sizing and the Spark job checks are narrowed to the viewer's tenants."""

from __future__ import annotations

import streamlit as st

from dashboards import state
from dashboards.charts import capacity as capacity_charts
from dashboards.charts.common import money, money_columns

view = state.view()
cur = view.currency
stat = st.column_config.NumberColumn

st.title(f"Capacity and quotas · {view.period}")
st.caption(view.cluster or "All clusters")
state.method_caption(view)

# --- quota use ------------------------------------------------------------------------------------

st.header("Quota use per namespace")
if view.viewer.sees_everything:
    report = view.quota_report()
    quotas = capacity_charts.quota_use_table(report)
    if quotas.is_empty():
        st.info("No quota use for this selection: collect Kubernetes objects, then run `chargeback build`.")
    else:
        near_limit = capacity_charts.near_limit_summary(quotas)
        a, b, c = st.columns(3)
        a.metric("Namespaces with a ResourceQuota", near_limit["namespaces"])
        b.metric("Resource-hours at or near the limit", f"{near_limit['hours_near_limit']:,}")
        c.metric("Cost of those hours", money(near_limit["near_limit_cost"], cur))
        only_hard = st.toggle("Only resources with a hard limit", value=True)
        st.dataframe(
            capacity_charts.with_hard_limit(quotas) if only_hard else quotas,
            hide_index=True,
            column_order=[c for c in capacity_charts.QUOTA_COLUMNS if c not in ("recommended", "recommended_quantity")],
            column_config={
                "namespace": "Namespace",
                "cluster": "Cluster",
                "quota": "ResourceQuota",
                "resource": "Resource",
                "unit": "Unit",
                "hard": stat("Hard", format="%.2f"),
                **{s: stat(s.replace("_", " ").capitalize(), format="%.2f") for s in capacity_charts.QUOTA_STATS},
                "hours": stat("Hours"),
                "hours_near_limit": stat("Hours near limit", help="hours with requests at or near the hard limit"),
                **money_columns(
                    {"near_limit_cost": "Cost of near-limit hours", "money_at_stake": "At stake (over-requests)"}, cur
                ),
                "evidence": st.column_config.TextColumn("Evidence", width="large"),
            },
        )
        st.subheader("Hourly requests against the hard limit")
        left, right = st.columns(2)
        namespaces, first = capacity_charts.quota_namespaces(quotas)
        namespace = left.selectbox("Namespace", namespaces, index=namespaces.index(first))
        resource = right.selectbox("Resource", capacity_charts.quota_resources(quotas, namespace))
        hourly = view.quota_use_hourly(namespace, resource)
        st.plotly_chart(capacity_charts.quota_hourly(hourly, namespace, resource), key="quota_hourly")

        st.header("Quota recommendations")
        st.dataframe(
            capacity_charts.quota_advice_table(report),
            hide_index=True,
            column_config={
                "namespace": "Namespace",
                "cluster": "Cluster",
                "quota": "ResourceQuota",
                "hours": stat("Hours with pods"),
                "advice": st.column_config.TextColumn("Advice", width="large"),
                **money_columns({"money_at_stake": "At stake"}, cur),
                "manifest": st.column_config.CheckboxColumn("Manifest"),
            },
        )
        st.dataframe(
            capacity_charts.quota_recommendations(quotas),
            hide_index=True,
            column_order=["namespace", "resource", "hard", "recommended", "recommended_quantity", "evidence"],
            column_config={
                "namespace": "Namespace",
                "resource": "Resource",
                "hard": stat("Current hard", format="%.2f"),
                "recommended": stat("Recommended", format="%.2f"),
                "recommended_quantity": "Recommended (quantity)",
                "evidence": st.column_config.TextColumn("Evidence", width="large"),
            },
        )
        st.download_button(
            "Download ResourceQuota manifests (YAML)",
            report.to_yaml(),
            file_name=f"resource-quotas-{view.period}.yaml",
            mime="application/yaml",
            icon=":material/download:",
        )
else:
    state.all_access_note("Quota use and recommendations")

# --- cluster capacity, forecast, tenancy what-if ------------------------------------------------------

st.header("Cluster capacity")
if view.viewer.sees_everything:
    capacity = view.capacity_report()
    if capacity is None or not capacity.node_groups:
        st.info("No node-hours for this selection: run `chargeback build`.")
    else:
        st.caption("*Cost* is the node groups' cost before the split (see Nodes and idle), not a bill figure.")
        st.dataframe(
            capacity_charts.node_group_table(capacity),
            hide_index=True,
            column_config={
                "cluster": "Cluster",
                "node_group": "Node group",
                "peak_nodes": stat("Peak nodes"),
                "node_hours": stat("Node-hours", format="%.1f"),
                "cpu_available": stat("CPU available (core-h)", format="%.1f"),
                "cpu_requested": stat("CPU allocated (core-h)", format="%.1f"),
                "cpu_headroom": stat("CPU headroom (core-h)", format="%.1f"),
                "cpu_allocated_share": st.column_config.ProgressColumn(
                    "CPU allocated", format="percent", min_value=0, max_value=1
                ),
                "memory_available": stat("Memory available (GiB-h)", format="%.1f"),
                "memory_requested": stat("Memory allocated (GiB-h)", format="%.1f"),
                "memory_headroom": stat("Memory headroom (GiB-h)", format="%.1f"),
                "memory_allocated_share": st.column_config.ProgressColumn(
                    "Memory allocated", format="percent", min_value=0, max_value=1
                ),
                "spot_share": st.column_config.ProgressColumn("Spot share", format="percent", min_value=0, max_value=1),
                **money_columns({"cost": "Cost"}, cur),
            },
        )
        st.subheader("Next month's forecast")
        for f in capacity.forecasts:
            st.caption(f"{f.cluster} · {f.next_period} from {f.history_days} days: {f.method}")
        forecast = capacity_charts.forecast_table(capacity)
        if not forecast.is_empty():
            st.dataframe(
                forecast,
                hide_index=True,
                column_config={
                    "cluster": "Cluster",
                    "next_period": "Month",
                    "series": "Series",
                    "history_total": stat("This month", format="%.2f"),
                    "predicted_total": stat("Next month", format="%.2f"),
                    "band": stat("± band", format="%.2f"),
                    "slope_per_day": stat("Slope per day", format="%.3f"),
                    "r2": stat("R²", format="%.2f"),
                    "status": "Status",
                },
            )
        st.subheader("Tenancy what-if")
        st.caption(
            "Soft tenants: *Cost now* is their compute plus idle share as billed (`chargeback bill --cluster`), "
            "against dedicated nodes sized to their peak requests (GPU pods on GPU types). Sole tenants: *Cost now* "
            "is their dedicated nodes' cost before the split (not a bill figure: their bill holds it as compute and "
            "idle share, beside whatever they run on shared nodes), against their pods at shared unit prices."
        )
        st.dataframe(
            capacity_charts.whatif_table(capacity),
            hide_index=True,
            column_config={
                "cluster": "Cluster",
                "tenant": "Tenant",
                "tenancy": "Now",
                "alternative": "Alternative",
                **money_columns(
                    {"current_cost": "Cost now", "alternative_cost": "Alternative cost", "difference": "Difference"},
                    cur,
                ),
                "basis": st.column_config.TextColumn("Basis", width="large"),
            },
        )
else:
    state.all_access_note("Cluster capacity and the tenancy what-if")

# --- right-sizing ---------------------------------------------------------------------------------

st.header("Right-sizing")
rightsize = view.rightsizing()
sizing = capacity_charts.rightsizing_table(rightsize)
if sizing.is_empty():
    st.info("No workloads to right-size in this selection.")
else:
    a, b, c = st.columns(3)
    a.metric("Monthly saving (lower requests)", money(rightsize.total_saving, cur))
    b.metric("Cost of raising requests", money(rightsize.total_raise_cost, cur))
    c.metric("Net", money(rightsize.total_saving - rightsize.total_raise_cost, cur))
    st.caption(
        f"Recommended request: p{rightsize.quantile * 100:g} of hourly usage / "
        f"{rightsize.target_utilisation:.0%} target utilisation; saving at the price the workload paid, idle excluded."
    )
    st.plotly_chart(capacity_charts.rightsizing_savings(sizing, cur), key="rightsizing_savings")
    st.dataframe(
        sizing,
        hide_index=True,
        column_config={
            "workload_name": "Workload",
            "workload_kind": "Kind",
            "namespace": "Namespace",
            "tenant": "Tenant",
            "cluster": "Cluster",
            "resource": "Resource",
            "unit": "Unit",
            "pod_hours": stat("Pod-hours", format="%.1f"),
            "request": stat("Requested (per pod)", format="%.3f"),
            "recommended": stat("Recommended (per pod)", format="%.3f"),
            "usage_quantile": stat("Usage quantile", format="%.3f"),
            **money_columns({"monthly_saving": "Monthly saving"}, cur),
            "verdict": "Verdict",
            "note": st.column_config.TextColumn("Note", width="large"),
        },
    )

st.header("LimitRange violations")
violations = view.limit_violations()
if violations.is_empty():
    st.success("No Spark job shape breaks its namespace's LimitRanges.")
else:
    st.dataframe(
        violations,
        hide_index=True,
        column_order=[
            "job_name",
            "namespace",
            "tenant",
            "cluster",
            "description",
            "excess_amount",
            "unit",
            "shape_source",
            "job_run_count",
            "example_job_run_id",
        ],
        column_config={
            "job_name": "Job",
            "namespace": "Namespace",
            "tenant": "Tenant",
            "cluster": "Cluster",
            "description": st.column_config.TextColumn("Violation", width="large"),
            "excess_amount": stat("Excess", format="%.3f"),
            "unit": "Unit",
            "shape_source": "Shape from",
            "job_run_count": stat("Job runs"),
            "example_job_run_id": "Example job run",
        },
    )

st.header("Spark jobs against their quota")
fits = view.job_quota_fits()
if fits.is_empty():
    st.info("No recurring Spark job runs in a namespace with a ResourceQuota.")
else:
    misfits = capacity_charts.misfit_jobs(fits)
    if not misfits:
        st.success("Every recurring Spark job fits its namespace's ResourceQuota at full scale.")
    else:
        st.warning(f"{misfits} recurring Spark jobs would not fit their quota at full scale.")
    st.dataframe(
        fits,
        hide_index=True,
        column_order=[
            "job_name",
            "namespace",
            "tenant",
            "resource",
            "footprint",
            "hard",
            "footprint_share_of_hard",
            "executors_fitting",
            "executors",
            "description",
            "job_run_count",
        ],
        column_config={
            "job_name": "Job",
            "namespace": "Namespace",
            "tenant": "Tenant",
            "resource": "Resource",
            "footprint": stat("Full-scale footprint", format="%.3f"),
            "hard": stat("Hard", format="%.3f"),
            "footprint_share_of_hard": st.column_config.ProgressColumn(
                "Share of hard", format="percent", min_value=0, max_value=1
            ),
            "executors_fitting": stat("Executors admitted"),
            "executors": stat("Executors asked"),
            "description": st.column_config.TextColumn("Check", width="large"),
            "job_run_count": stat("Job runs"),
        },
    )
