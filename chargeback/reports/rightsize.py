"""Right-sizing and Spark job shape checks, read from the marts ``fct_rightsizing``, ``fct_limit_range_violations``
and ``fct_job_quota_fit``.

Right-sizing, per pod of a workload (a Deployment, StatefulSet or DaemonSet by namespace and name, or a
recurring Spark job's executors by job name and virtual cluster), per resource (cpu in cores, memory in GiB):

- current request = request unit-hours / running hours of the month;
- recommended request = max(floor, quantile(``rightsize_quantile``) of hourly usage / ``target_utilisation``),
  hourly usage being each pod-hour's usage unit-hours / running hours;
- monthly saving = (current − recommended) × the workload's pod-hours in the month × the unit price it actually
  paid: its split cost of that resource / its allocated units (``cpu_cost / cpu_allocated_core_hours``,
  ``memory_cost / memory_allocated_gib_hours``). That is the tenant's own price on its own nodes and cost basis;
  the idle share is left out, since idle capacity is not freed by a smaller request.

A negative saving means the pods use more than the request allows for: "raise request", with the risk.
Workloads with fewer than ``min_history_hours`` pod-hours get "too little history" and no recommendation.

The quantiles are computed in SQL by the mart at the levels in ``QUANTILE_LEVELS``; this module only does
the per-workload arithmetic over those aggregated rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from chargeback.build.warehouse import connect, records
from chargeback.core.config import Config
from chargeback.core.errors import ConfigError, DataError
from chargeback.core.periods import parse_period
from chargeback.reports import queries
from chargeback.reports.period import chosen_period

# rightsize_quantile -> the suffix of the mart's usage-quantile columns that holds it
QUANTILE_LEVELS: dict[float, str] = {0.5: "p50", 0.9: "p90", 0.95: "p95", 0.99: "p99", 1.0: "max"}


RESOURCES = (
    # resource, unit, mart column prefix for requests/usage, price column, floor setting
    ("cpu", "cores", "cpu_request_cores", "cpu_usage_cores", "cpu_price_per_core_hour", "min_cpu_cores"),
    ("memory", "GiB", "memory_request_gib", "memory_usage_gib", "memory_price_per_gib_hour", "min_memory_gib"),
)

RISKS = {
    "cpu": "throttling risk: CPU-starved when the node is busy",
    "memory": "eviction risk: evicted or OOM-killed first under node memory pressure",
}

CENT = Decimal("0.01")


def _cents(amount: Decimal) -> str:
    """An amount as a string of whole cents, rounded half-up like the bills."""
    return str(amount.quantize(CENT, ROUND_HALF_UP))


@dataclass(frozen=True)
class Recommendation:
    cluster: str
    period: str
    workload_kind: str
    namespace: str
    workload_name: str
    virtual_cluster_id: str | None
    virtual_cluster_name: str | None
    tenant: str | None
    resource: str
    unit: str
    pod_count: int
    job_run_count: int
    pod_hours: float
    request: float  # per pod
    usage_avg: float  # per pod, per running hour
    usage_quantile: float
    recommended: float | None
    price_per_unit_hour: float | None
    monthly_saving: Decimal | None  # negative: raising the request costs this much
    verdict: str  # "lower request", "raise request", "fits", "too little history"
    note: str

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["monthly_saving"] = None if self.monthly_saving is None else _cents(self.monthly_saving)
        return row


@dataclass(frozen=True)
class RightsizeReport:
    period: str
    quantile: float
    target_utilisation: float
    min_history_hours: int
    recommendations: list[Recommendation]

    @property
    def total_saving(self) -> Decimal:
        """What lowering every over-sized request saves in the month."""
        return sum((r.monthly_saving for r in self.recommendations if r.verdict == "lower request"), Decimal(0))

    @property
    def total_raise_cost(self) -> Decimal:
        """What raising every under-sized request costs in the month (a positive amount)."""
        return -sum((r.monthly_saving for r in self.recommendations if r.verdict == "raise request"), Decimal(0))

    def to_json(self) -> str:
        return json.dumps(
            {
                "period": self.period,
                "quantile": self.quantile,
                "target_utilisation": self.target_utilisation,
                "min_history_hours": self.min_history_hours,
                "total_saving": _cents(self.total_saving),
                "total_raise_cost": _cents(self.total_raise_cost),
                "recommendations": [r.to_dict() for r in self.recommendations],
            },
            indent=2,
            default=str,
        )


def _quantile_suffix(quantile: float) -> str:
    for level, suffix in QUANTILE_LEVELS.items():
        if abs(level - quantile) < 1e-9:
            return suffix
    levels = ", ".join(f"{level:g}" for level in QUANTILE_LEVELS)
    raise ConfigError(
        f"capacity.rightsize_quantile = {quantile:g}: right-sizing offers the usage quantiles {levels}"
        " (the levels marts.fct_rightsizing stores)"
    )


def _raise_note(resource: str, unit: str, request: float, quantile: float, capacity) -> str:
    """Why a request should go up, and what not doing so risks."""
    level = f"p{capacity.rightsize_quantile * 100:g}"
    if quantile > request:
        why = f"{level} usage {quantile:.3g} {unit} is above the request"
    elif quantile / capacity.target_utilisation > request:
        share = quantile / request if request else 0.0
        why = f"{level} usage is {share:.0%} of the request, above the {capacity.target_utilisation:.0%} target"
    else:
        floor = capacity.min_cpu_cores if resource == "cpu" else capacity.min_memory_gib
        return f"the request is below the floor of {floor:g} {unit}"
    return f"{why}; {RISKS[resource]}"


def recommend(row: dict[str, Any], config: Config) -> list[Recommendation]:
    """One recommendation per resource for one aggregated workload row of ``fct_rightsizing``."""
    capacity = config.capacity
    suffix = _quantile_suffix(capacity.rightsize_quantile)
    pod_hours = float(row["pod_hours"])
    out = []
    for resource, unit, request_col, usage_col, price_col, floor_setting in RESOURCES:
        request = float(row[request_col] or 0.0)
        quantile = float(row[f"{usage_col}_{suffix}"] or 0.0)
        price = None if row[price_col] is None else float(row[price_col])
        recommended: float | None = None
        saving: Decimal | None = None
        if pod_hours < capacity.min_history_hours:
            verdict = "too little history"
            note = f"{pod_hours:g} pod-hours, fewer than the {capacity.min_history_hours} needed to recommend"
        else:
            recommended = max(getattr(capacity, floor_setting), quantile / capacity.target_utilisation)
            if price is not None:
                saving = Decimal(repr((request - recommended) * pod_hours * price))
            if recommended < request:
                verdict, note = "lower request", ""
            elif recommended > request:
                verdict, note = "raise request", _raise_note(resource, unit, request, quantile, capacity)
            else:
                verdict, note = "fits", ""
            if price is None:
                note = (note + "; " if note else "") + "no cost priced for it: saving unknown"
        out.append(
            Recommendation(
                cluster=row["cluster"],
                period=row["period"],
                workload_kind=row["workload_kind"],
                namespace=row["namespace"],
                workload_name=row["workload_name"],
                virtual_cluster_id=row["virtual_cluster_id"],
                virtual_cluster_name=row["virtual_cluster_name"],
                tenant=row["tenant"],
                resource=resource,
                unit=unit,
                pod_count=int(row["pod_count"]),
                job_run_count=int(row["job_run_count"]),
                pod_hours=pod_hours,
                request=request,
                usage_avg=float(row[f"{usage_col}_avg"] or 0.0),
                usage_quantile=quantile,
                recommended=recommended,
                price_per_unit_hour=price,
                monthly_saving=saving,
                verdict=verdict,
                note=note,
            )
        )
    return out


def rightsize(config: Config, period: str | None = None) -> RightsizeReport:
    """Right-sizing recommendations for every workload of ``period`` (YYYY-MM; default: the latest month)."""
    _quantile_suffix(config.capacity.rightsize_quantile)  # a bad setting fails before any reading
    period = parse_period(period) if period is not None else None
    with connect(config) as con:
        nothing = f"{config.warehouse_path}: no pod-hours of long-running workloads or Spark jobs"
        period = chosen_period(con, period, queries.RIGHTSIZING_LATEST_PERIOD, nothing)
        rows = records(con, queries.RIGHTSIZING, [period])
    if not rows:
        raise DataError(f"no workloads to right-size in {period}: no pod-hours in that month")
    recommendations = [rec for row in rows for rec in recommend(row, config)]
    order = {"lower request": 0, "raise request": 1, "fits": 2, "too little history": 3}
    recommendations.sort(key=lambda r: (order[r.verdict], -abs(r.monthly_saving or 0), r.workload_name, r.resource))
    capacity = config.capacity
    return RightsizeReport(
        period, capacity.rightsize_quantile, capacity.target_utilisation, capacity.min_history_hours, recommendations
    )


@dataclass(frozen=True)
class LimitViolation:
    cluster: str
    namespace: str
    virtual_cluster_id: str | None
    virtual_cluster_name: str | None
    tenant: str | None
    job_name: str
    spark_role: str
    resource: str
    unit: str
    shape_amount: float
    shape_source: str
    limit_range: str
    limit_type: str
    bound: str  # "max": the shape is above it; "min": below it
    limit_amount: float
    excess_amount: float
    job_run_count: int
    example_job_run_id: str

    @property
    def description(self) -> str:
        word = "above" if self.bound == "max" else "below"
        return (
            f"{self.spark_role} {self.resource} {_amount(self.shape_amount, self.unit)} is {word} the {self.limit_type}"
            f" {self.bound} {_amount(self.limit_amount, self.unit)} of LimitRange {self.limit_range}"
        )


def _amount(value: float, unit: str) -> str:
    if unit == "bytes":
        return f"{value:,.0f} bytes ({value / 1024**3:g} GiB)"
    return f"{value:g} {unit}"


def limit_violations(config: Config) -> list[LimitViolation]:
    """Spark job shapes that break their namespace's current LimitRanges (Container or Pod, max or min)."""
    with connect(config) as con:
        rows = records(con, queries.LIMIT_VIOLATIONS)
    fields = LimitViolation.__dataclass_fields__
    return [LimitViolation(**{k: v for k, v in row.items() if k in fields}) for row in rows]


@dataclass(frozen=True)
class QuotaFit:
    """A recurring Spark job at full scale (driver + executors) against one resource of its namespace's quota."""

    cluster: str
    namespace: str
    virtual_cluster_id: str | None
    virtual_cluster_name: str | None
    tenant: str | None
    job_name: str
    resource: str  # requests.cpu, requests.memory or pods
    unit: str  # cores, GiB, count
    driver_amount: float
    executor_amount: float
    executors: int
    footprint: float
    quota: str
    hard: float
    fits: bool
    executors_fitting: int
    job_run_count: int
    example_job_run_id: str

    @property
    def description(self) -> str:
        unit = "" if self.unit == "count" else f" {self.unit}"
        shape = (
            f"{self.job_name} at full scale asks {self.resource} {self.footprint:g}{unit}"
            f" (driver {self.driver_amount:g} + {self.executors} executors × {self.executor_amount:g})"
        )
        if self.fits:
            return f"{shape}: fits quota {self.quota} hard {self.hard:g}{unit} ({self.footprint / self.hard:.0%})"
        return (
            f"{shape}, above quota {self.quota} hard {self.hard:g}{unit}: only {self.executors_fitting} of"
            f" {self.executors} executors are admitted, the rest are refused by the API server"
        )


def job_quota_fits(config: Config, only_misfits: bool = False) -> list[QuotaFit]:
    """Recurring Spark jobs' full-scale footprints against their namespace's current ResourceQuota."""
    with connect(config) as con:
        rows = records(con, queries.JOB_QUOTA_FITS)
    fields = QuotaFit.__dataclass_fields__
    fits = [QuotaFit(**{k: v for k, v in row.items() if k in fields}) for row in rows]
    return [f for f in fits if not f.fits] if only_misfits else fits


def shape_checks_to_json(violations: list[LimitViolation], fits: list[QuotaFit]) -> str:
    """The `limits` command's JSON: LimitRange violations and quota fits, each with its sentence."""
    return json.dumps(
        {
            "limit_range_violations": [{**asdict(v), "description": v.description} for v in violations],
            "quota_fits": [{**asdict(f), "description": f.description} for f in fits],
        },
        indent=2,
        default=str,
    )
