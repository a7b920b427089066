"""mkdocs hook: the CLI as a click command, for the mkdocs-click directive of docs/cli.md.

The reference is generated from the commands' own ``--help`` (their docstrings and option help), so it
cannot drift from the code. mkdocs-click imports a click command by module name; ``chargeback.cli.app`` is a
Typer app, so this module converts it and registers itself as ``chargeback_cli_reference``, the name
docs/cli.md gives. mkdocs loads it from mkdocs.yml (``hooks:``) before any page is rendered.
"""

from __future__ import annotations

import sys

import typer

from chargeback.cli import app

MODULE = "chargeback_cli_reference"

command = typer.main.get_command(app)

sys.modules[MODULE] = sys.modules[__name__]
