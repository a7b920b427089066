"""The scheduler's alerts job end to end: a built warehouse whose last day is a spike and whose tenants are over
(or heading over) their budgets; the job fills /metrics with the figures `chargeback budgets` and `chargeback
anomalies` print, posts the alerts to a real Alertmanager and a Slack-compatible webhook with links to the
dashboard, and resolves a budget alert once the budget is raised."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from chargeback.cli import app
from chargeback.core import config as config_module
from chargeback.reports.budgets import tenant_months
from chargeback.scheduler.core import Scheduler
from chargeback.scheduler.jobs import RunRequest
from chargeback.scheduler.jobs import alerts as alerts_job
from tests.services.alertmanager import alertmanager, wait_for  # noqa: F401 - pytest fixture
from tests.services.receiver import Receiver
from tests.test_anomalies import spiky_months

DAYS, SPIKE = 63, 62  # 2026-10-01 .. 2026-12-02; the last day costs four times as much
DASHBOARD = "https://chargeback.example.com"


class Clock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def samples(scheduler: Scheduler, name: str) -> dict[tuple, float]:
    found = {}
    for family in text_string_to_metric_families(generate_latest(scheduler.metrics.registry).decode()):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def with_budgets(config: config_module.Config, budgets: list[dict], alerts: dict) -> config_module.Config:
    parsed = config_module.parse({"budgets": budgets, "alerts": alerts})
    jobs = config_module.parse({"schedule": {"jobs": [{"name": "alerts", "cron": "* * * * *", "run": "alerts"}]}})
    return config.model_copy(update={"budgets": parsed.budgets, "alerts": parsed.alerts, "schedule": jobs.schedule})


def test_the_alerts_job_serves_the_figures_and_delivers_budget_and_anomaly_alerts(tmp_path, alertmanager):  # noqa: F811
    server, _ = alertmanager
    built = spiky_months(tmp_path / "data", DAYS, SPIKE)
    months = {m.tenant: m for m in tenant_months(built) if m.cluster is None}
    a, b = months["team-a"], months["team-b"]
    assert a.period == "2026-12" and a.cost_to_date < a.forecast
    heading_over = (a.cost_to_date + a.forecast) / 2  # team-a: under budget so far, over by the month's end
    already_over = b.cost_to_date / 2  # team-b: over already
    with Receiver() as hook:
        channels = {"dashboard_url": DASHBOARD, "slack": {"webhook_url": hook.url},
                    "alertmanager": {"url": server.url}}  # fmt: skip
        budgets = [{"tenant": "team-a", "monthly": f"{heading_over:.2f}"},
                   {"tenant": "team-b", "monthly": f"{already_over:.2f}"}]  # fmt: skip
        config = with_budgets(built, budgets, channels)
        # the real time: Alertmanager ends an alert a few hours after the time it was posted at
        clock = Clock(datetime.now(UTC).replace(second=0, microsecond=0))  # the job runs every minute
        scheduler = Scheduler(config, clock=clock)
        scheduler.tick(clock.moment)

        # /metrics: the figures `chargeback budgets` prints, and the day's anomaly scores
        printed = CliRunner().invoke(app, ["budgets", "-f", "json", "--data-dir", str(config.data_dir)])
        rows = json.loads(printed.stdout)["tenants"]
        cost = samples(scheduler, "chargeback_tenant_cost_to_date")
        forecast = samples(scheduler, "chargeback_tenant_forecast")
        for row in rows:
            labels = (("cluster", row["cluster"] or ""), ("period", "2026-12"), ("tenant", row["tenant"]))
            assert f"{cost[labels]:.2f}" == row["cost_to_date"] and f"{forecast[labels]:.2f}" == row["forecast"]
        budget = samples(scheduler, "chargeback_tenant_budget")
        assert budget == {
            (("cluster", ""), ("period", "2026-12"), ("tenant", "team-a")): float(f"{heading_over:.2f}"),
            (("cluster", ""), ("period", "2026-12"), ("tenant", "team-b")): float(f"{already_over:.2f}"),
        }
        anomalous = samples(scheduler, "chargeback_cost_anomalous")
        flagged = {dict(labels)["tenant"] + "/" + dict(labels)["namespace"] for labels, v in anomalous.items() if v}
        assert flagged == {"team-a/", "team-a/alpha", "team-b/", "team-b/beta"}

        # `chargeback alerts` lists the same alerts (and sends nothing without --send)
        toml = tmp_path / "chargeback.toml"
        toml.write_text(
            f'data_dir = "{config.data_dir}"\n[tenancy]\nnamespace_label = "tenant"\n'
            + "".join(f'[[budgets]]\ntenant = "{b["tenant"]}"\nmonthly = {b["monthly"]}\n' for b in budgets)
        )
        listed = CliRunner().invoke(app, ["alerts", "-c", str(toml)], terminal_width=250)
        assert listed.exit_code == 0, listed.output
        assert listed.output.count("ChargebackCostAnomaly") == 4 and "ChargebackBudgetExceeded" in listed.output
        assert "bill?period=2026-12&tenant=team-a" in listed.output

        # the webhook: one message per alert, each naming its dashboard view
        names = sorted(_alert_names(hook.take()))
        assert names == sorted(
            ["ChargebackBudgetForecastExceeded team-a", "ChargebackBudgetExceeded team-b"]
            + ["ChargebackCostAnomaly team-a"] * 2
            + ["ChargebackCostAnomaly team-b"] * 2
        )
        # Alertmanager holds them, with the link to the tenant's bill page of the month
        held = wait_for(lambda: server.alerts(alertname="ChargebackBudgetForecastExceeded"))
        assert held[0]["labels"]["tenant"] == "team-a"
        assert held[0]["generatorURL"] == f"{DASHBOARD}/bill?period=2026-12&tenant=team-a"
        assert len(server.alerts(alertname="ChargebackCostAnomaly")) == 4

        # team-a's budget raised over its forecast: the next run resolves that alert, the others stay (the job's
        # action itself, at the real time: Alertmanager drops an alert once the end it was given has passed)
        raised = with_budgets(built, [{"tenant": "team-a", "monthly": f"{a.forecast + 100:.2f}"}, budgets[1]], channels)
        job = raised.schedule.jobs[0]
        later = datetime.now(UTC)
        assert alerts_job(RunRequest(raised, job, later, metrics=scheduler.metrics)).startswith("5 alert(s) active")
        resolved = [p.body for p in hook.take()]
        assert len(resolved) == 1 and "RESOLVED" in json.dumps(resolved[0]).upper()
        assert "team-a" in json.dumps(resolved[0])
        assert wait_for(lambda: not server.alerts(alertname="ChargebackBudgetForecastExceeded"))
        assert server.alerts(alertname="ChargebackBudgetExceeded")


def _alert_names(posts) -> list[str]:
    """``"<alertname> <tenant>"`` of each Slack message (its text names both)."""
    found = []
    for post in posts:
        text = json.dumps(post.body)
        name = next(n for n in ("ChargebackBudgetForecastExceeded", "ChargebackBudgetExceeded",
                                "ChargebackCostAnomaly") if n in text)  # fmt: skip
        tenant = next(t for t in ("team-a", "team-b") if t in text)
        found.append(f"{name} {tenant}")
    return found
