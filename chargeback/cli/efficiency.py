"""The `efficiency` command: parses options and calls ``chargeback.reports.efficiency.efficiency``."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from chargeback.cli.options import ConfigOption, DataDirOption, PeriodOption, ReportFormatOption, console
from chargeback.core.config import load
from chargeback.reports.efficiency import Efficiency, Grain, efficiency


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def print_efficiency(rows: list[Efficiency], grain: Grain, fmt: str, period: str, currency: str) -> None:
    names = {"tenant": ["tenant"], "namespace": ["tenant", "namespace"],
             "workload": ["tenant", "namespace", "kind", "workload"]}[grain]  # fmt: skip
    if fmt == "json":
        body = [
            dict(zip(names, e.key, strict=True))
            | {
                "cpu_request_core_hours": e.cpu_request_core_hours,
                "cpu_usage_core_hours": e.cpu_usage_core_hours,
                "cpu_efficiency": e.cpu_efficiency,
                "memory_request_gib_hours": e.memory_request_gib_hours,
                "memory_usage_gib_hours": e.memory_usage_gib_hours,
                "memory_efficiency": e.memory_efficiency,
                "compute": str(e.compute),
                "unused_requests": str(e.unused_requests),
                "idle_share": str(e.idle_share),
            }
            for e in rows
        ]
        sys.stdout.write(json.dumps({"period": period, "currency": currency, "rows": body}, indent=2) + "\n")
        return
    table = Table(title=f"Efficiency {period} by {grain} ({currency})")
    for name in names:
        table.add_column(name)
    for name in ("CPU used ÷ requested", "memory used ÷ requested", "compute", "of it unused requests", "idle share"):
        table.add_column(name, justify="right")
    for e in rows:
        table.add_row(
            *(escape(k or "-") for k in e.key), _share(e.cpu_efficiency), _share(e.memory_efficiency),
            f"{e.compute:,.2f}", f"{e.unused_requests:,.2f}", f"{e.idle_share:,.2f}",
        )  # fmt: skip
    console().print(table)


def register(app: typer.Typer) -> None:
    """Add `efficiency` to ``app``."""

    @app.command("efficiency")
    def efficiency_command(
        period: PeriodOption,
        by: Annotated[Grain, typer.Option("--by", help="tenant, namespace or workload.")] = "tenant",
        tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant.")] = None,
        cluster: Annotated[str | None, typer.Option("--cluster", help="Only this cluster.")] = None,
        fmt: ReportFormatOption = "table",
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """How much of what each tenant (namespace, workload) requests it uses, and what the rest costs.

        CPU and memory used over requested (core-hours, GiB-hours); its compute cost, and of it the part that paid
        for requested capacity it did not use (a pod-hour is priced on max(request, usage)); its idle share, which
        follows requests too. The largest unused requests first.
        """
        settings = load(config, data_dir)
        rows = efficiency(settings, period, by, cluster, tenant)
        print_efficiency(rows, by, fmt, period, settings.currency)
