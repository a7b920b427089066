"""Alert delivery (chargeback/exports/alerts.py) against real local services: Debian's Alertmanager (its v2 API
read back, and the webhook it notifies), a local HTTP endpoint as the Slack-compatible webhook, and an aiosmtpd
SMTP server. Dedup, repeat after ``repeat_hours``, resolution, and a failing channel that neither stops the
others nor loses what it did not get."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chargeback.core.config import AlertmanagerSettings, AlertSettings, Config, SlackSettings, SmtpSettings
from chargeback.core.errors import ChargebackError
from chargeback.core.http import RetryPolicy
from chargeback.exports.alerts import Alert, Delivery, deliver
from tests.services.alertmanager import AlertmanagerServer, alertmanager, wait_for  # noqa: F401 - a fixture
from tests.services.receiver import Receiver
from tests.services.smtp import SmtpServer, smtp_server  # noqa: F401 - a fixture

DASHBOARD = "https://chargeback.example.com"
FAST = RetryPolicy(attempts=2, backoff_seconds=0.01, max_backoff_seconds=0.01)
T0 = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)


def budget_alert(tenant: str = "ml", cluster: str = "", starts_at: datetime = T0) -> Alert:
    labels = {"tenant": tenant, "period": "2026-10"} | ({"cluster": cluster} if cluster else {})
    return Alert(
        key=f"budget-forecast/2026-10/{tenant}/{cluster}",
        name="ChargebackBudgetForecastExceeded",
        severity="warning",
        labels=labels,
        summary=f"{tenant}'s October forecast exceeds its budget",
        description=f"{tenant} is forecast to spend USD 1,482.17 in 2026-10, over its budget of USD 1,200.00"
        " (123%). USD 803.40 so far.",
        path=f"bill?period=2026-10&tenant={tenant}",
        starts_at=starts_at,
    )


def anomaly_alert(tenant: str = "ml") -> Alert:
    return Alert(
        key=f"anomaly/2026-10-19/{tenant}/etl/prod-analytics",
        name="ChargebackCostAnomaly",
        severity="warning",
        labels={"tenant": tenant, "namespace": "etl", "cluster": "prod-analytics"},
        summary=f"{tenant}/etl cost USD 412.50 on 2026-10-19, usually USD 96.00",
        description="etl in prod-analytics cost USD 412.50 on Monday 2026-10-19 against a median of USD 96.00"
        " on the four Mondays before (robust z-score 7.9).",
        path=f"bill?period=2026-10&cluster=prod-analytics&tenant={tenant}",
        starts_at=T0,
    )


def config(tmp_path: Path, **channels: object) -> Config:
    settings = AlertSettings(dashboard_url=channels.pop("dashboard_url", DASHBOARD), **channels)  # type: ignore[arg-type]
    return Config(data_dir=tmp_path / "data", alerts=settings)


def counts(delivery: Delivery, channel: str) -> tuple[int, int, int]:
    c = delivery.channels[channel]
    return len(c.firing), len(c.resolved), len(c.skipped)


def state(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "data" / "state" / "alerts.json").read_text())["alerts"]


def test_without_a_channel_nothing_is_sent_or_recorded(tmp_path):
    assert deliver(config(tmp_path), [budget_alert()], T0) == Delivery()
    assert not (tmp_path / "data" / "state").exists()


# --- Alertmanager ------------------------------------------------------------------------------------------


def test_alertmanager_holds_the_alert_with_its_labels_and_link_until_it_resolves(tmp_path, alertmanager):  # noqa: F811
    server, hook = alertmanager
    settings = config(tmp_path, alertmanager=AlertmanagerSettings(url=server.url, headers={"X-Scope-OrgID": "finops"}))
    alert = budget_alert("am-tenant", cluster="prod-analytics")
    now = datetime.now(UTC).replace(microsecond=0)

    delivery = deliver(settings, [alert], now, policy=FAST)
    assert counts(delivery, "alertmanager") == (1, 0, 0) and delivery.ok
    [held] = server.alerts(tenant="am-tenant")
    assert held["labels"] == {
        "alertname": "ChargebackBudgetForecastExceeded",
        "severity": "warning",
        "tenant": "am-tenant",
        "cluster": "prod-analytics",
        "period": "2026-10",
    }
    link = f"{DASHBOARD}/bill?period=2026-10&tenant=am-tenant"
    assert held["annotations"] == {"summary": alert.summary, "description": alert.description, "dashboard": link}
    assert held["generatorURL"] == link
    assert held["status"]["state"] == "active"
    assert held["startsAt"].startswith("2026-10-20T09:00:00")
    ends = datetime.fromisoformat(held["endsAt"].replace("Z", "+00:00"))
    assert timedelta(hours=3) < ends - now <= timedelta(hours=4)  # resolves by itself if chargeback stops
    notified = wait_for(lambda: [p for p in hook.posts if p.body["commonLabels"].get("tenant") == "am-tenant"])
    assert notified[0].body["status"] == "firing"

    # Still active an hour later: posted again (Alertmanager expects it), never deduplicated.
    later = now + timedelta(seconds=1)
    assert counts(deliver(settings, [alert], later, policy=FAST), "alertmanager") == (1, 0, 0)
    assert len(server.alerts(tenant="am-tenant")) == 1

    # The condition clears: posted once as resolved (endsAt now), then forgotten.
    cleared = datetime.now(UTC)
    assert counts(deliver(settings, [], cleared, policy=FAST), "alertmanager") == (0, 1, 0)
    assert wait_for(lambda: not server.alerts(tenant="am-tenant"))
    resolved = wait_for(
        lambda: [
            p
            for p in hook.posts
            if p.body["commonLabels"].get("tenant") == "am-tenant" and p.body["status"] == "resolved"
        ]
    )
    assert resolved, "Alertmanager did not notify the resolution"
    assert state(tmp_path) == {}
    assert counts(deliver(settings, [], cleared, policy=FAST), "alertmanager") == (0, 0, 0)


def test_alertmanager_without_a_dashboard_url_gets_the_path_as_annotation_and_no_generator_url(tmp_path, alertmanager):  # noqa: F811
    """Alertmanager refuses a relative generatorURL (HTTP 422): the path goes in the annotation only."""
    server, _ = alertmanager
    settings = config(tmp_path, dashboard_url=None, alertmanager=AlertmanagerSettings(url=server.url))
    alert = anomaly_alert("am-nolink")
    delivery = deliver(settings, [alert], datetime.now(UTC), policy=FAST)
    assert delivery.ok, delivery.errors
    [held] = server.alerts(tenant="am-nolink")
    assert held["annotations"]["dashboard"] == "bill?period=2026-10&cluster=prod-analytics&tenant=am-nolink"
    assert not held.get("generatorURL")
    assert held["labels"]["namespace"] == "etl" and held["labels"]["alertname"] == "ChargebackCostAnomaly"
    deliver(settings, [], datetime.now(UTC), policy=FAST)


# --- Slack-compatible webhook ----------------------------------------------------------------------------


def test_slack_gets_firing_once_then_again_after_repeat_hours_then_resolved(tmp_path):
    with Receiver() as hook:
        settings = config(
            tmp_path, slack=SlackSettings(webhook_url=f"{hook.url}/services/T0/B0/secret"), repeat_hours=24
        )
        alert = budget_alert()

        assert counts(deliver(settings, [alert], T0), "slack") == (1, 0, 0)
        [post] = hook.take()
        assert post.path == "/services/T0/B0/secret"
        header, description, pointer, context = post.body["blocks"]
        assert header == {"type": "header", "text": {"type": "plain_text", "text": f"FIRING: {alert.summary}"}}
        assert "USD 1,482.17" in description["text"]["text"] and "USD 1,200.00" in description["text"]["text"]
        link = f"{DASHBOARD}/bill?period=2026-10&tenant=ml"
        assert pointer["text"]["text"] == f"<{link}|Open in the chargeback dashboard>"
        assert "ChargebackBudgetForecastExceeded" in context["elements"][0]["text"]
        assert post.body["text"].startswith(f"FIRING: {alert.summary}") and link in post.body["text"]

        # Deduplicated within repeat_hours: nothing sent.
        delivery = deliver(settings, [alert], T0 + timedelta(hours=23, minutes=59))
        assert counts(delivery, "slack") == (0, 0, 1) and delivery.channels["slack"].skipped == [alert.key]
        assert hook.take() == []

        # Sent again once repeat_hours have passed since it was last sent.
        assert counts(deliver(settings, [alert], T0 + timedelta(hours=24)), "slack") == (1, 0, 0)
        [again] = hook.take()
        assert again.body["blocks"][0]["text"]["text"] == f"STILL FIRING: {alert.summary}"
        assert counts(deliver(settings, [alert], T0 + timedelta(hours=25)), "slack") == (0, 0, 1)

        # Gone: one resolved message, then nothing.
        assert counts(deliver(settings, [], T0 + timedelta(hours=26)), "slack") == (0, 1, 0)
        [resolved] = hook.take()
        assert resolved.body["blocks"][0]["text"]["text"] == f"RESOLVED: {alert.summary}"
        assert counts(deliver(settings, [], T0 + timedelta(hours=27)), "slack") == (0, 0, 0)
        assert hook.take() == [] and state(tmp_path) == {}

        # Firing again later is new again.
        assert counts(deliver(settings, [alert], T0 + timedelta(hours=28)), "slack") == (1, 0, 0)
        assert hook.take()[0].body["blocks"][0]["text"]["text"].startswith("FIRING: ")


def test_slack_webhook_url_from_a_file_and_only_new_alerts_sent_while_others_are_deduplicated(tmp_path):
    with Receiver() as hook:
        secret = tmp_path / "slack-webhook"
        secret.write_text(f"{hook.url}/hooks/abc\n")
        settings = config(tmp_path, dashboard_url=None, slack=SlackSettings(webhook_url_file=secret))
        first, second = budget_alert(), anomaly_alert()
        deliver(settings, [first], T0)
        assert [p.path for p in hook.take()] == ["/hooks/abc"]
        delivery = deliver(settings, [first, second], T0 + timedelta(hours=1))
        assert delivery.channels["slack"].firing == [second.key]
        assert delivery.channels["slack"].skipped == [first.key]
        [post] = hook.take()
        assert post.body["blocks"][2]["text"]["text"] == second.path  # no dashboard_url: the path alone
        assert second.path in post.body["text"]


# --- email ------------------------------------------------------------------------------------------------


def smtp_settings(server: SmtpServer, **overrides: object) -> SmtpSettings:
    fields = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": "none",
        "from_address": "chargeback@example.com",
        "to": ("finops@example.com", "ml-leads@example.com"),
        "timeout_seconds": 5,
    }
    return SmtpSettings(**(fields | overrides))


def bodies(message) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",)).get_content()
    markup = message.get_body(preferencelist=("html",)).get_content()
    return plain, markup


def test_email_lists_new_alerts_in_one_message_then_the_resolved_ones(tmp_path, smtp_server):  # noqa: F811
    settings = config(tmp_path, smtp=smtp_settings(smtp_server))
    budget, anomaly = budget_alert(), anomaly_alert()

    assert counts(deliver(settings, [budget, anomaly], T0), "smtp") == (2, 0, 0)
    [received] = smtp_server.take()
    assert received.mail_from == "chargeback@example.com"
    assert received.rcpt_tos == ["finops@example.com", "ml-leads@example.com"]
    message = received.message
    assert message["Subject"] == "[chargeback] 2 alerts firing"
    assert message["From"] == "chargeback@example.com"
    assert message["To"] == "finops@example.com, ml-leads@example.com"
    plain, markup = bodies(message)
    for text in ("USD 1,482.17", "USD 1,200.00", "USD 412.50", budget.summary):
        assert text in plain
    assert f"  {DASHBOARD}/bill?period=2026-10&tenant=ml" in plain.splitlines()
    assert f'<a href="{DASHBOARD}/bill?period=2026-10&amp;cluster=prod-analytics&amp;tenant=ml">' in markup
    assert "USD 412.50" in markup

    # An hour later the anomaly is gone and the budget alert still fires: one message, the resolution only.
    delivery = deliver(settings, [budget], T0 + timedelta(hours=1))
    assert counts(delivery, "smtp") == (0, 1, 1)
    [received] = smtp_server.take()
    assert received.message["Subject"] == "[chargeback] 1 resolved"
    plain, _ = bodies(received.message)
    assert anomaly.summary in plain and budget.summary not in plain

    # Nothing new: no message at all.
    assert counts(deliver(settings, [budget], T0 + timedelta(hours=2)), "smtp") == (0, 0, 1)
    assert smtp_server.take() == []


def test_email_logs_in_with_the_password_from_its_file(tmp_path):
    server = SmtpServer(credentials=("chargeback", "s3cret pass")).start()
    try:
        password = tmp_path / "smtp-password"
        password.write_text("s3cret pass\n")
        settings = config(tmp_path, smtp=smtp_settings(server, username="chargeback", password_file=password))
        assert deliver(settings, [budget_alert()], T0).ok
        assert server.logins == ["chargeback"] and len(server.take()) == 1
    finally:
        server.stop()


def test_starttls_against_a_server_without_it_fails_in_one_line_naming_the_host_and_is_retried(tmp_path, smtp_server):  # noqa: F811
    settings = config(tmp_path, smtp=smtp_settings(smtp_server, security="starttls"))
    delivery = deliver(settings, [budget_alert()], T0)
    [error] = delivery.errors
    assert error.startswith(f"smtp: 127.0.0.1:{smtp_server.port}: ") and "STARTTLS" in error and "\n" not in error
    assert counts(delivery, "smtp") == (0, 0, 0) and smtp_server.take() == []
    fixed = config(tmp_path, smtp=smtp_settings(smtp_server))
    assert counts(deliver(fixed, [budget_alert()], T0 + timedelta(minutes=5)), "smtp") == (1, 0, 0)


# --- failures ---------------------------------------------------------------------------------------------


def test_a_failing_channel_does_not_stop_the_others_and_gets_its_alerts_next_time(tmp_path, alertmanager, smtp_server):  # noqa: F811
    server, _ = alertmanager
    with Receiver() as hook:
        closed = Receiver().start()
        closed_origin = closed.url
        closed.stop()  # nothing listens there now: connection refused
        channels = {"alertmanager": AlertmanagerSettings(url=server.url), "smtp": smtp_settings(smtp_server)}
        down = config(
            tmp_path, slack=SlackSettings(webhook_url=f"{closed_origin}/services/T0/B0/secret-token"), **channels
        )
        alert, brief = budget_alert("fail-tenant"), anomaly_alert("fail-tenant")
        now = datetime.now(UTC)

        delivery = deliver(down, [alert, brief], now, policy=FAST)
        [error] = delivery.errors
        assert error.startswith(f"slack: cannot reach webhook {closed_origin} after 2 tries: ")
        assert "\n" not in error and "secret-token" not in error  # the webhook's path is its secret
        assert counts(delivery, "alertmanager") == (2, 0, 0) and counts(delivery, "smtp") == (2, 0, 0)
        assert len(server.alerts(tenant="fail-tenant")) == 2 and len(smtp_server.take()) == 1

        # The anomaly clears while Slack is down: Slack never had it, so it gets no resolution for it either.
        up = config(tmp_path, slack=SlackSettings(webhook_url=f"{hook.url}/hook"), **channels)
        later = now + timedelta(hours=1)
        delivery = deliver(up, [alert], later, policy=FAST)
        assert delivery.ok
        assert delivery.channels["slack"].firing == [alert.key] and delivery.channels["slack"].resolved == []
        assert counts(delivery, "smtp") == (0, 1, 1) and counts(delivery, "alertmanager") == (1, 1, 0)
        assert [p.body["blocks"][0]["text"]["text"] for p in hook.take()] == [f"FIRING: {alert.summary}"]

        # A webhook answering 503 on every try: reported with the status, retried on the next call.
        hook.statuses.extend([503, 503])
        delivery = deliver(up, [], later + timedelta(minutes=1), policy=FAST)
        assert delivery.channels["slack"].error == (
            f"slack: HTTP 503 from webhook {hook.url} after 2 tries: upstream unavailable"
        )
        assert counts(delivery, "alertmanager") == (0, 1, 0) and counts(delivery, "smtp") == (0, 1, 0)
        assert list(state(tmp_path)) == [alert.key]  # kept until Slack has the resolution
        delivery = deliver(up, [], later + timedelta(minutes=2), policy=FAST)
        assert delivery.channels["slack"].resolved == [alert.key] and delivery.ok
        assert [p.body["blocks"][0]["text"]["text"] for p in hook.take()] == [f"RESOLVED: {alert.summary}"]
        assert state(tmp_path) == {}


def test_an_unreadable_state_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "data" / "state" / "alerts.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with Receiver() as hook, pytest.raises(ChargebackError, match="alerts.json: unreadable alert state"):
        deliver(config(tmp_path, slack=SlackSettings(webhook_url=hook.url)), [budget_alert()], T0)


def test_alertmanager_requests_carry_the_configured_headers(tmp_path):
    """What goes over the wire (Alertmanager does not show request headers): a tenant header for a multi-tenant
    Alertmanager such as Mimir's, and the JSON list of the v2 API."""
    with Receiver() as hook:
        headers = {"X-Scope-OrgID": "finops"}
        settings = config(tmp_path, alertmanager=AlertmanagerSettings(url=f"{hook.url}/am/", headers=headers))
        deliver(settings, [budget_alert()], T0, policy=FAST)
        [post] = hook.take()
        assert post.path == "/am/api/v2/alerts"
        assert post.headers["X-Scope-OrgID"] == "finops" and post.headers["Content-Type"] == "application/json"
        [posted] = post.body
        assert posted["startsAt"] == "2026-10-20T09:00:00Z" and posted["endsAt"] == "2026-10-20T13:00:00Z"
