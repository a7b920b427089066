"""What commands share: the --config, --data-dir, --period and --format options, loading the config, consoles."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from chargeback import config as config_module

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML config file. Default: $CHARGEBACK_CONFIG, else ./chargeback.toml, else built-in defaults.",
        dir_okay=False,
    ),
]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (raw Parquet and warehouse). Default: ./data.")
]

LatestPeriodOption = Annotated[
    str | None, typer.Option("--period", "-p", help="Month, YYYY-MM. Default: the latest month built.")
]
ReportFormat = Literal["table", "json"]
ReportFormatOption = Annotated[ReportFormat, typer.Option("--format", "-f", help="table or json.")]


def load_config(path: Path | None, data_dir: Path | None = None) -> config_module.Config:
    """The config (``--config``, else the usual lookup), with ``--data-dir`` over its data directory."""
    config = config_module.load(path)
    return config.model_copy(update={"data_dir": data_dir}) if data_dir else config


def console(stderr: bool = False, width: int = 160) -> Console:
    """Piped output (CI logs, files) gets a wide page instead of Rich's 80-column default."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else width)
