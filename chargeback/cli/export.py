"""The `export` command; `register(app)` adds it to the main CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from chargeback.cli.options import ConfigOption, DataDirOption, console
from chargeback.core.config import load
from chargeback.exports import TARGETS, ExportResult, run_export


def print_result(result: ExportResult) -> None:
    out, err = console(), console(stderr=True)
    state = f"new version v{result.version}" if result.changed else f"unchanged: v{result.version} already holds it"
    out.print(f"{result.target} {result.period}: {state} in {escape(result.location)}")
    files = Table(title=f"{result.target} {result.period} v{result.version}")
    for name in ("file", "rows", "sha256"):
        files.add_column(name, justify="right" if name == "rows" else "left")
    for entry, path in zip(result.manifest["files"], result.paths, strict=False):
        files.add_row(escape(path), f"{entry['rows']:,}", entry["sha256"][:16])
    files.add_row(escape(result.paths[-1]), "", "")
    out.print(files)
    totals = result.manifest["totals"]
    source = result.manifest["source"]
    out.print(
        f"total {totals['total']} {result.manifest['currency']} from CUR version "
        f"{source['cur_version'] or 'unknown'} ({source['cost_basis']}, weights {source['weights']}, "
        f"idle {source['idle']}, shared {source['shared']})"
    )
    changes = result.changes if result.changed else None
    if changes:
        table = Table(title=f"changes against v{result.manifest['previous_version']}")
        for name in ("what", "before", "after"):
            table.add_column(name, justify="left" if name == "what" else "right")
        for key, change in changes["source"].items():
            table.add_row(escape(key), escape(str(change["before"])), escape(str(change["after"])))
        table.add_row("total", str(changes["total"]["before"]), str(changes["total"]["after"]), style="bold")
        for tenant, change in changes["by_tenant"].items():
            table.add_row(escape(tenant), str(change["before"] or "-"), str(change["after"] or "-"))
        out.print(table)
    for left in result.left_out:
        err.print(f"[yellow]left out[/] {escape(left.tenant)} ({left.amount}): {escape(left.reason)}")
    if result.applied:
        a = result.applied
        out.print(
            f"Billing Conductor: {len(a.created)} created, {len(a.updated)} updated, {len(a.replaced)} replaced, "
            f"{len(a.unchanged)} unchanged"
        )
        for name in a.stale:
            err.print(f"[yellow]not in this export, left in Billing Conductor:[/] {escape(name)}")


def register(app: typer.Typer) -> None:
    """Add `export` to ``app``."""

    @app.command("export")
    def export_command(
        period: Annotated[str, typer.Option("--period", "-p", help="Billing month, YYYY-MM.")],
        to: Annotated[str, typer.Option("--to", "-t", help=f"Format: {', '.join(TARGETS)}.")],
        out: Annotated[
            str | None,
            typer.Option(
                "--out",
                "-o",
                help="A directory or s3://bucket/prefix. Default: [export] out, else <data_dir>/exports.",
            ),
        ] = None,
        apply: Annotated[
            bool,
            typer.Option(
                "--apply",
                help="billing-conductor: also create or update the custom line items (current or previous month).",
            ),
        ] = False,
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """Export a month's bill for finance's tools, as a new version only when it changed.

        Formats (`--to`):

        - **finance**: `bill-<period>.csv`, the bill exactly as `chargeback bill --format csv` prints it.
        - **focus**: `focus-<period>.parquet` (FOCUS's column types) and `focus-<period>.csv` (the same rows,
          for spreadsheets): FOCUS 1.2 cost-and-usage rows per tenant, UTC day, namespace and EMR job run,
          every FOCUS 1.2 rule that applies to them met (docs: FOCUS conformance); `EffectiveCost` is the
          allocation on the configured cost basis and adds up to the bill; `InvoiceId` is the month's AWS
          invoice once issued; `x_` columns name tenant, cluster, namespace, job and method.
        - **billing-conductor**: `custom-line-items-<period>.csv`, one AWS Billing Conductor custom line
          item per bill line mapped in `[export.billing_conductor]`, one column per `CreateCustomLineItem`
          parameter (a flat FEE or CREDIT in USD, to the cent, with a deterministic client token). With
          `--apply` the items are also created or updated through the API, idempotently; AWS only takes the
          current and the previous month.

        Files go to `<out>/<format>/<period>/v<N>/` with a `manifest.json` (rows, totals, SHA-256 checksums,
        the CUR version). An unchanged period is not written again; a restated one (a new CUR version)
        becomes `v<N+1>`, and the changes per tenant are printed. A version appears whole or not at all.
        """
        settings = load(config, data_dir)
        result = run_export(settings, period, to, out, apply, datetime.now(UTC))
        print_result(result)
