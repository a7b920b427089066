"""The `close` command: parses options and calls ``chargeback.reports.close.close_period``."""

from __future__ import annotations

import typer
from rich.markup import escape

from chargeback.cli.options import ConfigOption, DataDirOption, PeriodOption, console
from chargeback.core.config import load
from chargeback.core.periods import next_period
from chargeback.reports.close import close_period


def register(app: typer.Typer) -> None:
    """Add `close` to ``app``."""

    @app.command()
    def close(period: PeriodOption, config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
        """Close a month: freeze its bill as the published build has it, so no later build changes it.

        Writes `<data_dir>/closed/<period>/` once: the bill to the cent and its exact amounts, the adjustments
        booked in it, the FOCUS rows its exports are rendered from, the method, the CUR version and the
        fingerprint of the raw files it was made from. Afterwards `bill`, `export` and the dashboard show the
        frozen bill; what a later build would change in it (a restated CUR, late metrics, a relabel) is booked
        as part `adjustment` in the first open month, naming the closed month. A method change applies from
        the first open month; `chargeback build --restate PERIOD` restates a closed month under it.

        Months close in order, once they are over, from a build of the raw data as it is now; a closed month
        stays closed.
        """
        closed = close_period(load(config, data_dir), period)
        bill = closed.bill
        out = console()
        out.print(
            f"closed {period} on {closed.closed_at}: {bill.total:,.2f} {bill.currency} over {len(bill.lines)} lines,"
            f" frozen in {escape(str(closed.path))}"
        )
        out.print(f"  method: {escape(closed.method)}")
        out.print(
            f"  CUR version {escape(closed.cur_version or 'unknown')}; inputs: {closed.input_files} raw files"
            f" (fingerprint {closed.inputs_fingerprint[:12]})"
        )
        out.print(f"Later changes to {period} are booked as adjustments in {next_period(period)}.")
        if bill.estimated:
            console(stderr=True).print(
                f"[yellow]{bill.estimated:,.2f} {bill.currency} of {period} was estimated (no CUR for it yet); what the"
                " CUR bills instead will be booked as adjustments[/]"
            )
