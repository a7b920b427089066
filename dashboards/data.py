"""Data access for the dashboard: the published warehouse's marts only, read-only, per request.

Every function takes the ``Viewer`` and applies its tenant filter in SQL, so a restricted viewer's
rows never leave this module, whatever a page does with its widgets. Queries are parameterised
(``$name``), never formatted from widget values. Each call opens the published file read-only and
closes it, so a running build can publish a new warehouse (``os.replace``) at any moment: a reader
sees the old file or the new one, and never holds a lock the builder needs. No Streamlit here.

Tables come back as polars frames (DuckDB's ``.pl()``), the reports (``bill``, ``quota_report``,
``capacity_report``, ``rightsizing``, ``waterfall``) as the library's own objects. What is billed is the ``Bill`` of
``chargeback.reports.bill``; a page's billed figures are its lines and parts, or breakdowns of them (by day,
namespace, workload, EMR job run) in cents that add up to them (``chargeback.reports.breakdown``), read here
as exact decimals and handed to pages as ``double`` dollars. Other money (node cost before the split, idle
before it is shared, CUR totals) is cast to ``double`` as read. Sums of counts are cast to ``bigint``: DuckDB
sums a BIGINT into a HUGEINT, which polars would read as a 38-digit decimal.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl

from chargeback.build import method as method_module
from chargeback.build.closed import closed_root
from chargeback.build.freshness import ClusterFreshness, read_freshness
from chargeback.build.warehouse import read_only
from chargeback.core.config import SENTINELS, Config
from chargeback.core.errors import DataError
from chargeback.core.periods import end as period_end
from chargeback.core.periods import first_day, previous_period
from chargeback.reports import breakdown
from chargeback.reports import clusters as clusters_module
from chargeback.reports.anomalies import detect, last_complete_day
from chargeback.reports.bill import Bill, monthly_bill
from chargeback.reports.budgets import tenant_months
from chargeback.reports.efficiency import efficiency as efficiency_report
from chargeback.reports.reconcile import Reconciliation, reconcile
from dashboards.identity import Viewer

# Rows of tenants the viewer may see: every tenant (null list) or the listed ones; sentinel lines
# (__idle__, __shared__, __unallocated__) belong to nobody and are shown to all-access viewers only.
TENANT_FILTER = "($tenants::varchar[] is null or list_contains($tenants::varchar[], tenant))"
CLUSTER_FILTER = "($cluster::varchar is null or cluster = $cluster::varchar)"


class NoWarehouse(DataError):
    """No build has been published yet."""


@dataclass(frozen=True)
class Warehouse:
    config: Config

    @property
    def path(self) -> Path:
        return self.config.warehouse_path

    def version(self) -> float:
        """Changes whenever a build publishes or a month is closed (its bill is then the frozen one): a cache
        key for query results."""
        marks = (p.stat().st_mtime for p in (self.path, closed_root(self.config.data_dir)) if p.exists())
        return max(marks, default=0.0)

    def require(self) -> None:
        """Raise ``NoWarehouse`` until a build has published one."""
        if not self.path.is_file():
            raise NoWarehouse(f"no warehouse at {self.path} yet: run `chargeback build` (or `chargeback demo`)")

    def query(self, sql: str, params: dict | None = None) -> pl.DataFrame:
        """The rows of ``sql`` (``$name`` parameters from ``params``) as a polars frame."""
        return self.queries((sql, params))[0]

    def queries(self, *queries: tuple[str, dict | None]) -> list[pl.DataFrame]:
        """Each ``(sql, params)``'s rows, read through one connection (opening the warehouse costs ~40 ms)."""
        self.require()
        with read_only(self.path) as con:
            return [con.sql(sql, params=params or {}).pl() for sql, params in queries]


def scope(viewer: Viewer, cluster: str | None = None, **more) -> dict:
    tenants = None if viewer.sees_everything else sorted(viewer.tenants or ())
    return {"tenants": tenants, "cluster": cluster, **more}


# --- choices for the sidebar ----------------------------------------------------------------------


# Bill lines of every month: its costs and the adjustments booked in it (a month may hold only adjustments).
BILL_LINES = """(
    select period, cluster, tenant, is_sentinel from marts.fct_tenant_costs_daily
    union all
    select period, cluster, tenant, is_sentinel from marts.fct_adjustments
)"""


def periods(wh: Warehouse) -> list[str]:
    frame = wh.query(f"select distinct period from {BILL_LINES} order by period desc")
    return frame["period"].to_list()


def clusters(wh: Warehouse, period: str) -> list[str]:
    frame = wh.query(
        f"select distinct cluster from {BILL_LINES} where period = $period order by cluster",
        {"period": period},
    )
    return frame["cluster"].to_list()


def tenants(wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None) -> list[str]:
    frame = wh.query(
        f"""select distinct tenant from {BILL_LINES}
        where period = $period and not is_sentinel and {CLUSTER_FILTER} and {TENANT_FILTER} order by tenant""",
        scope(viewer, cluster, period=period),
    )
    return frame["tenant"].to_list()


# --- overview and bills ---------------------------------------------------------------------------


_BILLS: dict[tuple, Bill] = {}
_BILLS_LOCK = threading.Lock()
_BILLS_KEPT = 16


def published_bill(wh: Warehouse, period: str, cluster: str | None) -> Bill:
    """``monthly_bill`` once per published warehouse, period and cluster: a page's breakdowns each start from it
    (the key holds the warehouse's version, so a new build is a new bill)."""
    key = (str(wh.path), wh.version(), period, cluster)
    with _BILLS_LOCK:
        found = _BILLS.get(key)
    if found is None:
        found = monthly_bill(wh.config, period, cluster=cluster)
        with _BILLS_LOCK:
            while len(_BILLS) >= _BILLS_KEPT:
                _BILLS.pop(next(iter(_BILLS)))
            _BILLS[key] = found
    return found


def bill(wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None, tenant: str | None = None) -> Bill:
    """The period's bill, exactly as `chargeback bill` prints it (a closed month's frozen bill, its
    ``closed_at`` set), narrowed to what the viewer may see."""
    if tenant is not None and not viewer.allowed(tenant):
        raise PermissionError(f"{viewer.name} may not see tenant {tenant!r}")
    full = published_bill(wh, period, cluster)
    lines = tuple(
        line
        for line in full.lines
        if (tenant is None or line.tenant == tenant)
        and (viewer.sees_everything or (line.tenant not in SENTINELS and viewer.allowed(line.tenant)))
    )
    total = sum((line.total for line in lines), Decimal("0.00"))
    if viewer.sees_everything and tenant is None:
        return replace(full, total=total, lines=lines)
    return replace(full, total=total, source_total=total, adjustments=Decimal(0), lines=lines)


def daily_trend(wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None) -> pl.DataFrame:
    """Each bill line by day, in cents that add up to the line's total on the bill."""
    rows = wh.query(
        f"""select date, tenant, sum(total_cost) as total
        from marts.fct_tenant_costs_daily
        where period = $period and {CLUSTER_FILTER} and {TENANT_FILTER}
            and ($tenants::varchar[] is null or not is_sentinel)
        group by date, tenant order by date, tenant""",
        scope(viewer, cluster, period=period),
    )
    return breakdown.by_day(rows, bill(wh, viewer, period, cluster))


def month_over_month(wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None) -> pl.DataFrame:
    """Each bill line this period and the one before, as billed, and the change. ``previous_month`` and ``change``
    are null on every row when the warehouse has no bill for the month before (nothing to compare with)."""
    this = bill(wh, viewer, period, cluster)
    try:
        before = bill(wh, viewer, previous_period(period), cluster)
    except DataError:
        before = None
    now = {line.tenant: line.total for line in this.lines}
    then = {line.tenant: line.total for line in before.lines} if before is not None else {}
    zero = Decimal("0.00")
    rows = [
        {
            "tenant": tenant,
            "this_month": float(now.get(tenant, zero)),
            "previous_month": None if before is None else float(then.get(tenant, zero)),
            "change": None if before is None else float(now.get(tenant, zero) - then.get(tenant, zero)),
        }
        for tenant in sorted(set(now) | set(then))
    ]
    schema = {"tenant": pl.String, "this_month": pl.Float64, "previous_month": pl.Float64, "change": pl.Float64}
    return pl.DataFrame(rows, schema=schema).sort("this_month", descending=True, maintain_order=True)


def checks(wh: Warehouse, viewer: Viewer, period: str) -> pl.DataFrame:
    """The invariants; amounts only for all-access viewers (cluster totals are everyone's money). Amounts are
    rounded to the cent here, so a difference of nothing reads 0.00, never -0.00."""
    frame = wh.query(
        "select check_name, severity, cluster, passed, round(expected, 2)::double as expected,"
        " round(actual, 2)::double as actual, detail"
        " from marts.checks where period = $period order by severity, check_name, cluster",
        {"period": period},
    )
    if not viewer.sees_everything:
        frame = frame.filter(pl.col("severity") == "error").select("check_name", "cluster", "passed", "detail")
    return frame


def method(wh: Warehouse, viewer: Viewer) -> dict | None:
    """The allocation method the published build recorded (``chargeback.build.method``) as ``fingerprint``,
    ``summary`` and ``settings``; None: built before methods were recorded. Its tenancy rules name every
    tenant, so only all-access viewers get them."""
    wh.require()
    with read_only(wh.path) as con:
        recorded = method_module.read_method(con)
    if recorded is None:
        return None
    settings = recorded if viewer.sees_everything else {k: v for k, v in recorded.items() if k != "tenancy"}
    return {
        "fingerprint": method_module.fingerprint(recorded),
        "summary": method_module.summary(recorded),
        "settings": settings,
        "changes": method_module.changes(recorded, method_module.describe(wh.config)) if viewer.sees_everything else [],
    }


def by_cluster(wh: Warehouse, viewer: Viewer, period: str, tenant: str | None = None) -> pl.DataFrame:
    """The bill lines the viewer may see split over their clusters (`chargeback bill --by-cluster`): cents adding
    up to each line, in dollars; a line's cents held by no cluster (rounding) have no cluster."""
    seen = [line.tenant for line in bill(wh, viewer, period, None, tenant).lines]
    _, rows = clusters_module.by_cluster(wh.config, period)
    amounts = [c for c in rows.columns if c not in ("tenant", "cluster")]
    return rows.filter(pl.col("tenant").is_in(seen)).with_columns(*(breakdown.dollars(c) for c in amounts))


def budget_months(wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None) -> pl.DataFrame:
    """Each tenant the viewer may see, its month on ``cluster`` (None: all): cost to date (its bill line so far),
    month-end forecast and budget, as `chargeback budgets` prints them."""
    wh.require()
    rows = [
        {
            "tenant": m.tenant,
            "cost_to_date": float(m.cost_to_date),
            "forecast": float(m.forecast),
            "budget": None if m.budget is None else float(m.budget),
            "forecast_share": m.forecast_share,
        }
        for m in tenant_months(wh.config, period)
        if m.cluster == cluster and viewer.allowed(m.tenant)
    ]
    schema = {"tenant": pl.String, "cost_to_date": pl.Float64, "forecast": pl.Float64, "budget": pl.Float64,
              "forecast_share": pl.Float64}  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def anomalies(
    wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None, tenant: str | None = None
) -> pl.DataFrame:
    """The anomalous days of the month the viewer may see (`chargeback anomalies` over the month), per tenant and
    namespace: the largest first."""
    wh.require()
    last = last_complete_day(wh.config)
    first, end = first_day(period), period_end(period).date() - timedelta(days=1)
    found = [] if last is None or last < first else detect(wh.config, first, min(end, last))
    rows = [
        {
            "date": a.date,
            "cluster": a.cluster,
            "tenant": a.tenant,
            "namespace": a.namespace or "(whole tenant)",
            "cost": float(a.cost),
            "baseline": float(a.baseline),
            "score": a.score,
            "direction": a.direction,
        }
        for a in found
        if viewer.allowed(a.tenant) and cluster in (None, a.cluster) and tenant in (None, a.tenant)
    ]
    schema = {"date": pl.Date, "cluster": pl.String, "tenant": pl.String, "namespace": pl.String, "cost": pl.Float64,
              "baseline": pl.Float64, "score": pl.Float64, "direction": pl.String}  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def efficiency(
    wh: Warehouse,
    viewer: Viewer,
    period: str,
    cluster: str | None = None,
    tenant: str | None = None,
    grain: str = "tenant",
) -> pl.DataFrame:
    """`chargeback efficiency` of the tenants the viewer may see: used over requested, compute, the part of it
    that paid for unused requests, the idle share; the largest unused requests first."""
    if tenant is not None and not viewer.allowed(tenant):
        raise PermissionError(f"{viewer.name} may not see tenant {tenant!r}")
    wh.require()
    try:
        found = efficiency_report(wh.config, period, grain, cluster, tenant)
    except DataError:
        found = []
    names = {"tenant": ["tenant"], "namespace": ["tenant", "namespace"],
             "workload": ["tenant", "namespace", "workload_kind", "workload_name"]}[grain]  # fmt: skip
    rows = [
        dict(zip(names, e.key, strict=True))
        | {
            "cpu_efficiency": e.cpu_efficiency,
            "memory_efficiency": e.memory_efficiency,
            "compute": float(e.compute),
            "unused_requests": float(e.unused_requests),
            "idle_share": float(e.idle_share),
        }
        for e in found
        if viewer.allowed(e.key[0])
    ]
    schema = {name: pl.String for name in names} | {
        "cpu_efficiency": pl.Float64, "memory_efficiency": pl.Float64, "compute": pl.Float64,
        "unused_requests": pl.Float64, "idle_share": pl.Float64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def freshness(wh: Warehouse) -> pl.DataFrame:
    return wh.query("select * from bookkeeping.collection_status order by source, target")


def cluster_freshness(wh: Warehouse) -> list[ClusterFreshness]:
    """Each cluster's freshness as the build recorded it (which clusters are stale, and why)."""
    wh.require()
    with read_only(wh.path) as con:
        return read_freshness(con)


# --- tenant drill-down and EMR --------------------------------------------------------------------


def _workload_rows(viewer: Viewer, period: str, cluster: str | None, tenant: str | None) -> tuple[str, dict]:
    """The query of exact compute and idle share, storage and network per tenant, namespace, workload and EMR job
    run (the drill-down's leaves; a namespace's own storage and load balancers have no workload)."""
    return (
        f"""select tenant, namespace, workload_kind, workload_name, emr_job_run_id,
            sum(pods)::bigint as pods, sum(pod_hours) as pod_hours, sum(compute_cost) as compute,
            sum(idle_cost) as idle, sum(storage_cost) as storage, sum(network_cost) as network
        from marts.fct_workload_costs_monthly
        where period = $period and ($tenant::varchar is null or tenant = $tenant::varchar)
            and {CLUSTER_FILTER} and {TENANT_FILTER}
        group by all""",
        scope(viewer, cluster, period=period, tenant=tenant),
    )


def workloads(wh: Warehouse, viewer: Viewer, period: str, tenant: str, cluster: str | None = None) -> pl.DataFrame:
    """Tenant -> namespace -> workload -> EMR job run, with compute, idle share, storage and network in cents that
    add up, level by level, to those parts of the tenant's bill (``chargeback.reports.breakdown``)."""
    rows = wh.query(*_workload_rows(viewer, period, cluster, tenant))
    return breakdown.by_workload(rows, bill(wh, viewer, period, cluster))


def emr_jobs(
    wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None, tenant: str | None = None
) -> pl.DataFrame:
    """The period's job runs with what the bill charges for each: compute and idle share (the cents of the
    tenant's drill-down), storage, network and EMR charges, adding up with the tenant's other workloads to its
    bill parts."""
    jobs_query = (
        f"""select job_run_id, job_name, virtual_cluster_id, virtual_cluster_name, tenant, state, created_at,
            finished_at, pod_count, executor_instances, executor_cores, executor_memory_gib,
            executor_cpu_request_core_hours, executor_cpu_usage_core_hours,
            executor_memory_request_gib_hours, executor_memory_usage_gib_hours, emr_cost as emr
        from marts.fct_emr_job_costs
        where period = $period and {CLUSTER_FILTER} and {TENANT_FILTER}
            and ($tenant::varchar is null or tenant = $tenant::varchar)""",
        scope(viewer, cluster, period=period, tenant=tenant),
    )
    jobs, rows = wh.queries(jobs_query, _workload_rows(viewer, period, cluster, tenant))
    return breakdown.emr_jobs(jobs, rows, bill(wh, viewer, period, cluster))


# --- nodes and idle (all-access viewers; others see only their dedicated nodes) -------------------

NODE_FILTER = "($tenants::varchar[] is null or list_contains($tenants::varchar[], dedicated_tenant))"


def node_groups(wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None) -> pl.DataFrame:
    return wh.query(
        f"""select coalesce(node_group, '(none)') as node_group, purchase_option,
            sum(running_hours) as node_hours, sum(cost)::double as cost, sum(idle_cost)::double as idle
        from marts.fct_node_costs_hourly
        where period = $period and {CLUSTER_FILTER} and {NODE_FILTER}
        group by all order by cost desc""",
        scope(viewer, cluster, period=period),
    )


def dedicated_nodes(wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None) -> pl.DataFrame:
    return wh.query(
        f"""select dedicated_tenant as tenant, node, instance_type, sum(running_hours) as node_hours,
            count(case when is_ghost_hour then 1 end) as ghost_hours,
            sum(cross_tenant_pod_count)::bigint as cross_tenant_pod_hours, sum(cost)::double as cost
        from marts.fct_node_costs_hourly
        where period = $period and is_dedicated and {CLUSTER_FILTER} and {NODE_FILTER}
        group by all order by tenant, node""",
        scope(viewer, cluster, period=period),
    )


def cross_tenant_pods(wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None) -> pl.DataFrame:
    return wh.query(
        f"""select tenant as node_tenant, namespace_tenant as pod_tenant, namespace, pod, node,
            count(*) as pod_hours, sum(total_cost)::double as cost
        from marts.fct_pod_costs_hourly
        where period = $period and is_cross_tenant and {CLUSTER_FILTER} and {TENANT_FILTER}
        group by all order by pod_hours desc""",
        scope(viewer, cluster, period=period),
    )


# --- data quality (corrections: the viewer's tenants; the rest: all-access viewers) ---------------


def corrections(wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None) -> pl.DataFrame:
    """The raw rows the validation rules corrected or ignored in the period (docs/method.md#validation), largest
    change of cost first; a restricted viewer sees those billed to its tenants."""
    return wh.query(
        f"""select raw_table, file, row_key, rules, original_values, corrected_values, tenant,
            tenant_with_raw_value, cost_with_raw_value::double as cost_with_raw_value,
            cost_as_corrected::double as cost_as_corrected
        from marts.fct_data_quality
        where period = $period and {CLUSTER_FILTER} and {TENANT_FILTER}
        order by coalesce(abs(cost_as_corrected - cost_with_raw_value), abs(cost_as_corrected), 0) desc,
            raw_table, file, row_key""",
        scope(viewer, cluster, period=period),
    )


def raw_file_issues(wh: Warehouse) -> pl.DataFrame:
    """Files under raw/ the build did not read (stray) or could not verify (no page checksums)."""
    return wh.query("select issue, file, detail from bookkeeping.raw_file_issues order by issue, file")


def reconciliation(wh: Warehouse, period: str) -> pl.DataFrame:
    return wh.query(
        """select date, service, cur_cost::double as cur, ce_cost::double as cost_explorer,
            difference::double as difference, ce_is_estimated
        from marts.fct_reconciliation_daily where period = $period order by date, service""",
        {"period": period},
    )


def waterfall(wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None) -> Reconciliation:
    """`chargeback reconcile`'s reconciliation; all-access viewers only (it names every line of the CUR)."""
    all_access(viewer, "the reconciliation")
    wh.require()
    return reconcile(wh.config, period, cluster)


def coverage(wh: Warehouse) -> pl.DataFrame:
    return wh.query("select * from bookkeeping.raw_coverage order by source, raw_table, target")


def estimated_days(wh: Warehouse, period: str, cluster: str | None = None) -> pl.DataFrame:
    return wh.query(
        f"""select date, estimate_source, count(*) as node_hours, sum(cost)::double as cost
        from marts.fct_node_costs_hourly
        where period = $period and is_estimated and {CLUSTER_FILTER}
        group by all order by date""",
        {"period": period, "cluster": cluster},
    )


# --- what only all-access viewers see (the capacity page's data is in dashboards.data_capacity) ----------


def all_access(viewer: Viewer, what: str) -> None:
    """Refuse ``what`` to a viewer who does not see every tenant."""
    if not viewer.sees_everything:
        raise PermissionError(f"{viewer.name} may not see {what}: visible to finance and the platform team")
