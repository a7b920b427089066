"""A tenant's monthly statement: what finance sends each tenant, every figure taken from the bill.

The figures are the bill's (``chargeback.reports.bill.monthly_bill``, a closed month's frozen one) and the
breakdowns of it the dashboard shows (``chargeback.reports.breakdown``): the tenant's line and its parts, its
namespaces, workloads and EMR on EKS job runs in cents that add up to those parts, its total in each month the
warehouse has, and the adjustments of closed months booked in the period. Every table's rows add up to the
figure it states, to the cent: no row is rounded on its own. Rendering is the exports' job
(``chargeback.exports.statement_pdf``); this module returns plain data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from decimal import Decimal

import polars as pl

from chargeback.build.warehouse import connect
from chargeback.core.config import SENTINELS, Config
from chargeback.core.errors import DataError
from chargeback.core.periods import parse_period
from chargeback.reports import breakdown, queries
from chargeback.reports.bill import COST_PARTS, Bill, BillLine, Correction, monthly_bill

TOP = 10  # workloads and job runs listed one by one; the rest are summed in one row
TREND_MONTHS = 6  # months of the trend, the statement's month the last
ZERO = Decimal("0.00")

# What a tenant's line holds besides its namespaces' workload parts (breakdown.WORKLOAD_PARTS), as rows say it.
OUTSIDE_NAMESPACES = {
    "shared": "shared costs (shared namespaces, cluster fees)",
    "emr": "EMR on EKS charges",
    "tagged": "tagged resources",
    "adjustment": "adjustments of closed months",
}
OUTSIDE_WORKLOADS = "not in a workload (shared, EMR charges, tagged, ...)"  # as the namespaces table details
NO_NAMESPACE = "not in a namespace"  # a part's exact amount beyond its namespaces' (breakdown's rest)


@dataclass(frozen=True)
class Row:
    label: str
    amount: Decimal
    note: str = ""  # a workload's kind, a job run's id


@dataclass(frozen=True)
class Table:
    """Rows that add up to ``total`` exactly (checked when made: a table that does not is a bug)."""

    rows: tuple[Row, ...]
    total: Decimal

    def __post_init__(self) -> None:
        found = sum((row.amount for row in self.rows), ZERO)
        if found != self.total:
            raise AssertionError(f"statement table rows sum to {found}, not {self.total}: {self.rows}")


@dataclass(frozen=True)
class Statement:
    tenant: str
    period: str
    currency: str
    clusters: tuple[str, ...]
    built_at: str | None  # when the published build the figures come from was built
    closed_at: str | None  # the month is closed: its frozen bill
    method_line: str  # the method as the bill prints it, its fingerprint included
    method_words: tuple[str, ...]  # the method in plain words (docs/method.md says it in full)
    total: Decimal
    summary: Table  # the bill's parts of the tenant's line
    namespaces: Table  # its namespaces, then what is in none (shared, EMR charges, tagged, adjustments)
    workloads: Table  # its top workloads, the other workloads, then what is in no workload
    jobs: Table  # its top EMR on EKS job runs, then the other runs: their cost within the total
    job_runs: int
    trend: tuple[tuple[str, Decimal], ...]  # (period, the tenant's total), oldest first
    adjustments: tuple[Correction, ...]  # corrections of closed months booked in this period

    def digest(self) -> str:
        """SHA-256 of every figure and word of the statement: equal digests, equal statements (whatever the
        time the PDF was generated)."""
        return hashlib.sha256(json.dumps(asdict(self), default=str, sort_keys=True).encode()).hexdigest()


def cents(value: int) -> Decimal:
    return Decimal(int(value)).scaleb(-2)


def tenants_of(bill: Bill) -> list[str]:
    """The bill's tenants: its lines but the sentinel ones (__idle__, __shared__, __unallocated__)."""
    return [line.tenant for line in bill.lines if not line.is_sentinel]


def _chosen(bill: Bill, tenant: str | None) -> list[BillLine]:
    names = tenants_of(bill)
    known = ", ".join(names) or "none"
    if tenant is None:
        if not names:
            raise DataError(f"no tenant has costs in {bill.period}")
        return [line for line in bill.lines if line.tenant in names]
    if tenant in SENTINELS:
        raise DataError(f"{tenant!r} is a line of the bill, not a tenant; tenants of {bill.period}: {known}")
    if tenant not in names:
        raise DataError(f"tenant {tenant!r} has no costs in {bill.period}; tenants of {bill.period}: {known}")
    return [line for line in bill.lines if line.tenant == tenant]


def statements(config: Config, period: str, tenant: str | None = None) -> list[Statement]:
    """The statement of each tenant of ``period`` (``tenant``: only that one's), by tenant name."""
    parse_period(period)
    bill = monthly_bill(config, period)
    lines = _chosen(bill, tenant)
    params = {"period": period, "tenants": [line.tenant for line in lines]}
    with connect(config) as con:
        workloads = con.sql(queries.STATEMENT_WORKLOADS, params=params).pl()
        jobs = con.sql(queries.STATEMENT_JOBS, params=params).pl()
        built_at = con.execute(queries.BUILD_INFO).fetchall()[0][0]
        periods = [r[0] for r in con.execute(queries.BILL_PERIODS).fetchall()]
        clusters = {
            line.tenant: tuple(
                r[0]
                for r in con.execute(queries.STATEMENT_CLUSTERS, {"period": period, "tenant": line.tenant}).fetchall()
            )
            for line in lines
        }
    leaves = breakdown.workload_cents(workloads, bill) if workloads.height else None
    runs = breakdown.emr_job_cents(jobs, workloads, bill) if jobs.height else None
    trend = _trend(config, bill, periods, [line.tenant for line in lines])
    return [
        Statement(
            tenant=line.tenant,
            period=period,
            currency=bill.currency,
            clusters=clusters[line.tenant],
            built_at=None if built_at is None else f"{built_at:%Y-%m-%d %H:%M:%S} UTC",
            closed_at=bill.closed_at,
            method_line=bill.method_line(),
            method_words=method_words(bill.method),
            total=line.total,
            summary=_summary(line),
            namespaces=_namespaces(line, _of(leaves, line.tenant)),
            workloads=_workloads(line, _of(leaves, line.tenant)),
            jobs=_jobs(_of(runs, line.tenant)),
            job_runs=_of(runs, line.tenant).height,
            trend=tuple((p, by_tenant.get(line.tenant, ZERO)) for p, by_tenant in trend),
            adjustments=line.corrections,
        )
        for line in lines
    ]


def _of(frame: pl.DataFrame | None, tenant: str) -> pl.DataFrame:
    if frame is None:
        return pl.DataFrame(schema={"tenant": pl.String, "rest": pl.Boolean, "total": pl.Int64})
    return frame.filter(pl.col("tenant") == tenant)


def _summary(line: BillLine) -> Table:
    """The line's parts as the bill prints them (``adjustment`` where the line corrects closed months)."""
    parts = [*COST_PARTS, *(["adjustment"] if line.corrections or line.parts["adjustment"] else [])]
    return Table(tuple(Row(part, line.parts[part]) for part in parts), line.total)


def _workload_cents() -> pl.Expr:
    """A breakdown row's cents over the parts its workloads hold."""
    return pl.sum_horizontal(*breakdown.WORKLOAD_PARTS)


def _outside(line: BillLine, rest: Decimal, rest_label: str) -> list[Row]:
    """What the line holds beyond its namespaces' workload parts: the rest of those, then the other parts."""
    rows = [Row(rest_label, rest)] if rest else []
    return rows + [Row(label, line.parts[part]) for part, label in OUTSIDE_NAMESPACES.items() if line.parts[part]]


def _rest(line: BillLine, leaves: pl.DataFrame) -> Decimal:
    """The workload parts' cents in no namespace: the breakdown's rest row (all of them when the tenant has no
    namespace)."""
    if leaves.height == 0:
        return sum((line.parts[p] for p in breakdown.WORKLOAD_PARTS), ZERO)
    rest = leaves.filter(pl.col(breakdown.REST)).select(_workload_cents()).to_series().sum()
    return cents(rest or 0)


def _namespaces(line: BillLine, leaves: pl.DataFrame) -> Table:
    rows = []
    if leaves.height:
        by_namespace = (
            leaves.filter(~pl.col(breakdown.REST))
            .group_by("namespace")
            .agg(_workload_cents().sum().alias("cents"))
            .sort(["cents", "namespace"], descending=[True, False])
        )
        rows = [Row(r["namespace"], cents(r["cents"])) for r in by_namespace.iter_rows(named=True) if r["cents"]]
    return Table(tuple(rows + _outside(line, _rest(line, leaves), NO_NAMESPACE)), line.total)


def _workloads(line: BillLine, leaves: pl.DataFrame) -> Table:
    rows: list[Row] = []
    if leaves.height:
        found = (
            leaves.filter(~pl.col(breakdown.REST))
            .group_by("namespace", "workload_kind", "workload_name")
            .agg(_workload_cents().sum().alias("cents"))
            .filter(pl.col("cents") != 0)
            .sort(["cents", "namespace", "workload_name"], descending=[True, False, False], nulls_last=True)
        )
        for r in found.head(TOP).iter_rows(named=True):
            name = r["workload_name"] or "(namespace's own volumes and load balancers)"
            rows.append(Row(f"{r['namespace']}/{name}", cents(r["cents"]), r["workload_kind"] or ""))
        others = found.slice(TOP)
        if others.height:
            rows.append(Row(_others(others.height, "workload"), cents(others["cents"].sum())))
    outside = sum((row.amount for row in _outside(line, _rest(line, leaves), NO_NAMESPACE)), ZERO)
    if outside:
        rows.append(Row(OUTSIDE_WORKLOADS, outside))
    return Table(tuple(rows), line.total)


def _others(count: int, what: str) -> str:
    return f"{count} other {what}{'' if count == 1 else 's'}"


def _jobs(runs: pl.DataFrame) -> Table:
    """The tenant's job runs by cost (compute, idle share, storage, network and EMR charges), the largest first."""
    if runs.height == 0:
        return Table((), ZERO)
    rows = [
        Row(r["job_name"] or r["job_run_id"], cents(r["total"]), r["job_run_id"])
        for r in runs.head(TOP).iter_rows(named=True)
    ]
    others = runs.slice(TOP)
    if others.height:
        rows.append(Row(_others(others.height, "job run"), cents(others["total"].sum())))
    return Table(tuple(rows), cents(runs["total"].sum()))


def _trend(config: Config, bill: Bill, periods: list[str], tenants: list[str]) -> list[tuple[str, dict[str, Decimal]]]:
    """Each tenant's total in the months up to ``bill``'s (the last ``TREND_MONTHS`` the warehouse has), as
    billed: a closed month's frozen bill."""
    months = sorted({p for p in periods if p < bill.period})[-(TREND_MONTHS - 1) :]
    out = []
    for month in months:
        try:
            earlier = monthly_bill(config, month)
        except DataError:
            continue  # a month with nothing left to bill (only dust): not a month of the trend
        out.append((month, {line.tenant: line.total for line in earlier.lines if line.tenant in tenants}))
    out.append((bill.period, {line.tenant: line.total for line in bill.lines if line.tenant in tenants}))
    return out


# How each setting of the method reads in plain words (docs/method.md).
BASIS_WORDS = {
    "amortized": "Node cost is the amortized cost: Savings Plan and Reserved Instance rates as used, on-demand and"
    " spot as billed.",
    "net_amortized": "Node cost is the net amortized cost: amortized, after discounts.",
    "on_demand": "Node cost is the public on-demand price (showback at list price).",
}
IDLE_WORDS = {
    "node": "Capacity no pod used on a node is shared among that node's pods, in proportion to what they were"
    " allocated.",
    "cluster": "Capacity no pod used is pooled per cluster-hour and shared among the pods, in proportion to their"
    " cost.",
    "separate": "Capacity no pod used is not charged to tenants: it stays on the idle line.",
}
SHARED_WORDS = {
    "weighted": "Shared costs (shared namespaces such as kube-system, the EKS fee, cluster overhead) are spread"
    " each day over the tenants in proportion to their direct cost.",
    "even": "Shared costs (shared namespaces such as kube-system, the EKS fee, cluster overhead) are spread in equal"
    " parts each day over the tenants with costs that day.",
    "separate": "Shared costs (shared namespaces, the EKS fee, cluster overhead) are not charged to tenants.",
}


def method_words(method: dict | None) -> tuple[str, ...]:
    """The method of the bill in a few plain sentences (empty: not recorded)."""
    if method is None:
        return ()
    return (
        "Each pod is charged, hour by hour, for the larger of what it requested and what it used of CPU, memory"
        " and GPU on its node, at the node's cost per unit (AWS's split cost allocation method).",
        BASIS_WORDS.get(method["cost_basis"], f"Cost basis: {method['cost_basis']}."),
        IDLE_WORDS.get(method["idle"], f"Idle mode: {method['idle']}."),
        SHARED_WORDS.get(method["shared"], f"Shared mode: {method['shared']}."),
        "Volumes go to the namespace of their claim, data transfer by the pods' bytes, EMR on EKS charges to the"
        " job's tenant. Amounts are exact until printed, then rounded so every table adds up to the cent.",
    )
