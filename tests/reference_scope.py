"""Which rule claims a CUR line, and the hours its cost falls in: the reference's reading of docs/method.md
("Which rule claims a line", "Lines longer than an hour", "Storage", "Load balancers", "Cluster overhead").

Written from the documentation, not from the SQL models (``int_cur__scoped``, ``int_cur__line_hours``,
``int_storage_hours``, ``int_node_volume_hours``, ``int_load_balancers``), in exact arithmetic. It reads only
what a test scenario wrote (``tests.factory.Scenario``) and the configuration's settings.

``classify(scenario, config, inventory)`` gives one ``Claim`` per in-scope line (a line tagged for several
clusters gives one per cluster); ``Inventory`` knows the clusters' instances, volumes and load balancers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from chargeback.core.config import Config

UNKNOWN = "__unknown__"
IN_SCOPE_TYPES = frozenset({"Usage", "DiscountedUsage", "SavingsPlanCoveredUsage"})
INSTANCE_USAGE = ("BoxUsage", "SpotUsage", "HostUsage", "DedicatedUsage")
TRANSFER = ("DataTransfer", "-In-Bytes", "-Out-Bytes")
CSI_NAMESPACE = "kubernetes.io/created-for/pvc/namespace"
LB_CLUSTER, IN_TREE_CLUSTER = "elbv2.k8s.aws/cluster", "kubernetes.io/cluster/"
STACKS = ("service.k8s.aws/stack", "ingress.k8s.aws/stack", "kubernetes.io/service-name")
HOUR = timedelta(hours=1)

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


def exact(value) -> Fraction:
    """A number as its writer meant it (the float 0.1 is one tenth); None is 0."""
    return Fraction(0) if value is None else Fraction(str(value))


def line_cost(line: dict, basis: str) -> Fraction:
    """A CUR line's cost on ``basis``; ``net_amortized`` uses the net column where the CUR has it."""
    if basis == "on_demand":
        return exact(line["pricing_public_on_demand_cost"])
    kind = line["line_item_line_item_type"]
    amortized = line[AMORTIZED.get(kind, AMORTIZED[None])]
    net = line[NET.get(kind, NET[None])] if basis == "net_amortized" else None
    return exact(amortized if net is None else net)


def job_run(arn: str) -> tuple[str, str] | None:
    """(virtual cluster id, job id) of an EMR on EKS job-run ARN (``.../virtualclusters/V/jobruns/J``)."""
    if "/virtualclusters/" not in arn or "/jobruns/" not in arn:
        return None
    vc_id, job_id = arn.split("/virtualclusters/", 1)[1].split("/jobruns/", 1)
    return vc_id, job_id


def hours_of(line: dict) -> list[datetime]:
    """The clock hours a line covers (at least its first)."""
    start, end = line["line_item_usage_start_date"], line["line_item_usage_end_date"]
    return [start + i * HOUR for i in range(max(1, round((end - start) / HOUR)))]


def evenly(line: dict, cost: Fraction) -> list[tuple[datetime, Fraction]]:
    """A line longer than an hour spread evenly over its hours."""
    hours = hours_of(line)
    return [(h, cost / len(hours)) for h in hours]


@dataclass
class Claim:
    """One in-scope line (or its part for one cluster): the rule that claimed it and what it names."""

    scope: str  # instance, pv_volume, node_volume, data_transfer, node_extra, load_balancer, cluster_fee, ...
    cluster: str
    line: dict
    cost: Fraction
    key: object = None  # the instance, volume, load balancer's namespace (None: shared), job or tenant


class Inventory:
    """What the scenario knows of its clusters: instances, PV volumes and their claims, node volumes' attachments,
    load balancers' tags."""

    def __init__(self, scenario, config: Config):
        self.config = config
        self.clusters = sorted({row["cluster"] for row in scenario.node_hours})
        self.instances = {row["provider_id"].rsplit("/", 1)[-1]: row["cluster"] for row in scenario.node_hours}
        # Node-hours by instance: (hour -> node row), for spreading a node's lines over its running time.
        self.node_hours: dict[str, dict[datetime, dict]] = defaultdict(dict)
        for row in scenario.node_hours:
            self.node_hours[row["provider_id"].rsplit("/", 1)[-1]][row["hour"]] = row

        # PersistentVolumes: kube-state-metrics, else the API snapshots, else the EBS CSI driver's tag.
        self.pv_cluster: dict[str, str] = {}
        self.claims: dict[str, dict[datetime, str]] = defaultdict(dict)  # volume -> hour -> namespace
        best: dict[tuple[str, datetime], tuple] = {}
        for row in scenario.pv_hours:
            self.pv_cluster.setdefault(row["volume_handle"], row["cluster"])
            if row["claim_namespace"] is None:
                continue
            key, rank = (row["volume_handle"], row["hour"]), (row["claim_seconds"], row["claim_last_seen"])
            if key not in best or rank > best[key][0]:  # most seconds; ties: the later binding
                best[key] = (rank, row["claim_namespace"])
        for (volume, hour), (_, namespace) in best.items():
            self.claims[volume][hour] = namespace
        self.snapshot_claim: dict[str, str | None] = {}
        for row in sorted(scenario.persistent_volumes, key=lambda r: r["collected_at"]):
            self.pv_cluster.setdefault(row["volume_handle"], row["cluster"])
            self.snapshot_claim[row["volume_handle"]] = row["claim_namespace"]  # the latest snapshot's
        self.csi_namespace: dict[str, str] = {}
        self.attachments: dict[str, list[tuple[datetime, str | None]]] = defaultdict(list)
        for row in sorted(scenario.ec2_volumes, key=lambda r: r["collected_at"]):
            tags, volume = dict(row["tags"]), row["volume_id"]
            named = self.named_clusters(tags, api=True)
            if tags.get(CSI_NAMESPACE) and named:
                self.pv_cluster.setdefault(volume, named[0])
                self.csi_namespace[volume] = tags[CSI_NAMESPACE]
            self.attachments[volume].append((row["collected_at"], row["instance_id"]))
        # Node volumes: seen attached to a cluster node's instance, backing no PV.
        self.node_volume_cluster = {
            volume: self.instances[instance]
            for volume, seen in self.attachments.items()
            for _, instance in seen
            if instance in self.instances and volume not in self.pv_cluster
        }
        self.lb_tags: dict[str, dict[str, str]] = {}
        for row in sorted(scenario.load_balancers, key=lambda r: r["collected_at"]):
            self.lb_tags[row["load_balancer_arn"]] = dict(row["tags"])  # the latest snapshot's

    def named_clusters(self, tags: dict[str, str], *, api: bool = False) -> list[str]:
        """The collected clusters a resource's tags name (CUR spelling ``user_<key>``, or the API's own keys)."""
        prefix = "" if api else "user_"
        keys = (
            "aws:eks:cluster-name" if api else "aws_eks_cluster_name",
            prefix + self.config.tagged.cluster_tag,
            prefix + LB_CLUSTER,
        )
        named = {tags[k] for k in keys if tags.get(k)}
        named |= {k.removeprefix(prefix + IN_TREE_CLUSTER) for k in tags if k.startswith(prefix + IN_TREE_CLUSTER)}
        return sorted(named & set(self.clusters))

    def pv_namespace(self, volume: str, hour: datetime) -> str | None:
        """The namespace of the claim bound for most of ``hour``; an hour without one takes the nearest earlier
        hour's claim, else the nearest later one; else the latest API snapshot's; else the CSI driver's tag."""
        claims = self.claims.get(volume, {})
        if hour in claims:
            return claims[hour]
        if earlier := [h for h in claims if h < hour]:
            return claims[max(earlier)]
        if later := [h for h in claims if h > hour]:
            return claims[min(later)]
        return self.snapshot_claim.get(volume) or self.csi_namespace.get(volume)

    def attached_to(self, volume: str, hour: datetime) -> str | None:
        """The instance a volume was attached to in ``hour``: the latest snapshot at or before it, else the
        earliest after (a snapshot that saw it detached counts)."""
        seen = self.attachments[volume]
        before = [instance for at, instance in seen if at <= hour]
        return before[-1] if before else seen[0][1]

    def load_balancer(self, line: dict) -> tuple[str, str | None] | None:
        """(cluster, namespace) of a load balancer's line, namespace None for an ingress group or no stack; None
        when it is no load balancer of a collected cluster. Each tag from the CUR where it is there, else from the
        latest elbv2 snapshot."""
        arn = line["line_item_resource_id"] or ""
        if line["line_item_product_code"] != "AWSELB" and not arn.startswith("arn:aws:elasticloadbalancing:"):
            return None
        tags = dict(self.lb_tags.get(arn, {}))
        tags |= {k.removeprefix("user_"): v for k, v in line["resource_tags"] if k.startswith("user_") and v}
        cluster = tags.get(LB_CLUSTER) if tags.get(LB_CLUSTER) in self.clusters else None
        in_tree = [k.removeprefix(IN_TREE_CLUSTER) for k in tags if k.startswith(IN_TREE_CLUSTER)]
        cluster = cluster or next((c for c in sorted(in_tree) if c in self.clusters), None)
        if cluster is None:
            return None
        stack = next((tags[k] for k in STACKS if tags.get(k)), "")
        namespace, slash, name = stack.partition("/")
        return cluster, namespace if slash and namespace and name and "/" not in name else None

    def on_node(self, instance: str, line: dict, amount: Fraction) -> list[tuple[datetime, Fraction]]:
        """A node's line spread over the node's observed running time in it; whole in its first hour when the
        node was not seen then."""
        hours = hours_of(line)
        seen = {
            h: exact(self.node_hours[instance][h]["running_seconds"]) for h in hours if h in self.node_hours[instance]
        }
        total = sum(seen.values(), Fraction(0))
        if total == 0:
            return [(hours[0], amount)]
        return [(h, amount * s / total) for h, s in seen.items()]


def classify(scenario, config: Config, inventory: Inventory) -> list[Claim]:
    """Every in-scope line with the first rule that claims it (docs/method.md#which-rule-claims-a-line)."""
    vcs = {vc["virtual_cluster_id"]: vc for vc in scenario.virtual_clusters}
    claims = []
    for line in scenario.cur:
        kind, product, usage_type = (
            line["line_item_line_item_type"],
            line["line_item_product_code"],
            line["line_item_usage_type"] or "",
        )
        if kind not in IN_SCOPE_TYPES or line["line_item_operation"] == "EKSPod-EC2":
            continue  # fees, negations, tax, credits; AWS's own split rows
        resource, tags = line["line_item_resource_id"] or "", dict(line["resource_tags"])
        cost = line_cost(line, config.allocation.cost_basis)
        node_cluster = inventory.instances.get(resource)
        tenant = tags.get(f"user_{config.tagged.tag}")
        if tenant and tenant.startswith("__") and tenant.endswith("__"):
            tenant = None  # a reserved name is no tenant
        if node_cluster and (any(u in usage_type for u in INSTANCE_USAGE) or kind != "Usage"):
            claims.append(Claim("instance", node_cluster, line, cost, resource))
        elif resource in inventory.pv_cluster:
            claims.append(Claim("pv_volume", inventory.pv_cluster[resource], line, cost, resource))
        elif resource in inventory.node_volume_cluster:
            claims.append(Claim("node_volume", inventory.node_volume_cluster[resource], line, cost, resource))
        elif node_cluster and (product == "AWSDataTransfer" or any(t in usage_type for t in TRANSFER)):
            claims.append(Claim("data_transfer", node_cluster, line, cost, resource))
        elif node_cluster:
            claims.append(Claim("node_extra", node_cluster, line, cost, resource))
        elif balancer := inventory.load_balancer(line):
            claims.append(Claim("load_balancer", balancer[0], line, cost, balancer[1]))
        elif (
            product == "AmazonEKS"
            and resource.startswith("arn:aws:eks:")
            and ((name := resource.rsplit(":cluster/", 1)[-1]) in inventory.clusters)
        ):
            claims.append(Claim("cluster_fee", name, line, cost))
        elif product == "ElasticMapReduce" and (job := job_run(resource)):
            vc = vcs.get(job[0])
            claims.append(Claim("emr", vc["eks_cluster"] if vc else UNKNOWN, line, cost, job))
        elif config.tagged.enabled and tenant:
            named = inventory.named_clusters(tags)
            claims.append(Claim("tagged", named[0] if named else UNKNOWN, line, cost, tenant))
        elif named := inventory.named_clusters(tags):
            claims += [Claim("overhead", cluster, line, cost / len(named)) for cluster in named]
    return claims
