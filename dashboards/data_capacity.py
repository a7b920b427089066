"""The capacity page's data access (``dashboards.data`` holds the rest and says how the dashboard reads): quota use,
node groups and what-ifs, right-sizing, LimitRange violations and quota fits, each narrowed to the viewer."""

from __future__ import annotations

import polars as pl

from chargeback.core.errors import ChargebackError
from chargeback.reports.capacity import CapacityReport, capacity
from chargeback.reports.quotas import QuotaReport
from chargeback.reports.quotas import quota_report as library_quota_report
from chargeback.reports.rightsize import LimitViolation, QuotaFit, RightsizeReport, recommend
from dashboards.data import CLUSTER_FILTER, TENANT_FILTER, Warehouse, all_access, scope
from dashboards.identity import Viewer

# Quota use (marts.fct_quota_use_hourly) carries no tenant: all-access viewers only. Right-sizing and
# LimitRange violations carry the workload's tenant and are filtered in SQL like every other section.


def quota_report(wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None):
    """``chargeback.reports.quotas.quota_report`` for the period (None when it has no quota use), narrowed to a
    cluster."""
    all_access(viewer, "quota use")
    wh.require()
    try:
        full = library_quota_report(wh.config, period)
    except ChargebackError:
        return None
    if cluster is None:
        return full
    return QuotaReport(full.period, full.currency, [ns for ns in full.namespaces if ns.cluster == cluster])


def capacity_report(wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None):
    """``chargeback.reports.capacity.capacity`` for the period (None when it has no node-hours), narrowed to a cluster.

    Node groups and every tenant's what-if are cluster-wide, so all-access viewers only."""
    all_access(viewer, "cluster capacity")
    wh.require()
    try:
        full = capacity(wh.config, period)
    except ChargebackError:
        return None
    if cluster is None:
        return full
    return CapacityReport(
        full.period,
        [g for g in full.node_groups if g.cluster == cluster],
        [f for f in full.forecasts if f.cluster == cluster],
        [w for w in full.whatifs if w.cluster == cluster],
    )


def quota_use_hourly(
    wh: Warehouse, viewer: Viewer, period: str, cluster: str | None, namespace: str, resource: str
) -> pl.DataFrame:
    """One namespace's hourly requests (and usage) of one quota resource against its hard limit."""
    all_access(viewer, "quota use")
    return wh.query(
        f"""select cluster, hour, requested, used, hard, unit, namespace_cost::double as cost
        from marts.fct_quota_use_hourly
        where period = $period and namespace = $namespace and resource = $resource and {CLUSTER_FILTER}
        order by cluster, hour""",
        {"period": period, "cluster": cluster, "namespace": namespace, "resource": resource},
    )


def rightsizing(wh: Warehouse, viewer: Viewer, period: str, cluster: str | None = None, tenant: str | None = None):
    """``chargeback.reports.rightsize`` recommendations for the viewer's tenants' workloads (a ``RightsizeReport``).

    The rows are read here with the tenant filter; each goes through ``chargeback.reports.rightsize.recommend``, the
    library's own arithmetic, so the numbers are those of `chargeback rightsize`."""

    capacity = wh.config.capacity
    frame = wh.query(
        f"""select * from marts.fct_rightsizing
        where period = $period and {CLUSTER_FILTER} and {TENANT_FILTER}
            and ($tenant::varchar is null or tenant = $tenant::varchar)
        order by cluster, workload_kind, namespace, workload_name, virtual_cluster_id""",
        scope(viewer, cluster, period=period, tenant=tenant),
    )
    recommendations = [rec for row in frame.iter_rows(named=True) for rec in recommend(row, wh.config)]
    order = {"lower request": 0, "raise request": 1, "fits": 2, "too little history": 3}
    recommendations.sort(key=lambda r: (order[r.verdict], -abs(r.monthly_saving or 0), r.workload_name, r.resource))
    return RightsizeReport(
        period, capacity.rightsize_quantile, capacity.target_utilisation, capacity.min_history_hours, recommendations
    )


def limit_violations(
    wh: Warehouse, viewer: Viewer, cluster: str | None = None, tenant: str | None = None
) -> pl.DataFrame:
    """Spark job shapes breaking their namespace's current LimitRanges, worded by `chargeback.reports.rightsize`."""

    frame = wh.query(
        f"""select * from marts.fct_limit_range_violations
        where {CLUSTER_FILTER} and {TENANT_FILTER} and ($tenant::varchar is null or tenant = $tenant::varchar)
        order by cluster, namespace, job_name, spark_role, resource, limit_type, bound""",
        scope(viewer, cluster, tenant=tenant),
    )
    return _with_descriptions(frame, LimitViolation)


def job_quota_fits(
    wh: Warehouse, viewer: Viewer, cluster: str | None = None, tenant: str | None = None
) -> pl.DataFrame:
    """Recurring Spark jobs at full scale against their namespace's ResourceQuota, misfits first."""

    frame = wh.query(
        f"""select * from marts.fct_job_quota_fit
        where hard is not null and {CLUSTER_FILTER} and {TENANT_FILTER}
            and ($tenant::varchar is null or tenant = $tenant::varchar)
        order by fits, cluster, namespace, job_name, resource""",
        scope(viewer, cluster, tenant=tenant),
    )
    return _with_descriptions(frame, QuotaFit)


def _with_descriptions(frame: pl.DataFrame, row_type) -> pl.DataFrame:
    """``frame`` with a `description` column: each row's sentence, worded by ``chargeback.reports.rightsize``."""
    fields = row_type.__dataclass_fields__
    descriptions = [
        row_type(**{k: v for k, v in row.items() if k in fields}).description for row in frame.iter_rows(named=True)
    ]
    return frame.with_columns(description=pl.Series(descriptions, dtype=pl.String))
