"""ResourceQuota use and recommendations per namespace, from ``marts.fct_quota_use_hourly``.

For each quota resource of a namespace, over a month:

- the hourly sum of requests (average cores / GiB over the hour, distinct pods for ``pods``) and, for cpu and
  memory, of actual usage: median, p95, p99 and max (``quantile_cont``, linear interpolation);
- the hours at or near the hard limit (requested >= ``near_limit_ratio`` x hard) and what the namespace's pods
  cost in those hours (compute + idle);
- a recommended hard: the ``quota_quantile`` of the hourly requests x (1 + ``quota_headroom``), rounded up to
  100m for cpu, 128Mi for memory and whole units for pods and GPUs (steps a person would write by hand); never
  below the full-scale footprint (driver + executors) of the largest recurring Spark job that ran in the
  namespace that month (``marts.fct_job_quota_fit``): hourly averages hide a job that runs 20 minutes an hour,
  and a quota below its footprint refuses its executors.

``limits.*`` get no numbers: pod limits are not collected, so their current hard is kept and said so. A
namespace with fewer than ``min_history_hours`` hours with pods gets "too little history (N h)" instead of a
recommendation. Where requests exceed usage by ``over_request_ratio`` or more (Σ requests / Σ usage over the
month, cpu and memory separately), the advice is to right-size requests before touching the quota; the money at
stake is approximated as the resource's cost (its split cost plus the namespace's idle cost in proportion to
split cost) x (1 - usage / requests): what the namespace would stop paying if requests matched usage and
prices stayed as they were.

The statistics are computed in SQL over the hourly mart; Python only rounds and formats a few rows per namespace.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from decimal import Decimal

import yaml

from chargeback.build.warehouse import connect, records
from chargeback.core.config import Config
from chargeback.core.errors import ChargebackError
from chargeback.core.periods import parse_period
from chargeback.reports import queries
from chargeback.reports.period import chosen_period

RESOURCES = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "pods", "requests.nvidia.com/gpu")
ALWAYS_SHOWN = frozenset(RESOURCES[:5])  # GPUs only where a quota or a request names them
LIMITS = frozenset({"limits.cpu", "limits.memory"})
USAGE_MEASURED = frozenset({"requests.cpu", "requests.memory"})
NO_LIMIT_DATA = "no data (limits are not collected)"
ANNOTATION_PREFIX = "chargeback.io/"
GIB_MI = 1024
MEMORY_STEP_MI = 128
CPU_STEP_CORES = 0.1


@dataclass
class ResourceUse:
    resource: str
    unit: str
    hard: float | None
    hours: int
    requested_median: float | None
    requested_p95: float | None
    requested_p99: float | None
    requested_max: float | None
    requested_at_quantile: float | None
    used_median: float | None
    used_p95: float | None
    used_p99: float | None
    used_max: float | None
    hours_near_limit: int | None
    near_limit_cost: Decimal | None
    recommended: float | None = None  # in the unit (cores, GiB, count), rounded up to its step
    recommended_quantity: str | None = None  # Kubernetes quantity, e.g. "4500m", "12Gi"
    over_request_ratio: float | None = None  # Σ requests / Σ usage (cpu, memory)
    right_size_first: bool = False
    money_at_stake: Decimal | None = None  # resource cost x (1 - usage / requests) when over-requesting
    evidence: str = ""

    @property
    def hard_quantity(self) -> str | None:
        return None if self.hard is None else quantity(self.resource, self.hard)


@dataclass
class NamespaceQuota:
    cluster: str
    namespace: str
    quota: str | None  # the ResourceQuota's name (None: the namespace has none)
    hours: int
    too_little_history: bool
    resources: list[ResourceUse] = field(default_factory=list)

    @property
    def money_at_stake(self) -> Decimal:
        return sum((r.money_at_stake for r in self.resources if r.money_at_stake is not None), Decimal(0))

    @property
    def has_quota(self) -> bool:
        return any(r.hard is not None for r in self.resources)

    @property
    def advice(self) -> str:
        if self.too_little_history:
            return f"too little history ({self.hours} h)"
        over = [r for r in self.resources if r.right_size_first]
        if over:
            names = " and ".join(r.resource.removeprefix("requests.") for r in over)
            return f"right-size {names} requests first: ${self.money_at_stake:,.2f} at stake"
        return "ok"


@dataclass
class QuotaReport:
    period: str
    currency: str
    namespaces: list[NamespaceQuota]

    def to_json(self) -> str:
        def default(value: object) -> str:
            if isinstance(value, Decimal):
                return str(value.quantize(Decimal("0.01")))
            raise TypeError(type(value))

        payload = {
            "period": self.period,
            "currency": self.currency,
            "namespaces": [
                {**asdict(ns), "advice": ns.advice, "money_at_stake": ns.money_at_stake} for ns in self.namespaces
            ],
        }
        return json.dumps(payload, indent=2, default=default)

    def manifests(self) -> list[dict]:
        """One ``v1 ResourceQuota`` per namespace that has one, each value with its evidence annotation."""
        return [manifest(ns, self.period) for ns in self.namespaces if ns.has_quota]

    def to_yaml(self) -> str:
        return yaml.safe_dump_all(self.manifests(), sort_keys=False, default_flow_style=False, width=1000)


# --- quantities ------------------------------------------------------------------------------------------


def _ceil_steps(value: float, step: float) -> int:
    """How many ``step``s cover ``value`` (rounding up, tolerant of float noise such as 114.10000000000001)."""
    return max(math.ceil(round(value / step, 9)), 0)


def annotation_key(resource: str) -> str:
    """``chargeback.io/<resource>``; a key may hold one "/", so ``requests.nvidia.com/gpu`` becomes
    ``chargeback.io/requests.nvidia.com-gpu``."""
    return ANNOTATION_PREFIX + resource.replace("/", "-")


def round_up(resource: str, amount: float) -> float:
    """The recommended amount in the resource's unit: cpu up to 100m, memory up to 128Mi, counts up to 1."""
    if resource.endswith(".cpu"):
        return _ceil_steps(amount, CPU_STEP_CORES) * 100 / 1000
    if resource.endswith(".memory"):
        return _ceil_steps(amount * GIB_MI, MEMORY_STEP_MI) * MEMORY_STEP_MI / GIB_MI
    return float(_ceil_steps(amount, 1))


def quantity(resource: str, amount: float) -> str:
    """A Kubernetes quantity string: cores as "4" or "4500m", GiB as "12Gi" / "19712Mi", counts as "10"."""
    if resource.endswith(".cpu"):
        millicores = round(amount * 1000)
        return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"
    if resource.endswith(".memory"):
        mebibytes = amount * GIB_MI
        if abs(mebibytes - round(mebibytes)) < 1e-6:
            mi = round(mebibytes)
            return f"{mi // GIB_MI}Gi" if mi % GIB_MI == 0 else f"{mi}Mi"
        return str(math.ceil(amount * 2**30))
    return str(round(amount))


def _amount(unit: str, value: float) -> str:
    return f"{value:,.0f}" if unit == "count" else f"{value:,.2f} {unit}"


# --- the report -------------------------------------------------------------------------------------------


def quota_report(config: Config, period: str | None = None, namespace: str | None = None) -> QuotaReport:
    """Quota use and recommended hard limits per namespace for ``period`` (default: the latest built)."""
    capacity = config.capacity
    period = parse_period(period) if period is not None else None
    with connect(config) as con:
        nothing = "the warehouse holds no pod-hours, so no quota use; run `chargeback build`"
        period = chosen_period(con, period, queries.QUOTA_LATEST_PERIOD, nothing)
        params = {
            "quantile": capacity.quota_quantile,
            "near_ratio": capacity.near_limit_ratio,
            "period": period,
            "namespace": namespace,
        }
        rows = records(con, queries.QUOTA_USE, params)
        floors = {
            (cluster, ns, resource): (footprint, job)
            for cluster, ns, resource, footprint, job in con.execute(
                queries.QUOTA_JOB_FLOOR, {"period": period, "namespace": namespace}
            ).fetchall()
        }
    if not rows:
        scope = f"namespace {namespace!r} in " if namespace else ""
        raise ChargebackError(f"no pod-hours for {scope}{period}; is the period built (`chargeback build`)?")
    namespaces: dict[tuple[str, str], NamespaceQuota] = {}
    for row in rows:
        if row["resource"] not in ALWAYS_SHOWN and row["hard"] is None and not row["requested_max"]:
            continue
        key = (row["cluster"], row["namespace"])
        ns = namespaces.get(key)
        if ns is None:
            hours = row["hours"]
            ns = namespaces[key] = NamespaceQuota(
                row["cluster"], row["namespace"], row["quota"], hours, hours < capacity.min_history_hours
            )
        ns.resources.append(_recommend(row, ns, config, floors.get((*key, row["resource"]))))
    order = {name: index for index, name in enumerate(RESOURCES)}
    for ns in namespaces.values():
        ns.resources.sort(key=lambda use: (order.get(use.resource, len(order)), use.resource))
    return QuotaReport(period, config.currency, list(namespaces.values()))


def _recommend(
    row: dict, ns: NamespaceQuota, config: Config, job_floor: tuple[float, str] | None = None
) -> ResourceUse:
    """The resource's statistics and recommendation; ``job_floor``: (footprint, job name) of the largest
    recurring Spark job in the namespace, below which the recommendation does not go."""
    capacity = config.capacity
    resource, unit, hard = row["resource"], row["unit"], row["hard"]
    is_limit = resource in LIMITS
    use = ResourceUse(
        resource=resource,
        unit=unit,
        hard=hard,
        hours=row["hours"],
        requested_median=None if is_limit else row["requested_median"],
        requested_p95=None if is_limit else row["requested_p95"],
        requested_p99=None if is_limit else row["requested_p99"],
        requested_max=None if is_limit else row["requested_max"],
        requested_at_quantile=None if is_limit else row["requested_at_quantile"],
        used_median=row["used_median"],
        used_p95=row["used_p95"],
        used_p99=row["used_p99"],
        used_max=row["used_max"],
        hours_near_limit=None if is_limit or hard is None else row["hours_near_limit"],
        near_limit_cost=None if is_limit or hard is None else Decimal(row["near_limit_cost"]),
    )
    current = f"current hard {use.hard_quantity}" if hard is not None else "no current hard"
    if is_limit:
        use.evidence = f"{NO_LIMIT_DATA}; {current}" + (" kept" if hard is not None else "")
        return use
    if resource in USAGE_MEASURED and row["used_total"]:
        use.over_request_ratio = row["requested_total"] / row["used_total"]
        if use.over_request_ratio >= capacity.over_request_ratio:
            use.right_size_first = True
            share_unused = Decimal(repr(1 - row["used_total"] / row["requested_total"]))
            use.money_at_stake = (Decimal(row["resource_cost"]) * share_unused).quantize(Decimal("0.000001"))
    if ns.too_little_history:
        use.evidence = f"too little history ({ns.hours} h); {current}" + (" kept" if hard is not None else "")
        return use
    # GPUs are requested whole and cost the most: headroom on one GPU would round up to a second.
    headroom = 0.0 if "gpu" in resource else capacity.quota_headroom
    use.recommended = round_up(resource, use.requested_at_quantile * (1 + headroom))
    level = f"p{capacity.quota_quantile * 100:g}"
    parts = [
        f"{level} {_amount(unit, use.requested_at_quantile)} over {use.hours} h"
        f" + {headroom * 100:g}% headroom" + (" (none on GPUs)" if "gpu" in resource else ""),
    ]
    if job_floor is not None and job_floor[0] > use.recommended:
        footprint, job = job_floor
        use.recommended = round_up(resource, footprint)
        parts.append(f"raised to fit Spark job {job} at full scale ({_amount(unit, footprint)})")
    use.recommended_quantity = quantity(resource, use.recommended)
    parts.append(current)
    if hard is not None:
        parts.append(
            f"{use.hours_near_limit} h at >= {capacity.near_limit_ratio * 100:g}% costing ${use.near_limit_cost:,.2f}"
        )
    if use.used_p95 is not None:
        parts.append(f"usage p95 {_amount(unit, use.used_p95)}")
    if use.right_size_first:
        parts.append(
            f"requests are {use.over_request_ratio:.1f}x usage: right-size requests first"
            f" (${use.money_at_stake:,.2f} at stake)"
        )
    use.evidence = "; ".join(parts)
    return use


def manifest(ns: NamespaceQuota, period: str) -> dict:
    """A ``v1 ResourceQuota``: recommended hard values where there is evidence, current ones kept elsewhere."""
    hard: dict[str, str] = {}
    annotations = {
        f"{ANNOTATION_PREFIX}period": period,
        f"{ANNOTATION_PREFIX}cluster": ns.cluster,
        f"{ANNOTATION_PREFIX}advice": ns.advice,
    }
    for use in ns.resources:
        value = use.recommended_quantity or use.hard_quantity
        if value is None:
            continue
        hard[use.resource] = value
        annotations[annotation_key(use.resource)] = use.evidence
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": ns.quota or "compute-resources", "namespace": ns.namespace, "annotations": annotations},
        "spec": {"hard": hard},
    }
