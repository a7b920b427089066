"""The command line: thin commands, each parsing its options and calling one library function.

Each module registers its commands on ``app``: ``dashboard`` (dashboard, demo), ``build`` (build, check),
``bill``, ``statement``, ``budgets`` (budgets, anomalies, alerts), ``reconcile``, ``close``, ``collect`` (collect,
status), ``rightsize`` (rightsize, limits), ``efficiency``, ``costs``, ``quotas``, ``capacity``, ``schedule`` and
``export``.
A user mistake (a ``ChargebackError``) or a fault of the machine (a read-only or full file system, a missing
permission: ``storage_error``) prints one line and exits 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from chargeback import __version__
from chargeback.cli import (
    bill,
    budgets,
    build,
    capacity,
    close,
    collect,
    costs,
    dashboard,
    efficiency,
    export,
    quotas,
    reconcile,
    rightsize,
    schedule,
    statement,
)
from chargeback.cli.options import console
from chargeback.core.errors import ChargebackError, storage_error

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


@app.callback()
def _version(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True)] = False,
) -> None:
    if version:
        console().print(f"chargeback {__version__}")
        raise typer.Exit()


for module in (
    dashboard,
    build,
    bill,
    statement,
    budgets,
    reconcile,
    close,
    collect,
    rightsize,
    efficiency,
    costs,
    quotas,
    capacity,
    schedule,
    export,
):
    module.register(app)


def fail(exc: Exception) -> None:
    """Print ``exc`` as one unwrapped ``error:`` line on stderr and exit 2."""
    console(stderr=True).print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    sys.exit(2)


def main() -> None:
    try:
        app()
    except ChargebackError as exc:
        fail(exc)
    except Exception as exc:
        fault = storage_error(exc)
        if fault is None:
            raise
        fail(fault)
