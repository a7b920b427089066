"""Budgets and month-end forecasts: each tenant's cost so far this month, where it is heading, and its budget.

The cost to date is the bill: the tenant's line of ``chargeback bill`` for the month (or for one cluster), to the
cent. The forecast adds what the rest of the month should cost, day by day, each day at the mean cost of the same
weekday over the ``[anomalies] baseline_weeks`` weeks before the data ends (a Spark-heavy Monday is forecast as a
Monday; a day without cost counts as zero once the tenant has costs), and for the day the data ends in, that mean
times the share of the day still to come. A whole-bill forecast is the bill so far plus every cluster's projection
(each cluster's data may end at another hour). ``[[budgets]]`` gives a tenant a monthly budget for its whole bill or
for one cluster. ``as_of`` (a day) forecasts from the data before it only: the month's bill, as it will stand, is
the measure of a forecast made then (docs/alerts.md#budgets-and-forecasts).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from chargeback.build.warehouse import connect
from chargeback.core import periods
from chargeback.core.config import SENTINELS, Config
from chargeback.core.errors import DataError
from chargeback.core.money import to_cents
from chargeback.reports import queries_trends
from chargeback.reports.bill import monthly_bill

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class TenantMonth:
    tenant: str
    cluster: str | None  # None: the tenant's whole bill
    period: str
    cost_to_date: Decimal  # the bill so far, to the cent
    forecast: Decimal  # the month-end forecast, to the cent
    budget: Decimal | None  # the configured monthly budget, if any
    through: datetime  # the data ends here (exclusive): the forecast covers the rest of the month

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.cost_to_date > self.budget

    @property
    def forecast_over_budget(self) -> bool:
        return self.budget is not None and self.forecast > self.budget

    @property
    def forecast_share(self) -> float | None:
        """The forecast as a share of the budget."""
        return float(self.forecast / self.budget) if self.budget else None


def projection(daily: dict[date, Decimal], first: date | None, through: datetime, period: str, weeks: int) -> Decimal:
    """What the rest of ``period`` after ``through`` should cost (exact): each remaining day (and the rest of the day
    ``through`` falls in) at the mean of the same weekday over the ``weeks`` weeks of ``daily`` before that day; days
    before ``first`` (the key's first day with cost) are not counted, later ones without cost count as zero."""
    end = periods.end(period)
    if through >= end:
        return Decimal(0)
    today = through.date()
    window = [today - timedelta(days=d) for d in range(1, 7 * weeks + 1)]
    by_weekday: dict[int, list[Decimal]] = defaultdict(list)
    for day in window:
        if first is not None and day >= first:
            by_weekday[day.weekday()].append(daily.get(day, Decimal(0)))

    def expected(day: date) -> Decimal:
        seen = by_weekday.get(day.weekday())
        return sum(seen, Decimal(0)) / len(seen) if seen else Decimal(0)

    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
    rest = expected(today) * Decimal((midnight + timedelta(days=1) - through) / HOUR) / 24
    day = today + timedelta(days=1)
    while datetime(day.year, day.month, day.day, tzinfo=UTC) < end:
        rest += expected(day)
        day += timedelta(days=1)
    return rest


def tenant_months(config: Config, period: str | None = None, as_of: date | None = None) -> list[TenantMonth]:
    """Every tenant's month (``period``: default the latest with costs): its whole bill and its part on each cluster,
    with its cost so far, its forecast and its budget. ``as_of``: as a forecast made at the start of that day."""
    weeks = config.anomalies.baseline_weeks
    with connect(config) as con:
        if period is None:
            last = con.execute(queries_trends.LAST_COST_DAY).fetchone()[0]
            if last is None:
                raise DataError("the warehouse has no costs yet: run `chargeback build`")
            period = periods.of(last)
        periods.parse_period(period)
        ends = dict(con.execute(queries_trends.COST_HOURS_END, {"period": period}).fetchall())
        if not ends:
            raise DataError(f"no costs for period {period}")
        if as_of is not None:
            cut = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
            ends = {cluster: min(end, cut) for cluster, end in ends.items()}
        since = min(ends.values()).date() - timedelta(weeks=weeks)
        until = max(ends.values()).date()
        rows = con.execute(queries_trends.TENANT_DAILY_COSTS, {"since": since, "until": until}).fetchall()
        firsts = {
            (tenant, cluster): day for cluster, tenant, day in con.execute(queries_trends.TENANT_FIRST_DAYS).fetchall()
        }
    daily: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(dict)
    for cluster, tenant, day, cost in rows:
        daily[(tenant, cluster)][day] = cost
    so_far: dict[tuple[str, str | None], Decimal] = {}
    if as_of is None:  # the bill as it stands: the whole and each cluster's
        for cluster in [None, *sorted(ends)]:
            for line in monthly_bill(config, period, cluster=cluster).lines:
                if line.tenant not in SENTINELS:
                    so_far[(line.tenant, cluster)] = line.total
    else:
        start, whole_exact = periods.first_day(period), defaultdict(Decimal)
        for (tenant, cluster), days in daily.items():
            exact = sum((c for d, c in days.items() if start <= d < ends[cluster].date()), Decimal(0))
            so_far[(tenant, cluster)] = to_cents(exact)
            whole_exact[tenant] += exact
        so_far |= {(tenant, None): to_cents(exact) for tenant, exact in whole_exact.items()}
    budgets = {(b.tenant, b.cluster): b.monthly for b in config.budgets}
    found = []
    for tenant in sorted({t for t, _ in so_far} | {t for t, _ in budgets}):
        whole = Decimal(0)
        for cluster in sorted(ends):
            ahead = projection(
                daily.get((tenant, cluster), {}), firsts.get((tenant, cluster)), ends[cluster], period, weeks
            )
            whole += ahead
            if (tenant, cluster) in so_far or (tenant, cluster) in budgets:
                cost = so_far.get((tenant, cluster), Decimal("0.00"))
                found.append(TenantMonth(tenant, cluster, period, cost, to_cents(cost + ahead),
                                         budgets.get((tenant, cluster)), ends[cluster]))  # fmt: skip
        cost = so_far.get((tenant, None), Decimal("0.00"))
        found.append(
            TenantMonth(
                tenant, None, period, cost, to_cents(cost + whole), budgets.get((tenant, None)), max(ends.values())
            )
        )
    return sorted(found, key=lambda m: (m.tenant, m.cluster or ""))
