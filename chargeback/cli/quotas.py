"""The `chargeback quotas` command: parses options and calls chargeback.reports.quotas.quota_report."""

from __future__ import annotations

import sys
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from chargeback.cli.options import ConfigOption, DataDirOption, LatestPeriodOption
from chargeback.cli.options import console as wide_console
from chargeback.core.config import load
from chargeback.reports.quotas import QuotaReport, ResourceUse, quota_report

QuotaFormat = Literal["table", "json", "yaml"]


def _number(use: ResourceUse, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if use.unit == "count" else f"{value:,.2f}"


def print_report(report: QuotaReport, fmt: QuotaFormat, console: Console | None = None) -> None:
    if fmt == "json":
        sys.stdout.write(report.to_json() + "\n")
        return
    if fmt == "yaml":
        sys.stdout.write(report.to_yaml())
        return
    console = console or wide_console(width=200)
    table = Table(title=f"ResourceQuota use {report.period} (requests per hour; {report.currency})")
    for name in (
        "namespace",
        "resource",
        "unit",
        "hard",
        "median",
        "p95",
        "p99",
        "max",
        "usage p95",
        "h near",
        "cost near",
        "recommended",
        "advice",
    ):
        table.add_column(name, justify="left" if name in ("namespace", "resource", "unit", "advice") else "right")
    for ns in report.namespaces:
        for index, use in enumerate(ns.resources):
            if use.resource.startswith("limits."):
                advice = "no data (limits are not collected)"
            elif ns.too_little_history:
                advice = f"too little history ({ns.hours} h)"
            elif use.right_size_first:
                advice = (
                    f"requests {use.over_request_ratio:.1f}x usage: right-size first"
                    f" (${use.money_at_stake:,.2f} at stake)"
                )
            else:
                advice = ""
            table.add_row(
                ns.namespace if index == 0 else "",
                use.resource,
                use.unit,
                use.hard_quantity or "-",
                _number(use, use.requested_median),
                _number(use, use.requested_p95),
                _number(use, use.requested_p99),
                _number(use, use.requested_max),
                _number(use, use.used_p95),
                "-" if use.hours_near_limit is None else str(use.hours_near_limit),
                "-" if use.near_limit_cost is None else f"{use.near_limit_cost:,.2f}",
                use.recommended_quantity or "-",
                advice,
                end_section=index == len(ns.resources) - 1,
            )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `quotas` to the CLI."""

    @app.command()
    def quotas(
        period: LatestPeriodOption = None,
        namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Only this namespace.")] = None,
        fmt: Annotated[
            QuotaFormat,
            typer.Option("--format", "-f", help="table, json, or yaml (v1 ResourceQuota manifests)."),
        ] = "table",
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """ResourceQuota use per namespace and recommended hard limits.

        For requests.cpu, requests.memory and pods: the hourly sum of requests (median, p95, p99, max; usage
        too for cpu and memory), hours at or above `near_limit_ratio` of hard and what they cost, and a
        recommended hard = `quota_quantile` of hourly requests x (1 + `quota_headroom`), rounded up to 100m,
        128Mi or whole pods. limits.* have no data (pod limits are not collected): their hard is kept.
        Namespaces whose requests exceed usage by `over_request_ratio` are told to right-size requests first,
        with the money at stake. `--format yaml` prints `v1 ResourceQuota` manifests with the evidence of each
        value in `chargeback.io/<resource>` annotations. Settings: `[capacity]` in the config.
        """
        print_report(quota_report(load(config, data_dir), period, namespace), fmt)
