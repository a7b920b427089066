"""Budget and anomaly alerts delivered to Alertmanager, a Slack-compatible webhook and email, deduplicated and
resolved when their condition clears (docs/alerts.md).

``deliver(config, active, now)`` is called every hour (by ``chargeback alerts`` and the scheduler) with the
alerts active now, possibly none. What each channel was sent is kept in ``<data_dir>/state/alerts.json``,
rewritten atomically:

- an alert newly active is sent as firing to every configured channel;
- one still active is sent again to Slack and email only once ``[alerts] repeat_hours`` have passed since it
  was last sent there, but is posted to Alertmanager on every call (Alertmanager expects alerts re-posted; each
  post ends a few hours later, so they resolve by themselves if chargeback stops);
- one that was active and is no longer is sent as resolved to each channel that had it as firing, then dropped.

A channel that fails is reported in the returned ``Delivery`` with one line naming it and the cause; the other
channels go on, and what it did not get is sent on the next call.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from chargeback.core.config import Config
from chargeback.core.errors import ChargebackError
from chargeback.core.http import RetryPolicy
from chargeback.core.times import iso, parse_iso
from chargeback.exports.alert_channels import (
    ChannelError,
    Outgoing,
    link,
    send_alertmanager,
    send_email,
    send_slack,
)

CHANNELS = ("alertmanager", "slack", "smtp")  # in the order they are sent to
STATE_FILE = Path("state") / "alerts.json"  # relative to data_dir
# Fewer tries than a collector's: an alert not delivered now is delivered by the next hourly call.
ALERT_RETRY = RetryPolicy(attempts=3, backoff_seconds=1.0, max_backoff_seconds=10.0, max_retry_after_seconds=30.0)


@dataclass(frozen=True)
class Alert:
    key: str  # stable identity across runs: "budget-forecast/2026-10/ml/", "anomaly/2026-10-14/ml/etl/prod"
    name: str  # the alertname: ChargebackBudgetForecastExceeded, ChargebackBudgetExceeded, ChargebackCostAnomaly
    severity: str  # warning or critical
    labels: dict[str, str]  # tenant, cluster, namespace, period: only non-empty ones
    summary: str  # one line
    description: str  # a few sentences with the figures
    path: str  # the dashboard view that explains it, relative: "bill?period=2026-10&tenant=ml"
    starts_at: datetime  # UTC

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"starts_at": iso(self.starts_at)}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Alert:
        return Alert(**(data | {"starts_at": parse_iso(data["starts_at"])}))


@dataclass
class ChannelDelivery:
    """What one channel was sent by one call: alert keys sent as firing (new or repeated), sent as resolved,
    skipped as already sent within ``repeat_hours``, and the error that stopped it, if any."""

    firing: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class Delivery:
    """What ``deliver`` did, per configured channel (none configured: empty)."""

    channels: dict[str, ChannelDelivery] = field(default_factory=dict)

    @property
    def errors(self) -> list[str]:
        return [c.error for c in self.channels.values() if c.error]

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        """One line per channel, for the CLI and the scheduler's log."""
        return [
            f"{name}: {len(c.firing)} firing, {len(c.resolved)} resolved, {len(c.skipped)} already sent"
            + (f"; {c.error}" if c.error else "")
            for name, c in self.channels.items()
        ]


@dataclass
class Sent:
    """What one channel was sent of one alert: when it was last sent as firing, and whether as resolved."""

    firing_at: str | None = None  # ISO UTC
    resolved: bool = False


@dataclass
class Tracked:
    alert: Alert
    resolved_at: str | None = None  # ISO UTC: when a call first found it no longer active
    sent: dict[str, Sent] = field(default_factory=dict)

    def channel(self, name: str) -> Sent:
        return self.sent.setdefault(name, Sent())


class AlertState:
    """``<data_dir>/state/alerts.json``: every alert some channel has had as firing and not yet as resolved."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / STATE_FILE
        self.alerts: dict[str, Tracked] = {}
        if self.path.is_file():
            try:
                raw = json.loads(self.path.read_text())
                self.alerts = {
                    key: Tracked(
                        alert=Alert.from_json(entry["alert"]),
                        resolved_at=entry.get("resolved_at"),
                        sent={name: Sent(**sent) for name, sent in entry.get("sent", {}).items()},
                    )
                    for key, entry in raw.get("alerts", {}).items()
                }
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ChargebackError(
                    f"{self.path}: unreadable alert state ({exc}); move it aside to start over"
                    " (alerts active now are then sent again)"
                ) from None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        entries = {
            key: {
                "alert": tracked.alert.to_json(),
                "resolved_at": tracked.resolved_at,
                "sent": {name: asdict(sent) for name, sent in sorted(tracked.sent.items())},
            }
            for key, tracked in sorted(self.alerts.items())
        }
        try:
            temporary.write_text(json.dumps({"alerts": entries}, indent=2) + "\n")
            os.replace(temporary, self.path)
        finally:
            if temporary.exists():  # a failed write (a full disk) leaves no partial file
                temporary.unlink()


def configured(config: Config) -> list[str]:
    settings = config.alerts
    return [name for name in CHANNELS if getattr(settings, name) is not None]


def track(state: AlertState, active: Sequence[Alert], now: datetime) -> None:
    """Bring the state up to date with the alerts active now: new ones tracked, details refreshed, those gone
    marked resolved, and one that fires again after a delivered resolution starts over on that channel."""
    by_key = {alert.key: alert for alert in active}
    if len(by_key) != len(active):
        raise ValueError("two active alerts share a key")
    for key, alert in by_key.items():
        tracked = state.alerts.get(key)
        if tracked is None:
            state.alerts[key] = Tracked(alert)
            continue
        tracked.alert = alert
        if tracked.resolved_at is not None:
            tracked.resolved_at = None
            for name, sent in tracked.sent.items():
                if sent.resolved:
                    tracked.sent[name] = Sent()
    for key, tracked in state.alerts.items():
        if key not in by_key and tracked.resolved_at is None:
            tracked.resolved_at = iso(now)


def due(
    tracked: Tracked, channel: str, now: datetime, repeat: timedelta, dashboard_url: str | None
) -> tuple[str, Outgoing | None]:
    """What ``channel`` is to be sent of ``tracked`` now: ("firing" | "resolved", the alert as sent), ("skipped",
    None) when it was sent within ``repeat``, or ("", None) when nothing is owed."""
    sent = tracked.sent.get(channel, Sent())
    where = link(dashboard_url, tracked.alert.path)
    if tracked.resolved_at is not None:
        if sent.firing_at is not None and not sent.resolved:
            return "resolved", Outgoing(tracked.alert, where, resolved_at=parse_iso(tracked.resolved_at))
        return "", None
    if channel == "alertmanager" or sent.firing_at is None or now - parse_iso(sent.firing_at) >= repeat:
        return "firing", Outgoing(tracked.alert, where, repeat=sent.firing_at is not None)
    return "skipped", None


def send(
    config: Config,
    channel: str,
    firing: list[Outgoing],
    resolved: list[Outgoing],
    now: datetime,
    policy: RetryPolicy,
    on_sent: Any,
) -> None:
    """Send to ``channel``, calling ``on_sent(item)`` for each alert once it is delivered."""
    settings = config.alerts
    if channel == "alertmanager":
        assert settings.alertmanager is not None
        send_alertmanager(settings.alertmanager, firing, resolved, now, policy)
        for item in [*firing, *resolved]:
            on_sent(item)
    elif channel == "slack":
        assert settings.slack is not None
        for item in [*firing, *resolved]:  # one POST each: those sent before a failure stay sent
            send_slack(settings.slack, item, policy)
            on_sent(item)
    else:
        assert settings.smtp is not None
        send_email(settings.smtp, firing, resolved, now)
        for item in [*firing, *resolved]:
            on_sent(item)


def deliver(config: Config, active: Sequence[Alert], now: datetime, *, policy: RetryPolicy = ALERT_RETRY) -> Delivery:
    """Send ``active`` (the alerts active at ``now``) and the resolutions of those no longer active to every
    channel of ``[alerts]``; ``policy`` is the HTTP retry policy of Alertmanager and the webhook."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware UTC datetime")
    channels = configured(config)
    if not channels:
        return Delivery()
    state = AlertState(config.data_dir)
    track(state, active, now)
    repeat = timedelta(hours=config.alerts.repeat_hours)
    delivery = Delivery()
    for channel in channels:
        report = delivery.channels[channel] = ChannelDelivery()
        firing: list[Outgoing] = []
        resolved: list[Outgoing] = []
        for key, tracked in sorted(state.alerts.items()):
            what, item = due(tracked, channel, now, repeat, config.alerts.dashboard_url)
            if item is not None:
                (resolved if what == "resolved" else firing).append(item)
            elif what == "skipped":
                report.skipped.append(key)

        def on_sent(item: Outgoing, channel: str = channel, report: ChannelDelivery = report) -> None:
            sent = state.alerts[item.alert.key].channel(channel)
            if item.resolved_at is not None:
                sent.resolved = True
                report.resolved.append(item.alert.key)
            else:
                sent.firing_at = iso(now)
                report.firing.append(item.alert.key)

        try:
            send(config, channel, firing, resolved, now, policy, on_sent)
        except ChannelError as exc:
            report.error = str(exc)
    for key in [k for k, t in state.alerts.items() if t.resolved_at is not None]:
        pending = [c for c in channels if (s := state.alerts[key].sent.get(c)) and s.firing_at and not s.resolved]
        if not pending:
            del state.alerts[key]
    state.save()
    return delivery
