"""The command line: each command parses options and calls one library function."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chargeback import __version__
from chargeback import config as config_module
from chargeback.bill import PARTS, Bill, monthly_bill
from chargeback.cli_capacity import register as register_capacity
from chargeback.cli_export import register as register_export
from chargeback.cli_options import ConfigOption, DataDirOption, console, load_config
from chargeback.cli_quotas import register as register_quotas
from chargeback.cli_rightsize import register as register_rightsize
from chargeback.cli_schedule import register as register_schedule
from chargeback.demo import SAMPLE_PERIOD, run_demo
from chargeback.errors import ChargebackError
from chargeback.warehouse import BuildResult, build, connect

app = typer.Typer(
    help=(
        "Cost chargeback for multi-tenant EKS clusters running Spark on EMR on EKS: prices every pod-hour"
        " on its node-hour by the AWS split-cost method and rolls it up into tenant bills that add up,"
        " to the cent, to the Cost and Usage Report."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    add_completion=False,
)
out = console()
err = console(stderr=True)
Format = Literal["table", "csv", "json"]


def _build_with_progress(run) -> BuildResult:
    with Progress(
        TextColumn("[bold]building[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("models", total=None)

        def report(model: str, index: int, total: int) -> None:
            progress.update(task, description=model, completed=index - 1, total=total)

        return run(report)


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _print_bill(bill: Bill, fmt: Format) -> None:
    if fmt == "json":
        sys.stdout.write(bill.to_json() + "\n")
        return
    if fmt == "csv":
        sys.stdout.write(bill.to_csv())
        return
    scope = f" — cluster {bill.cluster}" if bill.cluster else ""
    table = Table(title=f"Bill {bill.period}{scope} ({bill.currency})", show_footer=True)
    table.add_column("line", footer="total")
    for part in PARTS:
        table.add_column(part, justify="right", footer=_money(sum((ln.parts[part] for ln in bill.lines), Decimal(0))))
    table.add_column("total", justify="right", footer=_money(bill.total), style="bold")
    for line in bill.lines:
        style = "dim" if line.is_sentinel else None
        table.add_row(line.tenant, *(_money(line.parts[p]) for p in PARTS), _money(line.total), style=style)
    out.print(table)
    out.print(
        f"source total (in-scope CUR cost{' + estimates' if bill.estimated else ''}): {_money(bill.source_total)}"
    )
    if bill.estimated:
        out.print(
            f"[yellow]{_money(bill.estimated)} is estimated at on-demand prices: the CUR does not cover it yet[/]"
        )


def _serve_dashboard(config: config_module.Config, config_path: Path | None) -> None:
    """Replace this process with the Streamlit server (it runs until interrupted)."""
    import os

    app_file = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"
    if not app_file.is_file():
        raise ChargebackError(f"the dashboard app is missing ({app_file}); reinstall chargeback")
    env = {**os.environ, "CHARGEBACK_DATA_DIR": str(Path(config.data_dir).resolve())}
    if config_path is not None:
        env["CHARGEBACK_CONFIG"] = str(Path(config_path).resolve())
    settings = config.dashboard
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_file),
        "--server.headless",
        "true",
        "--server.address",
        settings.address,
        "--server.port",
        str(settings.port),
        "--browser.gatherUsageStats",
        "false",
        # No Deploy button, rerun or clear-cache in the menu: readers of the bills are not the app's developers.
        "--client.toolbarMode",
        "minimal",
    ]
    err.print(f"dashboard on http://{settings.address}:{settings.port} (Ctrl-C to stop)")
    if settings.identity == "none":
        err.print("[yellow]no identity configured: everyone who can reach it sees every tenant[/]")
    sys.stdout.flush()
    sys.stderr.flush()
    # Become streamlit, so Ctrl-C, SIGTERM from a process manager and the exit code are its own.
    os.execve(sys.executable, command, env)


WAIT_POLL_SECONDS = 2.0  # how often `dashboard --wait` looks for the first warehouse


def wait_for_warehouse(path: Path, poll_seconds: float = WAIT_POLL_SECONDS) -> bool:
    """Block until a warehouse is published at ``path`` (a build publishes it whole, by rename), saying once
    what it waits for. False when SIGTERM or SIGINT ended the wait first."""
    import signal
    import threading

    if path.is_file():
        return True
    path = path.absolute()
    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda _signum, _frame: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        # One line each, unwrapped: a container log. Said once the signals are handled, so whoever reads
        # it may stop the wait.
        err.print(
            f"waiting for the first published warehouse, {path} (a `chargeback build`, or the scheduler's)",
            markup=False,
            soft_wrap=True,
        )
        sys.stderr.flush()
        while not path.is_file():
            if stop.wait(poll_seconds):
                return False
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    err.print(f"found {path}", markup=False, soft_wrap=True)
    return True


@app.command()
def dashboard(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Without a warehouse yet, wait for the first build to publish one (saying so once), then serve;"
            " SIGTERM ends the wait with exit 0. For a container started beside the scheduler.",
        ),
    ] = False,
) -> None:
    """Start the dashboard on localhost: overview, tenant bills, EMR jobs, nodes and idle, data quality.

    It reads the published warehouse only (read-only, per request), so builds can run beside it.
    Address, port and who may see which tenant come from `[dashboard]` in the config.
    """
    settings = load_config(config, data_dir)
    if wait and not wait_for_warehouse(settings.warehouse_path):
        err.print("stopped waiting")
        return
    if not settings.warehouse_path.is_file():
        raise ChargebackError(
            f"{settings.warehouse_path}: no warehouse yet; run `chargeback build` or `chargeback demo`"
            " (or start the dashboard with --wait)"
        )
    _serve_dashboard(settings, config)


@app.command()
def demo(
    no_dashboard: Annotated[
        bool, typer.Option("--no-dashboard", help="Only build the sample month and print its bill.")
    ] = False,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where to build the demo.")] = Path("data"),
) -> None:
    """Build the bundled sample month (October 2026) into the data directory and print its bill.

    Afterwards `chargeback bill --period 2026-10` and `chargeback check` read the demo month with no config.
    """
    config, result = _build_with_progress(lambda report: run_demo(data_dir, report))
    err.print(f"built {result.warehouse} in {result.seconds:.1f} s")
    _print_bill(monthly_bill(config, SAMPLE_PERIOD), "table")
    if not no_dashboard:
        _serve_dashboard(config, None)


@app.command("build")
def build_command(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    full: Annotated[
        bool, typer.Option("--full", help="Reprice every day, not only the days whose inputs changed.")
    ] = False,
    engine: Annotated[
        Literal["duckdb", "spark"] | None,
        typer.Option("--engine", help="duckdb, or spark (a SparkSession; see [build.spark]). Default: [build] engine."),
    ] = None,
) -> None:
    """Run the SQL models over the data directory's raw tables and publish a new warehouse.

    Pod-hours are repriced only for the days whose inputs changed since the published build (a new day,
    a restated CUR day); `--full` reprices the whole month. Fails, leaving the published warehouse
    untouched, when an invariant breaks (see `chargeback check`). `--engine spark` runs the same models on
    Spark (always whole) and publishes the marts as Parquet.
    """
    settings = load_config(config, data_dir)
    if engine:
        settings = settings.model_copy(update={"build": settings.build.model_copy(update={"engine": engine})})
    result = _build_with_progress(lambda report: build(settings, report, full=full))
    err.print(f"built {result.warehouse} in {result.seconds:.1f} s; all invariants hold (see `chargeback check`)")
    for relation, refreshed in result.refreshed.items():
        err.print(f"  {relation}: {refreshed.describe()}")
    for relation in ("marts.fct_pod_costs_hourly", "marts.fct_node_costs_hourly", "marts.fct_tenant_costs_daily"):
        err.print(f"  {relation}: {result.row_counts.get(relation, 0):,} rows")


@app.command()
def bill(
    period: Annotated[str, typer.Option("--period", "-p", help="Billing month, YYYY-MM.")],
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant's line.")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="Only costs of this cluster.")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, csv or json (amounts as strings).")] = "table",
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Print the monthly bill: one line per tenant plus `__idle__`, `__shared__` and `__unallocated__`.

    Lines are exact to the cent: the total is the source total rounded half-up, lines and their parts
    (compute, idle, shared, emr, tagged) are apportioned by largest remainder, so everything adds up.
    """
    _print_bill(monthly_bill(load_config(config, data_dir), period, tenant, cluster), fmt)


@app.command()
def collect(
    source: Annotated[
        list[str],
        typer.Option("--source", "-s", help="prometheus, kubernetes, emr, cur, cost-explorer or all (repeatable)."),
    ] = ["all"],  # noqa: B006 - typer needs a list default
    start: Annotated[
        str | None, typer.Option(help="UTC start (YYYY-MM-DD or ISO time). Default: the watermark.")
    ] = None,
    end: Annotated[str | None, typer.Option(help="UTC end, exclusive. Default: now.")] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Ask Cost Explorer again for closed days; re-land unchanged CUR versions.")
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
    from chargeback.collect import parse_time, run

    settings = load_config(config, data_dir)
    begin = parse_time(start) if start else None
    finish = parse_time(end) if end else None
    with Progress(
        TextColumn("[bold]collecting[/] {task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("", total=None)
        outcomes = run(settings, source, begin, finish, refresh, lambda text: progress.update(task, description=text))
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
    out.print(table)
    if failed:
        err.print(
            f"[red]{failed} source(s) failed[/]; what was collected before the failure is kept (`chargeback status`)"
        )
        raise typer.Exit(1)


@app.command()
def status(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Show, per source and cluster, what is collected, what is missing, the last success and the last failure."""
    from chargeback.collect import status as collection_status

    report = collection_status(load_config(config, data_dir))
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


CHECKS_SQL = "select * from marts.checks order by severity, check_name, cluster, period"


@app.command()
def check(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Print the invariants of the published warehouse; exit 1 when one fails."""
    with connect(load_config(config, data_dir)) as con:
        rows = con.sql(CHECKS_SQL)
        columns, records = rows.columns, rows.fetchall()
    table = Table(title="checks")
    for name in ("check", "severity", "cluster", "period", "expected", "actual", "result"):
        table.add_column(name, justify="right" if name in ("expected", "actual") else "left")
    failed = 0
    for record in records:
        c = dict(zip(columns, record, strict=True))
        failed += c["severity"] == "error" and not c["passed"]
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
    out.print(table)
    if failed:
        err.print(f"[red]{failed} invariant(s) failed[/]")
        raise typer.Exit(1)
    out.print("all invariants hold")


@app.callback()
def _version(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True)] = False,
) -> None:
    if version:
        out.print(f"chargeback {__version__}")
        raise typer.Exit()


register_rightsize(app)
register_quotas(app)
register_capacity(app)
register_schedule(app)
register_export(app)


def main() -> None:
    try:
        app()
    except ChargebackError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)
