"""The `reconcile` command: parses options and calls ``chargeback.reports.reconcile.reconcile``."""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from chargeback.cli.options import ConfigOption, DataDirOption, PeriodOption, console
from chargeback.core.config import load
from chargeback.reports.reconcile import SPLIT_DIFFERENCES, Reconciliation, reconcile

Format = Literal["table", "csv", "json"]
STYLES = {"start": "bold", "subtotal": "bold", "step": None, "part": "dim"}


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _signed(amount: Decimal) -> str:
    return f"{'+' if amount >= 0 else '-'}{abs(amount):,.2f}"


def print_reconciliation(result: Reconciliation, fmt: Format) -> None:
    if fmt == "json":
        sys.stdout.write(result.to_json() + "\n")
        return
    if fmt == "csv":
        sys.stdout.write(result.to_csv())
        return
    out = console()
    scope = f" — cluster {result.cluster}" if result.cluster else ""
    table = Table(title=f"From the CUR to the bill {result.period}{scope} ({result.currency})")
    table.add_column("row")
    table.add_column("change", justify="right")
    table.add_column("running total", justify="right")
    table.add_column("CUR lines", justify="right")
    for row in result.rows:
        items = "" if row.line_items is None else f"{row.line_items:,.6g}"
        label = escape(row.label if row.kind != "part" else f"  {row.label}")
        if row.kind == "step":
            table.add_row(label, _signed(row.amount), "", items)
        elif row.kind == "part":
            table.add_row(label, _money(row.amount), "", items, style="dim")
        else:
            table.add_row(label, "", _money(row.amount), items, style="bold")
    out.print(table)
    coverage = result.coverage
    share = "n/a" if coverage.share is None else f"{coverage.share * 100:.2f}%"
    out.print(
        f"coverage: {share} of what the bill distributes reached a tenant's line ({_money(coverage.tenants)} of"
        f" {_money(coverage.attributable)}; __shared__ kept {_money(coverage.shared_kept)}, __idle__"
        f" {_money(coverage.idle)}, __unallocated__ {_money(coverage.unallocated)})",
        markup=False,
        highlight=False,
    )
    for figure in result.nodes:
        terms = " ".join(f"{_signed(value)} {label}" for label, value in figure.terms)
        out.print(f"{figure.label}: {_money(figure.amount)} = {terms}", markup=False, highlight=False, soft_wrap=True)
    _print_split(result)
    if result.closed_at:
        out.print(f"closed on {result.closed_at}: the bill lines are the frozen bill's", markup=False, highlight=False)


def _print_split(result: Reconciliation) -> None:
    out = console()
    if not result.split:
        out.print("AWS's split cost allocation data: none in the CUR for this period (nothing to compare)")
        return
    table = Table(title="AWS's split cost allocation data against this allocation, per namespace")
    for name in ("cluster", "namespace", "billed to", "AWS split", "AWS unused", "AWS", "split", "idle share",
                 "here", "difference"):  # fmt: skip
        table.add_column(name, justify="right" if name not in ("cluster", "namespace", "billed to") else "left")
    for row in result.split:
        table.add_row(
            escape(row["cluster"]),
            escape(row["namespace"]),
            escape(row["billed_to"] or "(no pods here)"),
            *(_money(row[k]) for k in ("aws_split_cost", "aws_unused_cost", "aws_cost", "split_cost", "idle_cost")),
            _money(row["cost"]),
            _signed(row["difference"]),
        )
    out.print(table)
    out.print(f"idle mode {result.idle_mode}, shared mode {result.shared_mode}, cost basis {result.cost_basis}; why"
              " the two differ:", markup=False, highlight=False)  # fmt: skip
    for name, why in SPLIT_DIFFERENCES:
        out.print(f"- {name}: {why}", markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `reconcile` to ``app``."""

    @app.command("reconcile")
    def reconcile_command(
        period: PeriodOption,
        cluster: Annotated[
            str | None, typer.Option("--cluster", help="That cluster's in-scope lines and bill lines.")
        ] = None,
        fmt: Annotated[
            Format, typer.Option("--format", "-f", help="table, csv (the waterfall) or json (amounts as strings).")
        ] = "table",
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """Reconcile a month's CUR with its bill: every CUR dollar in one row, from the CUR's total to the bill lines.

        The waterfall starts at the CUR's unblended total, takes out what is out of scope by reason (tax, credits
        and refunds, Savings Plan and RI fees and negation, AWS's split rows, lines of no cluster and no tenant
        tag), shows the difference the cost basis makes, then the in-scope cost by category (nodes, node volumes,
        PersistentVolume volumes, data transfer, load balancers, cluster overhead, EKS fee, EMR, tagged), the
        estimates, and the bill lines exactly as `chargeback bill` prints them. Amounts are exact to the cent.
        Below it: the coverage (the share that reached a tenant's line), the Nodes page's node cost and idle
        explained, and AWS's split cost allocation data compared with this allocation per namespace.
        """
        settings = load(config, data_dir)
        print_reconciliation(reconcile(settings, period, cluster), fmt)
