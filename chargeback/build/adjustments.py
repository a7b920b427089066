"""Which closed months a build corrects, and the ``closed.*`` tables through which the models see them.

A closed month never changes (docs/method.md#closed-periods-and-adjustments). A build decides, per closed
month, whether what it would bill for that month now is to be booked, as adjustments, in the first open month
(the month after the latest closed one); ``marts.fct_adjustments`` then does the arithmetic in SQL:

- ``adjusted``: its inputs' fingerprint changed since close (a restated CUR, late metrics, a relabel) and the
  build applies the method and models it was closed with: the difference is data, and is booked;
- ``restated``: the operator asked to restate it under the current method (``chargeback build --restate``,
  recorded once in the month's directory, so later builds keep booking it): the difference, method effect
  included, is booked;
- ``held``: its inputs changed, but the method or the bill's models differ from those it was closed with:
  the difference would mix data with the method change, so nothing is booked until the operator restates
  it (a method change applies from the first open month);
- ``unchanged``: its inputs are those it was closed with: nothing to book.

The tables (``closed.settings``, ``closed.adjusted``, ``closed.amounts``, ``closed.booked``) are registered by
both engines, like ``config.*``; they are empty when nothing is closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from chargeback.build import method
from chargeback.build.closed import (
    AMOUNTS,
    AMOUNTS_SCHEMA,
    BOOKED,
    BOOKED_SCHEMA,
    ClosedMonth,
    closed_months,
    first_open_period,
)
from chargeback.build.inputs import RawInputs, bill_tables, models_fingerprint, raw_inputs
from chargeback.build.runner import Model
from chargeback.core.config import Config
from chargeback.core.errors import ChargebackError

SCHEMA = "closed"


@dataclass(frozen=True)
class Decision:
    period: str  # the closed month
    status: str  # adjusted, restated, held or unchanged
    detail: str


@dataclass(frozen=True)
class ClosedPlan:
    """What a build does with the closed months, decided before the models run."""

    months: tuple[ClosedMonth, ...] = ()
    open_period: str | None = None
    decisions: tuple[Decision, ...] = ()
    inputs: RawInputs | None = None
    method_fingerprint: str = ""
    models_fingerprint: str = ""
    notes: tuple[str, ...] = ()

    @property
    def booked_for(self) -> list[str]:
        """The closed months whose difference this build books."""
        return [d.period for d in self.decisions if d.status in ("adjusted", "restated")]


def plan(config: Config, models: list[Model], restate: Iterable[str] = (), now: datetime | None = None) -> ClosedPlan:
    """Decide, for every closed month of the data directory, whether this build books its difference.

    ``restate``: closed months to restate under the current method from now on (recorded in their directories).
    """
    data_dir = Path(config.data_dir)
    months = closed_months(data_dir)
    current_method = method.fingerprint(method.describe(config))
    current_models = models_fingerprint(models)
    inputs = raw_inputs(data_dir, bill_tables(models))
    by_period = {m.period: m for m in months}
    for period in restate:
        if period not in by_period:
            closed = ", ".join(by_period) or "none"
            raise ChargebackError(f"--restate {period}: {period} is not closed (closed months: {closed})")
        by_period[period].request_restatement(current_method, current_models, now or datetime.now(UTC))
    decisions, notes = [], []
    for month in months:
        changed = inputs.fingerprint(month.period) != month.inputs_fingerprint
        same = (month.method_fingerprint, month.models_fingerprint) == (current_method, current_models)
        if (current_method, current_models) in month.restated_under():
            decision = Decision(month.period, "restated", f"restated under method {current_method}")
        elif not changed:
            decision = Decision(month.period, "unchanged", "its inputs are those it was closed with")
        elif same:
            decision = Decision(month.period, "adjusted", "its inputs changed since it was closed")
        else:
            what = "method" if month.method_fingerprint != current_method else "bill's models (a new release)"
            decision = Decision(
                month.period,
                "held",
                f"its inputs changed since it was closed, but the {what} differs from the one it was closed with;"
                f" nothing is booked for it until `chargeback build --restate {month.period}`",
            )
            notes.append(f"closed month {month.period}: {decision.detail}")
        decisions.append(decision)
    return ClosedPlan(
        tuple(months), first_open_period(months), tuple(decisions), inputs, current_method, current_models, tuple(notes)
    )


def _concat(months: Iterable[ClosedMonth], name: str, schema: pa.Schema, period_column: str) -> pa.Table:
    """One Parquet file of each month, with the month as ``period_column``."""
    parts = []
    for month in months:
        table = month.table(name).select(schema.names).cast(schema)
        parts.append(table.add_column(0, period_column, pa.array([month.period] * table.num_rows, pa.string())))
    if not parts:
        return pa.schema([(period_column, pa.string()), *schema]).empty_table()
    return pa.concat_tables(parts)


def register_closed(con: duckdb.DuckDBPyConnection, closed: ClosedPlan) -> None:
    """Create the ``closed`` schema's tables on ``con`` (see the module's docstring)."""
    booked_for = set(closed.booked_for)
    con.execute(f"drop schema if exists {SCHEMA} cascade")  # a copy of the published warehouse holds the last ones
    con.execute(f"create schema {SCHEMA}")
    con.execute(f"create table {SCHEMA}.settings as select ?::varchar as open_period", [closed.open_period])
    con.execute(f"create table {SCHEMA}.adjusted (closed_period varchar)")
    if booked_for:
        con.executemany(f"insert into {SCHEMA}.adjusted values (?)", [[p] for p in sorted(booked_for)])
    amounts = _concat((m for m in closed.months if m.period in booked_for), AMOUNTS, AMOUNTS_SCHEMA, "period")
    booked = _concat(closed.months, BOOKED, BOOKED_SCHEMA, "period")
    for name, table in (("amounts", amounts), ("booked", booked)):
        con.register("closed_input", table)
        con.execute(f"create table {SCHEMA}.{name} as select * from closed_input")
        con.unregister("closed_input")
