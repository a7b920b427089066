"""What commands share: the --config, --data-dir, --period and --format options, and the consoles."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML config file. Default: $CHARGEBACK_CONFIG, else ./chargeback.toml, else chargeback.toml in the"
        " data directory (--data-dir, else ./data; `chargeback demo` leaves one there), else built-in defaults.",
        dir_okay=False,
    ),
]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (raw Parquet and warehouse). Default: ./data.")
]

LatestPeriodOption = Annotated[
    str | None, typer.Option("--period", "-p", help="Month, YYYY-MM. Default: the latest month built.")
]
PeriodOption = Annotated[str, typer.Option("--period", "-p", help="Billing month, YYYY-MM.")]
ReportFormat = Literal["table", "json"]
ReportFormatOption = Annotated[ReportFormat, typer.Option("--format", "-f", help="table or json.")]


def console(stderr: bool = False, width: int = 160) -> Console:
    """Piped output (CI logs, files) gets a wide page instead of Rich's 80-column default."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else width)


T = TypeVar("T")


def progress_bar(verb: str, counted: bool = False) -> Progress:
    """A one-line progress display on stderr (``verb`` the step; ``counted``: with a bar and N of M), shown on
    a terminal only and gone when done."""
    err = console(stderr=True)
    columns = [TextColumn(f"[bold]{verb}[/] {{task.description}}")]
    columns += [BarColumn(), MofNCompleteColumn()] if counted else []
    return Progress(*columns, TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal)


def with_build_progress(run: Callable[[Callable[[str, int, int], None]], T]) -> T:
    """Call ``run(report)`` with a progress bar of the build's models on stderr."""
    with progress_bar("building", counted=True) as progress:
        task = progress.add_task("models", total=None)

        def report(model: str, index: int, total: int) -> None:
            progress.update(task, description=model, completed=index - 1, total=total)

        return run(report)
