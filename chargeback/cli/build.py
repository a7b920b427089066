"""The `build` and `check` commands: parse options and call ``chargeback.build.engines.build`` and
``chargeback.reports.checks``."""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from chargeback.build import method
from chargeback.build.bookkeeping import check_scope
from chargeback.build.engines import build
from chargeback.cli.options import ConfigOption, DataDirOption, console, with_build_progress
from chargeback.core.config import load
from chargeback.core.periods import parse_period
from chargeback.reports.checks import checks, corrections, corrections_summary, failed, raw_file_issues

SHOWN = ("marts.fct_pod_costs_hourly", "marts.fct_node_costs_hourly", "marts.fct_tenant_costs_daily")


def register(app: typer.Typer) -> None:
    """Add `build` and `check` to ``app``."""

    @app.command("build")
    def build_command(
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
        full: Annotated[
            bool, typer.Option("--full", help="Reprice every day, not only the days whose inputs changed.")
        ] = False,
        engine: Annotated[
            Literal["duckdb", "spark"] | None,
            typer.Option(
                "--engine", help="duckdb, or spark (a SparkSession; see [build.spark]). Default: [build] engine."
            ),
        ] = None,
        accept_method_change: Annotated[
            bool,
            typer.Option(
                method.ACCEPT_FLAG,
                help="Publish even though the allocation method (cost basis, weights, idle, shared, tenancy"
                " rules) differs from the published build's. Without it such a build is refused (exit 2) with"
                " what changed and each bill line's total before and after.",
            ),
        ] = False,
        restate: Annotated[
            list[str] | None,
            typer.Option(
                "--restate",
                help="A closed month (YYYY-MM) to restate under the current method: what it would be billed now,"
                " method change included, is booked as adjustments in the first open month. Repeatable.",
            ),
        ] = None,
    ) -> None:
        """Run the SQL models over the data directory's raw tables and publish a new warehouse.

        Pod-hours are repriced only for the days whose inputs changed since the published build (a new day,
        a restated CUR day); `--full` reprices the whole month. Fails, leaving the published warehouse
        untouched, when an invariant breaks (see `chargeback check`), or when the configuration's allocation
        method differs from the published build's and `--accept-method-change` is not given (it says what
        changed and what that does to each bill line). `--engine spark` runs the same models on Spark (always
        whole) and publishes the marts as Parquet.

        Closed months (`chargeback close`) keep their bills: when their inputs changed, the difference is booked
        as adjustments in the first open month; when the method changed too, nothing is booked for them until
        `--restate PERIOD` asks for it (recorded, so later builds keep it).
        """
        settings = load(config, data_dir)
        if engine:
            settings = settings.model_copy(update={"build": settings.build.model_copy(update={"engine": engine})})
        for month in restate or ():
            parse_period(month, "--restate")
        result = with_build_progress(
            lambda report: build(
                settings, report, full=full, accept_method_change=accept_method_change, restate=restate or ()
            )
        )
        err = console(stderr=True)
        err.print(f"built {result.warehouse} in {result.seconds:.1f} s; all invariants hold (see `chargeback check`)")
        err.print(f"method: {method.summary(method.describe(settings))}", highlight=False, soft_wrap=True)
        if result.method_change:
            err.print(
                f"published a new method, {result.method_change.describe()}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        for note in result.notes:
            err.print(f"[yellow]{escape(note)}[/]")
        for relation, refreshed in result.refreshed.items():
            err.print(f"  {relation}: {refreshed.describe()}")
        for relation in SHOWN:
            err.print(f"  {relation}: {result.row_counts.get(relation, 0):,} rows")

    @app.command()
    def check(
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
        limit: Annotated[
            int, typer.Option("--corrections", min=0, help="How many corrections to list (largest first).")
        ] = 20,
    ) -> None:
        """Print the invariants of the published warehouse, the raw rows its value rules corrected or ignored,
        and the raw files it did not read or could not verify; exit 1 when an invariant fails."""
        settings = load(config, data_dir)
        rows = checks(settings)
        table = Table(title="checks")
        for name in ("check", "severity", "cluster", "period", "expected", "actual", "result"):
            table.add_column(name, justify="right" if name in ("expected", "actual") else "left")
        for c in rows:
            verdict = "[green]ok[/]" if c["passed"] else "[red]FAILED[/]"
            if c["severity"] == "info":
                verdict = "info"
            table.add_row(
                c["check_name"],
                c["severity"],
                check_scope(c),
                c["period"],
                f"{c['expected']:.6f}",
                f"{c['actual']:.6f}",
                verdict,
            )
        out = console()
        out.print(table)
        _print_corrections(out, corrections_summary(settings), corrections(settings, limit))
        _print_file_issues(out, raw_file_issues(settings))
        broken = failed(rows)
        if broken:
            console(stderr=True).print(f"[red]{len(broken)} invariant(s) failed[/]")
            raise typer.Exit(1)
        out.print("all invariants hold")


def _money(amount) -> str:
    return "not computed" if amount is None else f"{amount:,.6f}"


def _print_corrections(out, summary: list[dict], listed: list[dict]) -> None:
    """What the value rules corrected (docs/method.md#validation): per raw table, then the largest ones."""
    if not summary:
        out.print("validation: no raw row broke a value rule")
        return
    table = Table(title="validation: raw rows corrected or ignored (marts.fct_data_quality)")
    for name in ("raw table", "rows", "cost with raw values", "cost as corrected"):
        table.add_column(name, justify="left" if name == "raw table" else "right")
    for row in summary:
        priced = f" ({row['priced_rows']:,} priced)" if row["priced_rows"] != row["row_count"] else ""
        table.add_row(
            row["raw_table"],
            f"{row['row_count']:,}{priced}",
            _money(row["cost_with_raw_value"]),
            _money(row["cost_as_corrected"]),
        )
    out.print(table)
    total = sum(row["row_count"] for row in summary)
    table = Table(title=f"corrections: the {len(listed):,} of {total:,} that move most money")
    for name in ("file", "row", "rule", "as landed", "as corrected", "billed to", "with raw values", "as corrected $"):
        table.add_column(name, justify="right" if name in ("with raw values", "as corrected $") else "left")
    for row in listed:
        payer = row["tenant"] or "-"
        if row["tenant_with_raw_value"] and row["tenant_with_raw_value"] != row["tenant"]:
            payer = f"{payer} (raw: {row['tenant_with_raw_value']})"
        table.add_row(
            escape(row["file"] or ""),
            escape(row["row_key"] or ""),
            escape(row["rules"] or ""),
            escape(row["original_values"] or ""),
            escape(row["corrected_values"] or ""),
            escape(payer),
            _money(row["cost_with_raw_value"]),
            _money(row["cost_as_corrected"]),
        )
    out.print(table)


def _print_file_issues(out, issues: list[dict]) -> None:
    """Stray files (not read) and files without page checksums (not verifiable)."""
    stray = [i for i in issues if i["issue"] == "stray"]
    unchecked = [i for i in issues if i["issue"] == "unchecked"]
    for row in stray:
        out.print(f"[yellow]stray file[/] {escape(row['file'])}: {escape(row['detail'])}", highlight=False)
    if unchecked:
        shown = ", ".join(escape(i["file"]) for i in unchecked[:3])
        more = f" and {len(unchecked) - 3:,} more" if len(unchecked) > 3 else ""
        out.print(
            f"[yellow]{len(unchecked):,} raw file(s) without page checksums[/] ({shown}{more}):"
            f" {escape(unchecked[0]['detail'])}",
            highlight=False,
        )
    if not issues:
        out.print("raw files: every file under raw/ is a partition file, and every one carries page checksums")
