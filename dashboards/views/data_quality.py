"""Data quality: what the checks counted, the raw rows the validation rules corrected or ignored, the raw files
the build did not read, the CUR reconciled against Cost Explorer per day, collector coverage and gaps, and
estimated (pre-CUR) days."""

from __future__ import annotations

import streamlit as st

from dashboards import state
from dashboards.charts import quality
from dashboards.charts.common import money, money_columns

view = state.view()
cur = view.currency

st.title(f"Data quality · {view.period}")
state.method_caption(view)

st.header("Checks")
checks = view.checks()
holds, summary = quality.checks_summary(checks, view.period)
if checks.is_empty():
    st.info("No checks recorded for this period: run `chargeback build` to evaluate them.")
elif not holds:
    st.error(summary, icon=":material/error:")
else:
    st.success(summary, icon=":material/check_circle:")
st.dataframe(quality.checks_table(checks), hide_index=True, column_config=quality.CHECK_COLUMNS, height="content")

st.header("Corrections")
st.caption(
    "Raw rows that broke a value rule: a bad request counts as 0, bad usage as the request, a reserved name in a"
    " label or tag is ignored (the next tenancy rule applies). Each row's cost with its raw values and as billed."
)
corrections = view.corrections()
if corrections.is_empty():
    st.success(f"No raw row of {view.period} broke a value rule.", icon=":material/check_circle:")
else:
    st.warning(
        f"{len(corrections):,} raw row(s) of {view.period} broke a value rule and were corrected or ignored:"
        " fix them at the source, then `chargeback collect` and `chargeback build`.",
        icon=":material/rule:",
    )
    st.dataframe(quality.corrections_summary(corrections), hide_index=True, column_config=quality.summary_columns(cur))
    st.dataframe(corrections, hide_index=True, column_config=quality.CORRECTION_COLUMNS)
if not view.viewer.sees_everything:
    state.all_access_note("Raw files, reconciliation, collector coverage, estimated days and the informational counts")
    st.stop()

st.header("Raw files")
issues = view.raw_file_issues()
if issues.is_empty():
    st.success("Every file under raw/ is a partition file the build read, and carries page checksums it verified.")
else:
    stray, unchecked = quality.file_issue_counts(issues)
    st.warning(
        f"{stray:,} stray file(s) under raw/ were not read; {unchecked:,} file(s) carry no page checksums"
        " and could not be verified."
    )
    st.dataframe(issues, hide_index=True, column_config=quality.FILE_ISSUE_COLUMNS)

st.header("CUR against Cost Explorer")
recon = view.reconciliation()
if recon.is_empty():
    st.info(
        f"Nothing to reconcile for {view.period}: run `chargeback collect --source cur` and "
        "`chargeback collect --source cost-explorer`, then `chargeback build`."
    )
else:
    totals = quality.reconciliation_totals(quality.reconciliation_daily(recon))
    columns = st.columns(3)
    columns[0].metric("CUR", money(totals["cur"], cur), border=True)
    columns[1].metric("Cost Explorer", money(totals["cost_explorer"], cur), border=True)
    columns[2].metric("Largest daily difference", money(totals["largest_difference"], cur), border=True)
    st.caption(
        "The whole CUR and Cost Explorer per day and service, before the bill's scope (tax, other accounts' and "
        "other services' costs included): not billed money. The bill adds up to the in-scope part of the CUR, the "
        "Overview's *Source bill*; the documentation's method page (Scope) says which lines that is."
    )
    st.plotly_chart(quality.reconciliation(recon, cur), key="reconciliation")
    if totals["estimated_days"]:
        st.caption(f"Cost Explorer marks {totals['estimated_days']} day(s) as estimated: they may still change.")
    st.dataframe(
        recon,
        hide_index=True,
        column_config={
            "date": st.column_config.DateColumn("Date"),
            "service": "Service",
            **money_columns({"cur": "CUR", "cost_explorer": "Cost Explorer", "difference": "Difference"}, cur),
            "ce_is_estimated": "CE estimated",
        },
    )

st.header("Collector coverage")
coverage = view.coverage()
gaps = quality.coverage_gaps(coverage)
if coverage.is_empty():
    st.info("Nothing collected yet: run `chargeback collect`.")
else:
    if gaps.is_empty():
        st.success("No gaps: every raw table holds every day between its first and last.")
    else:
        st.warning(f"{len(gaps)} raw table(s) have gaps; re-run `chargeback collect` for the missing days.")
    st.plotly_chart(quality.coverage(coverage), key="coverage")
    st.dataframe(coverage, hide_index=True, column_config=quality.COVERAGE_COLUMNS)

st.header("Estimated days")
estimated_days = view.estimated_days()
if estimated_days.is_empty():
    st.success(f"None: the CUR covers every node-day of {view.period}.")
else:
    st.warning(
        f"{quality.estimated_day_count(estimated_days)} day(s) priced from Cost Explorer at on-demand rates until the "
        "CUR lands: run `chargeback collect --source cur`, then `chargeback build`."
    )
    st.dataframe(
        estimated_days,
        hide_index=True,
        column_config={
            "date": st.column_config.DateColumn("Date"),
            "estimate_source": "Estimated from",
            "node_hours": "Node-hours",
            **money_columns({"cost": "Cost"}, cur),
        },
    )
