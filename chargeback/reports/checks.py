"""The invariants of the published warehouse (``marts.checks``): what `chargeback check` prints."""

from __future__ import annotations

from chargeback.build.bookkeeping import read_checks
from chargeback.build.warehouse import connect
from chargeback.core.config import Config


def checks(config: Config) -> list[dict]:
    """Every check of the published warehouse, errors first: name, severity, cluster, period, expected,
    actual, passed, detail."""
    with connect(config) as con:
        return read_checks(con)


def failed(rows: list[dict]) -> list[dict]:
    """The error-severity checks that did not pass."""
    return [row for row in rows if row["severity"] == "error" and not row["passed"]]
