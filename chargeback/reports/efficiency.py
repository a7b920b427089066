"""Efficiency: how much of what tenants request they use, and what the rest costs them.

For each tenant (or namespace, or workload) of a month, from ``marts.fct_workload_costs_daily``:

- **CPU and memory efficiency**: core-hours (GiB-hours) used over those requested; above 100 % a workload used more
  than it asked for (bursting into what others left free);
- **unused requests**: what of its compute cost paid for requested capacity it did not use. A pod-hour's compute is
  priced on max(request, usage) (the split-cost method), so the share ``(request - usage) / max(request, usage)``
  of its CPU and memory cost when usage is lower, summed hour by hour;
- **idle share**: its share of the capacity nobody used (``idle`` on the bill), which follows requests too: asking
  for less draws less of it.

Compute and idle share are the bill's cents (a tenant's line's parts; a namespace's or workload's share of them as
the bill's drill-down gives it); unused requests, an estimate within compute, is its exact sum rounded to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import polars as pl

from chargeback.build.warehouse import connect
from chargeback.core.config import Config
from chargeback.core.errors import DataError
from chargeback.core.money import to_cents
from chargeback.core.periods import parse_period
from chargeback.reports import breakdown, queries_trends
from chargeback.reports.bill import monthly_bill

Grain = Literal["tenant", "namespace", "workload"]


@dataclass(frozen=True)
class Efficiency:
    key: tuple[str, ...]  # the grain's columns: (tenant,), (tenant, namespace) or (tenant, namespace, kind, name)
    cpu_request_core_hours: float
    cpu_usage_core_hours: float
    memory_request_gib_hours: float
    memory_usage_gib_hours: float
    compute: Decimal  # the bill's cents (its line's part, or the drill-down's share of it)
    idle_share: Decimal  # likewise
    unused_requests: Decimal  # of compute: what paid for requested CPU and memory not used, to the cent

    @property
    def cpu_efficiency(self) -> float | None:
        return self.cpu_usage_core_hours / self.cpu_request_core_hours if self.cpu_request_core_hours else None

    @property
    def memory_efficiency(self) -> float | None:
        return self.memory_usage_gib_hours / self.memory_request_gib_hours if self.memory_request_gib_hours else None


def efficiency(
    config: Config, period: str, grain: Grain = "tenant", cluster: str | None = None, tenant: str | None = None
) -> list[Efficiency]:
    """Each tenant's (namespace's, workload's) efficiency in ``period``, the largest unused requests first;
    ``cluster`` and ``tenant`` narrow it. Pods only: the idle, shared and unallocated lines have none. Compute and
    idle share are in the bill's cents (``cluster``: that cluster's bill): a tenant's are its bill line's parts, a
    namespace's or workload's those of the bill's drill-down (``breakdown.workload_cents``)."""
    parse_period(period)
    keys = queries_trends.EFFICIENCY_KEYS[grain]
    params = {"period": period, "cluster": cluster, "tenant": tenant}
    with connect(config) as con:
        rows = con.execute(queries_trends.EFFICIENCY[grain], params).fetchall()
        leaves = con.sql(queries_trends.EFFICIENCY_WORKLOADS, params=params).pl() if grain != "tenant" else None
    if not rows:
        scope = "".join(f" {k} {v}" for k, v in (("cluster", cluster), ("tenant", tenant)) if v)
        raise DataError(f"no pod costs for period {period}{scope}")
    bill = monthly_bill(config, period, cluster=cluster)
    if leaves is None:
        cents = {(line.tenant,): (line.parts["compute"], line.parts["idle"]) for line in bill.lines}
    else:
        split = breakdown.workload_cents(leaves, bill).filter(~pl.col(breakdown.REST))
        summed = split.group_by(list(keys)).agg(pl.col("compute").sum(), pl.col("idle").sum())
        cents = {
            tuple(row[k] for k in keys): (to_cents(Decimal(row["compute"]) / 100), to_cents(Decimal(row["idle"]) / 100))
            for row in summed.iter_rows(named=True)
        }
    width, zero = len(keys), (Decimal("0.00"), Decimal("0.00"))
    found = [
        Efficiency(
            tuple(row[:width]),
            *(float(v or 0) for v in row[width : width + 4]),
            *cents.get(tuple(row[:width]), zero),
            to_cents(row[width + 4] or Decimal(0)),
        )  # fmt: skip
        for row in rows
    ]
    return sorted(found, key=lambda e: (-e.unused_requests, e.key))
