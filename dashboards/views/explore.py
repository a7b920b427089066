"""Explore: costs over any days, grouped by tenant, cluster, namespace, workload (its owner) or any pod label, per
day or month; the same figures as `chargeback costs`. The choices are kept in the address, so a view can be
shared as a link."""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from chargeback.core.periods import days_in, first_day
from dashboards import state
from dashboards.charts import explore
from dashboards.charts.common import money, money_columns

DIMENSIONS = {
    "tenant": "Tenant",
    "cluster": "Cluster",
    "namespace": "Namespace",
    "workload": "Workload (owner)",
    "label": "Pod label",
}
EVERY = {"day": "Day", "month": "Month"}

view = state.view()
cur = view.currency
st.title("Explore costs")
state.method_caption(view)
bounds = view.cost_days()
if bounds is None:
    st.info("The warehouse holds no daily costs yet: run `chargeback build`.")
    st.stop()
first, last = bounds
month_start = max(first_day(view.period), first)
month_end = min(first_day(view.period) + timedelta(days=days_in(view.period) - 1), last)


def _days(text: str) -> tuple[date, date]:
    start, _, end = text.partition("..")
    found = (date.fromisoformat(start), date.fromisoformat(end))
    if not first <= found[0] <= found[1] <= last:
        raise ValueError(text)
    return found


left, middle, right = st.columns([2, 2, 1])
with left:
    chosen = state.url_widget(
        "days", st.date_input, "Days", default=(month_start, month_end), min_value=first, max_value=last,
        decode=_days, encode=lambda v: f"{v[0]}..{v[1]}" if len(v) == 2 else None,
        help=f"Any days from {first} to {last}, both included; the sidebar's period sets the default.",
    )  # fmt: skip
with middle:
    kind = state.url_widget(
        "by", st.selectbox, "Group by", list(DIMENSIONS), default="tenant", format_func=DIMENSIONS.get,
        decode=lambda t: t if t in DIMENSIONS else None,
    )  # fmt: skip
with right:
    every = state.url_widget(
        "every", st.radio, "Every", list(EVERY), default="day", format_func=EVERY.get, horizontal=True,
        decode=lambda t: t if t in EVERY else None,
    )  # fmt: skip
if len(chosen) != 2:
    st.info("Pick the range's last day too.")
    st.stop()
start, end = chosen
by = kind
if kind == "label":
    keys = view.label_keys(start, end)
    if not keys:
        st.info(f"No pod labels were collected for pods that ran {start} to {end}.")
        st.stop()
    default = next((k for k in ("app.kubernetes.io/name", "app") if k in keys), keys[0])
    key = state.url_widget(
        "label", st.selectbox, "Label", keys, default=default, decode=lambda t: t if t in keys else None,
        help="Kubernetes pod labels that kube-state-metrics exports (its --metric-labels-allowlist).",
    )  # fmt: skip
    by = f"label:{key}"
else:
    st.query_params.pop("label", None)  # a label is the address's only when grouping by one

found = view.costs(start, end, by)
scope = f"{view.cluster or 'all clusters'}" + (f", tenant {view.tenant}" if view.tenant else "")
command = (
    f"chargeback costs --from {start} --to {end} --by {by}"
    + (f" --cluster {view.cluster}" if view.cluster else "")
    + (f" --tenant {view.tenant}" if view.tenant else "")
)
st.metric(f"{start} to {end} · {scope}", money(found.total() if not found.rows.is_empty() else 0, cur), border=True)
st.caption(
    "Each month is its bill broken down in whole cents, by group then by day (`"
    + command
    + "`). "
    + found.coverage()
    + ". *(rest of the bill)* is what a line holds beyond its groups: shared costs, EMR charges, tagged resources,"
    " and for a label the pods without it."
)
if found.rows.is_empty():
    st.info("No costs in these days for this view.")
    st.stop()
st.plotly_chart(
    explore.trend(found.series(every), every, cur, f"Cost by {EVERY[every].lower()} and {DIMENSIONS[kind].lower()}"),
    key="explore_trend",
)
frame, titles = explore.table(found.table())
st.dataframe(
    frame,
    hide_index=True,
    column_config={
        "group": DIMENSIONS[kind] if kind != "label" else f"Label {by.removeprefix('label:')}",
        "tenant": "Tenant",
        "namespace": "Namespace",
        **money_columns(titles, cur),
    },
)
st.download_button(
    "Download CSV",
    frame.write_csv(),
    file_name=f"chargeback-costs-{start}-{end}.csv",
    mime="text/csv",
    on_click="ignore",
    icon=":material/download:",
    help=f"`{command} --format csv` prints the same figures",
)
