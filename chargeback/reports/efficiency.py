"""Efficiency: how much of what tenants request they use, and what the rest costs them.

For each tenant (or namespace, or workload) of a month, from ``marts.fct_workload_costs_daily``:

- **CPU and memory efficiency**: core-hours (GiB-hours) used over those requested; above 100 % a workload used more
  than it asked for (bursting into what others left free);
- **unused requests**: what of its compute cost paid for requested capacity it did not use. A pod-hour's compute is
  priced on max(request, usage) (the split-cost method), so the share ``(request - usage) / max(request, usage)``
  of its CPU and memory cost when usage is lower, summed hour by hour;
- **idle share**: its share of the capacity nobody used (``idle`` on the bill), which follows requests too: asking
  for less draws less of it.

The amounts are exact sums of the marts, shown to the cent; compute and idle share are the figures the bill's
drill-down breaks down (before its rounding to cents).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from chargeback.build.warehouse import connect
from chargeback.core.config import Config
from chargeback.core.errors import DataError
from chargeback.core.money import to_cents
from chargeback.core.periods import parse_period
from chargeback.reports import queries

Grain = Literal["tenant", "namespace", "workload"]


@dataclass(frozen=True)
class Efficiency:
    key: tuple[str, ...]  # the grain's columns: (tenant,), (tenant, namespace) or (tenant, namespace, kind, name)
    cpu_request_core_hours: float
    cpu_usage_core_hours: float
    memory_request_gib_hours: float
    memory_usage_gib_hours: float
    compute: Decimal  # to the cent
    unused_requests: Decimal  # of compute: requested CPU and memory not used, to the cent
    idle_share: Decimal  # to the cent

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
    ``cluster`` and ``tenant`` narrow it. Pods only: the idle, shared and unallocated lines have none."""
    parse_period(period)
    keys = queries.EFFICIENCY_KEYS[grain]
    with connect(config) as con:
        rows = con.execute(
            queries.EFFICIENCY[grain], {"period": period, "cluster": cluster, "tenant": tenant}
        ).fetchall()
    if not rows:
        scope = "".join(f" {k} {v}" for k, v in (("cluster", cluster), ("tenant", tenant)) if v)
        raise DataError(f"no pod costs for period {period}{scope}")
    width = len(keys)
    found = [
        Efficiency(
            tuple(row[:width]),
            *(float(v or 0) for v in row[width : width + 4]),
            *(to_cents(v or Decimal(0)) for v in row[width + 4 :]),
        )  # fmt: skip
        for row in rows
    ]
    return sorted(found, key=lambda e: (-e.unused_requests, e.key))
