"""Data quality: the CUR reconciled against Cost Explorer per day, collector coverage and gaps, estimated
(pre-CUR) days, and what the checks counted."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, state
from dashboards.charts import money

view = state.view()
cur = view.currency

st.title(f"Data quality · {view.period}")

st.header("Checks")
checks = view.checks()
invariants, failing = charts.invariants(checks)
if checks.empty:
    st.info("No checks recorded for this period: run `chargeback build` to evaluate them.")
elif failing:
    st.error(f"{len(failing)} invariant(s) fail: {', '.join(failing)}.", icon=":material/error:")
else:
    st.success(f"Every invariant holds ({invariants} checks).", icon=":material/check_circle:")
st.dataframe(charts.checks_table(checks), hide_index=True, column_config=charts.CHECK_COLUMNS, height="content")
if not view.viewer.sees_everything:
    state.all_access_note("Reconciliation, collector coverage, estimated days and the informational counts")
    st.stop()

st.header("CUR against Cost Explorer")
recon = view.reconciliation()
if recon.empty:
    st.info(
        f"Nothing to reconcile for {view.period}: run `chargeback collect --source cur` and "
        "`chargeback collect --source cost-explorer`, then `chargeback build`."
    )
else:
    daily = charts.reconciliation_daily(recon)
    worst = daily["difference"].abs().max()
    columns = st.columns(3)
    columns[0].metric("CUR", money(daily["cur"].sum(), cur), border=True)
    columns[1].metric("Cost Explorer", money(daily["cost_explorer"].sum(), cur), border=True)
    columns[2].metric("Largest daily difference", money(worst, cur), border=True)
    st.plotly_chart(charts.reconciliation(recon, cur), key="reconciliation")
    estimated = int(daily["ce_is_estimated"].sum())
    if estimated:
        st.caption(f"Cost Explorer marks {estimated} day(s) as estimated: they may still change.")
    st.dataframe(
        recon,
        hide_index=True,
        column_config={
            "date": st.column_config.DateColumn("Date"),
            "service": "Service",
            **charts.money_columns({"cur": "CUR", "cost_explorer": "Cost Explorer", "difference": "Difference"}, cur),
            "ce_is_estimated": "CE estimated",
        },
    )

st.header("Collector coverage")
coverage = view.coverage()
gaps = coverage[coverage["missing_days"] > 0] if not coverage.empty else coverage
if coverage.empty:
    st.info("Nothing collected yet: run `chargeback collect`.")
else:
    if gaps.empty:
        st.success("No gaps: every raw table holds every day between its first and last.")
    else:
        st.warning(f"{len(gaps)} raw table(s) have gaps; re-run `chargeback collect` for the missing days.")
    st.plotly_chart(charts.coverage(coverage), key="coverage")
    st.dataframe(coverage, hide_index=True, column_config=charts.COVERAGE_COLUMNS)

st.header("Estimated days")
estimated_days = view.estimated_days()
if estimated_days.empty:
    st.success(f"None: the CUR covers every node-day of {view.period}.")
else:
    st.warning(
        f"{estimated_days['date'].nunique()} day(s) priced from Cost Explorer at on-demand rates until the CUR "
        "lands: run `chargeback collect --source cur`, then `chargeback build`."
    )
    st.dataframe(
        estimated_days,
        hide_index=True,
        column_config={
            "date": st.column_config.DateColumn("Date"),
            "estimate_source": "Estimated from",
            "node_hours": "Node-hours",
            **charts.money_columns({"cost": "Cost"}, cur),
        },
    )
