"""Small, explicit clusters for tests: nodes, pods and CUR lines written as real raw partitions.

Tests state every number (prices, requests, usage) so the expected bill can be worked out by hand or
by ``tests/reference.py``, never read back from the models.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from chargeback.raw.landing import land
from collectors import streams

GIB = 1024**3
START = datetime(2026, 10, 1, tzinfo=UTC)
ACCOUNT = "111122223333"


def hour(n: int) -> datetime:
    return START + timedelta(hours=n)


def billing_period(n: int) -> tuple[datetime, datetime]:
    """The billing period (start, end) hour ``n`` falls in: October 2026 for the first 744 hours."""
    start = hour(n).replace(day=1, hour=0)
    return start, (start + timedelta(days=32)).replace(day=1)


@dataclass
class Scenario:
    cluster: str = "test-cluster"
    node_hours: list[dict] = field(default_factory=list)
    pod_hours: list[dict] = field(default_factory=list)
    pods: dict[str, dict] = field(default_factory=dict)
    namespace_labels: list[dict] = field(default_factory=list)
    cur: list[dict] = field(default_factory=list)
    virtual_clusters: list[dict] = field(default_factory=list)
    job_runs: list[dict] = field(default_factory=list)
    cost_explorer: list[dict] = field(default_factory=list)
    pv_hours: list[dict] = field(default_factory=list)
    ec2_volumes: list[dict] = field(default_factory=list)
    load_balancers: list[dict] = field(default_factory=list)
    volume_claims: list[dict] = field(default_factory=list)
    persistent_volumes: list[dict] = field(default_factory=list)
    owners: list[dict] = field(default_factory=list)

    # --- nodes and their CUR lines -------------------------------------------------------------
    def node(
        self,
        name: str,
        instance_type: str,
        hours: range | list[int],
        cost_per_hour: float | None,
        *,
        vcpu: float,
        memory_gib: float,
        gpus: float = 0,
        labels: dict[str, str] | None = None,
        line_item_type: str = "Usage",
        effective_cost_per_hour: float | None = None,
        net_cost_per_hour: float | None = None,
        tags: dict[str, str] | None = None,
        usage_amount: float = 1.0,
    ) -> str:
        """``usage_amount``: the instance line's billed hours in each hour (1: the whole hour)."""
        instance_id = self.instance_id(self.cluster, name)
        for h in hours:
            self.node_hours.append(
                {
                    "cluster": self.cluster,
                    "node": name,
                    "hour": hour(h),
                    "provider_id": f"aws:///us-east-1a/{instance_id}",
                    "instance_type": instance_type,
                    "running_seconds": 3600.0,
                    "cpu_capacity_cores": vcpu,
                    "memory_capacity_bytes": memory_gib * GIB,
                    "gpu_capacity": gpus,
                    "labels": list((labels or {}).items()),
                }
            )
            if cost_per_hour is not None:
                product = {"vcpu": str(vcpu), "memory": f"{memory_gib:g} GiB"}
                if gpus:
                    product["gpu"] = str(gpus)
                self.line(
                    h,
                    product_code="AmazonEC2",
                    line_item_type=line_item_type,
                    usage_type=f"BoxUsage:{instance_type}",
                    resource_id=instance_id,
                    cost=cost_per_hour,
                    effective_cost=effective_cost_per_hour,
                    net_cost=net_cost_per_hour,
                    usage_amount=usage_amount,
                    instance_type=instance_type,
                    product=product,
                    tags=tags,
                )
        return instance_id

    @staticmethod
    def instance_id(cluster: str, node: str) -> str:
        """The EC2 instance id ``node()`` gives a node: the same in every process, so a test can name it."""
        return "i-" + hashlib.sha256(f"{cluster}/{node}".encode()).hexdigest()[:17]

    def line(
        self,
        h: int,
        *,
        product_code: str,
        resource_id: str,
        cost: float,
        line_item_type: str = "Usage",
        usage_type: str = "",
        operation: str = "RunInstances",
        usage_amount: float = 1.0,
        hours: int = 1,
        effective_cost: float | None = None,
        net_cost: float | None = None,
        on_demand_cost: float | None = None,
        instance_type: str | None = None,
        product: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        period_start, period_end = billing_period(h)
        self.cur.append(
            {
                "bill_billing_period_start_date": period_start,
                "bill_billing_period_end_date": period_end,
                "bill_payer_account_id": ACCOUNT,
                "line_item_usage_account_id": ACCOUNT,
                "line_item_line_item_type": line_item_type,
                "line_item_usage_start_date": hour(h),
                "line_item_usage_end_date": hour(h + hours),
                "line_item_product_code": product_code,
                "line_item_usage_type": usage_type,
                "line_item_operation": operation,
                "line_item_resource_id": resource_id,
                "line_item_usage_amount": usage_amount,
                "line_item_currency_code": "USD",
                "line_item_unblended_rate": str(cost),
                "line_item_unblended_cost": cost,
                "line_item_net_unblended_cost": net_cost if net_cost is not None and effective_cost is None else cost,
                "line_item_line_item_description": "",
                "pricing_public_on_demand_cost": on_demand_cost if on_demand_cost is not None else cost,
                "pricing_term": "OnDemand",
                "product_instance_type": instance_type,
                "product_region_code": "us-east-1",
                "product": list((product or {}).items()),
                "reservation_effective_cost": None,
                "reservation_net_effective_cost": None,
                "savings_plan_savings_plan_effective_cost": effective_cost,
                "savings_plan_net_savings_plan_effective_cost": net_cost if effective_cost is not None else None,
                "resource_tags": list((tags or {}).items()),
            }
        )

    # --- CUR lines of each kind (docs/reconciliation.md: which row each lands in) ------------------
    def tax(self, h: int, cost: float) -> None:
        """A tax line (out of scope: tax)."""
        self.line(h, product_code="AmazonEC2", resource_id="", cost=cost, line_item_type="Tax", operation="",
                  usage_type="", hours=24 * 31 - h)  # fmt: skip

    def credit(self, h: int, cost: float, line_item_type: str = "Credit") -> None:
        """A credit, refund or discount (``line_item_type``; out of scope: credits_refunds); ``cost`` negative."""
        self.line(h, product_code="AmazonEC2", resource_id="", cost=cost, line_item_type=line_item_type,
                  operation="", usage_type="")  # fmt: skip

    def savings_plan(self, h: int, instance_id: str, negation: float, recurring_fee: float) -> None:
        """A Savings Plan's negation of a covered line (on its instance) and its recurring fee (out of scope:
        commitments)."""
        self.line(h, product_code="AmazonEC2", resource_id=instance_id, cost=negation,
                  line_item_type="SavingsPlanNegation", usage_type="USE1-BoxUsage:m5.xlarge")  # fmt: skip
        arn = f"arn:aws:savingsplans::{ACCOUNT}:savingsplan/sp-0001"
        self.line(h, product_code="ComputeSavingsPlans", resource_id=arn, cost=recurring_fee,
                  line_item_type="SavingsPlanRecurringFee", operation="", usage_type="ComputeSP:1yrNoUpf")  # fmt: skip

    def split_row(
        self,
        h: int,
        namespace: str,
        pod: str,
        instance_id: str,
        resource: str,
        split_cost: float,
        unused_cost: float,
        cost: float = 0.0,
    ) -> None:
        """One of AWS's split cost allocation rows (operation EKSPod-EC2; out of scope: aws_split_rows) of pod
        ``namespace/pod`` on ``instance_id`` for ``resource`` (``vCPU`` or ``GB``), with AWS's split and unused
        cost; ``cost`` its line_item_unblended_cost."""
        arn = f"arn:aws:eks:us-east-1:{ACCOUNT}:pod/{self.cluster}/{namespace}/{pod}/uid-{namespace}-{pod}"
        self.line(h, product_code="AmazonEC2", resource_id=arn, cost=cost, operation="EKSPod-EC2",
                  usage_type=f"USE1-EKS-EC2-{resource}-Hours")  # fmt: skip
        self.cur[-1].update(
            split_line_item_parent_resource_id=instance_id,
            split_line_item_split_cost=split_cost,
            split_line_item_unused_cost=unused_cost,
        )

    # --- pods ----------------------------------------------------------------------------------
    def pod(
        self,
        namespace: str,
        name: str,
        node: str,
        hours: range | list[int],
        *,
        cpu_request: float,
        cpu_usage: float,
        memory_request_gib: float,
        memory_usage_gib: float,
        gpus: float = 0,
        running_seconds: float = 3600.0,
        labels: dict[str, str] | None = None,
        owner: tuple[str, str] | None = ("ReplicaSet", None),
        network_bytes: float | None = None,
        host_network: bool = False,
    ) -> str:
        """``network_bytes``: bytes received + transmitted in each of its hours (half each way; None: no byte
        data, as for a pod collected before network bytes were)."""
        uid = f"uid-{namespace}-{name}"
        kind, owner_name = owner if owner else (None, None)
        self.pods[uid] = {
            "cluster": self.cluster,
            "date": START.date(),
            "namespace": namespace,
            "pod": name,
            "pod_uid": uid,
            "owner_kind": kind,
            "owner_name": owner_name or (f"{name.rsplit('-', 1)[0]}" if kind else None),
            "start_time": hour(min(hours)),
            "completion_time": None,
            "labels": list((labels or {}).items()),
            "host_network": host_network,
        }
        for h in hours:
            self.pod_hours.append(
                {
                    "cluster": self.cluster,
                    "namespace": namespace,
                    "pod": name,
                    "pod_uid": uid,
                    "node": node,
                    "hour": hour(h),
                    "running_seconds": running_seconds,
                    "cpu_request_core_seconds": cpu_request * running_seconds,
                    "cpu_usage_core_seconds": cpu_usage * running_seconds,
                    "memory_request_byte_seconds": memory_request_gib * GIB * running_seconds,
                    "memory_working_set_byte_seconds": memory_usage_gib * GIB * running_seconds,
                    "gpu_request_seconds": gpus * running_seconds,
                    "network_receive_bytes": None if network_bytes is None else network_bytes / 2,
                    "network_transmit_bytes": None if network_bytes is None else network_bytes / 2,
                }
            )
        return uid

    def owner(self, namespace: str, kind: str, name: str, owner: tuple[str, str] | None, day: int = 0) -> None:
        """kube-state-metrics' record, on day ``day`` (0: START's), of the controlling owner of a ReplicaSet or
        Job (``owner`` None: it has none)."""
        self.owners.append(
            {
                "cluster": self.cluster,
                "date": hour(24 * day).date(),
                "namespace": namespace,
                "kind": kind,
                "name": name,
                "owner_kind": owner[0] if owner else None,
                "owner_name": owner[1] if owner else None,
            }
        )

    def label_namespace(
        self, namespace: str, hours: range | list[int], labels: dict[str, str], seconds: float = 3600
    ) -> None:
        for h in hours:
            self.namespace_labels.append(
                {
                    "cluster": self.cluster,
                    "namespace": namespace,
                    "hour": hour(h),
                    "seconds_in_force": seconds,
                    "labels": list(labels.items()),
                }
            )

    def virtual_cluster(self, vc_id: str, name: str, namespace: str, tags: dict[str, str] | None = None) -> None:
        self.virtual_clusters.append(
            {
                "collected_at": START,
                "virtual_cluster_id": vc_id,
                "name": name,
                "arn": f"arn:aws:emr-containers:us-east-1:{ACCOUNT}:/virtualclusters/{vc_id}",
                "state": "RUNNING",
                "eks_cluster": self.cluster,
                "namespace": namespace,
                "created_at": START - timedelta(days=30),
                "tags": list((tags or {}).items()),
            }
        )

    def job_run(self, job_id: str, vc_id: str, name: str, start_hour: int) -> str:
        self.job_runs.append(
            {
                "collected_at": START,
                "job_run_id": job_id,
                "virtual_cluster_id": vc_id,
                "arn": self.job_arn(vc_id, job_id),
                "name": name,
                "state": "COMPLETED",
                "created_at": hour(start_hour),
                "finished_at": hour(start_hour + 1),
                "release_label": "emr-7.2.0-latest",
                "execution_role_arn": None,
                "executor_instances": 2,
                "executor_cores": 1.0,
                "executor_memory_bytes": 2.0 * GIB,
                "driver_cores": 1.0,
                "driver_memory_bytes": 2.0 * GIB,
                "tags": [],
                "failure_reason": None,
                "state_details": None,
            }
        )
        return self.job_arn(vc_id, job_id)

    @staticmethod
    def job_arn(vc_id: str, job_id: str) -> str:
        return f"arn:aws:emr-containers:us-east-1:{ACCOUNT}:/virtualclusters/{vc_id}/jobruns/{job_id}"

    def cost_explorer_day(
        self,
        day: int,
        group_by: str,
        key: str,
        amount: float,
        usage_hours: float | None = None,
        estimated: bool = False,
    ) -> None:
        """One Cost Explorer group on day ``day`` (0 = 2026-10-01)."""
        self.cost_explorer.append(
            {
                "collected_at": START,
                "date": (START + timedelta(days=day)).date(),
                "group_by": group_by,
                "group_key": key,
                "metric": "AmortizedCost",
                "amount": amount,
                "unit": "USD",
                "usage_quantity": usage_hours,
                "estimated": estimated,
            }
        )

    # --- writing -------------------------------------------------------------------------------
    # --- volumes, load balancers ------------------------------------------------------------------
    def pv(
        self,
        name: str,
        volume_id: str,
        hours: range | list[int],
        claim: tuple[str, str] | None,
        *,
        seconds: float = 3600.0,
        last_seen_minute: int = 59,
        phase: str = "Bound",
    ) -> None:
        """The PV's kube-state-metrics hours: its claimRef named ``claim`` (namespace, name) for ``seconds`` of
        each hour, last at minute ``last_seen_minute`` (None: no claimRef)."""
        for h in hours:
            self.pv_hours.append(
                {
                    "cluster": self.cluster,
                    "persistent_volume": name,
                    "hour": hour(h),
                    "volume_handle": volume_id,
                    "storage_class": "gp3",
                    "capacity_bytes": 100 * GIB,
                    "phase": phase,
                    "claim_namespace": claim[0] if claim else None,
                    "claim_name": claim[1] if claim else None,
                    "claim_seconds": seconds,
                    "claim_last_seen": hour(h) + timedelta(minutes=last_seen_minute) if claim else None,
                }
            )

    def mount(self, pod_uid: str, claim: str) -> None:
        """The pod mounts PersistentVolumeClaim ``claim`` of its namespace (on the pod's first day)."""
        pod = self.pods[pod_uid]
        self.volume_claims.append(
            {
                "cluster": pod["cluster"],
                "date": pod["date"],
                "namespace": pod["namespace"],
                "pod": pod["pod"],
                "pod_uid": pod_uid,
                "volume": "spark-local-dir-1",
                "claim": claim,
                "read_only": False,
            }
        )

    def ec2_volume(
        self, volume_id: str, at_hour: int, instance_id: str | None, tags: dict[str, str] | None = None
    ) -> None:
        """One DescribeVolumes snapshot of a volume, at the start of hour ``at_hour``: attached to
        ``instance_id`` (None: attached nowhere)."""
        self.ec2_volumes.append(
            {
                "collected_at": hour(at_hour),
                "region": "us-east-1",
                "volume_id": volume_id,
                "volume_type": "gp3",
                "size_gib": 100.0,
                "iops": 3000.0,
                "throughput_mibps": 125.0,
                "state": "in-use" if instance_id else "available",
                "availability_zone": "us-east-1a",
                "created_at": START,
                "instance_id": instance_id,
                "device": "/dev/xvda" if instance_id else None,
                "attachment_state": "attached" if instance_id else None,
                "attached_at": START if instance_id else None,
                "delete_on_termination": bool(instance_id),
                "tags": list((tags or {}).items()),
            }
        )

    def pv_snapshot(
        self, name: str, volume_id: str, at_hour: int, claim: tuple[str, str] | None, *, phase: str = "Bound"
    ) -> None:
        """One Kubernetes API snapshot of a PersistentVolume at the start of hour ``at_hour`` (the fallback for
        kube-state-metrics' series): its CSI volume handle and the claim its claimRef names (None: none)."""
        self.persistent_volumes.append(
            {
                "cluster": self.cluster,
                "collected_at": hour(at_hour),
                "persistent_volume": name,
                "volume_handle": volume_id,
                "storage_class": "gp3",
                "capacity_bytes": 100 * GIB,
                "phase": phase,
                "claim_namespace": claim[0] if claim else None,
                "claim_name": claim[1] if claim else None,
                "created_at": START,
            }
        )

    def load_balancer(self, arn: str, at_hour: int, tags: dict[str, str]) -> None:
        """One elbv2 snapshot of a load balancer and its tags."""
        self.load_balancers.append(
            {
                "collected_at": hour(at_hour),
                "region": "us-east-1",
                "load_balancer_arn": arn,
                "name": arn.rsplit("/", 2)[-2],
                "type": "application",
                "scheme": "internet-facing",
                "vpc_id": "vpc-0abc",
                "state": "active",
                "created_at": START,
                "tags": list(tags.items()),
            }
        )

    def write(self, data_dir: Path) -> Path:
        tables = [
            (streams.NODE_HOURS, self.node_hours),
            (streams.POD_HOURS, self.pod_hours),
            (streams.PODS, list(self.pods.values())),
            (streams.NAMESPACE_LABELS, self.namespace_labels),
            (streams.CUR_LINE_ITEMS, self.cur),
            (streams.EMR_VIRTUAL_CLUSTERS, self.virtual_clusters),
            (streams.EMR_JOB_RUNS, self.job_runs),
            (streams.COST_EXPLORER_DAILY, self.cost_explorer),
            (streams.PERSISTENT_VOLUME_HOURS, self.pv_hours),
            (streams.EC2_VOLUMES, self.ec2_volumes),
            (streams.LOAD_BALANCERS, self.load_balancers),
            (streams.POD_VOLUME_CLAIMS, self.volume_claims),
            (streams.K8S_PERSISTENT_VOLUMES, self.persistent_volumes),
            (streams.OWNERS, self.owners),
        ]
        for table, rows in tables:
            if rows:
                land(data_dir, table, pa.Table.from_pylist(rows, schema=table.schema), origin="test scenario")
        return data_dir
