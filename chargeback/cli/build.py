"""The `build` and `check` commands: parse options and call ``chargeback.build.engines.build`` and
``chargeback.reports.checks.checks``."""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from chargeback.build import method
from chargeback.build.engines import build
from chargeback.cli.options import ConfigOption, DataDirOption, console, with_build_progress
from chargeback.core.config import load
from chargeback.core.periods import parse_period
from chargeback.reports.checks import checks, failed

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
    def check(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
        """Print the invariants of the published warehouse; exit 1 when one fails."""
        rows = checks(load(config, data_dir))
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
                c["cluster"],
                c["period"],
                f"{c['expected']:.6f}",
                f"{c['actual']:.6f}",
                verdict,
            )
        out = console()
        out.print(table)
        broken = failed(rows)
        if broken:
            console(stderr=True).print(f"[red]{len(broken)} invariant(s) failed[/]")
            raise typer.Exit(1)
        out.print("all invariants hold")
