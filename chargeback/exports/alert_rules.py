"""Which budget and anomaly alerts are active now: the conditions ``chargeback alerts`` and the scheduler's alerts
job hand to ``chargeback.exports.alerts.deliver`` every hour, with the figures they come from (which the scheduler
also serves as metrics). The Prometheus rules in deploy/prometheus say the same over those metrics.

- **ChargebackBudgetExceeded** (critical): a tenant's bill so far this month is over its budget.
- **ChargebackBudgetForecastExceeded** (warning): its month-end forecast is over its budget (and the bill so far
  is not yet: then the critical one fires instead).
- **ChargebackCostAnomaly** (warning): the last complete day's cost of a tenant, or of one of its namespaces, on a
  cluster was anomalous (``chargeback.reports.anomalies``).

Budget alerts are about the open month: they clear when the forecast (or the bill) comes back under the budget, or
the month ends. An anomaly alert is about one day: it clears the next day, unless that day is anomalous too (a new
alert, of its own day). Each alert links to the dashboard's bill page of its tenant, month and cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from chargeback.core.config import Config
from chargeback.core.errors import DataError
from chargeback.exports.alerts import Alert
from chargeback.reports.anomalies import Anomaly, last_complete_day, scored
from chargeback.reports.budgets import TenantMonth, tenant_months

BILL_PAGE = "bill"  # the dashboard's tenant bill page (dashboards/app.py)


@dataclass(frozen=True)
class Evaluation:
    months: list[TenantMonth]  # every tenant's open month (the figures of the budget metrics)
    day: date | None  # the last complete day, whose costs were scored
    scores: list[dict]  # every tenant's and namespace's score that day (the anomaly metrics)
    alerts: list[Alert]


def _path(period: str, tenant: str, cluster: str | None) -> str:
    query = {"period": period, "tenant": tenant} | ({"cluster": cluster} if cluster else {})
    return f"{BILL_PAGE}?{urlencode(query)}"


def _money(amount, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def budget_alert(month: TenantMonth, currency: str, now: datetime) -> Alert | None:
    """The alert a tenant's month raises against its budget, if any."""
    if month.budget is None or not month.forecast_over_budget:
        return None
    scope = f" on {month.cluster}" if month.cluster else ""
    figures = (
        f"Cost so far {_money(month.cost_to_date, currency)} (data through {month.through:%Y-%m-%d %H:%M} UTC), "
        f"month-end forecast {_money(month.forecast, currency)}, budget {_money(month.budget, currency)}."
    )
    labels = {"tenant": month.tenant, "period": month.period} | ({"cluster": month.cluster} if month.cluster else {})
    scope_key = f"{month.period}/{month.tenant}/{month.cluster or ''}"
    if month.over_budget:
        name, severity, key = "ChargebackBudgetExceeded", "critical", f"budget/{scope_key}"
        summary = (
            f"{month.tenant}'s bill for {month.period}{scope} is over its budget: "
            f"{_money(month.cost_to_date, currency)} against {_money(month.budget, currency)}"
        )
    else:
        name, severity, key = "ChargebackBudgetForecastExceeded", "warning", f"budget-forecast/{scope_key}"
        summary = (
            f"{month.tenant}'s forecast for {month.period}{scope} is over its budget: "
            f"{_money(month.forecast, currency)} against {_money(month.budget, currency)}"
        )
    return Alert(key, name, severity, labels, summary, figures, _path(month.period, month.tenant, month.cluster), now)


def anomaly_alert(anomaly: Anomaly, currency: str) -> Alert:
    """The alert of an anomalous day (known from the midnight after it)."""
    what = f"namespace {anomaly.namespace} of {anomaly.tenant}" if anomaly.namespace else anomaly.tenant
    ratio = f"{anomaly.cost / anomaly.baseline:.1f}x" if anomaly.baseline else "up from nothing"
    summary = (
        f"{what} on {anomaly.cluster} cost {_money(anomaly.cost, currency)} on {anomaly.date} ({anomaly.direction}: "
        f"{ratio} its usual {_money(anomaly.baseline, currency)})"
    )
    description = (
        f"The day's cost against the same weekday of the weeks before: score {anomaly.score:+.1f} "
        f"(anomalous from 4 by default; `chargeback anomalies --since {anomaly.date}`)."
        + (" A drop is often a collection that stopped: see `chargeback status`." if anomaly.score < 0 else "")
    )
    labels = {"tenant": anomaly.tenant, "cluster": anomaly.cluster, "day": str(anomaly.date)}
    labels |= {"namespace": anomaly.namespace} if anomaly.namespace else {}
    key = f"anomaly/{anomaly.date}/{anomaly.cluster}/{anomaly.tenant}/{anomaly.namespace or ''}"
    known = datetime(anomaly.date.year, anomaly.date.month, anomaly.date.day, tzinfo=UTC) + timedelta(days=1)
    period = f"{anomaly.date:%Y-%m}"
    path = _path(period, anomaly.tenant, anomaly.cluster)
    return Alert(key, "ChargebackCostAnomaly", "warning", labels, summary, description, path, known)


def evaluate(config: Config, now: datetime) -> Evaluation:
    """The budget and anomaly figures of the published warehouse and the alerts active now."""
    try:
        months = tenant_months(config)
    except DataError:
        months = []  # no costs yet: nothing to alert on
    alerts = [a for a in (budget_alert(m, config.currency, now) for m in months) if a is not None]
    day = last_complete_day(config) if months else None
    scores: list[dict] = []
    if day is not None and config.anomalies.enabled:
        frame = scored(config, day, day)
        scores = frame.to_dicts()
        alerts += [anomaly_alert(Anomaly.of(row), config.currency) for row in scores if row["anomalous"]]
    return Evaluation(months, day, scores, sorted(alerts, key=lambda a: a.key))
