"""The `bill` command: parses options and calls ``chargeback.reports.bill.monthly_bill``."""

from __future__ import annotations

import csv
import json
import sys
from decimal import Decimal
from typing import Annotated, Literal

import polars as pl
import typer
from rich.markup import escape
from rich.table import Table

from chargeback.build import method
from chargeback.cli.options import ConfigOption, DataDirOption, PeriodOption, console
from chargeback.core.config import SENTINELS, Config, discover, load
from chargeback.core.errors import ChargebackError
from chargeback.core.periods import next_period
from chargeback.reports import clusters
from chargeback.reports.bill import COST_PARTS, PARTS, Bill, monthly_bill

Format = Literal["table", "csv", "json"]


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def print_bill(bill: Bill, fmt: Format) -> None:
    if fmt == "json":
        sys.stdout.write(bill.to_json() + "\n")
        return
    if fmt == "csv":
        sys.stdout.write(bill.to_csv())
        return
    out = console()
    scope = f" — cluster {bill.cluster}" if bill.cluster else ""
    table = Table(title=f"Bill {bill.period}{scope} ({bill.currency})", show_footer=True)
    table.add_column("line", footer="total")
    # The adjustment column where the month books corrections of closed months (json and csv always have it).
    parts = PARTS if any(line.corrections for line in bill.lines) else COST_PARTS
    for part in parts:
        table.add_column(part, justify="right", footer=_money(sum((ln.parts[part] for ln in bill.lines), Decimal(0))))
    table.add_column("total", justify="right", footer=_money(bill.total), style="bold")
    for line in bill.lines:
        style = "dim" if line.is_sentinel else None
        table.add_row(line.tenant, *(_money(line.parts[p]) for p in parts), _money(line.total), style=style)
    out.print(table)
    out.print(
        f"source total (in-scope CUR cost{' + estimates' if bill.estimated else ''}): {_money(bill.source_total)}"
    )
    for closed_period in bill.corrected_periods:
        fixes = [
            f"{escape(line.tenant)} {_money(c.amount)}"
            for line in bill.lines
            for c in line.corrections
            if c.closed_period == closed_period
        ]
        out.print(f"adjustment: corrections of closed month {closed_period}: {', '.join(fixes)}")
    if bill.closed_at:
        out.print(
            f"[bold]closed on {bill.closed_at}[/]: this is the frozen bill; later changes to {bill.period} are"
            f" adjustments in {next_period(bill.period)} or after"
        )
    if bill.estimated:
        out.print(
            f"[yellow]{_money(bill.estimated)} is estimated at on-demand prices: the CUR does not cover it yet[/]"
        )
    out.print(f"method: {bill.method_line()}", markup=False, highlight=False, soft_wrap=True)


def print_by_cluster(bill: Bill, rows: pl.DataFrame, fmt: Format) -> None:
    """Each bill line by cluster (``chargeback.reports.clusters.by_cluster``), the clusters of a line adding up to
    it; a line's cents held by no cluster (rounding) on a row with cluster ``-``."""
    amounts = [
        {"tenant": row["tenant"], "cluster": row["cluster"] or "-", **{k: _cents(row[k]) for k in (*PARTS, "total")}}
        for row in rows.iter_rows(named=True)
    ]
    if fmt == "json":
        lines = [
            {
                "tenant": line.tenant,
                "total": str(line.total),
                "clusters": [
                    {"cluster": a["cluster"], **{k: str(a[k]) for k in (*PARTS, "total")}}
                    for a in amounts
                    if a["tenant"] == line.tenant
                ],
            }
            for line in bill.lines
        ]
        body = {"period": bill.period, "currency": bill.currency, "total": str(bill.total), "lines": lines}
        sys.stdout.write(json.dumps(body | {"method": bill.method_json()}, indent=2) + "\n")
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["period", "currency", "tenant", "cluster", *PARTS, "total", "method"])
        for a in amounts:
            writer.writerow([bill.period, bill.currency, *a.values(), bill.method_fingerprint or ""])
        return
    table = Table(title=f"Bill {bill.period} by cluster ({bill.currency})", show_footer=True)
    table.add_column("line", footer="total")
    table.add_column("cluster")
    parts = PARTS if any(a["adjustment"] for a in amounts) else COST_PARTS
    for part in parts:
        table.add_column(part, justify="right", footer=_money(sum((a[part] for a in amounts), Decimal(0))))
    table.add_column("total", justify="right", footer=_money(bill.total), style="bold")
    for a in amounts:
        style = "dim" if a["tenant"] in SENTINELS else None
        table.add_row(a["tenant"], a["cluster"], *(_money(a[p]) for p in parts), _money(a["total"]), style=style)
    out = console()
    out.print(table)
    out.print(f"method: {bill.method_line()}", markup=False, highlight=False, soft_wrap=True)


def _cents(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def warn_other_method(bill: Bill, settings: Config, source: str) -> None:
    """On stderr: the published build whose bill is printed used another method than ``settings`` (from
    ``source``), what differs, and which method the printed bill is."""
    if bill.method is None:
        return
    differs = method.changes(bill.method, method.describe(settings))
    if differs:
        console(stderr=True).print(
            f"note: the published build used other settings than {source} ({'; '.join(differs)}); this bill is"
            f" the published build's: {method.summary(bill.method)}. `chargeback build {method.ACCEPT_FLAG}`"
            " with this configuration would publish its method.",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    """Add `bill` to ``app``."""

    @app.command()
    def bill(
        period: PeriodOption,
        tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant's line.")] = None,
        cluster: Annotated[str | None, typer.Option("--cluster", help="Only costs of this cluster.")] = None,
        by_cluster: Annotated[
            bool,
            typer.Option(
                "--by-cluster",
                help="Each line split over the clusters its money comes from, in cents that add up to the line"
                " (a fleet's bill; --cluster bills one cluster alone instead).",
            ),
        ] = False,
        fmt: Annotated[
            Format, typer.Option("--format", "-f", help="table, csv or json (amounts as strings).")
        ] = "table",
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """Print the monthly bill: one line per tenant plus `__idle__`, `__shared__` and `__unallocated__`.

        Lines are exact to the cent: the total is the source total rounded half-up, lines and their parts
        (compute, idle, shared, emr, tagged) are apportioned by largest remainder, so everything adds up.
        Every format states the allocation method of the build it comes from (table: a line under it; json: a
        `method` object; csv: a `method` column with its fingerprint); when the configuration's method is not
        the published build's, stderr says what differs.
        Part `adjustment` holds the corrections of closed months booked in this month (the table shows it when
        there are some; json: each line's `adjustments` name the closed months). A closed month's bill is the
        one frozen by `chargeback close`. `--by-cluster` splits each line over the clusters of a fleet.
        """
        settings = load(config, data_dir)
        if by_cluster and cluster:
            raise ChargebackError("--by-cluster splits every cluster's bill; --cluster bills one: give only one")
        if by_cluster:
            result, rows = clusters.by_cluster(settings, period, tenant)
            print_by_cluster(result, rows, fmt)
        else:
            result = monthly_bill(settings, period, tenant, cluster)
            print_bill(result, fmt)
        found = discover(config, data_dir)
        warn_other_method(result, settings, str(found) if found else "the built-in defaults")
