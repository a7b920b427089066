"""Closing a month: its bill frozen, so no later build changes it (docs/method.md#closed-periods-and-adjustments).

``close_period`` takes the month from the published build (which must cover it, and must have been built from
the raw data as it is now) and writes ``<data_dir>/closed/<period>/`` once (``chargeback.build.closed``): the
bill to the cent, its exact amounts per (cluster, bill line, part), the adjustments booked in it, the FOCUS
rows, the method (``bookkeeping.build_info``), the bill's models, the CUR version and the inputs'
fingerprint. Months close in order; a closed month stays closed (later changes become adjustments, and a
method change is applied to it only when the operator restates it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from chargeback import __version__
from chargeback.build.closed import (
    AMOUNTS,
    AMOUNTS_SCHEMA,
    BOOKED,
    BOOKED_SCHEMA,
    FORMAT,
    INPUTS,
    RECORD,
    ROWS,
    closed_month,
    closed_months,
    write_month,
)
from chargeback.build.inputs import bill_tables, raw_inputs
from chargeback.build.method import summary
from chargeback.build.runner import discover_models
from chargeback.build.warehouse import build_lock, connect
from chargeback.core import periods
from chargeback.core.config import Config
from chargeback.core.errors import ChargebackError, DataError
from chargeback.core.times import iso
from chargeback.reports import queries
from chargeback.reports.bill import Bill, bill_record, monthly_bill
from chargeback.reports.period import invoice_id as invoice_of

# FOCUS rows as frozen (the columns of queries.FOCUS_ALLOCATION).
ROWS_SCHEMA = pa.schema(
    [
        ("cluster", pa.string()),
        ("date", pa.date32()),
        ("tenant", pa.string()),
        ("component", pa.string()),
        ("namespace", pa.string()),
        ("emr_job_run_id", pa.string()),
        ("product_code", pa.string()),
        ("payer_account_id", pa.string()),
        ("amount", pa.decimal128(38, 12)),
    ]
)


@dataclass(frozen=True)
class Closed:
    """What ``close_period`` froze."""

    period: str
    path: Path
    closed_at: str
    bill: Bill
    method: str  # the method's one-line summary
    inputs_fingerprint: str
    input_files: int
    cur_version: str | None


def _table(con: duckdb.DuckDBPyConnection, sql: str, params: dict, schema: pa.Schema) -> pa.Table:
    return con.sql(sql, params=params).to_arrow_table().cast(schema)


def _require(con: duckdb.DuckDBPyConnection, relations: list[str]) -> None:
    for relation in relations:
        if not con.execute(queries.TABLE_EXISTS, relation.split(".")).fetchall()[0][0]:
            raise DataError(
                f"the published warehouse has no {relation} (built by an older release); run `chargeback build`"
            )


def close_period(config: Config, period: str, now: datetime | None = None) -> Closed:
    """Freeze month ``period``'s bill as the published build has it; see the module's docstring."""
    periods.parse_period(period, "--period")
    now = now or datetime.now(UTC)
    data_dir = Path(config.data_dir)
    if now < periods.end(period):
        raise ChargebackError(f"{period} is not over until {iso(periods.end(period))}; close it after that")
    with build_lock(data_dir):  # no build publishes while the month is read and frozen
        already = closed_month(data_dir, period)
        if already is not None:
            raise ChargebackError(f"{period} is already closed (on {already.closed_at}); a closed month never changes")
        months = closed_months(data_dir)
        if months and period < months[-1].period:
            raise ChargebackError(f"{period} is before {months[-1].period}, which is closed; months close in order")
        return _close(config, period, now, data_dir, months)


def _close(config: Config, period: str, now: datetime, data_dir: Path, months: list) -> Closed:
    params = {"period": period}
    try:
        with connect(config) as con:
            _require(con, ["marts.fct_adjustments", "marts.fct_tenant_allocation_daily", "bookkeeping.bill_inputs"])
            built = [r[0] for r in con.execute(queries.BILL_PERIODS).fetchall()]
            if period not in built:
                raise DataError(
                    f"the published build does not cover {period} (periods built: {', '.join(built) or 'none'});"
                    " collect and `chargeback build` it first"
                )
            after = months[-1].period if months else ""
            skipped = [p for p in built if after < p < period]
            if skipped:
                raise ChargebackError(f"close {', '.join(skipped)} first: months close in order")
            built_at, config_json, method_json, method_fingerprint = con.execute(queries.BUILD_METHOD).fetchall()[0]
            found = con.execute(queries.BILL_INPUTS, [period]).fetchall()
            if not found:
                raise DataError(f"the published build recorded no inputs for {period}; run `chargeback build`")
            input_marks, models_fingerprint = found[0]
            basis, idle, shared, tagged_tag = con.execute(queries.BUILD_SETTINGS).fetchall()[0]
            cur_versions = dict(con.execute(queries.CUR_VERSIONS).fetchall())
            clusters = {
                cluster: {"source_total": str(cost), "estimated": str(estimated)}
                for cluster, cost, estimated in con.execute(queries.CLOSE_SOURCE_BY_CLUSTER, params).fetchall()
            }
            amounts = _table(con, queries.CLOSE_AMOUNTS, params, AMOUNTS_SCHEMA)
            booked = _table(con, queries.ADJUSTMENT_ROWS, params, BOOKED_SCHEMA)
            rows = _table(con, queries.FOCUS_ALLOCATION, params, ROWS_SCHEMA)
            invoice_id = invoice_of(con, period)
    except duckdb.Error as exc:  # a warehouse of an older release: tables or columns missing
        reason = str(exc).splitlines()[0]
        raise DataError(
            f"{config.warehouse_path}: cannot read {period} to close it ({reason}); run `chargeback build`"
        ) from None
    inputs = raw_inputs(data_dir, bill_tables(discover_models()))
    if inputs.marks(period) != input_marks:
        raise ChargebackError(
            f"the raw data {period} is billed from changed after the published build (a collect landed since);"
            " run `chargeback build`, check the bill, then close it"
        )
    listing = inputs.listing(period)
    inputs_fingerprint = inputs.fingerprint(period)
    bill = monthly_bill(config, period)
    known = sorted(set(amounts.column("tenant").to_pylist()) | set(booked.column("tenant").to_pylist()))
    method = json.loads(method_json)
    weights = json.loads(config_json).get("allocation", {}).get("weights", "scad")
    closed_at = iso(now)
    record = {
        "format": FORMAT,
        "period": period,
        "closed_at": closed_at,
        "release": __version__,
        "built_at": iso(built_at),
        "method": method,
        "method_fingerprint": method_fingerprint,
        "models_fingerprint": models_fingerprint,
        "inputs_fingerprint": inputs_fingerprint,
        "cur_version": cur_versions.get(period),
        "cur_versions": cur_versions,
        "config_json": config_json,
        "export_source": {
            "cur_version": cur_versions.get(period),
            "cost_basis": basis,
            "weights": weights,
            "idle": idle,
            "shared": shared,
            "tagged_tag": tagged_tag,
            "invoice_id": invoice_id,  # FOCUS InvoiceId; null: not invoiced yet when closed
        },
        "clusters": clusters,
        "bill": bill_record(bill, known),
    }
    path = write_month(
        data_dir,
        period,
        {RECORD: record, INPUTS: {"period": period, "fingerprint": inputs_fingerprint, "files": listing}},
        {AMOUNTS: amounts, BOOKED: booked, ROWS: rows},
    )
    return Closed(
        period,
        path,
        closed_at,
        bill,
        summary(method),
        inputs_fingerprint,
        len(listing),
        cur_versions.get(period),
    )
