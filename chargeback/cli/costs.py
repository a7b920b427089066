"""The `costs` command: parses options and calls ``chargeback.reports.costs.costs``."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Literal

import polars as pl
import typer
from rich.markup import escape
from rich.table import Table

from chargeback.cli.options import ConfigOption, DataDirOption, console
from chargeback.core.config import load
from chargeback.reports.bill import PARTS
from chargeback.reports.costs import Costs, dollars, label_keys, parse_dimension, parse_range
from chargeback.reports.costs import costs as costs_report

Shape = Literal["total", "day", "month"]


def _money(cents: int) -> str:
    return f"{cents / 100:,.2f}" if abs(cents) < 10**15 else str(cents)


def print_costs(found: Costs, every: Shape, fmt: str) -> None:
    """The groups' totals (``every`` total) or each group's total per day or month, as a table, CSV or JSON."""
    head = {
        "from": str(found.start),
        "to": str(found.end),
        "by": str(found.by),
        "currency": found.currency,
        "periods": list(found.periods),
        "whole_periods": list(found.whole),
    }
    if every == "total":
        frame = found.table()
        keys = [c for c in frame.columns if c not in (*PARTS, "total")]
        parts = [p for p in PARTS if (frame[p] != 0).any()]
        columns = [*keys, *parts, "total"]
    else:
        frame = found.series(every)
        keys, parts, columns = ["when", "group"], [], ["when", "group", "total"]
    frame = frame.select(columns)
    if fmt in ("csv", "json"):
        exact = dollars(frame, [*parts, "total"])
        if fmt == "csv":
            sys.stdout.write(exact.write_csv())
        else:
            rows = exact.with_columns(pl.col(c).cast(pl.String) for c in (*parts, "total")).to_dicts()
            sys.stdout.write(json.dumps(head | {"total": str(found.total()), "rows": rows}, indent=2) + "\n")
        return
    title = f"Costs {found.start} to {found.end} by {found.by} ({found.currency})"
    table = Table(title=title, caption=found.coverage())
    for name in keys:
        table.add_column(name)
    for name in (*parts, "total"):
        table.add_column(name, justify="right")
    for row in frame.iter_rows(named=True):
        table.add_row(*(escape(str(row[k] or "-")) for k in keys), *(_money(row[p]) for p in (*parts, "total")))
    table.add_section()
    total = int(frame["total"].sum())
    table.add_row("total", *([""] * (len(keys) - 1)), *(_money(int(frame[p].sum())) for p in parts), _money(total))
    console().print(table)


def register(app: typer.Typer) -> None:
    """Add `costs` to ``app``."""

    @app.command("costs")
    def costs_command(
        start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (included).")] = None,
        end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (included).")] = None,
        period: Annotated[str | None, typer.Option("--period", "-p", help="A whole month instead, YYYY-MM.")] = None,
        by: Annotated[
            str,
            typer.Option(
                "--by",
                help="tenant, cluster, namespace, workload (its owner: Deployment, StatefulSet, DaemonSet, Job, Spark"
                " application) or label:KEY (a pod label, e.g. label:app.kubernetes.io/name).",
            ),
        ] = "tenant",
        every: Annotated[
            Shape, typer.Option("--every", help="total: one row per group; day or month: each group's trend.")
        ] = "total",
        tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant's line.")] = None,
        cluster: Annotated[str | None, typer.Option("--cluster", help="Only this cluster's bills.")] = None,
        labels: Annotated[
            bool, typer.Option("--labels", help="List the pod label keys to group by, and exit.")
        ] = False,
        fmt: Annotated[Literal["table", "csv", "json"], typer.Option("--format", "-f", help="table, csv or json.")] = (
            "table"
        ),
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """Costs over any days, grouped by tenant, cluster, namespace, workload or any pod label.

        Each month of the range is its bill broken down in whole cents (by the group, then by day), so a range of
        whole months adds up to the bills to the cent; a range that cuts a month counts its days in the range.
        A group's rest (shared costs, EMR charges, tagged resources; for a label, the pods without it) is the row
        "(rest of the bill)". `--every day` or `--every month` prints each group's trend.
        """
        settings = load(config, data_dir)
        first, last = parse_range(start, end, period)
        if labels:
            for key, values in label_keys(settings, first, last):
                console().print(f"label:{escape(key)}  ({values} value{'s' if values != 1 else ''})")
            return
        found = costs_report(settings, first, last, parse_dimension(by), cluster, tenant)
        print_costs(found, every, fmt)
