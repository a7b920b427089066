"""The Explore page's data access (``dashboards.data`` holds the rest and says how the dashboard reads): costs over
any days grouped by any dimension (``chargeback.reports.costs``, the figures of `chargeback costs`), narrowed to the
tenants the viewer may see."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import polars as pl

from chargeback.core.config import SENTINELS
from chargeback.reports.costs import Costs, parse_dimension
from chargeback.reports.costs import costs as library_costs
from chargeback.reports.costs import label_keys as library_label_keys
from dashboards.data import Warehouse, published_bill
from dashboards.identity import Viewer

# The days the warehouse holds costs for (the date picker's bounds).
COST_DAYS = "select min(date) as first, max(date) as last from marts.fct_tenant_costs_daily"


def cost_days(wh: Warehouse) -> tuple[date, date] | None:
    row = wh.query(COST_DAYS).row(0)
    return None if row[0] is None else (row[0], row[1])


def costs(
    wh: Warehouse,
    viewer: Viewer,
    start: date,
    end: date,
    by: str,
    cluster: str | None = None,
    tenant: str | None = None,
) -> Costs:
    """`chargeback costs --from start --to end --by by` of the tenants the viewer may see (a restricted viewer's
    rows are its tenants' lines only: no sentinel line, and of a label's values only what its tenants' pods
    cost). Each month's bill is the dashboard's (the published warehouse's, cached)."""
    if tenant is not None and not viewer.allowed(tenant):
        raise PermissionError(f"{viewer.name} may not see tenant {tenant!r}")
    wh.require()
    found = library_costs(
        wh.config, start, end, parse_dimension(by), cluster, tenant, bill_of=lambda p, c: published_bill(wh, p, c)
    )
    if viewer.sees_everything:
        return found
    mine = sorted(t for t in (viewer.tenants or ()) if t not in SENTINELS)
    return replace(found, rows=found.rows.filter(pl.col("tenant").is_in(mine)))


def label_keys(wh: Warehouse, start: date, end: date) -> list[str]:
    """The pod label keys to group by (those of pods that ran in the range)."""
    wh.require()
    return [key for key, _ in library_label_keys(wh.config, start, end)]
