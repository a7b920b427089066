"""An independent reference of the allocation method, in exact arithmetic (``fractions.Fraction``).

Written from the statement of the method (docs/method.md), not from the SQL models, so that the property test
compares two implementations instead of one implementation with itself. It reads only what a test
scenario wrote (``tests.factory.Scenario``'s raw rows), the bundled instance table and the ``Config``
the pipeline is built with (its settings, never its helpers).

Public entry points (all take the scenario and the config):

- ``reference(scenario, config) -> Reference``: every result at once.
- ``reference_bill(scenario, config) -> {(tenant, component): Fraction}`` over the whole scenario.
- ``reference_pod_costs(scenario, config) -> {(pod_uid, hour): PodCost}``.

Components are ``compute``, ``idle``, ``shared``, ``emr``, ``tagged``. Line names besides tenants:
``__idle__`` (unused capacity no pod took), ``__shared__`` (the shared pool when it is kept) and
``__unallocated__`` (pods of unmapped namespaces, EMR lines of unknown jobs).

Choices where the method leaves room (docs/method.md#choices-where-the-method-leaves-a-case-open): a kept
shared pool is the ``shared`` component of ``__shared__``; ``net_amortized`` falls back to the non-net column
where the net one is null; a namespace label is the value with the most seconds in force in that hour; a
pod's idle share on a dedicated node is not modelled (the node's unused cost is its tenant's ``idle``).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from fnmatch import fnmatchcase
from fractions import Fraction
from pathlib import Path

from chargeback.core.config import Config

INSTANCE_TABLE = Path(__file__).resolve().parents[1] / "chargeback" / "data" / "instance_types.csv"
RESOURCES = ("cpu", "memory", "gpu")
COMPONENTS = ("compute", "idle", "shared", "emr", "tagged")
IDLE, SHARED, UNALLOCATED = "__idle__", "__shared__", "__unallocated__"
SENTINELS = frozenset({IDLE, SHARED, UNALLOCATED})
USAGE_LINES = frozenset({"Usage", "DiscountedUsage", "SavingsPlanCoveredUsage"})
GIB = 1024**3

# Relative weight of one vCPU, GiB and GPU: (nodes without GPUs, nodes with GPUs).
PRESETS = {
    "scad": ({"cpu": 9, "memory": 1, "gpu": 0}, {"cpu": Fraction("0.9"), "memory": Fraction("0.1"), "gpu": 9}),
    "opencost": ({"cpu": Fraction("7.46"), "memory": 1, "gpu": 224},) * 2,
}

# Which CUR column is a line's cost on each basis, by line type (None: every other type).
AMORTIZED = {
    "SavingsPlanCoveredUsage": "savings_plan_savings_plan_effective_cost",
    "DiscountedUsage": "reservation_effective_cost",
    None: "line_item_unblended_cost",
}
NET = {
    "SavingsPlanCoveredUsage": "savings_plan_net_savings_plan_effective_cost",
    "DiscountedUsage": "reservation_net_effective_cost",
    None: "line_item_net_unblended_cost",
}


def line_cost(line: dict, basis: str) -> Fraction:
    """A CUR line's cost on ``basis``; ``net_amortized`` uses the net column where the CUR has it."""
    if basis == "on_demand":
        return exact(line["pricing_public_on_demand_cost"])
    kind = line["line_item_line_item_type"]
    amortized = line[AMORTIZED.get(kind, AMORTIZED[None])]
    net = line[NET.get(kind, NET[None])] if basis == "net_amortized" else None
    return exact(amortized if net is None else net)


def exact(value) -> Fraction:
    """A number as its writer meant it (the float 0.1 is one tenth); None is 0."""
    return Fraction(0) if value is None else Fraction(str(value))


@dataclass
class PodCost:
    """One pod-hour: its split cost per resource and its share of unused capacity."""

    pod_uid: str
    namespace: str
    hour: datetime
    node: str
    dedicated_to: str | None  # the node's tenant when the node is dedicated
    allocated: dict[str, Fraction]
    split: dict[str, Fraction] = field(default_factory=dict)
    idle: Fraction = Fraction(0)  # its share of unused cost (left at 0 on dedicated nodes)
    tenant: str = UNALLOCATED  # the bill line that pays for it (or __shared__)

    @property
    def total(self) -> Fraction:
        return sum(self.split.values(), Fraction(0)) + self.idle


@dataclass
class Reference:
    lines: dict[tuple[date, str, str], Fraction]  # (UTC day, tenant, component) -> cost
    pods: dict[tuple[str, datetime], PodCost]
    in_scope: dict[date, Fraction]  # in-scope source cost per UTC day

    def bill(self) -> dict[tuple[str, str], Fraction]:
        out: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
        for (_, tenant, component), amount in self.lines.items():
            out[(tenant, component)] += amount
        return dict(out)

    @property
    def total(self) -> Fraction:
        return sum(self.in_scope.values(), Fraction(0))


def reference_bill(scenario, config: Config) -> dict[tuple[str, str], Fraction]:
    return reference(scenario, config).bill()


def reference_pod_costs(scenario, config: Config) -> dict[tuple[str, datetime], PodCost]:
    return reference(scenario, config).pods


def _weights(config: Config) -> tuple[dict, dict]:
    allocation = config.allocation
    if allocation.weights != "custom":
        return PRESETS[allocation.weights]
    custom = allocation.custom_weights
    base = {r: exact(getattr(custom, r)) for r in RESOURCES}
    on_gpu = {r: exact(getattr(custom.gpu_node, r)) for r in RESOURCES} if custom.gpu_node else base
    return base, on_gpu


def _nominal() -> dict[str, dict[str, Fraction]]:
    with INSTANCE_TABLE.open() as handle:
        return {
            row["instance_type"]: dict(
                zip(RESOURCES, map(exact, (row["vcpu"], row["memory_gib"], row["gpu"])), strict=True)
            )
            for row in csv.DictReader(handle)
        }


def _job_run(arn: str) -> tuple[str, str] | None:
    """(virtual cluster id, job id) of an EMR on EKS job-run ARN (``.../virtualclusters/V/jobruns/J``)."""
    if "/virtualclusters/" not in arn or "/jobruns/" not in arn:
        return None
    vc_id, job_id = arn.split("/virtualclusters/", 1)[1].split("/jobruns/", 1)
    return vc_id, job_id


class _Tenancy:
    """Namespace -> tenant: EMR virtual cluster, then namespace label (per hour), then glob rules."""

    def __init__(self, scenario, config: Config):
        self.config = config
        self.labels: dict[tuple[str, datetime], dict[str, Fraction]] = defaultdict(lambda: defaultdict(Fraction))
        for row in scenario.namespace_labels:
            value = dict(row["labels"]).get(config.tenancy.namespace_label)
            if row["cluster"] == scenario.cluster and value:
                self.labels[(row["namespace"], row["hour"])][value] += exact(row["seconds_in_force"])
        self.vc_of_namespace = {
            vc["namespace"]: vc for vc in scenario.virtual_clusters if vc["eks_cluster"] == scenario.cluster
        }

    def of_virtual_cluster(self, vc: dict) -> str | None:
        by_config = self.config.tenancy.virtual_clusters
        return (
            by_config.get(vc["virtual_cluster_id"])
            or by_config.get(vc["name"])
            or dict(vc["tags"]).get(self.config.tenancy.virtual_cluster_tag)
        )

    def of_namespace(self, namespace: str, hour: datetime) -> str:
        vc = self.vc_of_namespace.get(namespace)
        if vc is not None and (tenant := self.of_virtual_cluster(vc)):
            return tenant
        if values := self.labels.get((namespace, hour)):
            return max(values, key=values.__getitem__)  # the value in force for most of the hour
        for rule in self.config.tenancy.namespaces:  # first match in file order
            if fnmatchcase(namespace, rule.pattern):
                return rule.tenant
        return UNALLOCATED


def reference(scenario, config: Config) -> Reference:
    """Allocate every in-scope cost of ``scenario`` the way docs/method.md describes."""
    allocation, cluster = config.allocation, scenario.cluster
    lines: dict[tuple[date, str, str], Fraction] = defaultdict(Fraction)
    in_scope: dict[date, Fraction] = defaultdict(Fraction)
    shared_pool: dict[date, Fraction] = defaultdict(Fraction)
    tenancy = _Tenancy(scenario, config)
    node_rows = [row for row in scenario.node_hours if row["cluster"] == cluster]
    instances = {row["provider_id"].rsplit("/", 1)[-1] for row in node_rows}
    vcs = {vc["virtual_cluster_id"]: vc for vc in scenario.virtual_clusters if vc["eks_cluster"] == cluster}
    jobs = {(job["virtual_cluster_id"], job["job_run_id"]) for job in scenario.job_runs}
    eks_suffix = f":cluster/{cluster}"

    # 1. In-scope CUR lines: node-hours, the EKS fee, EMR job runs, tenant-tagged resources.
    node_cost: dict[tuple[str, datetime], Fraction] = defaultdict(Fraction)
    instance_tags: dict[str, dict[str, str]] = {}
    for line in scenario.cur:
        kind, product = line["line_item_line_item_type"], line["line_item_product_code"]
        resource, tags = line["line_item_resource_id"], dict(line["resource_tags"])
        start = line["line_item_usage_start_date"]
        day, cost = start.date(), line_cost(line, allocation.cost_basis)
        if kind not in USAGE_LINES:
            continue  # fees, negations, tax, credits
        if product == "AmazonEC2" and resource in instances:
            node_cost[(resource, start)] += cost
            instance_tags[resource] = tags
        elif product == "AmazonEKS" and resource.startswith("arn:aws:eks:") and resource.endswith(eks_suffix):
            shared_pool[day] += cost
        elif product == "ElasticMapReduce" and (job := _job_run(resource)) and job[0] in vcs:
            tenant = tenancy.of_virtual_cluster(vcs[job[0]]) if job in jobs else None
            lines[(day, tenant or UNALLOCATED, "emr")] += cost
        elif (
            config.tagged.enabled
            and (tenant := tags.get(f"user_{config.tagged.tag}"))
            and tags.get(f"user_{config.tagged.cluster_tag}") == cluster
        ):
            lines[(day, tenant, "tagged")] += cost
        else:
            continue
        in_scope[day] += cost

    # 2. Node-hours: unit prices, split cost per pod and resource, unused cost.
    pods_on: dict[tuple[str, datetime], list[dict]] = defaultdict(list)
    for row in scenario.pod_hours:
        if row["cluster"] == cluster:
            pods_on[(row["node"], row["hour"])].append(row)
    nominal, (cpu_node_weights, gpu_node_weights) = _nominal(), _weights(config)
    pods: dict[tuple[str, datetime], PodCost] = {}
    unused_pool: dict[datetime, dict[str, Fraction]] = defaultdict(lambda: dict.fromkeys(RESOURCES, Fraction(0)))
    idle_left: dict[date, Fraction] = defaultdict(Fraction)  # unused cost of shared nodes, before pods take it
    for node in node_rows:
        name, hour = node["node"], node["hour"]
        instance = node["provider_id"].rsplit("/", 1)[-1]
        cost = node_cost.get((instance, hour), Fraction(0))
        capacity = nominal.get(node["instance_type"]) or {
            "cpu": exact(node["cpu_capacity_cores"]),
            "memory": exact(node["memory_capacity_bytes"]) / GIB,
            "gpu": exact(node["gpu_capacity"]),
        }
        ran = exact(node["running_seconds"]) / 3600
        available = {r: capacity[r] * ran for r in RESOURCES}
        weights = gpu_node_weights if capacity["gpu"] > 0 else cpu_node_weights
        unit = cost / sum(Fraction(weights[r]) * available[r] for r in RESOURCES)
        price = {r: weights[r] * unit for r in RESOURCES}
        owner = dict(node["labels"]).get(config.tenancy.node_label) or instance_tags.get(instance, {}).get(
            f"user_{config.tenancy.node_tag}"
        )
        here = []
        for row in pods_on[(name, hour)]:
            allocated = {
                "cpu": max(exact(row["cpu_request_core_seconds"]), exact(row["cpu_usage_core_seconds"])) / 3600,
                "memory": max(exact(row["memory_request_byte_seconds"]), exact(row["memory_working_set_byte_seconds"]))
                / (GIB * 3600),
                "gpu": exact(row["gpu_request_seconds"]) / 3600,
            }
            pod = PodCost(row["pod_uid"], row["namespace"], hour, name, owner, allocated)
            pods[(pod.pod_uid, hour)] = pod
            here.append(pod)
        total_allocated = {r: sum((p.allocated[r] for p in here), Fraction(0)) for r in RESOURCES}
        for pod in here:
            pod.split = {
                r: pod.allocated[r] / max(total_allocated[r], available[r]) * available[r] * price[r]
                if max(total_allocated[r], available[r]) > 0
                else Fraction(0)
                for r in RESOURCES
            }
        unused = {r: max(available[r] - total_allocated[r], Fraction(0)) * price[r] for r in RESOURCES}
        day = hour.date()
        if owner:  # a dedicated node: all of it, unused included, goes to its tenant
            split = sum((p.total for p in here), Fraction(0))
            lines[(day, owner, "compute")] += split
            lines[(day, owner, "idle")] += cost - split
            for pod in here:
                pod.tenant = owner
            continue
        idle_left[day] += sum(unused.values(), Fraction(0))
        if allocation.idle == "node":
            for pod in here:
                pod.idle = sum(
                    (unused[r] * pod.allocated[r] / total_allocated[r] for r in RESOURCES if total_allocated[r] > 0),
                    Fraction(0),
                )
        for r in RESOURCES:
            unused_pool[hour][r] += unused[r]

    # 3. Idle in `cluster` mode: the unused cost of shared nodes per cluster-hour, by split cost.
    shared_node_pods = [p for p in pods.values() if p.dedicated_to is None]
    if allocation.idle == "cluster":
        for hour, pool in unused_pool.items():
            at_hour = [p for p in shared_node_pods if p.hour == hour]
            for r in RESOURCES:
                split_total = sum((p.split[r] for p in at_hour), Fraction(0))
                for pod in at_hour if split_total > 0 else ():
                    pod.idle += pool[r] * pod.split[r] / split_total

    # 4. Pods of shared nodes bill to their namespace's tenant (or the shared pool).
    for pod in shared_node_pods:
        day = pod.hour.date()
        idle_left[day] -= pod.idle
        if pod.namespace in allocation.shared_namespaces:
            pod.tenant = SHARED
            shared_pool[day] += pod.total
            continue
        pod.tenant = tenancy.of_namespace(pod.namespace, pod.hour)
        lines[(day, pod.tenant, "compute")] += pod.total - pod.idle
        lines[(day, pod.tenant, "idle")] += pod.idle
    for day, amount in idle_left.items():
        lines[(day, IDLE, "idle")] += amount

    # 5. The shared pool per cluster-day: by direct cost, evenly, or kept as its own line.
    for day, pool in shared_pool.items():
        direct: dict[str, Fraction] = defaultdict(Fraction)
        for (line_day, tenant, component), amount in list(lines.items()):
            if line_day == day and tenant not in SENTINELS and component in ("compute", "idle", "emr"):
                direct[tenant] += amount
        direct = {t: amount for t, amount in direct.items() if amount > 0}
        if allocation.shared == "separate" or not direct:
            lines[(day, SHARED, "shared")] += pool
            continue
        for tenant, amount in direct.items():
            share = pool * amount / sum(direct.values()) if allocation.shared == "weighted" else pool / len(direct)
            lines[(day, tenant, "shared")] += share

    return Reference({k: v for k, v in lines.items() if v != 0}, pods, dict(in_scope))
