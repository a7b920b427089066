"""The scheduler's Prometheus metrics, in a registry of its own (one per scheduler, so tests can make many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Collect and build take seconds to tens of minutes; exports seconds.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)


class Metrics:
    def __init__(self, jobs: list[str], registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.last_success = Gauge(
            "chargeback_schedule_last_success_timestamp_seconds",
            "When the job last finished without error (Unix time).",
            ["job"],
            registry=r,
        )
        self.duration = Histogram(
            "chargeback_schedule_run_duration_seconds",
            "How long the job's runs took (failed runs included, skipped ones not).",
            ["job"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.runs = Counter("chargeback_schedule_runs", "Runs by outcome (ok, failed).", ["job", "outcome"], registry=r)
        self.failures = Counter("chargeback_schedule_failures", "Runs that failed.", ["job"], registry=r)
        self.consecutive_failures = Gauge(
            "chargeback_schedule_consecutive_failures", "Failed runs since the job's last success.", ["job"], registry=r
        )
        self.skipped = Counter(
            "chargeback_schedule_skipped_runs",
            "Fire times that got no run of their own: build_running (another build held the lock),"
            " coalesced (made up by one later run), catch_up_limit (missed beyond [schedule] max_catch_up).",
            ["job", "reason"],
            registry=r,
        )
        self.exports_waiting = Gauge(
            "chargeback_schedule_exports_waiting",
            "Billing months the export job is waiting to export (CUR not final, or no build since it landed).",
            ["job"],
            registry=r,
        )
        self.last_tick = Gauge(
            "chargeback_schedule_last_tick_timestamp_seconds", "When the loop last looked at the clock.", registry=r
        )
        # The figures of budgets and anomalies, refreshed by each run of an alerts job (the open month).
        money_labels = ["tenant", "cluster", "period"]
        self.cost_to_date = Gauge(
            "chargeback_tenant_cost_to_date",
            'The tenant\'s bill so far this month, in the configured currency (cluster="": every cluster).',
            money_labels,
            registry=r,
        )
        self.forecast = Gauge(
            "chargeback_tenant_forecast",
            'The tenant\'s month-end forecast, in the configured currency (cluster="": every cluster).',
            money_labels,
            registry=r,
        )
        self.budget = Gauge(
            "chargeback_tenant_budget",
            'The tenant\'s monthly budget ([[budgets]]), in the configured currency (cluster="": its whole bill).',
            money_labels,
            registry=r,
        )
        anomaly_labels = ["tenant", "namespace", "cluster"]
        self.anomaly_score = Gauge(
            "chargeback_cost_anomaly_score",
            "The last complete day's cost against the same weekday of earlier weeks: a robust z-score of their"
            ' log ratio (namespace="": the tenant\'s whole cost on the cluster).',
            anomaly_labels,
            registry=r,
        )
        self.anomalous = Gauge(
            "chargeback_cost_anomalous", "1 when that day's cost was flagged as an anomaly, else 0.", anomaly_labels,
            registry=r,
        )  # fmt: skip
        for job in jobs:  # every series exists from the start, at 0
            self.failures.labels(job)
            self.consecutive_failures.labels(job)
            for outcome in ("ok", "failed"):
                self.runs.labels(job, outcome)
            for reason in ("build_running", "coalesced", "catch_up_limit"):
                self.skipped.labels(job, reason)

    def set_costs(self, months: list, scores: list[dict]) -> None:
        """Replace the budget and anomaly series: ``months`` (``chargeback.reports.budgets.TenantMonth``) and
        ``scores`` (rows of ``chargeback.reports.anomalies.scored`` for one day, as dicts)."""
        for gauge in (self.cost_to_date, self.forecast, self.budget, self.anomaly_score, self.anomalous):
            gauge.clear()
        for month in months:
            labels = (month.tenant, month.cluster or "", month.period)
            self.cost_to_date.labels(*labels).set(float(month.cost_to_date))
            self.forecast.labels(*labels).set(float(month.forecast))
            if month.budget is not None:
                self.budget.labels(*labels).set(float(month.budget))
        for score in scores:
            labels = (score["tenant"], score["namespace"] or "", score["cluster"])
            self.anomaly_score.labels(*labels).set(score["score"])
            self.anomalous.labels(*labels).set(1 if score["anomalous"] else 0)
