"""The `collect` and `status` commands: parse options and call ``chargeback.raw.collect.run`` and
``chargeback.raw.status.status_of``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from chargeback.build.freshness import ClusterFreshness, read_freshness
from chargeback.build.warehouse import read_only
from chargeback.cli.options import ConfigOption, DataDirOption, console, progress_bar
from chargeback.core.config import load
from chargeback.raw.collect import Outcome, parse_time, run
from chargeback.raw.status import Status, status_of
from collectors.registry import SOURCES


def print_outcomes(outcomes: list[Outcome]) -> int:
    """The collection table; returns how many sources failed."""
    table = Table(title="collection")
    for name in ("source", "target", "window", "days", "rows", "seconds", "result"):
        table.add_column(name, justify="right" if name in ("days", "rows", "seconds") else "left")
    failed = 0
    for o in outcomes:
        failed += o.error is not None
        if o.skipped:
            result = f"skipped: {escape(o.skipped)}"
        elif o.error:
            result = f"[red]{escape(o.error)}[/]"
        else:
            result = "[green]ok[/]" if o.window else "[green]up to date[/]"
        table.add_row(
            o.source,
            o.target,
            str(o.window) if o.window else "-",
            str(o.days),
            f"{sum(o.rows.values()):,}",
            f"{o.seconds:.1f}",
            result,
        )
    console().print(table)
    return failed


def print_status(report: Status) -> None:
    out = console()
    sources = Table(title="sources")
    for name in ("source", "target", "complete through", "last success", "last error"):
        sources.add_column(name)
    for source, target, state in report.sources:
        sources.add_row(
            source,
            target,
            state.complete_through or "-",
            state.last_success or "never",
            f"[red]{escape(state.last_error)}[/]" if state.last_error else "-",
        )
    out.print(sources if report.sources else "no collection has run yet (`chargeback collect`)")
    coverage = Table(title="raw tables")
    for name in ("table", "cluster", "first day", "last day", "missing days"):
        coverage.add_column(name)
    for c in report.coverage:
        gaps = ", ".join(str(d) for d in c.missing_days[:5]) + (" ..." if len(c.missing_days) > 5 else "")
        coverage.add_row(
            f"{c.source}/{c.table}",
            c.target,
            str(c.first_day or "-"),
            str(c.last_day or "-"),
            f"{len(c.missing_days)}: {gaps}" if c.missing_days else ("none" if c.first_day else "-"),
        )
    out.print(coverage)
    for period, version in sorted(report.cur_periods.items()):
        out.print(f"CUR {period}: landed version {version or 'unknown'}")


def print_freshness(found: list[ClusterFreshness]) -> None:
    """Each cluster's freshness as the last build recorded it (``chargeback.build.freshness``)."""
    if not found:
        return
    table = Table(title="clusters (as of the last build)")
    for name in ("cluster", "last hour", "behind the newest", "state"):
        table.add_column(name)
    for f in found:
        table.add_row(
            f.cluster,
            f"{f.last_hour:%Y-%m-%d %H:00} UTC" if f.last_hour else "-",
            f"{f.behind_hours} h" if f.behind_hours is not None else "-",
            f"[red]stale: {escape(f.reason())}[/]" if f.stale else "[green]fresh[/]",
        )
    console().print(table)


def register(app: typer.Typer) -> None:
    """Add `collect` and `status` to ``app``."""

    @app.command()
    def collect(
        source: Annotated[
            list[str],
            typer.Option("--source", "-s", help=f"{', '.join(SOURCES)} or all (repeatable)."),
        ] = ["all"],  # noqa: B006 - typer needs a list default
        start: Annotated[
            str | None, typer.Option(help="UTC start (YYYY-MM-DD or ISO time). Default: the watermark.")
        ] = None,
        end: Annotated[str | None, typer.Option(help="UTC end, exclusive. Default: now.")] = None,
        refresh: Annotated[
            bool,
            typer.Option("--refresh", help="Ask Cost Explorer again for closed days; re-land unchanged CUR versions."),
        ] = False,
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """Collect raw data from the configured sources into the data directory.

        Each source resumes from its watermark (the last whole UTC day it landed; the first run starts at
        the previous month) up to now, one day at a time: a day is published whole or not at all, so a
        failed run keeps every earlier day and the next run picks up where it stopped. The CUR lands a
        billing period whole when its manifest names a new version. Exits 1 if any source failed.
        """
        settings = load(config, data_dir)
        begin = parse_time(start) if start else None
        finish = parse_time(end) if end else None
        with progress_bar("collecting") as progress:
            task = progress.add_task("", total=None)
            outcomes = run(
                settings, source, begin, finish, refresh, lambda text: progress.update(task, description=text)
            )
        failed = print_outcomes(outcomes)
        if failed:
            console(stderr=True).print(
                f"[red]{failed} source(s) failed[/]; what was collected before the failure is kept"
                " (`chargeback status`)"
            )
            raise typer.Exit(1)

    @app.command()
    def status(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
        """Show, per source and cluster, what is collected, what is missing, the last success and failure; and which
        clusters the last build found stale (data behind the newest cluster's, or a failing collection)."""
        settings = load(config, data_dir)
        print_status(status_of(settings.data_dir))
        if settings.warehouse_path.is_file():
            with read_only(settings.warehouse_path) as con:
                print_freshness(read_freshness(con))
