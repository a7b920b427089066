"""Cluster capacity, a next-month forecast and a tenancy what-if, read from ``fct_capacity_hourly`` and the cost marts.

Capacity, per cluster and node group over the month (from ``marts.fct_capacity_hourly``):

- available = the nodes' nominal vCPU and GiB × the fraction of each hour they ran (core-hours, GiB-hours);
- allocated = the pods' requests on those nodes (reserved capacity), in the same units;
- headroom = available − allocated; spot share = spot node-hours / node-hours.

Forecast, per cluster: an ordinary least-squares line y = a + b·x over the month's daily totals (x = day of
the month − 1) of requested core-hours, requested GiB-hours and node cost, extrapolated over next month's
days (x = days in this month … + days in next month − 1) and summed. The ± band is the residual standard
deviation σ (ddof = 2) of the daily fit × √(days of next month), i.e. independent daily errors; it does not
include the uncertainty of the line itself. R² says how much of the daily variation the line explains.
Fewer than ``MIN_FORECAST_DAYS`` days of history: "too little history", no forecast.

Tenancy what-if, per cluster and tenant of the month:

- soft tenant (no node dedicated to it): what it pays now = its compute + idle share as billed for the
  month in the cluster (the cents of ``chargeback bill --cluster``), against dedicated nodes sized to its
  peak hourly requests (max over hours of the sum of its pods' cpu requests; the same, separately, for
  memory and GPUs), in two pools: pods that request GPUs go on GPU nodes, the others on general nodes,
  each pool sized to its own peak. Single-type
  packing per pool: for each instance type in use in the cluster that month (GPU types for the GPU pool,
  the others for the general pool), n = max(1, ceil(peak cpu / vcpu), ceil(peak memory / GiB),
  ceil(peak GPUs / GPUs per node)), cost = n × the type's price per node-hour × the cluster's hours in the
  month; the cheapest type wins (ties: fewer nodes, then name). General pods are not packed into the GPU
  nodes' spare cores, which a platform team keeps for GPU work (a taint). The price per node-hour is the month's average
  cost per node-hour of that type in that cluster (Σ cost / Σ running hours in ``fct_node_costs_hourly``,
  over its non-spot node-hours — dedicated nodes are not spot — else over all of them), on the same cost
  basis as the bill, so reservations and savings plans are priced as they were actually paid; the
  hours are the distinct hours the cluster had nodes in the month, so both sides cover the same time.
- sole tenant (has dedicated nodes): what its dedicated nodes cost in the month, against what its own pods
  on them (namespace tenant = the tenant) would cost on the shared nodes at their unit prices: Σ allocated
  core-hours × the month's average shared-node price per core-hour + Σ allocated GiB-hours × price per
  GiB-hour (averages weighted by available capacity over the cluster's non-dedicated node-hours). Idle on
  the shared nodes is not added: this is the marginal cost at the shared unit prices.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

from chargeback.build.warehouse import connect, records
from chargeback.core.config import Config
from chargeback.core.errors import DataError
from chargeback.core.periods import days_in, next_period, parse_period
from chargeback.reports import queries
from chargeback.reports.bill import monthly_bill
from chargeback.reports.period import chosen_period

MIN_FORECAST_DAYS = 7
CENT = Decimal("0.01")


def _cents(amount: Decimal | None) -> str | None:
    return None if amount is None else str(Decimal(amount).quantize(CENT, ROUND_HALF_UP))


def _decimal(value: float | Decimal | None) -> Decimal:
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))


# --- capacity -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeGroupCapacity:
    cluster: str
    node_group: str  # '' for nodes without the eks.amazonaws.com/nodegroup label
    hours: int
    peak_nodes: int
    node_hours: float
    spot_node_hours: float
    cpu_available: float  # core-hours
    cpu_requested: float  # core-hours (allocated = the pods' requests)
    cpu_requested_peak: float  # cores, the busiest hour
    memory_available: float  # GiB-hours
    memory_requested: float
    memory_requested_peak: float
    cost: Decimal

    @property
    def cpu_headroom(self) -> float:
        return self.cpu_available - self.cpu_requested

    @property
    def memory_headroom(self) -> float:
        return self.memory_available - self.memory_requested

    @property
    def spot_share(self) -> float:
        return self.spot_node_hours / self.node_hours if self.node_hours else 0.0

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row.update(
            cost=_cents(self.cost),
            cpu_headroom=self.cpu_headroom,
            memory_headroom=self.memory_headroom,
            spot_share=self.spot_share,
        )
        return row


# --- forecast -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesForecast:
    name: str  # "requested cpu", "requested memory", "cost"
    unit: str
    history_total: float
    predicted_total: float | None
    band: float | None  # ± σ_daily × √(next month's days)
    slope_per_day: float | None
    residual_sd: float | None  # per day
    r2: float | None  # None when the history is flat (R² undefined)


@dataclass(frozen=True)
class Forecast:
    cluster: str
    period: str
    next_period: str
    history_days: int
    next_days: int
    status: str  # "ok" or "too little history"
    method: str
    series: list[SeriesForecast] = field(default_factory=list)


def fit_line(xs: list[float], ys: list[float], next_xs: list[float]) -> tuple[float, float, float, float | None, float]:
    """OLS line through (xs, ys); returns (sum of predictions at next_xs, band, σ, R², slope)."""
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    residuals = y - (intercept + slope * x)
    dof = max(len(x) - 2, 1)
    sd = float(math.sqrt(float(np.sum(residuals**2)) / dof))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = None if ss_tot == 0 else 1.0 - float(np.sum(residuals**2)) / ss_tot
    predicted = float(np.sum(intercept + slope * np.asarray(next_xs, dtype=float)))
    return predicted, sd * math.sqrt(len(next_xs)), sd, r2, float(slope)


METHOD = (
    "OLS line over the month's daily totals (x = day of month), extrapolated over next month's days and summed;"
    " ± = residual σ per day × √days; R² of the daily fit"
)


def forecast(cluster: str, period: str, daily: list[dict[str, Any]]) -> Forecast:
    """Next month's requested capacity and cost for one cluster from its daily rows of ``period``."""
    nxt = next_period(period)
    next_days = days_in(nxt)
    first = int(period[:4]), int(period[5:7])
    xs = [float(row["date"].day - 1) for row in daily if (row["date"].year, row["date"].month) == first]
    rows = [row for row in daily if (row["date"].year, row["date"].month) == first]
    specs = (
        ("requested cpu", "core-hours", "cpu_requested"),
        ("requested memory", "GiB-hours", "memory_requested"),
        ("cost", "USD", "cost"),
    )
    if len(rows) < MIN_FORECAST_DAYS:
        series = [
            SeriesForecast(name, unit, sum(float(r[col]) for r in rows), None, None, None, None, None)
            for name, unit, col in specs
        ]
        return Forecast(
            cluster,
            period,
            nxt,
            len(rows),
            next_days,
            "too little history",
            f"too little history: {len(rows)} day(s), a trend needs at least {MIN_FORECAST_DAYS}",
            series,
        )
    start = days_in(period)
    next_xs = [float(start + i) for i in range(next_days)]
    series = []
    for name, unit, col in specs:
        ys = [float(r[col]) for r in rows]
        predicted, band, sd, r2, slope = fit_line(xs, ys, next_xs)
        series.append(SeriesForecast(name, unit, sum(ys), predicted, band, slope, sd, r2))
    return Forecast(cluster, period, nxt, len(rows), next_days, "ok", METHOD, series)


# --- tenancy what-if ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceOption:
    instance_type: str
    vcpu: float
    memory_gib: float
    price_per_hour: Decimal
    gpus: float = 0.0


@dataclass(frozen=True)
class Packing:
    instance_type: str
    nodes: int
    price_per_hour: Decimal
    hours: int
    cost: Decimal
    pool: str = "general"  # "general" or "gpu"


def pack(
    peak_cpu: float,
    peak_memory: float,
    options: list[InstanceOption],
    hours: int,
    peak_gpus: float = 0.0,
    pool: str = "general",
) -> list[Packing]:
    """Single-type packings of the peak onto each option of the pool, cheapest first (ties: fewer nodes, then
    name). The "gpu" pool takes the GPU types and counts GPUs too; the "general" pool the others."""
    out = []
    for o in options:
        if o.vcpu <= 0 or o.memory_gib <= 0 or (o.gpus > 0) != (pool == "gpu"):
            continue
        # a hair of tolerance so 8.000000001 cores of float noise do not cost a node
        n = max(1, math.ceil(peak_cpu / o.vcpu - 1e-9), math.ceil(peak_memory / o.memory_gib - 1e-9))
        if pool == "gpu":
            n = max(n, math.ceil(peak_gpus / o.gpus - 1e-9))
        out.append(Packing(o.instance_type, n, o.price_per_hour, hours, n * o.price_per_hour * hours, pool))
    out.sort(key=lambda p: (p.cost, p.nodes, p.instance_type))
    return out


@dataclass(frozen=True)
class PoolSizing:
    """One pool of a soft tenant's dedicated-node alternative: its peak and the cheapest packing of it."""

    pool: str  # "general" or "gpu"
    peak_cpu: float
    peak_memory: float
    peak_gpus: float
    packing: Packing | None  # None: no instance type of the pool in use in the cluster
    runners_up: tuple[Packing, ...] = ()

    @property
    def basis(self) -> str:
        """`gpu: peak 3.00 cores / 12.0 GiB / 1 GPU -> 1× g4dn.xlarge at 0.5260/h × 744 h`."""
        gpus = f" / {self.peak_gpus:g} GPU" if self.pool == "gpu" else ""
        peak = f"{self.pool}: peak {self.peak_cpu:.2f} cores / {self.peak_memory:.1f} GiB{gpus}"
        p = self.packing
        if p is None:
            return f"{peak} -> no {self.pool} instance type in use"
        return f"{peak} -> {p.nodes}× {p.instance_type} at {p.price_per_hour:.4f}/h × {p.hours} h"

    def to_dict(self) -> dict[str, Any]:
        def packing(p: Packing) -> dict[str, Any]:
            return {**asdict(p), "price_per_hour": str(p.price_per_hour), "cost": _cents(p.cost)}

        return {
            "pool": self.pool,
            "peak_cpu": self.peak_cpu,
            "peak_memory": self.peak_memory,
            "peak_gpus": self.peak_gpus,
            "packing": None if self.packing is None else packing(self.packing),
            "runners_up": [packing(p) for p in self.runners_up],
        }


@dataclass(frozen=True)
class TenancyWhatIf:
    cluster: str
    tenant: str
    tenancy: str  # "soft" (shared nodes now) or "sole" (dedicated nodes now)
    current_cost: Decimal  # soft: bill compute + idle; sole: its dedicated nodes' cost
    alternative: str  # "dedicated nodes" or "shared nodes"
    alternative_cost: Decimal | None
    peak_cpu: float | None = None  # soft: peak hourly requests, both pools together
    peak_memory: float | None = None
    peak_gpus: float | None = None
    pools: tuple[PoolSizing, ...] = ()  # soft: general and GPU pools, each packed onto its cheapest type
    cpu_allocated: float | None = None  # sole: its pods' allocated core-hours on its nodes
    memory_allocated: float | None = None
    note: str = ""

    @property
    def basis(self) -> str:
        """How the alternative was priced, in one line."""
        if self.pools and self.alternative_cost is not None:
            return "; ".join(pool.basis for pool in self.pools)
        if self.tenancy == "sole" and self.alternative_cost is not None:
            return f"{self.cpu_allocated:,.0f} core-h, {self.memory_allocated:,.0f} GiB-h at shared unit prices"
        return self.note

    @property
    def difference(self) -> Decimal | None:
        """alternative − current: positive means the alternative costs more."""
        return None if self.alternative_cost is None else self.alternative_cost - self.current_cost

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row.update(
            current_cost=_cents(self.current_cost),
            alternative_cost=_cents(self.alternative_cost),
            difference=_cents(self.difference),
            pools=[p.to_dict() for p in self.pools],
            basis=self.basis,
        )
        return row


def _whatifs(con, period: str) -> list[TenancyWhatIf]:
    hours = {r["cluster"]: int(r["hours"]) for r in records(con, queries.CAPACITY_CLUSTER_HOURS, [period])}
    options: dict[str, list[InstanceOption]] = {}
    for r in records(con, queries.CAPACITY_INSTANCE_TYPES, [period]):
        if r["non_spot_node_hours"]:
            price = _decimal(r["non_spot_cost"]) / _decimal(r["non_spot_node_hours"])
        else:
            price = _decimal(r["cost"]) / _decimal(r["node_hours"])
        options.setdefault(r["cluster"], []).append(
            InstanceOption(r["instance_type"], float(r["vcpu"]), float(r["memory_gib"]), price, float(r["gpus"] or 0))
        )
    prices = {r["cluster"]: r for r in records(con, queries.CAPACITY_SHARED_PRICES, [period])}
    dedicated = {(r["cluster"], r["tenant"]): r for r in records(con, queries.CAPACITY_DEDICATED, [period])}
    sole_pods = {(r["cluster"], r["tenant"]): r for r in records(con, queries.CAPACITY_SOLE_PODS, [period])}
    soft = {(r["cluster"], r["tenant"]): r for r in records(con, queries.CAPACITY_SOFT_COSTS, [period])}
    peaks = {(r["cluster"], r["tenant"], r["pool"]): r for r in records(con, queries.CAPACITY_PEAKS, [period])}

    out = []
    for (cluster, tenant), d in sorted(dedicated.items()):
        pods = sole_pods.get((cluster, tenant))
        cpu = float(pods["cpu_allocated"]) if pods else 0.0
        mem = float(pods["memory_allocated"]) if pods else 0.0
        p = prices.get(cluster)
        if p is None or p["cpu_price"] is None or p["memory_price"] is None:
            alt, note = None, "no shared nodes in the cluster to price its pods at"
        else:
            alt = _decimal(cpu) * _decimal(p["cpu_price"]) + _decimal(mem) * _decimal(p["memory_price"])
            note = (
                f"shared unit prices: {float(p['cpu_price']):.6f}/core-h, {float(p['memory_price']):.6f}/GiB-h;"
                " idle not included"
            )
        out.append(
            TenancyWhatIf(
                cluster,
                tenant,
                "sole",
                _decimal(d["cost"]),
                "shared nodes",
                alt,
                cpu_allocated=cpu,
                memory_allocated=mem,
                note=note,
            )
        )
    for (cluster, tenant), s in sorted(soft.items()):
        if (cluster, tenant) in dedicated:
            continue
        peak = peaks.get((cluster, tenant, None))
        if peak is None:
            out.append(
                TenancyWhatIf(
                    cluster,
                    tenant,
                    "soft",
                    _decimal(s["cost"]),
                    "dedicated nodes",
                    None,
                    note="no pods on shared nodes: nothing to size",
                )
            )
            continue
        pools = []
        for pool in ("general", "gpu"):
            part = peaks.get((cluster, tenant, pool))
            if part is None:
                continue
            sizes = (float(part["peak_cpu"]), float(part["peak_memory"]), float(part["peak_gpus"] or 0))
            packings = pack(sizes[0], sizes[1], options.get(cluster, []), hours.get(cluster, 0), sizes[2], pool)
            pools.append(PoolSizing(pool, *sizes, packings[0] if packings else None, tuple(packings[1:3])))
        missing = [p.pool for p in pools if p.packing is None]
        note = "single-type packing per pool at the month's average cost per node-hour of the type"
        if missing:
            note = f"no {' or '.join(missing)} instance type in use in the cluster to size it on"
        else:
            runners_up = [r for p in pools for r in p.runners_up]
            if runners_up:
                note += "; next: " + ", ".join(f"{r.nodes}× {r.instance_type} {_cents(r.cost)}" for r in runners_up)
        alternative = None if missing else sum((p.packing.cost for p in pools), Decimal(0))
        out.append(
            TenancyWhatIf(
                cluster,
                tenant,
                "soft",
                _decimal(s["cost"]),
                "dedicated nodes",
                alternative,
                float(peak["peak_cpu"]),
                float(peak["peak_memory"]),
                float(peak["peak_gpus"] or 0),
                tuple(pools),
                note=note,
            )
        )
    out.sort(key=lambda w: (w.cluster, w.tenancy, w.tenant))
    return out


def _as_billed(config: Config, period: str, whatifs: list[TenancyWhatIf]) -> list[TenancyWhatIf]:
    """Soft tenants' cost now as the bill states it: compute plus idle share of the cluster's bill, in cents (one
    bill per cluster, read after the report's own connection is closed)."""
    clusters = sorted({w.cluster for w in whatifs if w.tenancy == "soft"})
    billed = {c: {line.tenant: line for line in monthly_bill(config, period, cluster=c).lines} for c in clusters}
    out = []
    for w in whatifs:
        if w.tenancy == "soft":
            line = billed[w.cluster].get(w.tenant)
            now = line.parts["compute"] + line.parts["idle"] if line is not None else Decimal("0.00")
            w = replace(w, current_cost=now)
        out.append(w)
    return out


# --- report ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapacityReport:
    period: str
    node_groups: list[NodeGroupCapacity]
    forecasts: list[Forecast]
    whatifs: list[TenancyWhatIf]

    def to_json(self) -> str:
        return json.dumps(
            {
                "period": self.period,
                "node_groups": [g.to_dict() for g in self.node_groups],
                "forecasts": [asdict(f) for f in self.forecasts],
                "tenancy_whatif": [w.to_dict() for w in self.whatifs],
            },
            indent=2,
            default=str,
        )


def capacity(config: Config, period: str | None = None) -> CapacityReport:
    """Capacity per node group, next month's forecast per cluster and the tenancy what-if for ``period``."""
    period = parse_period(period) if period is not None else None
    with connect(config) as con:
        nothing = f"{config.warehouse_path}: no node-hours to report capacity on"
        period = chosen_period(con, period, queries.CAPACITY_LATEST_PERIOD, nothing)
        groups = records(con, queries.CAPACITY_NODE_GROUPS, [period])
        if not groups:
            raise DataError(f"no node-hours in {period}: nothing to report capacity on")
        daily = records(con, queries.CAPACITY_DAILY, [period])
        whatifs = _whatifs(con, period)
    whatifs = _as_billed(config, period, whatifs)
    node_groups = [
        NodeGroupCapacity(
            **{**g, "hours": int(g["hours"]), "peak_nodes": int(g["peak_nodes"]), "cost": _decimal(g["cost"])}
        )
        for g in groups
    ]
    by_cluster: dict[str, list[dict[str, Any]]] = {}
    for row in daily:
        by_cluster.setdefault(row["cluster"], []).append(row)
    forecasts = [forecast(cluster, period, rows) for cluster, rows in sorted(by_cluster.items())]
    return CapacityReport(period, node_groups, forecasts, whatifs)
