"""The monthly bill: tenant lines from ``marts.fct_tenant_costs_daily``, exact to the cent, and the allocation
method of the build they come from (``chargeback.build.method``), which every format states."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chargeback.build import method as method_module
from chargeback.build.warehouse import connect
from chargeback.core.config import SENTINELS, Config
from chargeback.core.errors import DataError
from chargeback.core.money import apportion, to_cents
from chargeback.core.periods import parse_period
from chargeback.reports import queries

PARTS = ("compute", "idle", "shared", "emr", "tagged")


@dataclass(frozen=True)
class BillLine:
    tenant: str
    total: Decimal
    parts: dict[str, Decimal]
    exact_total: Decimal
    exact_parts: dict[str, Decimal] = field(default_factory=dict)  # before rounding: what breakdowns split

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
        return json.dumps(
            {
                "period": self.period,
                "currency": self.currency,
                "cluster": self.cluster,
                "total": str(self.total),
                "source_total": str(to_cents(self.source_total)),
                "estimated": str(to_cents(self.estimated)),
                "lines": [
                    {"tenant": line.tenant, "total": str(line.total), **{p: str(line.parts[p]) for p in PARTS}}
                    for line in self.lines
                ],
                "method": None if self.method is None else self.method_json(),
            },
            indent=2,
        )

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


def monthly_bill(config: Config, period: str, tenant: str | None = None, cluster: str | None = None) -> Bill:
    """The bill for ``period``: every line with money, rounded so parts, lines and total agree."""
    parse_period(period)
    params = {"period": period, "cluster": cluster}
    with connect(config) as con:
        rows = con.execute(queries.BILL_LINES, params).fetchall()
        source_total, estimated = con.execute(queries.BILL_SOURCE_TOTAL, params).fetchall()[0]
        currency = con.execute(queries.BILL_CURRENCY).fetchall()[0][0]
        known = [r[0] for r in con.execute(queries.BILL_PERIODS).fetchall()]
        method = method_module.read_method(con)
    if not rows:
        have = ", ".join(known) or "none"
        raise DataError(
            f"no costs for period {period}{f' in cluster {cluster}' if cluster else ''} (periods built: {have})"
        )
    exact = {row[0]: dict(zip((*PARTS, "total"), row[1:], strict=True)) for row in rows}
    names = sorted(exact)
    totals = apportion({t: exact[t]["total"] for t in names}, to_cents(source_total), order=names)
    lines = []
    for name in names:
        parts = apportion({p: exact[name][p] for p in PARTS}, totals[name], order=PARTS)
        if totals[name] == 0 and all(v == 0 for v in parts.values()):
            continue  # a line holding no money (rounding dust on a sentinel) is not printed
        exact_parts = {p: exact[name][p] for p in PARTS}
        lines.append(BillLine(name, totals[name], parts, exact[name]["total"], exact_parts))
    if tenant is not None:
        if tenant not in exact:
            raise DataError(f"tenant {tenant!r} has no costs in {period}; bill lines are: {', '.join(names)}")
        lines = [line for line in lines if line.tenant == tenant]
    total = sum((line.total for line in lines), Decimal("0.00"))
    return Bill(period, currency, cluster, total, source_total, estimated, tuple(lines), method)
