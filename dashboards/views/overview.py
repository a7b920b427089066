"""Overview: the month's total against the source bill, where it went, by day, against last month, and
whether the numbers can be trusted (invariants, freshness)."""

from __future__ import annotations

import streamlit as st

from chargeback.core.money import to_cents
from chargeback.core.periods import previous_period
from dashboards import state
from dashboards.charts import bills, quality
from dashboards.charts import reconcile as waterfall_charts
from dashboards.charts.common import money, money_columns

view = state.view()
bill = view.bill()
frame = bills.bill_frame(bill)
cur = view.currency

st.title(f"Overview · {view.period}")
st.caption(
    f"{view.cluster or 'All clusters'} · "
    + ("every tenant and the idle, shared and unallocated lines" if view.viewer.sees_everything else "your tenants")
    + (" · the tenant filter applies to the tenant bill and EMR jobs" if view.tenant else "")
)
state.method_caption(view)
state.cur_notice(bill, cur)

split = bills.bill_split_totals(bill)
if view.viewer.sees_everything:
    gap = bill.total - to_cents(bill.source_total + bill.adjustments)  # adjustments correct closed months
    columns = st.columns(3)
    columns[0].metric("Total billed", money(bill.total, cur), border=True)
    columns[1].metric(
        "Source bill (in-scope CUR)",
        money(bill.source_total, cur),
        help="The reconciliation's row *Source total* (Data quality, From the CUR to the bill): the in-scope CUR"
        " cost plus the estimates for node-days the CUR does not cover yet.",
        border=True,
    )
    columns[2].metric(
        "Billed minus source",
        money(gap, cur),
        delta="matches to the cent" if abs(gap) < 0.005 else "does not match: see Data quality",
        delta_color="green" if abs(gap) < 0.005 else "red",
        delta_arrow="off",
        border=True,
    )
    rec = state.waterfall(view)
    if rec is not None:
        st.caption(f"*Source bill* is {waterfall_charts.source_sentence(rec, cur)}.")
        state.reconciliation_link(view, "From the CUR to the bill: every CUR dollar in one row")
    columns = st.columns(4)
    columns[0].metric("Tenants", money(split["tenants"], cur), border=True)
    columns[1].metric("Shared (kept)", money(split["shared"], cur), border=True)
    columns[2].metric("Idle (unshared)", money(split["idle"], cur), border=True)
    columns[3].metric("Unallocated", money(split["unallocated"], cur), border=True)
else:
    columns = st.columns(3)
    columns[0].metric("Total billed", money(bill.total, cur), border=True)
    columns[1].metric("Tenants", money(split["tenants"], cur), border=True)
    columns[2].caption(f"The source bill and the idle, shared and unallocated lines: {state.ALL_ACCESS_NOTE.lower()}")

st.subheader("Bill lines")
st.dataframe(
    bills.bill_lines_table(frame),
    hide_index=True,
    column_config={"line": "Line", **money_columns(bills.bill_columns(bill), cur)},
)
left, right = st.columns(2)
with left:
    st.plotly_chart(bills.bill_split(frame, cur), key="bill_split")
with right:
    st.plotly_chart(bills.daily_trend(view.daily_trend(), cur), key="daily_trend")

st.subheader("Budgets and forecast")
months = view.budget_months()
if months.is_empty():
    st.info("No tenant of yours has costs this month.")
else:
    st.caption(
        "Each tenant's bill so far, where the month is heading (the rest of the month at the mean cost of the same"
        f" weekday over the last weeks) and its `[[budgets]]` budget: `chargeback budgets --period {view.period}`"
        + (f" (cluster {view.cluster}'s part)." if view.cluster else ".")
    )
    st.dataframe(
        months,
        hide_index=True,
        column_config={
            "tenant": "Tenant",
            **money_columns({"cost_to_date": "Cost to date", "forecast": "Forecast", "budget": "Budget"}, cur),
            "forecast_share": st.column_config.ProgressColumn(
                "Forecast ÷ budget",
                format="percent",
                min_value=0,
                max_value=max(1.0, months["forecast_share"].max() or 0),
            ),
        },
    )

st.subheader("Efficiency")
usage = view.efficiency()
if not usage.is_empty():
    st.caption(
        "How much of what each tenant requests it uses, and what the rest costs: of its compute, the part that paid "
        "for requested CPU and memory it did not use (a pod-hour is priced on the larger of request and usage), and "
        f"its idle share, which follows requests too (`chargeback efficiency --period {view.period}`)."
    )
    state.efficiency_table(usage, cur, {"tenant": "Tenant"})

st.subheader("Month over month")
mom = view.month_over_month()
previous = previous_period(view.period)
if not bills.has_previous(mom):
    st.info(
        f"No data for {previous}: the warehouse holds no bill for it, so there is nothing to compare "
        f"{view.period} with (not a change from $0).",
        icon=":material/event_busy:",
    )
else:
    st.caption(f"Each line as billed in {view.period} against {previous} (`chargeback bill --period {previous}`).")
left, right = st.columns([2, 3])
with left:
    st.plotly_chart(bills.month_over_month(mom, cur, previous), key="month_over_month")
with right:
    st.dataframe(
        bills.month_over_month_table(mom),
        hide_index=True,
        column_config={
            "line": "Line",
            **money_columns({"this_month": "This month", "previous_month": "Last month", "change": "Change"}, cur),
            "change_pct": st.column_config.NumberColumn("Change %", format="percent"),
        },
    )

st.subheader("Can these numbers be trusted?")
checks = view.checks()
holds, summary = quality.checks_summary(checks, view.period)
if checks.is_empty():
    st.info("No checks recorded for this period: run `chargeback build` to evaluate them.")
elif holds:
    st.success(summary, icon=":material/check_circle:")
else:
    st.error(f"{summary} See Data quality.", icon=":material/error:")
st.dataframe(quality.checks_table(checks), hide_index=True, column_config=quality.CHECK_COLUMNS, height="content")

st.subheader("Freshness")
freshness = view.freshness()
if not freshness.is_empty():
    st.dataframe(freshness, hide_index=True, column_config=quality.FRESHNESS_COLUMNS)
else:
    st.info(
        "No collection runs recorded: this warehouse was built from files already on disk (the demo does this). "
        "Run `chargeback collect` to fetch each source and record how far it is complete.",
        icon=":material/schedule:",
    )
    if view.viewer.sees_everything:
        st.caption("Days landed per raw table:")
        st.dataframe(view.coverage(), hide_index=True, column_config=quality.COVERAGE_COLUMNS)
