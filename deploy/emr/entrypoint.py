"""The EMR on EKS job's spark-submit entry point: `chargeback build --engine spark` on the Spark driver.

EMR on EKS runs `spark-submit <this file> <entryPointArguments>` in the driver pod (deploy/emr/Dockerfile
puts this file at /opt/chargeback/entrypoint.py). The arguments, `--config chargeback.toml` in
start-job-run.json, go after `chargeback build --engine spark`, and the build runs on the driver's
SparkSession. The command's exit code is the driver's, so a failed build (an invariant broken, a bad
config: exit 1 or 2) fails the job run.

It goes through `chargeback.cli.main`, the console script's own function, so errors print the one line
the CLI prints (and exit 2) rather than a traceback.
"""

from __future__ import annotations

import sys

BUILD = ("build", "--engine", "spark")


def command(arguments: list[str]) -> list[str]:
    """The chargeback command line for the job's entryPointArguments."""
    return [*BUILD, *arguments]


def main(arguments: list[str]) -> None:
    from chargeback import cli  # the CLI loads every command: only when the job runs

    sys.argv = ["chargeback", *command(arguments)]  # Typer's app reads its arguments from sys.argv
    cli.main()  # exits with the command's code (Click's standalone mode)


if __name__ == "__main__":
    main(sys.argv[1:])
