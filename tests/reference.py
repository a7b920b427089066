"""An independent reference of the allocation method, in exact arithmetic (``fractions.Fraction``).

Written from the statement of the method (docs/method.md), not from the SQL models, so that the property test
compares two implementations instead of one implementation with itself. It reads only what a test
scenario wrote (``tests.factory.Scenario``'s raw rows), the bundled instance table and the ``Config``
the pipeline is built with (its settings, never its helpers). Which rule claims a CUR line, and the hours its
cost falls in, is ``tests/reference_scope.py``.

Public entry points (all take the scenario and the config):

- ``reference(scenario, config) -> Reference``: every result at once.
- ``reference_bill(scenario, config) -> {(tenant, component): Fraction}`` over the whole scenario.
- ``reference_pod_costs(scenario, config) -> {(pod_uid, hour): PodCost}``.

Components are ``compute``, ``idle``, ``shared``, ``storage``, ``network``, ``emr``, ``tagged``. Line names
besides tenants: ``__idle__`` (unused capacity no pod took, volumes of no node-hour, transfer of a node-hour
without pods), ``__shared__`` (the shared pool when it is kept) and ``__unallocated__`` (pods of unmapped
namespaces, EMR lines of unknown jobs, PVs that never had a claim).

Choices where the method leaves room (docs/method.md#choices-where-the-method-leaves-a-case-open): a kept
shared pool is the ``shared`` component of ``__shared__``; ``net_amortized`` falls back to the non-net column
where the net one is null; a namespace label is the value with the most seconds in force in that hour; a
pod's idle share on a dedicated node is not modelled (the node's unused cost is its tenant's ``idle``); pods
whose byte counts add up to 0 are "no byte data" (the transfer goes by split cost), and pods whose split
costs add up to 0 share it evenly. Estimates (a node-day the CUR has not billed) use Cost Explorer's rate of
the type that day, else the instance table's on-demand price, times the running fraction.
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
from tests.reference_scope import Inventory, classify, evenly, exact, hours_of, line_cost  # noqa: F401 - line_cost re-exported

INSTANCE_TABLE = Path(__file__).resolve().parents[1] / "chargeback" / "data" / "instance_types.csv"
RESOURCES = ("cpu", "memory", "gpu")
COMPONENTS = ("compute", "idle", "shared", "storage", "network", "emr", "tagged")
DIRECT = ("compute", "idle", "storage", "network", "emr")  # what attracts a share of the shared pool
IDLE, SHARED, UNALLOCATED = "__idle__", "__shared__", "__unallocated__"
SENTINELS = frozenset({IDLE, SHARED, UNALLOCATED})
GIB = 1024**3

# Relative weight of one vCPU, GiB and GPU: (nodes without GPUs, nodes with GPUs).
PRESETS = {
    "scad": ({"cpu": 9, "memory": 1, "gpu": 0}, {"cpu": Fraction("0.9"), "memory": Fraction("0.1"), "gpu": 9}),
    "opencost": ({"cpu": Fraction("7.46"), "memory": 1, "gpu": 224},) * 2,
}


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
    cluster: str = ""
    bytes: Fraction | None = None  # received + transmitted in the hour; None: no byte data (host network too)
    network: Fraction = Fraction(0)  # its share of the node-hour's data transfer

    @property
    def total(self) -> Fraction:
        return sum(self.split.values(), Fraction(0)) + self.idle


@dataclass
class Reference:
    lines: dict[tuple[date, str, str], Fraction]  # the scenario's cluster: (UTC day, tenant, component) -> cost
    pods: dict[tuple[str, datetime], PodCost]
    in_scope: dict[date, Fraction]  # the scenario's cluster: in-scope source cost per UTC day
    by_cluster: dict[tuple[str, date, str, str], Fraction] = field(default_factory=dict)  # every cluster's lines
    in_scope_by_cluster: dict[tuple[str, date], Fraction] = field(default_factory=dict)

    def bill(self) -> dict[tuple[str, str], Fraction]:
        """(tenant, component) over every cluster: bill lines are per tenant over all clusters."""
        out: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
        for (_, _, tenant, component), amount in self.by_cluster.items():
            out[(tenant, component)] += amount
        return dict(out)

    @property
    def total(self) -> Fraction:
        """The in-scope source cost of every cluster."""
        return sum(self.in_scope_by_cluster.values(), Fraction(0))


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
    """Each instance type's vCPUs, GiB and GPUs, and its on-demand price per hour (``usd``)."""
    with INSTANCE_TABLE.open() as handle:
        return {
            row["instance_type"]: dict(
                zip(
                    (*RESOURCES, "usd"),
                    map(exact, (row["vcpu"], row["memory_gib"], row["gpu"], row["on_demand_usd_per_hour"])),
                    strict=True,
                )
            )
            for row in csv.DictReader(handle)
        }


def _estimate_rates(scenario) -> dict[tuple[date, str], Fraction]:
    """Cost Explorer's cost per instance-hour of a type on a day (its amount over its usage hours)."""
    amounts: dict[tuple[date, str], list[Fraction]] = defaultdict(lambda: [Fraction(0), Fraction(0)])
    for row in scenario.cost_explorer:
        if row["group_by"] == "INSTANCE_TYPE" and row["usage_quantity"] is not None:
            amounts[(row["date"], row["group_key"])][0] += exact(row["amount"])
            amounts[(row["date"], row["group_key"])][1] += exact(row["usage_quantity"])
    return {key: amount / hours for key, (amount, hours) in amounts.items() if hours > 0}


class _Tenancy:
    """Namespace -> tenant in one cluster: a shared namespace is __shared__; else the EMR virtual cluster, then
    the namespace label (per hour), then glob rules."""

    def __init__(self, scenario, config: Config, cluster: str):
        self.config, self.cluster = config, cluster
        self.labels: dict[tuple[str, datetime], dict[str, Fraction]] = defaultdict(lambda: defaultdict(Fraction))
        for row in scenario.namespace_labels:
            value = dict(row["labels"]).get(config.tenancy.namespace_label)
            if row["cluster"] == cluster and value:
                self.labels[(row["namespace"], row["hour"])][value] += exact(row["seconds_in_force"])
        self.vc_of_namespace = {vc["namespace"]: vc for vc in scenario.virtual_clusters if vc["eks_cluster"] == cluster}

    def of_virtual_cluster(self, vc: dict) -> str | None:
        by_config = self.config.tenancy.virtual_clusters
        return (
            by_config.get(vc["virtual_cluster_id"])
            or by_config.get(vc["name"])
            or dict(vc["tags"]).get(self.config.tenancy.virtual_cluster_tag)
        )

    def of_namespace(self, namespace: str, hour: datetime) -> str:
        if namespace in self.config.allocation.shared_namespaces:
            return SHARED
        vc = self.vc_of_namespace.get(namespace)
        if vc is not None and (tenant := self.of_virtual_cluster(vc)):
            return tenant
        if values := self.labels.get((namespace, hour)):
            return max(values, key=values.__getitem__)  # the value in force for most of the hour
        for rule in self.config.tenancy.namespaces:  # first match in file order
            if fnmatchcase(namespace, rule.pattern):
                return rule.tenant
        return UNALLOCATED


class _Tenancies(dict):
    """Each cluster's tenancy, made when first asked for."""

    def __init__(self, scenario, config: Config):
        super().__init__()
        self.scenario, self.config = scenario, config

    def __missing__(self, cluster: str) -> _Tenancy:
        self[cluster] = _Tenancy(self.scenario, self.config, cluster)
        return self[cluster]


class _Book:
    """Bill lines per (cluster, UTC day, tenant, component) and the shared pool per cluster-day."""

    def __init__(self):
        self.lines: dict[tuple[str, date, str, str], Fraction] = defaultdict(Fraction)
        self.pool: dict[tuple[str, date], Fraction] = defaultdict(Fraction)
        self.in_scope: dict[tuple[str, date], Fraction] = defaultdict(Fraction)

    def charge(self, cluster: str, hour: datetime, tenant: str, component: str, amount: Fraction) -> None:
        """``amount`` to ``tenant``; what is ``__shared__``'s joins the cluster-day's shared pool."""
        if tenant == SHARED:
            self.pool[(cluster, hour.date())] += amount
        else:
            self.lines[(cluster, hour.date(), tenant, component)] += amount


def reference(scenario, config: Config) -> Reference:
    """Allocate every in-scope cost of ``scenario`` the way docs/method.md describes."""
    allocation = config.allocation
    inventory = Inventory(scenario, config)
    tenancy = _Tenancies(scenario, config)
    vcs = {vc["virtual_cluster_id"]: vc for vc in scenario.virtual_clusters}
    jobs = {(job["virtual_cluster_id"], job["job_run_id"]) for job in scenario.job_runs}
    book = _Book()

    # 1. Every in-scope CUR line, by the rule that claims it, hour by hour. A node-hour exists where Prometheus saw
    # the node or an instance line billed it; node extras and node volumes of an hour without one are idle.
    claims = []
    for claim in classify(scenario, config, inventory):
        if claim.scope in ("instance", "node_extra", "data_transfer"):
            hours = inventory.on_node(claim.key, claim.line, claim.cost)
        elif claim.scope in ("pv_volume", "node_volume", "load_balancer", "overhead"):
            hours = evenly(claim.line, claim.cost)
        else:
            hours = [(claim.line["line_item_usage_start_date"], claim.cost)]
        claims.append((claim, hours))
    node_hours = {(i, h) for i, seen in inventory.node_hours.items() for h in seen}
    node_hours |= {(c.key, h) for c, hours in claims if c.scope == "instance" for h, _ in hours}
    node_cost: dict[tuple[str, datetime], Fraction] = defaultdict(Fraction)
    billed_hours: dict[tuple[str, datetime], Fraction] = defaultdict(Fraction)
    transfer: dict[tuple[str, datetime], Fraction] = defaultdict(Fraction)
    billed_days: set[tuple[str, date]] = set()  # (instance, UTC day) with an instance line
    instance_tags: dict[str, dict[str, str]] = {}
    for claim, hours in claims:
        line, cluster, scope = claim.line, claim.cluster, claim.scope
        start = line["line_item_usage_start_date"]
        for hour, amount in hours:
            book.in_scope[(cluster, hour.date())] += amount
            if scope in ("instance", "node_extra") and (claim.key, hour) in node_hours:
                node_cost[(claim.key, hour)] += amount
            elif scope in ("instance", "node_extra"):  # an hour the node was neither seen nor billed
                book.charge(cluster, hour, IDLE, "idle", amount)
            elif scope == "data_transfer":
                transfer[(claim.key, hour)] += amount
            elif scope == "node_volume":  # the node-hour of the instance it was attached to, else idle
                instance = inventory.attached_to(claim.key, hour)
                if (instance, hour) in node_hours:
                    node_cost[(instance, hour)] += amount
                else:
                    book.charge(cluster, hour, IDLE, "idle", amount)
            elif scope == "pv_volume":
                namespace = inventory.pv_namespace(claim.key, hour)
                tenant = tenancy[cluster].of_namespace(namespace, hour) if namespace else UNALLOCATED
                book.charge(cluster, hour, tenant, "storage", amount)
            elif scope == "load_balancer":
                tenant = tenancy[cluster].of_namespace(claim.key, hour) if claim.key else SHARED
                book.charge(cluster, hour, tenant, "network", amount)
            elif scope in ("cluster_fee", "overhead"):
                book.charge(cluster, hour, SHARED, "shared", amount)
            elif scope == "emr":  # the job's virtual cluster's tenant; an unknown job's: __unallocated__
                known = claim.key in jobs and claim.key[0] in vcs
                tenant = tenancy[cluster].of_virtual_cluster(vcs[claim.key[0]]) if known else None
                book.charge(cluster, hour, tenant or UNALLOCATED, "emr", amount)
            elif scope == "tagged":
                book.charge(cluster, hour, claim.key, "tagged", amount)
        if scope in ("instance", "node_extra", "data_transfer"):  # a node's tag, read from any of its lines
            instance_tags.setdefault(claim.key, {}).update((k, v) for k, v in line["resource_tags"] if v)
        if scope == "instance":
            billed_days |= {(claim.key, hour.date()) for hour, _ in hours}
        if scope == "instance" and len(hours_of(line)) == 1:  # an hourly line's usage amount: its billed hours
            billed_hours[(claim.key, start)] += exact(line["line_item_usage_amount"])

    # 2. Node-hours: unit prices, split cost per pod and resource, unused cost; their data transfer.
    pods_on: dict[tuple[str, str, datetime], list[dict]] = defaultdict(list)
    for row in scenario.pod_hours:
        pods_on[(row["cluster"], row["node"], row["hour"])].append(row)
    host_network = {uid: bool(pod.get("host_network")) for uid, pod in scenario.pods.items()}
    nominal, (cpu_node_weights, gpu_node_weights) = _nominal(), _weights(config)
    rates = _estimate_rates(scenario)
    pods: dict[tuple[str, datetime], PodCost] = {}
    unused_pool: dict[tuple[str, datetime], dict[str, Fraction]] = defaultdict(
        lambda: dict.fromkeys(RESOURCES, Fraction(0))
    )
    idle_left: dict[tuple[str, date], Fraction] = defaultdict(Fraction)  # shared nodes' unused, before pods take it
    # An hour the CUR billed and Prometheus missed is a node-hour too: no pods, no label (its tag may dedicate it).
    missed = [
        {**next(iter(inventory.node_hours[instance].values())), "hour": hour, "labels": []}
        for instance, hour in sorted(node_hours - {(i, h) for i, seen in inventory.node_hours.items() for h in seen})
    ]
    for node in [*scenario.node_hours, *missed]:
        cluster, name, hour = node["cluster"], node["node"], node["hour"]
        instance = node["provider_id"].rsplit("/", 1)[-1]
        cost = node_cost.get((instance, hour), Fraction(0))
        capacity = nominal.get(node["instance_type"]) or {
            "cpu": exact(node["cpu_capacity_cores"]),
            "memory": exact(node["memory_capacity_bytes"]) / GIB,
            "gpu": exact(node["gpu_capacity"]),
        }
        billed = billed_hours.get((instance, hour))
        ran = min(billed, Fraction(1)) if billed is not None else exact(node["running_seconds"]) / 3600
        if (instance, hour.date()) not in billed_days:  # the CUR has not billed the day yet: an estimate
            rate = rates.get((hour.date(), node["instance_type"]))
            estimate = (rate if rate is not None else nominal[node["instance_type"]]["usd"]) * ran
            cost += estimate
            book.in_scope[(cluster, hour.date())] += estimate
        available = {r: capacity[r] * ran for r in RESOURCES}
        weights = gpu_node_weights if capacity["gpu"] > 0 else cpu_node_weights
        unit = cost / sum(Fraction(weights[r]) * available[r] for r in RESOURCES)
        price = {r: weights[r] * unit for r in RESOURCES}
        owner = dict(node["labels"]).get(config.tenancy.node_label) or instance_tags.get(instance, {}).get(
            f"user_{config.tenancy.node_tag}"
        )
        here = []
        for row in pods_on[(cluster, name, hour)]:
            allocated = {
                "cpu": max(exact(row["cpu_request_core_seconds"]), exact(row["cpu_usage_core_seconds"])) / 3600,
                "memory": max(exact(row["memory_request_byte_seconds"]), exact(row["memory_working_set_byte_seconds"]))
                / (GIB * 3600),
                "gpu": exact(row["gpu_request_seconds"]) / 3600,
            }
            pod = PodCost(row["pod_uid"], row["namespace"], hour, name, owner, allocated, cluster=cluster)
            received, sent = row.get("network_receive_bytes"), row.get("network_transmit_bytes")
            if not host_network.get(pod.pod_uid) and (received is not None or sent is not None):
                pod.bytes = exact(received) + exact(sent)
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
        _share_transfer(transfer.pop((instance, hour), Fraction(0)), here, owner, tenancy[cluster], hour, book)
        day = hour.date()
        if owner:  # a dedicated node: all of it, unused included, goes to its tenant
            split = sum((p.total for p in here), Fraction(0))
            book.charge(cluster, hour, owner, "compute", split)
            book.charge(cluster, hour, owner, "idle", cost - split)
            for pod in here:
                pod.tenant = owner
            continue
        idle_left[(cluster, day)] += sum(unused.values(), Fraction(0))
        if allocation.idle == "node":
            for pod in here:
                pod.idle = sum(
                    (unused[r] * pod.allocated[r] / total_allocated[r] for r in RESOURCES if total_allocated[r] > 0),
                    Fraction(0),
                )
        for r in RESOURCES:
            unused_pool[(cluster, hour)][r] += unused[r]
    for (instance, hour), amount in transfer.items():  # data transfer of an hour the node has no node-hour
        book.charge(inventory.instances[instance], hour, IDLE, "network", amount)

    # 3. Idle in `cluster` mode: the unused cost of shared nodes per cluster-hour, by split cost.
    shared_node_pods = [p for p in pods.values() if p.dedicated_to is None]
    if allocation.idle == "cluster":
        for (cluster, hour), pool in unused_pool.items():
            at_hour = [p for p in shared_node_pods if p.hour == hour and p.cluster == cluster]
            for r in RESOURCES:
                split_total = sum((p.split[r] for p in at_hour), Fraction(0))
                for pod in at_hour if split_total > 0 else ():
                    pod.idle += pool[r] * pod.split[r] / split_total

    # 4. Pods of shared nodes bill to their namespace's tenant (or the shared pool).
    for pod in shared_node_pods:
        idle_left[(pod.cluster, pod.hour.date())] -= pod.idle
        pod.tenant = tenancy[pod.cluster].of_namespace(pod.namespace, pod.hour)
        book.charge(pod.cluster, pod.hour, pod.tenant, "compute", pod.total - pod.idle)
        book.charge(pod.cluster, pod.hour, pod.tenant, "idle", pod.idle)
    for (cluster, day), amount in idle_left.items():
        book.lines[(cluster, day, IDLE, "idle")] += amount

    # 5. The shared pool per cluster-day: by direct cost, evenly, or kept as its own line.
    for (cluster, day), pool in book.pool.items():
        direct: dict[str, Fraction] = defaultdict(Fraction)
        for (line_cluster, line_day, tenant, component), amount in list(book.lines.items()):
            if (line_cluster, line_day) == (cluster, day) and tenant not in SENTINELS and component in DIRECT:
                direct[tenant] += amount
        direct = {t: amount for t, amount in direct.items() if amount > 0}
        if allocation.shared == "separate" or not direct:
            book.lines[(cluster, day, SHARED, "shared")] += pool
            continue
        for tenant, amount in direct.items():
            share = pool * amount / sum(direct.values()) if allocation.shared == "weighted" else pool / len(direct)
            book.lines[(cluster, day, tenant, "shared")] += share

    everywhere = {k: v for k, v in book.lines.items() if v != 0}
    return Reference(
        lines={(d, t, c): v for (cl, d, t, c), v in everywhere.items() if cl == scenario.cluster},
        pods=pods,
        in_scope={d: v for (cl, d), v in book.in_scope.items() if cl == scenario.cluster},
        by_cluster=everywhere,
        in_scope_by_cluster=dict(book.in_scope),
    )


def _share_transfer(
    amount: Fraction, here: list[PodCost], owner: str | None, tenancy: _Tenancy, hour: datetime, book: _Book
) -> None:
    """A node-hour's data transfer: a dedicated node's to its tenant; else over its pods by bytes (host-network
    pods take none), else by split cost when no pod has byte data; with no pods, __idle__'s."""
    if not amount:
        return
    cluster = tenancy.cluster
    if owner or not here:
        return book.charge(cluster, hour, owner or IDLE, "network", amount)
    weights = {id(p): p.bytes for p in here if p.bytes is not None}
    if sum(weights.values(), Fraction(0)) == 0:  # no byte data: by split cost; no split cost either: evenly
        weights = {id(p): sum(p.split.values(), Fraction(0)) for p in here}
    if sum(weights.values(), Fraction(0)) == 0:
        weights = {id(p): Fraction(1) for p in here}
    total = sum(weights.values(), Fraction(0))
    for pod in here:
        pod.network = amount * weights.get(id(pod), Fraction(0)) / total
        if pod.network:
            book.charge(cluster, hour, tenancy.of_namespace(pod.namespace, hour), "network", pod.network)
