"""Which month a report is about: the one asked for, else the latest the warehouse has."""

from __future__ import annotations

import duckdb

from chargeback.core.errors import DataError


def chosen_period(con: duckdb.DuckDBPyConnection, period: str | None, latest: str, nothing: str) -> str:
    """``period`` (already checked), else the month the query ``latest`` finds; ``nothing`` is the error when
    the warehouse has none."""
    if period is not None:
        return period
    found = con.execute(latest).fetchall()[0][0]
    if found is None:
        raise DataError(nothing)
    return found
