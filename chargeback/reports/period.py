"""Which month a report is about (the one asked for, else the latest the warehouse has), and its invoice."""

from __future__ import annotations

import duckdb

from chargeback.core.errors import DataError
from chargeback.reports import queries


def chosen_period(con: duckdb.DuckDBPyConnection, period: str | None, latest: str, nothing: str) -> str:
    """``period`` (already checked), else the month the query ``latest`` finds; ``nothing`` is the error when
    the warehouse has none."""
    if period is not None:
        return period
    found = con.execute(latest).fetchall()[0][0]
    if found is None:
        raise DataError(nothing)
    return found


def invoice_id(con: duckdb.DuckDBPyConnection, period: str) -> str | None:
    """The id of the invoice AWS issued for billing period ``period`` (the CUR's ``bill_invoice_id``); None
    before it is issued, or from a warehouse built before invoice ids were read."""
    if not con.execute(queries.TABLE_EXISTS, ["marts", "dim_billing_periods"]).fetchall()[0][0]:
        return None
    found = con.execute(queries.INVOICE_ID, [period]).fetchall()
    return found[0][0] if found else None
