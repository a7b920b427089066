"""The `capacity` command; `register(app)` adds it to the main CLI."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chargeback.cli.options import (
    ConfigOption,
    DataDirOption,
    LatestPeriodOption,
    ReportFormatOption,
    console,
)
from chargeback.core.config import load
from chargeback.reports.capacity import CapacityReport, capacity


def _money(value) -> str:
    return "-" if value is None else f"{value:,.2f}"


def print_report(report: CapacityReport, out: Console | None = None) -> None:
    out = out or console()
    groups = Table(title=f"Capacity {report.period} per node group (allocated = pods' requests; core-h, GiB-h)")
    for name in (
        "cluster",
        "node group",
        "peak nodes",
        "cpu avail",
        "cpu alloc",
        "cpu headroom",
        "cpu used %",
        "mem avail",
        "mem alloc",
        "mem headroom",
        "mem used %",
        "spot share",
        "cost",
    ):
        groups.add_column(name, justify="left" if name in ("cluster", "node group") else "right")
    for g in report.node_groups:
        groups.add_row(
            escape(g.cluster),
            escape(g.node_group or "(none)"),
            str(g.peak_nodes),
            f"{g.cpu_available:,.0f}",
            f"{g.cpu_requested:,.0f}",
            f"{g.cpu_headroom:,.0f}",
            f"{g.cpu_requested / g.cpu_available:.0%}" if g.cpu_available else "-",
            f"{g.memory_available:,.0f}",
            f"{g.memory_requested:,.0f}",
            f"{g.memory_headroom:,.0f}",
            f"{g.memory_requested / g.memory_available:.0%}" if g.memory_available else "-",
            f"{g.spot_share:.0%}",
            _money(g.cost),
        )
    out.print(groups)

    for f in report.forecasts:
        title = f"Forecast {f.next_period} ({f.next_days} days) for {escape(f.cluster)} from {f.history_days} days"
        if f.status != "ok":
            out.print(f"{title}: [yellow]{escape(f.method)}[/]")
            continue
        table = Table(title=title, caption=escape(f.method))
        for name in ("series", "this month", "next month", "± band", "slope/day", "R²"):
            table.add_column(name, justify="left" if name == "series" else "right")
        for s in f.series:
            table.add_row(
                f"{s.name} ({s.unit})",
                f"{s.history_total:,.2f}",
                f"{s.predicted_total:,.2f}",
                f"{s.band:,.2f}",
                f"{s.slope_per_day:+,.3f}",
                "-" if s.r2 is None else f"{s.r2:.2f}",
            )
        out.print(table)

    whatif = Table(title=f"Tenancy what-if {report.period} (USD; difference = alternative − now)")
    for name in ("cluster", "tenant", "now", "cost now", "alternative", "alt cost", "difference", "basis"):
        whatif.add_column(name, justify="right" if "cost" in name or name == "difference" else "left")
    for w in report.whatifs:
        whatif.add_row(
            escape(w.cluster),
            escape(w.tenant),
            f"{w.tenancy} tenancy",
            _money(w.current_cost),
            w.alternative,
            _money(w.alternative_cost),
            _money(w.difference),
            escape(w.basis),
        )
    out.print(whatif)


def register(app: typer.Typer) -> None:
    """Add `capacity` to ``app``."""

    @app.command("capacity")
    def capacity_command(
        period: LatestPeriodOption = None,
        fmt: ReportFormatOption = "table",
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """Capacity per node group, next month's forecast, and a soft/sole tenancy what-if per tenant.

        Allocated = pods' requests against available (nominal size × hours run) per node group; headroom =
        available − allocated; spot share = spot node-hours / node-hours. The forecast is an OLS line over the
        month's daily requested core-hours, GiB-hours and cost, summed over next month's days, ± residual σ ×
        √days, with R² (fewer than 7 days: "too little history"). The what-if prices soft tenants on dedicated
        nodes of one instance type in use, sized to their peak hourly requests, and sole tenants' pods at the
        shared nodes' unit prices.
        """
        report = capacity(load(config, data_dir), period)
        if fmt == "json":
            sys.stdout.write(report.to_json() + "\n")
        else:
            print_report(report)
