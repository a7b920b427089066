"""The `statement` command: parses options and calls ``chargeback.exports.statement.write_statements``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from chargeback.cli.options import ConfigOption, DataDirOption, PeriodOption, console
from chargeback.core.config import load
from chargeback.exports.statement import write_statements


def register(app: typer.Typer) -> None:
    """Add `statement` to ``app``."""

    @app.command()
    def statement(
        period: PeriodOption,
        tenant: Annotated[
            str | None, typer.Option("--tenant", "-t", help="Only this tenant's statement. Default: every tenant.")
        ] = None,
        out: Annotated[
            Path | None,
            typer.Option(
                "--out", "-o", help="Directory to write to. Default: statements/<period>/ in the data directory."
            ),
        ] = None,
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """Write a PDF statement per tenant for the month: `<tenant>-<period>.pdf`, one a tenant.

        Each statement is what finance sends the tenant: its total and parts (compute, idle, shared, storage,
        network, emr, tagged, as `chargeback bill` prints them), its namespaces, top workloads and EMR on EKS
        job runs, its total in the last months the warehouse has (a table and a bar chart), the allocation
        method (the line the bill prints, in plain words too) and the adjustments of closed months booked in
        the month. Every amount is the bill's, to the cent, and every table adds up to the total it states.
        `__idle__`, `__shared__` and `__unallocated__` are lines of the bill, not tenants: they get no
        statement. A closed month's statement shows its frozen bill. Files are replaced atomically.
        """
        settings = load(config, data_dir)
        written = write_statements(settings, period, tenant, out)
        out_console = console()
        for item in written:
            out_console.print(f"{escape(item.tenant)}: {item.total} -> {escape(str(item.path))}", highlight=False)
        out_console.print(f"{len(written)} statement(s) for {period}")
