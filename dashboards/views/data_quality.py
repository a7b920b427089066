"""Data quality: what the checks counted, the raw rows the validation rules corrected or ignored, the waterfall
from the CUR's total to the bill (with AWS's split cost allocation data against this allocation), the raw files
the build did not read, the CUR reconciled against Cost Explorer per day, collector coverage and gaps, and
estimated (pre-CUR) days."""

from __future__ import annotations

import streamlit as st

from chargeback.core.errors import ChargebackError
from dashboards import state
from dashboards.charts import quality
from dashboards.charts import reconcile as waterfall_charts
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

st.header("From the CUR to the bill")
try:
    rec = view.waterfall()
except ChargebackError as exc:
    st.info(str(exc), icon=":material/waterfall_chart:")
    rec = None
if rec is not None:
    st.caption(
        f"Every CUR line of {view.period} in exactly one row (checked on every build): the CUR's unblended total, what"
        " is out of scope and why, the difference the cost basis makes, the in-scope cost by category, then the bill's"
        f" lines as billed. `chargeback reconcile --period {view.period}` prints the same rows, to the cent."
        + (f" Cluster {view.cluster}: its in-scope lines and bill lines, from the whole CUR." if view.cluster else "")
    )
    columns = st.columns(4)
    columns[0].metric("CUR total (unblended)", money(rec.row("cur").amount, cur), border=True)
    columns[1].metric(f"In scope ({rec.cost_basis})", money(rec.row("in_scope").amount, cur), border=True)
    columns[2].metric("Billed", money(rec.row("billed").amount, cur), border=True)
    share = rec.coverage.share
    columns[3].metric(
        "Coverage",
        "–" if share is None else f"{share * 100:.2f}%",
        help="the share of what the bill distributes that reached a tenant's line (not __idle__, __unallocated__, or"
        " shared cost kept on __shared__; shared cost spread to tenants counts)",
        border=True,
    )
    st.plotly_chart(waterfall_charts.waterfall(rec, cur), key="waterfall")
    st.plotly_chart(waterfall_charts.composition(rec, cur), key="waterfall_composition")
    st.dataframe(waterfall_charts.rows_table(rec), hide_index=True, column_config=waterfall_charts.row_columns(cur))
    st.subheader("AWS's split cost allocation data")
    if not rec.split:
        st.info(
            f"The CUR carries no split cost allocation data (EKSPod-EC2 rows) for {view.period}: nothing to compare."
            " With split cost allocation data turned on for EKS, this compares AWS's split per namespace and day"
            " with this allocation.",
            icon=":material/compare_arrows:",
        )
    else:
        st.caption(waterfall_charts.split_differences(rec))
        st.dataframe(
            waterfall_charts.split_table(rec), hide_index=True, column_config=waterfall_charts.split_columns(cur)
        )

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
        "other services' costs included), on the amortized basis without the Savings Plan and RI fee and negation"
        " lines and AWS's split rows: not billed money, and not the waterfall's CUR total above (every line,"
        " unblended). The bill adds up to the in-scope part of the CUR, the Overview's *Source bill*; the waterfall"
        " above shows which lines that is."
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
