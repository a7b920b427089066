"""Configuration of budgets, anomaly detection and where alerts go: ``[[budgets]]``, ``[anomalies]``, ``[alerts]``.
Part of ``chargeback.core.config``, which re-exports every name here; documented in ``chargeback.example.toml``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import Field, model_validator

from chargeback.core.config_collect import Strict


class Budget(Strict):
    """``[[budgets]]``: a tenant's monthly budget, for every cluster together or for one (``cluster``)."""

    tenant: str = Field(min_length=1)
    monthly: Decimal = Field(gt=0, decimal_places=2)  # in the configured currency
    cluster: str | None = None  # None: the tenant's whole bill


class AnomalySettings(Strict):
    """``[anomalies]``: daily cost per tenant and namespace against the same weekday of the weeks before."""

    enabled: bool = True
    baseline_weeks: int = Field(default=4, ge=2, le=26)  # same weekdays compared with (a weekly cycle)
    threshold: float = Field(default=4.0, gt=0)  # robust z-score (deviation over scaled MAD) that flags a day
    min_change: Decimal = Field(default=Decimal("10"), ge=0)  # and the day differs from its baseline by this much


class AlertmanagerSettings(Strict):
    url: str = Field(pattern=r"^https?://")  # Alertmanager's base URL: alerts are POSTed to <url>/api/v2/alerts
    timeout_seconds: float = Field(default=10, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)


class SlackSettings(Strict):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat)."""

    webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    webhook_url_file: Path | None = None  # a file holding it (a mounted secret)
    timeout_seconds: float = Field(default=10, gt=0)

    @model_validator(mode="after")
    def _one_url(self) -> SlackSettings:
        if (self.webhook_url is None) == (self.webhook_url_file is None):
            raise ValueError("set one of webhook_url or webhook_url_file")
        return self


class SmtpSettings(Strict):
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: str = Field(default="starttls", pattern=r"^(starttls|ssl|none)$")
    username: str | None = None
    password_file: Path | None = None
    from_address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    to: tuple[str, ...] = Field(min_length=1)
    timeout_seconds: float = Field(default=30, gt=0)


class AlertSettings(Strict):
    """``[alerts]``: where budget and anomaly alerts go (any of the three), and the dashboard their links open."""

    dashboard_url: str | None = Field(default=None, pattern=r"^https?://")  # e.g. https://chargeback.example.com
    alertmanager: AlertmanagerSettings | None = None
    slack: SlackSettings | None = None
    smtp: SmtpSettings | None = None
    repeat_hours: int = Field(default=24, ge=1, le=24 * 31)  # a still-firing alert is sent to Slack and email again
