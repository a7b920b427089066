"""The monthly bill: tenant lines from ``marts.fct_tenant_costs_daily``, exact to the cent, and the allocation
method of the build they come from (``chargeback.build.method``), which every format states.

A month's bill also carries the adjustments booked in it for closed months (part ``adjustment``, from
``marts.fct_adjustments``), and a closed month's bill is its frozen one, read from ``<data_dir>/closed/``
whatever later builds hold (docs/method.md#closed-periods-and-adjustments).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from chargeback.build import method as method_module
from chargeback.build.closed import AMOUNTS, BOOKED, ClosedMonth, closed_month
from chargeback.build.warehouse import connect
from chargeback.core.config import SENTINELS, Config
from chargeback.core.errors import DataError
from chargeback.core.money import apportion, to_cents
from chargeback.core.periods import parse_period
from chargeback.reports import queries

# The parts of a bill line: what the allocation gives (COST_PARTS), then corrections of closed months.
COST_PARTS = ("compute", "idle", "shared", "storage", "network", "emr", "tagged")
PARTS = (*COST_PARTS, "adjustment")

Exact = dict[str, dict[str, Decimal]]  # bill line -> part (COST_PARTS) -> exact amount
Corrections = dict[str, dict[str, dict[str, Decimal]]]  # bill line -> closed month -> part -> exact adjustment


@dataclass(frozen=True)
class Correction:
    """What a line's ``adjustment`` part corrects in one closed month, in cents (by the part it corrects)."""

    closed_period: str
    amount: Decimal
    parts: dict[str, Decimal]

    def to_json(self) -> dict[str, Any]:
        return {
            "closed_period": self.closed_period,
            "amount": str(self.amount),
            "parts": {part: str(value) for part, value in self.parts.items()},
        }


@dataclass(frozen=True)
class BillLine:
    tenant: str
    total: Decimal
    parts: dict[str, Decimal]
    exact_total: Decimal
    exact_parts: dict[str, Decimal] = field(default_factory=dict)  # before rounding: what breakdowns split
    corrections: tuple[Correction, ...] = ()

    @property
    def is_sentinel(self) -> bool:
        return self.tenant in SENTINELS


@dataclass(frozen=True)
class Bill:
    period: str
    currency: str
    cluster: str | None
    total: Decimal
    source_total: Decimal
    estimated: Decimal
    lines: tuple[BillLine, ...]
    method: dict[str, Any] | None = None  # the published build's method; None: built before it was recorded
    adjustments: Decimal = Decimal(0)  # exact sum of the adjustments booked in the period
    closed_at: str | None = None  # when the period was closed (its bill is then the frozen one)

    @property
    def method_fingerprint(self) -> str | None:
        return method_module.fingerprint(self.method) if self.method else None

    def method_line(self) -> str:
        """The method in one line, as the table and the dashboard say it."""
        if self.method is None:
            return "not recorded (the warehouse was built before methods were recorded: run `chargeback build`)"
        return method_module.summary(self.method)

    def method_json(self) -> dict[str, Any]:
        """What the JSON bill says of its method: fingerprint, one-line summary, every setting."""
        return {"fingerprint": self.method_fingerprint, "summary": self.method_line(), "settings": self.method}

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "period": self.period,
            "currency": self.currency,
            "cluster": self.cluster,
            "total": str(self.total),
            "source_total": str(to_cents(self.source_total)),
            "estimated": str(to_cents(self.estimated)),
            "adjustments_total": str(self.adjustment_total),
            "lines": [
                {
                    "tenant": line.tenant,
                    "total": str(line.total),
                    **{p: str(line.parts[p]) for p in PARTS},
                    "adjustments": [c.to_json() for c in line.corrections],
                }
                for line in self.lines
            ],
            "method": None if self.method is None else self.method_json(),
        }
        if self.closed_at:
            body["closed_at"] = self.closed_at
        return json.dumps(body, indent=2)

    def to_csv(self) -> str:
        """One row per line; the last column, ``method``, is the method's fingerprint (empty: not recorded)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["period", "currency", "tenant", *PARTS, "total", "method"])
        method = self.method_fingerprint or ""
        for line in self.lines:
            writer.writerow(
                [self.period, self.currency, line.tenant, *(line.parts[p] for p in PARTS), line.total, method]
            )
        return out.getvalue()

    @property
    def adjustment_total(self) -> Decimal:
        """The adjustments as billed: the sum of the lines' ``adjustment`` parts."""
        return sum((line.parts["adjustment"] for line in self.lines), Decimal("0.00"))

    @property
    def corrected_periods(self) -> list[str]:
        """The closed months this bill's adjustments correct."""
        return sorted({c.closed_period for line in self.lines for c in line.corrections})


def _corrections(line: dict[str, dict[str, Decimal]], cents: Decimal) -> tuple[Correction, ...]:
    """A line's adjustment part (``cents``) shared over the closed months it corrects, each over its parts."""
    periods = sorted(line)
    by_period = apportion({p: sum(line[p].values(), Decimal(0)) for p in periods}, cents, order=periods)
    found = []
    for period in periods:
        parts = apportion(line[period], by_period[period], order=[p for p in COST_PARTS if p in line[period]])
        found.append(Correction(period, by_period[period], {p: v for p, v in parts.items() if v}))
    return tuple(found)


def assemble(
    period: str,
    currency: str,
    cluster: str | None,
    exact: Exact,
    corrections: Corrections,
    source_total: Decimal,
    estimated: Decimal,
    method: dict[str, Any] | None = None,
    closed_at: str | None = None,
) -> Bill:
    """Round a month's exact amounts to a bill: the total is the source total plus the adjustments, rounded
    half-up; lines, their parts and their corrections get cents by largest remainder, so everything adds up."""
    adjustments = sum((v for line in corrections.values() for p in line.values() for v in p.values()), Decimal(0))
    names = sorted(set(exact) | set(corrections))
    amounts = {}
    for name in names:
        adjusted = corrections.get(name, {})
        amounts[name] = {p: exact.get(name, {}).get(p, Decimal(0)) for p in COST_PARTS}
        amounts[name]["adjustment"] = sum((v for p in adjusted.values() for v in p.values()), Decimal(0))
    target = to_cents(source_total + adjustments)
    totals = apportion({t: sum(amounts[t].values(), Decimal(0)) for t in names}, target, order=names)
    lines = []
    for name in names:
        parts = apportion(amounts[name], totals[name], order=PARTS)
        if totals[name] == 0 and all(v == 0 for v in parts.values()):
            continue  # a line holding no money (rounding dust on a sentinel) is not printed
        exact_total = sum(amounts[name].values(), Decimal(0))
        fixes = _corrections(corrections[name], parts["adjustment"]) if name in corrections else ()
        lines.append(BillLine(name, totals[name], parts, exact_total, dict(amounts[name]), fixes))
    total = sum((line.total for line in lines), Decimal("0.00"))
    return Bill(period, currency, cluster, total, source_total, estimated, tuple(lines), method, adjustments, closed_at)


def narrow(bill: Bill, tenant: str | None, known: list[str]) -> Bill:
    """The bill with only ``tenant``'s line (``known``: every line the month has, printed or not)."""
    if tenant is None:
        return bill
    if tenant not in known:
        raise DataError(f"tenant {tenant!r} has no costs in {bill.period}; bill lines are: {', '.join(known)}")
    lines = tuple(line for line in bill.lines if line.tenant == tenant)
    total = sum((line.total for line in lines), Decimal("0.00"))
    return replace(bill, total=total, lines=lines)


def monthly_bill(config: Config, period: str, tenant: str | None = None, cluster: str | None = None) -> Bill:
    """The bill for ``period``: every line with money, rounded so parts, lines and total agree; a closed
    month's frozen bill."""
    parse_period(period)
    closed = closed_month(config.data_dir, period)
    if closed is not None:
        bill, known = frozen_bill(closed, cluster)
        return narrow(bill, tenant, known)
    params = {"period": period, "cluster": cluster}
    with connect(config) as con:
        if not con.execute(queries.TABLE_EXISTS, ["marts", "fct_adjustments"]).fetchall()[0][0]:
            raise DataError("the warehouse was built before adjustments of closed months; run `chargeback build`")
        rows = con.execute(queries.BILL_LINES, params).fetchall()
        adjustments = con.execute(queries.BILL_ADJUSTMENTS, params).fetchall()
        source_total, estimated = con.execute(queries.BILL_SOURCE_TOTAL, params).fetchall()[0]
        currency = con.execute(queries.BILL_CURRENCY).fetchall()[0][0]
        known = [r[0] for r in con.execute(queries.BILL_PERIODS).fetchall()]
        method = method_module.read_method(con)
    if not rows and not adjustments:
        have = ", ".join(known) or "none"
        raise DataError(
            f"no costs for period {period}{f' in cluster {cluster}' if cluster else ''} (periods built: {have})"
        )
    exact = {row[0]: dict(zip(COST_PARTS, row[1:], strict=True)) for row in rows}
    corrections: Corrections = defaultdict(lambda: defaultdict(dict))
    for name, closed_period, part, amount in adjustments:
        corrections[name][closed_period][part] = amount
    bill = assemble(period, currency, cluster, exact, corrections, source_total, estimated, method)
    return narrow(bill, tenant, sorted(set(exact) | set(corrections)))


# --- a closed month's frozen bill --------------------------------------------------------------------------


def bill_record(bill: Bill, known: list[str]) -> dict[str, Any]:
    """What ``bill.json`` keeps of a month's bill: every figure as printed, so reading it back is exact."""
    return {
        "currency": bill.currency,
        "total": str(bill.total),
        "source_total": str(bill.source_total),
        "estimated": str(bill.estimated),
        "adjustments": str(bill.adjustments),
        "bill_lines": known,
        "lines": [
            {
                "tenant": line.tenant,
                "total": str(line.total),
                "exact_total": str(line.exact_total),
                "exact_parts": {p: str(v) for p, v in line.exact_parts.items()},
                "parts": {p: str(line.parts[p]) for p in PARTS},
                "adjustments": [c.to_json() for c in line.corrections],
            }
            for line in bill.lines
        ],
    }


def _line(record: dict[str, Any]) -> BillLine:
    corrections = tuple(
        Correction(c["closed_period"], Decimal(c["amount"]), {p: Decimal(v) for p, v in c["parts"].items()})
        for c in record["adjustments"]
    )
    parts = {p: Decimal(record["parts"].get(p, "0.00")) for p in PARTS}
    exact_parts = {p: Decimal(v) for p, v in record["exact_parts"].items()}
    return BillLine(
        record["tenant"], Decimal(record["total"]), parts, Decimal(record["exact_total"]), exact_parts, corrections
    )


def frozen_bill(month: ClosedMonth, cluster: str | None = None) -> tuple[Bill, list[str]]:
    """A closed month's bill as it was closed, and every line it has (``cluster``: that cluster's part of it,
    rounded from the frozen exact amounts)."""
    record = month.record
    frozen = record["bill"]
    if cluster is None:
        lines = tuple(_line(line) for line in frozen["lines"])
        bill = Bill(
            month.period,
            frozen["currency"],
            None,
            Decimal(frozen["total"]),
            Decimal(frozen["source_total"]),
            Decimal(frozen["estimated"]),
            lines,
            record["method"],
            Decimal(frozen["adjustments"]),
            month.closed_at,
        )
        return bill, list(frozen["bill_lines"])
    clusters = record["clusters"]
    amounts, booked = month.table(AMOUNTS).to_pylist(), month.table(BOOKED).to_pylist()
    if cluster not in clusters and not any(r["cluster"] == cluster for r in booked):
        raise DataError(
            f"no costs for period {month.period} in cluster {cluster} (closed; its clusters: {', '.join(clusters)})"
        )
    exact: Exact = defaultdict(dict)
    for row in amounts:
        if row["cluster"] == cluster:
            exact[row["tenant"]][row["part"]] = exact[row["tenant"]].get(row["part"], Decimal(0)) + row["amount"]
    corrections: Corrections = defaultdict(lambda: defaultdict(dict))
    for row in booked:
        if row["cluster"] == cluster:
            by_part = corrections[row["tenant"]][row["closed_period"]]
            by_part[row["part"]] = by_part.get(row["part"], Decimal(0)) + row["amount"]
    source = clusters.get(cluster, {"source_total": "0", "estimated": "0"})
    bill = assemble(
        month.period,
        frozen["currency"],
        cluster,
        exact,
        corrections,
        Decimal(source["source_total"]),
        Decimal(source["estimated"]),
        record["method"],
        month.closed_at,
    )
    return bill, sorted(set(exact) | set(corrections))
