"""The `budgets`, `anomalies` and `alerts` commands: parse options and call ``chargeback.reports.budgets``,
``chargeback.reports.anomalies`` and ``chargeback.exports.alert_rules`` / ``chargeback.exports.alerts``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from chargeback.cli.options import ConfigOption, DataDirOption, LatestPeriodOption, ReportFormatOption, console
from chargeback.core.config import load
from chargeback.core.errors import ChargebackError
from chargeback.exports.alert_rules import evaluate
from chargeback.exports.alerts import Alert, deliver
from chargeback.reports.anomalies import Anomaly, detect
from chargeback.reports.budgets import TenantMonth, tenant_months


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ChargebackError(f"{option} {text!r} is not a day (YYYY-MM-DD)") from None


def _money(amount) -> str:
    return f"{amount:,.2f}"


def print_months(months: list[TenantMonth], fmt: str, currency: str) -> None:
    if fmt == "json":
        rows = [
            {
                "tenant": m.tenant,
                "cluster": m.cluster,
                "period": m.period,
                "cost_to_date": str(m.cost_to_date),
                "forecast": str(m.forecast),
                "budget": None if m.budget is None else str(m.budget),
                "through": m.through.isoformat(),
                "over_budget": m.over_budget,
                "forecast_over_budget": m.forecast_over_budget,
            }
            for m in months
        ]
        sys.stdout.write(json.dumps({"currency": currency, "tenants": rows}, indent=2) + "\n")
        return
    period = months[0].period if months else ""
    table = Table(title=f"Budgets {period} ({currency})")
    for name in ("tenant", "cluster", "cost to date", "forecast", "budget", "forecast ÷ budget", "data through"):
        table.add_column(name, justify="right" if name in ("cost to date", "forecast", "budget") else "left")
    for m in months:
        share = m.forecast_share
        flag = "[red]" if m.over_budget else "[yellow]" if m.forecast_over_budget else ""
        table.add_row(
            m.tenant,
            m.cluster or "all",
            _money(m.cost_to_date),
            _money(m.forecast),
            _money(m.budget) if m.budget is not None else "-",
            f"{flag}{share:.0%}" if share is not None else "-",
            f"{m.through:%Y-%m-%d %H:%M} UTC",
        )
    console().print(table)


def print_anomalies(found: list[Anomaly], fmt: str, currency: str) -> None:
    if fmt == "json":
        rows = [
            {
                "date": a.date.isoformat(),
                "cluster": a.cluster,
                "tenant": a.tenant,
                "namespace": a.namespace,
                "cost": str(a.cost),
                "baseline": str(a.baseline),
                "score": round(a.score, 2),
                "direction": a.direction,
            }
            for a in found
        ]
        sys.stdout.write(json.dumps({"currency": currency, "anomalies": rows}, indent=2) + "\n")
        return
    if not found:
        console().print("no anomalous day")
        return
    table = Table(title=f"Cost anomalies ({currency})")
    for name in ("day", "cluster", "tenant", "namespace", "cost", "baseline", "score"):
        table.add_column(name, justify="right" if name in ("cost", "baseline", "score") else "left")
    for a in found:
        table.add_row(
            str(a.date), a.cluster, a.tenant, a.namespace or "(whole tenant)", _money(a.cost), _money(a.baseline),
            f"{a.score:+.1f} {a.direction}",
        )  # fmt: skip
    console().print(table)


def print_alerts(found: list[Alert]) -> None:
    if not found:
        console().print("no alert active")
        return
    table = Table(title="Active alerts")
    for name in ("alert", "severity", "summary", "dashboard"):
        table.add_column(name)
    for alert in found:
        table.add_row(alert.name, alert.severity, escape(alert.summary), escape(alert.path))
    console().print(table)


def register(app: typer.Typer) -> None:
    """Add `budgets`, `anomalies` and `alerts` to ``app``."""

    @app.command()
    def alerts(
        send: Annotated[
            bool, typer.Option("--send", help="Deliver them to the [alerts] channels (and resolve cleared ones).")
        ] = False,
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """The budget and anomaly alerts active now, and with `--send`, their delivery.

        Budget alerts: a tenant's month-end forecast (warning) or its bill so far (critical) over its `[[budgets]]`
        budget. Anomaly alerts: the last complete day's cost of a tenant or namespace far from the same weekday
        of earlier weeks. `--send` posts them to Alertmanager, a Slack-compatible webhook and email as
        configured in `[alerts]`, each channel once until `repeat_hours` pass (Alertmanager every time), and sends
        those that cleared as resolved; the scheduler's alerts job does this every hour. Exits 1 when a channel
        failed (the others were delivered; it is retried on the next call).
        """
        settings = load(config, data_dir)
        now = datetime.now(UTC)
        evaluation = evaluate(settings, now)
        print_alerts(evaluation.alerts)
        if send:
            delivery = deliver(settings, evaluation.alerts, now)
            for line in delivery.lines() or ["no channel configured in [alerts]: nothing sent"]:
                console().print(escape(line), highlight=False)
            if not delivery.ok:
                raise typer.Exit(1)

    @app.command()
    def budgets(
        period: LatestPeriodOption = None,
        as_of: Annotated[
            str | None,
            typer.Option("--as-of", help="Forecast from the data before this day (YYYY-MM-DD) only: a backtest."),
        ] = None,
        fmt: ReportFormatOption = "table",
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """Each tenant's month: cost to date (its bill line so far), month-end forecast and budget.

        The forecast adds to the bill so far the rest of the month at the mean cost of the same weekday over the
        last `[anomalies] baseline_weeks` weeks, per cluster. Budgets come from `[[budgets]]` (a tenant's whole
        bill, or one cluster). One row per tenant for all its clusters ("all"), then one per cluster.
        """
        settings = load(config, data_dir)
        print_months(tenant_months(settings, period, _day(as_of, "--as-of")), fmt, settings.currency)

    @app.command()
    def anomalies(
        since: Annotated[str | None, typer.Option(help="First day to look at (YYYY-MM-DD). Default: the last.")] = None,
        until: Annotated[
            str | None, typer.Option(help="Last day (YYYY-MM-DD). Default: the last day the warehouse has.")
        ] = None,
        fmt: ReportFormatOption = "table",
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """Days whose cost, per tenant or namespace on a cluster, is far from the same weekday of earlier weeks.

        A day is compared with the median of the same weekday over `[anomalies] baseline_weeks` weeks, as a
        ratio, scaled by how far the baseline missed over the four weeks before; it is anomalous at
        `|score| >= threshold` and a change of at least `min_change`. Needs about two months of history.
        """
        settings = load(config, data_dir)
        print_anomalies(detect(settings, _day(since, "--since"), _day(until, "--until")), fmt, settings.currency)
