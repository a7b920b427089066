"""The `dashboard` and `demo` commands: serve the Streamlit app over the published warehouse, and build the
bundled sample month (``chargeback.build.demo``)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

import dashboards
from chargeback.build.demo import SAMPLE_PERIOD, run_demo
from chargeback.cli.bill import print_bill
from chargeback.cli.options import ConfigOption, DataDirOption, console, with_build_progress
from chargeback.core.config import CONFIG_FILE, Config, discover, load
from chargeback.core.errors import ChargebackError
from chargeback.reports.bill import monthly_bill


def streamlit_command(config: Config, app_file: Path, show_errors: bool = False) -> list[str]:
    """The ``streamlit run`` command line for ``app_file`` under ``[dashboard]``. A visitor never sees an error's
    type, message or traceback (they stay in the server's log) unless ``show_errors``: the demo, on one's own
    machine."""
    settings = config.dashboard
    return [
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
        # "none": a generic message in the page; "false" would still show the traceback ("stacktrace").
        "--client.showErrorDetails",
        "full" if show_errors else "none",
    ]


def serve(config: Config, config_path: Path | None, show_errors: bool = False) -> None:
    """Replace this process with the Streamlit server (it runs until interrupted); ``show_errors``: see
    ``streamlit_command``."""
    app_file = Path(dashboards.__file__).resolve().parent / "app.py"
    if not app_file.is_file():
        raise ChargebackError(f"the dashboard app is missing ({app_file}); reinstall chargeback")
    env = {**os.environ, "CHARGEBACK_DATA_DIR": str(Path(config.data_dir).resolve())}
    if config_path is not None:
        env["CHARGEBACK_CONFIG"] = str(Path(config_path).resolve())
    settings = config.dashboard
    command = streamlit_command(config, app_file, show_errors)
    err = console(stderr=True)
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
    if path.is_file():
        return True
    path = path.absolute()
    err = console(stderr=True)
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


def register(app: typer.Typer) -> None:
    """Add `dashboard` and `demo` to ``app``."""

    @app.command()
    def dashboard(
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
        wait: Annotated[
            bool,
            typer.Option(
                "--wait",
                help="Without a warehouse yet, wait for the first build to publish one (saying so once), then"
                " serve; SIGTERM ends the wait with exit 0. For a container started beside the scheduler.",
            ),
        ] = False,
    ) -> None:
        """Start the dashboard on localhost: overview, tenant bills, EMR jobs, nodes and idle, data quality.

        It reads the published warehouse only (read-only, per request), so builds can run beside it.
        Address, port and who may see which tenant come from `[dashboard]` in the config.
        """
        settings = load(config, data_dir)
        if wait and not wait_for_warehouse(settings.warehouse_path):
            console(stderr=True).print("stopped waiting")
            return
        if not settings.warehouse_path.is_file():
            raise ChargebackError(
                f"{settings.warehouse_path}: no warehouse yet; run `chargeback build` or `chargeback demo`"
                " (or start the dashboard with --wait)"
            )
        serve(settings, discover(config, data_dir))

    @app.command()
    def demo(
        no_dashboard: Annotated[
            bool, typer.Option("--no-dashboard", help="Only build the sample month and print its bill.")
        ] = False,
        data_dir: Annotated[Path, typer.Option("--data-dir", help="Where to build the demo.")] = Path("data"),
    ) -> None:
        """Build the bundled sample month (October 2026) into the data directory and print its bill.

        The sample's configuration is written to the data directory (`chargeback.toml`), where every command
        run with that data directory finds it: afterwards `chargeback bill --period 2026-10`, `chargeback
        check` and a plain `chargeback build` work on the demo month as the demo built it.
        """
        settings, result = with_build_progress(lambda report: run_demo(data_dir, report))
        console(stderr=True).print(
            f"built {result.warehouse} in {result.seconds:.1f} s with {data_dir / CONFIG_FILE}", highlight=False
        )
        print_bill(monthly_bill(settings, SAMPLE_PERIOD), "table")
        if not no_dashboard:
            serve(settings, data_dir / CONFIG_FILE, show_errors=True)
