"""Where alerts go: Alertmanager's v2 API, a Slack-compatible incoming webhook, email over SMTP.

Each channel sends what ``chargeback.exports.alerts.deliver`` hands it (alerts to send as firing, alerts to
send as resolved) and raises ``ChannelError`` with one line naming the channel, where it sent and why it
failed; it keeps no state of its own. A Slack webhook URL holds a secret token: messages name its host only.
"""

from __future__ import annotations

import html
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

from chargeback.core.config import AlertmanagerSettings, SlackSettings, SmtpSettings
from chargeback.core.http import RetryPolicy, retrying_session
from chargeback.core.times import iso

if TYPE_CHECKING:
    from chargeback.exports.alerts import Alert

# A firing alert posted to Alertmanager ends this long after the post unless posted again: deliver runs
# hourly, so Alertmanager resolves an alert by itself a few missed runs after chargeback stops.
ALERTMANAGER_HOLD = timedelta(hours=4)
SLACK_HEADER_CHARS = 150  # Slack refuses a header block's text longer than this


class ChannelError(Exception):
    """A channel could not deliver; the message is one line naming the channel, the target and the cause."""


@dataclass(frozen=True)
class Outgoing:
    """An alert as a channel sends it: ``repeat`` when the channel was sent it before (still firing),
    ``resolved_at`` when it is sent as resolved."""

    alert: Alert
    link: str  # the dashboard view that explains it: an absolute URL, or the relative path without dashboard_url
    repeat: bool = False
    resolved_at: datetime | None = None


def link(dashboard_url: str | None, path: str) -> str:
    """``dashboard_url`` + "/" + ``path``, or ``path`` alone without a dashboard URL."""
    return f"{dashboard_url.rstrip('/')}/{path.lstrip('/')}" if dashboard_url else path


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def origin(url: str) -> str:
    """scheme://host[:port] of ``url``: never its path, which for a webhook is the secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def post_json(
    channel: str, url: str, payload: object, timeout: float, policy: RetryPolicy, headers: dict[str, str], shown: str
) -> None:
    """POST ``payload`` as JSON through the project's retry policy; ``shown`` is how messages name ``url``."""
    session = retrying_session(policy)
    try:
        response = session.post(url, json=payload, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        cause = exc.args[0] if exc.args else exc
        cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError holds the last error
        raise ChannelError(
            f"{channel}: cannot reach {shown} after {policy.attempts} tries: {one_line(cause)}"
        ) from None
    finally:
        session.close()
    if response.status_code >= 300:
        tries = f" after {policy.attempts} tries" if response.status_code in (429, 500, 502, 503, 504) else ""
        raise ChannelError(
            f"{channel}: HTTP {response.status_code} from {shown}{tries}: {one_line(response.text, 200) or '(no body)'}"
        )


# --- Alertmanager -----------------------------------------------------------------------------------------


def alertmanager_alert(item: Outgoing, now: datetime) -> dict[str, object]:
    """One alert as Alertmanager's ``postableAlert``: ``endsAt`` in the future while firing, the time chargeback
    saw the condition clear once resolved."""
    alert = item.alert
    annotations = {"summary": alert.summary, "description": alert.description, "dashboard": item.link}
    posted: dict[str, object] = {
        "labels": {"alertname": alert.name, "severity": alert.severity} | dict(alert.labels),
        "annotations": annotations,
        "startsAt": iso(alert.starts_at),
        "endsAt": iso(item.resolved_at if item.resolved_at else now + ALERTMANAGER_HOLD),
    }
    if urlsplit(item.link).scheme:  # Alertmanager wants a URL; a relative path stays in the annotation only
        posted["generatorURL"] = item.link
    return posted


def send_alertmanager(
    settings: AlertmanagerSettings,
    firing: Sequence[Outgoing],
    resolved: Sequence[Outgoing],
    now: datetime,
    policy: RetryPolicy,
) -> None:
    if not firing and not resolved:
        return
    url = settings.url.rstrip("/") + "/api/v2/alerts"
    payload = [alertmanager_alert(item, now) for item in [*firing, *resolved]]
    post_json("alertmanager", url, payload, settings.timeout_seconds, policy, dict(settings.headers), url)


# --- Slack-compatible webhook -----------------------------------------------------------------------------


def slack_message(item: Outgoing) -> dict[str, object]:
    """A message for Slack (``blocks``) that Mattermost and Rocket.Chat show too (``text``)."""
    alert = item.alert
    state = "RESOLVED" if item.resolved_at else "STILL FIRING" if item.repeat else "FIRING"
    title = f"{state}: {alert.summary}"
    pointer = f"<{item.link}|Open in the chargeback dashboard>" if urlsplit(item.link).scheme else item.link
    context = f"{alert.name} · {alert.severity}" + "".join(f" · {k}={v}" for k, v in alert.labels.items())
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": one_line(title, SLACK_HEADER_CHARS)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": alert.description}},
        {"type": "section", "text": {"type": "mrkdwn", "text": pointer}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
    ]
    text = f"{title}\n{alert.description}\n{item.link}"
    return {"text": text, "blocks": blocks}


def slack_url(settings: SlackSettings) -> str:
    if settings.webhook_url:
        return settings.webhook_url
    assert settings.webhook_url_file is not None  # the settings hold one of the two
    try:
        return settings.webhook_url_file.read_text().strip()
    except OSError as exc:
        raise ChannelError(f"slack: cannot read webhook_url_file {settings.webhook_url_file}: {exc.strerror}") from None


def send_slack(settings: SlackSettings, item: Outgoing, policy: RetryPolicy) -> None:
    """One message per alert (a webhook takes one message per POST)."""
    url = slack_url(settings)
    post_json("slack", url, slack_message(item), settings.timeout_seconds, policy, {}, f"webhook {origin(url)}")


# --- email --------------------------------------------------------------------------------------------------


def email_subject(firing: Sequence[Outgoing], resolved: Sequence[Outgoing]) -> str:
    parts = []
    if firing:
        parts.append(f"{len(firing)} alert{'s' if len(firing) != 1 else ''} firing")
    if resolved:
        parts.append(f"{len(resolved)} resolved")
    return "[chargeback] " + ", ".join(parts)


def email_message(
    settings: SmtpSettings, firing: Sequence[Outgoing], resolved: Sequence[Outgoing], now: datetime
) -> EmailMessage:
    """One message listing the firing alerts (new and repeated) and the resolved ones: plain text, and HTML."""
    sections = [("Firing", firing), ("Resolved", resolved)]
    text, markup = [], []
    for heading, items in sections:
        if not items:
            continue
        text += [f"{heading}:", ""]
        markup.append(f"<h2>{heading}</h2>")
        for item in items:
            alert = item.alert
            note = " (still firing)" if item.repeat and not item.resolved_at else ""
            text += [f"* {alert.summary}{note}", f"  {alert.name}, {alert.severity}", f"  {alert.description}"]
            text += [f"  {item.link}", ""]
            anchor = (
                f'<a href="{html.escape(item.link)}">Open in the chargeback dashboard</a>'
                if urlsplit(item.link).scheme
                else html.escape(item.link)
            )
            markup.append(
                f"<h3>{html.escape(alert.summary)}{html.escape(note)}</h3>"
                f"<p><small>{html.escape(alert.name)}, {html.escape(alert.severity)}</small></p>"
                f"<p>{html.escape(alert.description)}</p><p>{anchor}</p>"
            )
    text.append(f"Sent by chargeback at {iso(now)}.")
    message = EmailMessage()
    message["Subject"] = email_subject(firing, resolved)
    message["From"] = settings.from_address
    message["To"] = ", ".join(settings.to)
    message.set_content("\n".join(text) + "\n")
    page = "".join(markup) + f"<p><small>Sent by chargeback at {iso(now)}.</small></p>"
    message.add_alternative(f"<html><body>{page}</body></html>\n", subtype="html")
    return message


def send_email(settings: SmtpSettings, firing: Sequence[Outgoing], resolved: Sequence[Outgoing], now: datetime) -> None:
    if not firing and not resolved:
        return
    where = f"{settings.host}:{settings.port}"
    message = email_message(settings, firing, resolved, now)
    try:
        password = settings.password_file.read_text().strip() if settings.password_file else None
    except OSError as exc:
        raise ChannelError(f"smtp: cannot read password_file {settings.password_file}: {exc.strerror}") from None
    try:
        context = ssl.create_default_context()
        if settings.security == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout_seconds, context=context
            )
        else:
            server = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
        with server:
            if settings.security == "starttls":
                server.starttls(context=context)
            if settings.username:
                server.login(settings.username, password or "")
            server.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelError(f"smtp: {where}: {type(exc).__name__}: {one_line(exc)}") from None
