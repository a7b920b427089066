"""The sidebar filters (period, cluster, tenant) kept in the URL, and the page's view of the warehouse.

A view can be shared as a link: the filters live in ``st.query_params`` (``?period=2026-10&tenant=ml``).
An address that names a value the viewer may pick selects it; the widgets then write their values back,
on every page, so the address always says what the page shows.

``View`` is what pages read from: its methods call ``dashboards.data`` through ``st.cache_data``,
keyed on the warehouse's version (a new build is a new key) and on the tenants the viewer may see. The cache
pickles what a call returns (polars frames, the reports' dataclasses) and hands each run its own copy.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import polars as pl
import streamlit as st

from chargeback.build.freshness import ClusterFreshness
from chargeback.core.errors import ChargebackError
from chargeback.reports.bill import Bill
from dashboards import data, data_capacity, data_explore
from dashboards.charts.common import money, money_columns
from dashboards.data import Warehouse
from dashboards.identity import Viewer

CACHE_TTL_SECONDS = 300
PARAMS = ("period", "cluster", "tenant")
ALL = "*"  # the "every cluster / every tenant" choice (a selectbox treats None as "nothing chosen")
_VIEW_KEY = "_chargeback_view"
_WRITTEN_KEY = "_chargeback_url_written"  # what the widgets last wrote to the address
ALL_ACCESS_NOTE = "Visible to finance and the platform team."
NO_WAREHOUSE = (
    "No warehouse yet. Run `chargeback demo` to build the sample month, or `chargeback collect` and then "
    "`chargeback build` for your own cluster; this page reads the published warehouse."
)
NO_METHOD = "not recorded (this warehouse was built before methods were recorded: run `chargeback build`)"
CLOSED = (
    "{period} is closed (since {closed_at}): this is its bill as it was closed, under method {method}, and it does "
    "not change. What later data changes in it is billed as adjustments in a later month."
)
CORRECTED = (
    "This month's adjustments correct closed month(s) {periods}: what later data (a restated CUR, late metrics, a "
    "relabel) changed in their bills."
)
STALE = (
    "Cluster {cluster} is stale: {reason}. Its figures for {period} stop there and will grow when its collection "
    "catches up (`chargeback status` says what failed); the other clusters are up to date."
)
NO_CUR = (
    "The CUR does not cover {period} yet: {estimated} of it is estimated at on-demand prices from Cost "
    "Explorer. Run `chargeback collect --source cur` (then `chargeback build`) once the export has landed."
)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner="Reading the warehouse…", max_entries=512)
def _read(name: str, path: str, version: float, scope: tuple[str, ...] | None, args: tuple, _wh, _viewer):
    """One ``dashboards.data`` call; ``path``, ``version`` and ``scope`` are only there to key the cache."""
    reader = next(getattr(m, name) for m in (data, data_capacity, data_explore) if hasattr(m, name))
    if "viewer" in inspect.signature(reader).parameters:
        return reader(_wh, _viewer, *args)
    return reader(_wh, *args)


def read(wh: Warehouse, viewer: Viewer, name: str, *args):
    scope = None if viewer.sees_everything else tuple(sorted(viewer.tenants or ()))
    return _read(name, str(wh.path), wh.version(), scope, args, _wh=wh, _viewer=viewer)


def no_access(viewer: Viewer) -> bool:
    """Nobody recognised, or nobody mapped to any tenant: no data at all."""
    return not viewer.sees_everything and not viewer.tenants


@dataclass(frozen=True)
class View:
    """Who is looking at which slice of which warehouse; every read goes through the cache."""

    wh: Warehouse
    viewer: Viewer
    period: str
    cluster: str | None
    tenant: str | None
    currency: str

    def _read(self, name: str, *args):
        return read(self.wh, self.viewer, name, *args)

    def bill(self, tenant: str | None = None) -> Bill:
        return self._read("bill", self.period, self.cluster, tenant)

    def daily_trend(self) -> pl.DataFrame:
        return self._read("daily_trend", self.period, self.cluster)

    def month_over_month(self) -> pl.DataFrame:
        return self._read("month_over_month", self.period, self.cluster)

    def checks(self) -> pl.DataFrame:
        frame = self._read("checks", self.period)
        if self.cluster is None:
            return frame
        return frame.filter((pl.col("cluster") == self.cluster) | pl.col("cluster").is_null())

    def freshness(self) -> pl.DataFrame:
        return self._read("freshness")

    def budget_months(self) -> pl.DataFrame:
        return self._read("budget_months", self.period, self.cluster)

    def anomalies(self, tenant: str | None = None) -> pl.DataFrame:
        return self._read("anomalies", self.period, self.cluster, tenant)

    def efficiency(self, tenant: str | None = None, grain: str = "tenant") -> pl.DataFrame:
        return self._read("efficiency", self.period, self.cluster, tenant, grain)

    def costs(self, start, end, by: str):
        """``chargeback.reports.costs.Costs`` of the days ``start`` to ``end`` by ``by``, in the view's cluster and
        tenant (`chargeback costs`)."""
        return self._read("costs", start, end, by, self.cluster, self.tenant)

    def cost_days(self):
        return self._read("cost_days")

    def label_keys(self, start, end) -> list[str]:
        return self._read("label_keys", start, end)

    def by_cluster(self, tenant: str | None = None) -> pl.DataFrame:
        return self._read("by_cluster", self.period, tenant)

    def stale_clusters(self) -> list[ClusterFreshness]:
        """The stale clusters this view shows (its cluster, or every one) whose data stops before the end of
        its month: their figures for it are incomplete."""
        return [
            f
            for f in self._read("cluster_freshness")
            if f.stale
            and self.cluster in (None, f.cluster)
            and (f.last_hour is None or f"{f.last_hour:%Y-%m}" <= self.period)
        ]

    def method(self) -> dict | None:
        return self._read("method")

    def workloads(self, tenant: str) -> pl.DataFrame:
        return self._read("workloads", self.period, tenant, self.cluster)

    def emr_jobs(self, tenant: str | None = None) -> pl.DataFrame:
        return self._read("emr_jobs", self.period, self.cluster, tenant)

    def node_groups(self) -> pl.DataFrame:
        return self._read("node_groups", self.period, self.cluster)

    def dedicated_nodes(self) -> pl.DataFrame:
        return self._read("dedicated_nodes", self.period, self.cluster)

    def cross_tenant_pods(self) -> pl.DataFrame:
        return self._read("cross_tenant_pods", self.period, self.cluster)

    def corrections(self) -> pl.DataFrame:
        return self._read("corrections", self.period, self.cluster)

    def raw_file_issues(self) -> pl.DataFrame:
        return self._read("raw_file_issues")

    def reconciliation(self) -> pl.DataFrame:
        return self._read("reconciliation", self.period)

    def waterfall(self):
        """``chargeback.reports.reconcile.Reconciliation`` of the period (cluster); all-access viewers only."""
        return self._read("waterfall", self.period, self.cluster)

    def coverage(self) -> pl.DataFrame:
        return self._read("coverage")

    def estimated_days(self) -> pl.DataFrame:
        return self._read("estimated_days", self.period, self.cluster)

    def quota_report(self):
        """``chargeback.reports.quotas.QuotaReport`` (None: no quota use in the period); all-access viewers only."""
        return self._read("quota_report", self.period, self.cluster)

    def capacity_report(self):
        """``chargeback.reports.capacity.CapacityReport`` (None: no node-hours in the period); all-access only."""
        return self._read("capacity_report", self.period, self.cluster)

    def quota_use_hourly(self, namespace: str, resource: str) -> pl.DataFrame:
        return self._read("quota_use_hourly", self.period, self.cluster, namespace, resource)

    def rightsizing(self):
        """``chargeback.reports.rightsize.RightsizeReport`` of the viewer's tenants' workloads."""
        return self._read("rightsizing", self.period, self.cluster, self.tenant)

    def limit_violations(self) -> pl.DataFrame:
        return self._read("limit_violations", self.cluster, self.tenant)

    def job_quota_fits(self) -> pl.DataFrame:
        return self._read("job_quota_fits", self.cluster, self.tenant)


# --- the sidebar ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unknown:
    """An address naming a value that is not one of a filter's choices (``?period=1999-01``)."""

    param: str
    value: str


def _write_choice(param: str, key: str) -> None:
    """The viewer picked a value: the address follows it before the script reruns."""
    value = st.session_state[key]
    if value == ALL or value is None:
        if param in st.query_params:
            del st.query_params[param]
    else:
        st.query_params[param] = value
    st.session_state.setdefault(_WRITTEN_KEY, {})[param] = value


def _pick(param: str, label: str, options: list, default, fmt) -> str | None | Unknown:
    """A sidebar selectbox whose value follows the address when the address names a valid choice. An address
    naming anything else leaves the box empty and returns ``Unknown``: the page says so instead of showing
    another month or tenant."""
    key = f"filter_{param}"
    written = st.session_state.setdefault(_WRITTEN_KEY, {})
    in_url = st.query_params.get(param)
    if in_url is not None and in_url not in options:
        st.session_state[key] = None
        choose = {"placeholder": "Choose one", "on_change": _write_choice, "args": (param, key)}
        st.sidebar.selectbox(label, options, key=key, format_func=fmt, **choose)
        return Unknown(param, in_url)
    if key not in st.session_state or st.session_state[key] not in options:
        st.session_state[key] = in_url if in_url in options else default
    elif in_url is not None and in_url != written.get(param):
        st.session_state[key] = in_url  # the address changed (a pasted link, the back button)
    value = st.sidebar.selectbox(label, options, key=key, format_func=fmt, on_change=_write_choice, args=(param, key))
    if value == ALL:
        if param in st.query_params:
            del st.query_params[param]
    elif st.query_params.get(param) != value:
        st.query_params[param] = value
    written[param] = value
    return None if value == ALL else value


def _write_page_param(param: str, key: str, encode) -> None:
    value = st.session_state[key]
    text = None if value is None else encode(value)
    if text is None:
        st.query_params.pop(param, None)
    else:
        st.query_params[param] = text
    st.session_state.setdefault(_WRITTEN_KEY, {})[param] = text


def url_widget(param: str, widget, label: str, *args, default=None, decode=str, encode=str, **kwargs):
    """A page's own widget (``st.selectbox``, ``st.radio``, ``st.date_input``…) whose value is kept in the address as
    ``param``, like the sidebar's filters: an address naming a value ``decode`` accepts (it returns None, or raises
    ``ValueError``, for one it does not) selects it; the widget writes its value back (``encode``; None removes
    the parameter), so the address always says what the page shows and a drill-down can be shared as a link."""
    key = f"page_{param}"
    written = st.session_state.setdefault(_WRITTEN_KEY, {})
    in_url = st.query_params.get(param)
    try:
        wanted = None if in_url is None else decode(in_url)
    except ValueError:
        wanted = None
    if key not in st.session_state:
        st.session_state[key] = wanted if wanted is not None else default
    elif in_url is not None and in_url != written.get(param) and wanted is not None:
        st.session_state[key] = wanted  # the address changed (a pasted link, the back button)
    options = args[0] if args and isinstance(args[0], list | tuple) else None
    if options is not None and st.session_state[key] is not None and st.session_state[key] not in options:
        st.session_state[key] = default  # e.g. another tenant's namespace: not a choice here
    value = widget(label, *args, key=key, on_change=_write_page_param, args=(param, key, encode), **kwargs)
    text = None if value is None else encode(value)
    if text is None:
        st.query_params.pop(param, None)
    elif st.query_params.get(param) != text:
        st.query_params[param] = text
    written[param] = text
    return value


def _choices(options: list, most: int = 12) -> str:
    shown = ", ".join(str(o) for o in options[:most])
    return shown + (f" and {len(options) - most} more" if len(options) > most else "")


def unknown_choice(unknown: Unknown, options: list, why: str) -> None:
    """Say that the address names a value that is not a choice, why, and which are, instead of showing another."""
    st.error(
        f"The address asks for {unknown.param} {unknown.value!r}: {why}. Choose one in the sidebar "
        f"({_choices(options) or 'there are none'}).",
        icon=":material/link_off:",
    )


def sidebar(wh: Warehouse, viewer: Viewer) -> View | None:
    """Draw the filters and remember the view for the page; None (and a message) when there is nothing, or
    when the address names a period, cluster or tenant that is not a choice."""
    st.session_state.pop(_VIEW_KEY, None)
    if viewer.open_demo:
        st.sidebar.warning("No identity configured: everyone sees every tenant.", icon=":material/lock_open:")
    elif viewer.sees_everything:
        st.sidebar.caption(f"Signed in as {viewer.name} · every tenant")
    else:
        st.sidebar.caption(f"Signed in as {viewer.name} · {', '.join(sorted(viewer.tenants or ()))}")
    try:
        periods = read(wh, viewer, "periods")
    except data.NoWarehouse:
        st.info(NO_WAREHOUSE, icon=":material/database:")
        return None
    if not periods:
        st.info(
            "The warehouse holds no costs yet. Run `chargeback collect` for at least one day of "
            "Prometheus and CUR (or Cost Explorer) data, then `chargeback build`.",
            icon=":material/database:",
        )
        return None
    period = _pick("period", "Period", periods, periods[0], str)
    if isinstance(period, Unknown):
        unknown_choice(period, periods, "the warehouse has no bill for it")
        return None
    clusters = read(wh, viewer, "clusters", period)
    all_clusters = lambda c: "All clusters" if c == ALL else c  # noqa: E731
    cluster = _pick("cluster", "Cluster", [ALL, *clusters], ALL, all_clusters)
    if isinstance(cluster, Unknown):
        unknown_choice(cluster, clusters, f"no cluster of that name has costs in {period}")
        return None
    tenants = read(wh, viewer, "tenants", period, cluster)
    if viewer.sees_everything:
        tenant_options, default = [ALL, *tenants], ALL
    elif len(tenants) > 1:
        tenant_options, default = [*tenants, ALL], tenants[0]
    else:
        tenant_options, default = tenants, (tenants[0] if tenants else ALL)
    scope = f"{period}{f' on {cluster}' if cluster else ''}"
    if tenant_options:
        everyone = "All tenants" if viewer.sees_everything else "All my tenants"
        tenant = _pick("tenant", "Tenant", tenant_options, default, lambda t: everyone if t == ALL else t)
        if isinstance(tenant, Unknown):
            mine = "" if viewer.sees_everything else " of yours"
            unknown_choice(tenant, tenants, f"no tenant{mine} of that name has costs in {scope}")
            return None
    else:
        tenant = None
        st.sidebar.info(f"Your tenants have no costs in {scope}.")
    st.sidebar.caption("The address keeps these filters: copy it to share this view.")
    currency = read(wh, viewer, "bill", period, cluster, None).currency
    view = View(wh, viewer, period, cluster, tenant, currency)
    st.session_state[_VIEW_KEY] = view
    return view


def view() -> View:
    """The view the sidebar drew for this run (pages run after the sidebar)."""
    current = st.session_state.get(_VIEW_KEY)
    if current is None:
        st.info(NO_WAREHOUSE)
        st.stop()
    return current


def all_access_note(what: str) -> None:
    st.info(f"{what}: {ALL_ACCESS_NOTE[0].lower()}{ALL_ACCESS_NOTE[1:]}", icon=":material/lock:")


def method_caption(view: View) -> None:
    """Say which allocation method produced the page's figures: a caption with its summary and fingerprint,
    its settings in an expander, and (for all-access viewers) a warning when the dashboard's configuration
    has another method than the published build, whose figures these are. Every page calls it under its title."""
    stale_notice(view)
    recorded = view.method()
    if recorded is None:
        st.caption(f"Method: {NO_METHOD}")
        return
    st.caption(f"Method: {recorded['summary']}")
    if recorded["changes"]:
        st.warning(
            "The dashboard's configuration has another allocation method than the published build ("
            + "; ".join(recorded["changes"])
            + "). These figures are the published build's; `chargeback build --accept-method-change` publishes"
            " the configured method.",
            icon=":material/rule:",
        )
    with st.expander(f"Method {recorded['fingerprint']}: settings"):
        if not view.viewer.sees_everything:
            st.caption(f"The tenancy rules: {ALL_ACCESS_NOTE[0].lower()}{ALL_ACCESS_NOTE[1:]}")
        st.json(recorded["settings"])


def stale_notice(view: View) -> None:
    """Warn that the figures of a stale cluster (its data behind the others', or its collection failing) are
    incomplete for the month; every page shows it, under its title."""
    for found in view.stale_clusters():
        st.warning(
            STALE.format(cluster=found.cluster, period=view.period, reason=found.reason()),
            icon=":material/sync_problem:",
        )


def cur_notice(bill: Bill, currency: str) -> None:
    """Say when the period is (partly) estimated, i.e. the CUR has not landed for it; and when it is closed
    or its bill corrects closed months (``closed_notice``)."""
    closed_notice(bill)
    if bill.estimated:
        message = NO_CUR.format(period=bill.period, estimated=money(bill.estimated, currency))
        if bill.estimated >= bill.source_total:
            st.warning(message, icon=":material/hourglass_empty:")
        else:
            st.info(message, icon=":material/hourglass_top:")


def closed_notice(bill: Bill) -> None:
    """Say when the period is closed (its bill is the frozen one) and which closed months its adjustments
    correct (docs/method.md#closed-periods-and-adjustments)."""
    if bill.closed_at:
        closed = CLOSED.format(period=bill.period, closed_at=bill.closed_at, method=bill.method_line())
        st.info(closed, icon=":material/lock:")
    if bill.corrected_periods:
        st.info(CORRECTED.format(periods=", ".join(bill.corrected_periods)), icon=":material/published_with_changes:")


RECONCILIATION_PAGE = "views/data_quality.py"  # where the waterfall from the CUR to the bill is drawn


def waterfall(view: View):
    """The period's ``Reconciliation`` for an all-access viewer, else None (and for a warehouse that cannot
    reconcile the period, e.g. one built before the reconciliation: None, the page goes on without it)."""
    if not view.viewer.sees_everything:
        return None
    try:
        return view.waterfall()
    except ChargebackError:
        return None


def reconciliation_link(view: View, label: str) -> None:
    """A link to the waterfall (Data quality, *From the CUR to the bill*) for the same period and cluster."""
    params = {name: value for name, value in (("period", view.period), ("cluster", view.cluster)) if value}
    st.page_link(RECONCILIATION_PAGE, label=label, icon=":material/waterfall_chart:", query_params=params)


def efficiency_table(frame, cur: str, first: dict[str, str]) -> None:
    """The efficiency table (``view.efficiency``): used over requested as percentages, amounts in money."""
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            **first,
            "cpu_efficiency": st.column_config.NumberColumn("CPU used ÷ requested", format="percent"),
            "memory_efficiency": st.column_config.NumberColumn("Memory used ÷ requested", format="percent"),
            **money_columns(
                {"compute": "Compute", "unused_requests": "Of it unused requests", "idle_share": "Idle share"}, cur
            ),
        },
    )
