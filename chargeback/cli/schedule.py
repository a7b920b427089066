"""The `chargeback schedule` command: parses options and runs chargeback.scheduler."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from chargeback.cli.options import ConfigOption, DataDirOption, console
from chargeback.core import cron
from chargeback.core.config import Config, load
from chargeback.core.errors import ChargebackError
from chargeback.scheduler import http
from chargeback.scheduler.core import Scheduler, install_signal_handlers
from chargeback.scheduler.logs import emit, log_to
from chargeback.scheduler.state import ScheduleState, state_path


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9090`` for IPv6; port 0: any free port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ChargebackError(f"--listen {text!r}: expected HOST:PORT, e.g. 0.0.0.0:9090")
    return host.strip("[]") or "0.0.0.0", int(port)


def print_jobs(config: Config, now: datetime, count: int = 3) -> None:
    """The jobs, their schedule in words, their next fire times and their last run."""
    state = ScheduleState(state_path(config))
    table = Table(title=f"schedule (UTC; state {state.path})")
    for name in ("job", "runs", "cron", "when", "next fire times", "last run"):
        table.add_column(name)
    for job in config.schedule.jobs:
        runs = job.run
        if job.run == "export":
            runs += f"\nto {', '.join(job.to)}" + ("\nonce the CUR is final" if job.require_final_cur else "")
        elif job.run == "collect":
            runs += f"\n{', '.join(job.sources)}"
        record = state.jobs.get(job.name)
        last = "never"
        if record and record.last_end:
            last = f"{record.last_outcome} {record.last_end}"
            if record.last_error:
                last += f": {record.last_error}"
        for period, p in sorted(record.periods.items()) if record else []:
            last += f"\n{period}: " + (
                p.waiting or (f"exported from CUR {p.exported_version}" if p.exported_version else "due")
            )
        fires = "\n".join(f"{fire:%Y-%m-%d %H:%M}" for fire in cron.upcoming(job.cron, now, count))
        table.add_row(job.name, runs, job.cron, cron.explain(job.cron), fires, last)
    console().print(table)


def register(app: typer.Typer) -> None:
    """Add `schedule` to the CLI."""

    @app.command()
    def schedule(
        once: Annotated[
            bool, typer.Option("--once", help="Run what is due now (catching up missed runs), then exit.")
        ] = False,
        list_jobs: Annotated[
            bool, typer.Option("--list", help="Print the jobs and their next fire times, then exit.")
        ] = False,
        listen: Annotated[
            str | None,
            typer.Option(
                "--listen", help="HOST:PORT for /healthz and /metrics. Default: `[schedule] address` and `port`."
            ),
        ] = None,
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """Run collect, build and export on the cron schedules of `[schedule]` until SIGTERM or Ctrl-C.

        By default: collect and build every hour at minute 15; on the 1st of each month, ask for the month
        before, exported as FOCUS and finance CSVs once its CUR is final (every line has an invoice id)
        and a build has run over it.
        Missed runs are caught up after a restart (coalesced; at most `max_catch_up` per job); a build
        never runs while another holds the data directory's build lock (it is skipped and counted).
        Each run is logged to stderr as one JSON line. `/healthz` (503 when a job failed
        `unhealthy_after_failures` times in a row or the loop stalled), `/livez` (the loop only) and
        `/metrics` (Prometheus) are served on 127.0.0.1:9090; in a cluster use `--listen 0.0.0.0:9090`.
        SIGTERM lets the running job finish, then exits 0. `--once` suits a Kubernetes CronJob (exit 1
        when a run failed).
        """
        settings = load(config, data_dir)
        now = datetime.now(UTC)
        if list_jobs:
            print_jobs(settings, now)
            return
        log_to()
        address, port = parse_listen(listen) if listen else (settings.schedule.address, settings.schedule.port)
        scheduler = Scheduler(settings)
        with scheduler.exclusive():
            if once:
                runs = scheduler.tick()
                failed = [run for run in runs if run.outcome == "failed"]
                if failed:
                    raise typer.Exit(1)
                return
            install_signal_handlers(scheduler)
            server = http.start(scheduler, address, port)
            emit(
                "listening",
                f"/healthz and /metrics on http://{address}:{server.server_port}",
                address=address,
                port=server.server_port,
            )
            try:
                scheduler.serve()
            finally:
                server.shutdown()
                server.server_close()
