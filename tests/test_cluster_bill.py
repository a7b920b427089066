"""The whole cluster bill (docs/method.md#the-whole-cluster-bill): storage, network, load balancers and cluster
overhead, each case worked out by hand.

Every scenario keeps the shared pool visible (``shared = "separate"``) and the idle on its line where it can
(``idle = "separate"``), so each part is a sum of the lines it comes from.
"""

from __future__ import annotations

import pytest

from tests.factory import Scenario

TEAMS = {"namespaces": [{"pattern": "a-*", "tenant": "team-a"}, {"pattern": "b-*", "tenant": "team-b"}]}
SETTINGS = {"tenancy": TEAMS, "allocation": {"shared": "separate", "idle": "separate"}}
ALB = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/{}/50dc6c495c0c9188"


def parts(built, tenant: str | None = None) -> dict[tuple[str, str], float]:
    """Each (tenant, component)'s exact amount over the scenario."""
    rows = built.rows(
        "select tenant, component, sum(amount) from intermediate.int_cost_lines group by all having sum(amount) <> 0"
    )
    return {(t, c): float(v) for t, c, v in rows if tenant is None or t == tenant}


def two_pods(s: Scenario, node: str, hours, *, a_bytes=None, b_bytes=None) -> None:
    s.pod(
        "a-api",
        f"a-api-{node}",
        node,
        hours,
        cpu_request=1,
        cpu_usage=1,
        memory_request_gib=4,
        memory_usage_gib=4,
        network_bytes=a_bytes,
    )
    s.pod(
        "b-api",
        f"b-api-{node}",
        node,
        hours,
        cpu_request=1,
        cpu_usage=1,
        memory_request_gib=4,
        memory_usage_gib=4,
        network_bytes=b_bytes,
    )


def test_a_data_transfer_line_on_a_spot_node_keeps_the_hour_spot_and_is_split_by_bytes(build_scenario):
    """A spot m5.xlarge ($0.50 for the hour) moved 5 GB ($0.30): the transfer line carries the instance id, but only
    the SpotUsage line gives the hour its billed hours (1.0) and purchase option (spot). Node cost $0.50; the $0.30
    goes by bytes: a-api 3 GB and b-api 1 GB (75% / 25%: $0.225 / $0.075); the host-network DaemonSet pod in
    kube-system moved 10 GB on the host's counters and takes no byte share."""
    s = Scenario()
    instance = s.node("n1", "m5.xlarge", [0], None, vcpu=4, memory_gib=16)
    s.line(
        0,
        product_code="AmazonEC2",
        resource_id=instance,
        cost=0.50,
        usage_type="SpotUsage:m5.xlarge",
        instance_type="m5.xlarge",
        product={"vcpu": "4", "memory": "16 GiB"},
    )
    s.line(
        0,
        product_code="AmazonEC2",
        resource_id=instance,
        cost=0.30,
        usage_amount=5.0,
        usage_type="USE1-DataTransfer-Regional-Bytes",
        operation="InterZone-In",
    )
    two_pods(s, "n1", [0], a_bytes=3e9, b_bytes=1e9)
    s.pod(
        "kube-system",
        "aws-node-x",
        "n1",
        [0],
        cpu_request=0.025,
        cpu_usage=0.025,
        memory_request_gib=0.1,
        memory_usage_gib=0.1,
        network_bytes=10e9,
        host_network=True,
    )
    built = build_scenario(s, **SETTINGS)
    node = built.rows("select purchase_option, running_hours, cost from intermediate.int_node_hours")
    assert [(p, h, float(c)) for p, h, c in node] == [("spot", 1.0, 0.5)]
    found = parts(built)
    assert found[("team-a", "network")] == pytest.approx(0.225, abs=1e-9)
    assert found[("team-b", "network")] == pytest.approx(0.075, abs=1e-9)
    assert ("__shared__", "shared") not in found or found[("__shared__", "shared")] < 0.5  # its compute only
    network = built.rows("select namespace, sum(amount) from intermediate.int_network_costs group by all")
    assert "kube-system" not in {ns for ns, amount in network if amount}
    assert sum(found.values()) == pytest.approx(0.80, abs=1e-9)


def test_transfer_with_no_byte_data_splits_by_split_cost_and_a_node_hour_without_pods_is_idle(build_scenario):
    """Hour 0: no pod has byte data, so the $0.20 splits by split cost (a-api 1 vCPU + 4 GiB = 13 units, b-api 2 vCPU
    + 4 GiB = 22 units of 52 on a $1/h node: 13/35 and 22/35 of $0.20 = $0.074286 / $0.125714). Hour 1: no pods,
    its $0.10 of transfer is __idle__'s (network)."""
    s = Scenario()
    instance = s.node("n1", "m5.xlarge", [0, 1], 1.0, vcpu=4, memory_gib=16)
    for h, cost in ((0, 0.20), (1, 0.10)):
        s.line(
            h,
            product_code="AWSDataTransfer",
            resource_id=instance,
            cost=cost,
            usage_amount=2.0,
            usage_type="USE1-DataTransfer-Out-Bytes",
        )
    s.pod("a-api", "a-1", "n1", [0], cpu_request=1, cpu_usage=1, memory_request_gib=4, memory_usage_gib=4)
    s.pod("b-api", "b-1", "n1", [0], cpu_request=2, cpu_usage=2, memory_request_gib=4, memory_usage_gib=4)
    found = parts(build_scenario(s, **SETTINGS))
    assert found[("team-a", "network")] == pytest.approx(0.20 * 13 / 35, abs=1e-9)
    assert found[("team-b", "network")] == pytest.approx(0.20 * 22 / 35, abs=1e-9)
    assert found[("__idle__", "network")] == pytest.approx(0.10, abs=1e-9)


def test_a_pv_released_then_bound_to_another_namespace_mid_day(build_scenario):
    """vol-0a1: one daily EBS line of $2.40 ($0.10 an hour). Its PV is bound to a-data's claim in hours 0-9,
    Released (claimRef still a-data's) in 10-11, then in hour 12 bound to b-data's claim: 1,800 s each, b-data's
    binding the later one (ties: the later binding), and b-data's from 13 to 23. a-data: 12 hours, $1.20;
    b-data: 12 hours, $1.20. Neither namespace has a pod: storage needs none."""
    s = Scenario()
    s.node("n1", "m5.xlarge", range(24), 1.0, vcpu=4, memory_gib=16)
    s.pv("pvc-1", "vol-0a1", range(10), ("a-data", "data"))
    s.pv("pvc-1", "vol-0a1", [10, 11], ("a-data", "data"), phase="Released")
    s.pv("pvc-1", "vol-0a1", [12], ("a-data", "data"), seconds=1800, last_seen_minute=29)
    s.pv("pvc-1", "vol-0a1", [12], ("b-data", "data"), seconds=1800, last_seen_minute=59)
    s.pv("pvc-1", "vol-0a1", range(13, 24), ("b-data", "data"))
    s.line(
        0,
        product_code="AmazonEC2",
        resource_id="vol-0a1",
        cost=2.40,
        usage_amount=3.2,
        hours=24,
        usage_type="EBS:VolumeUsage.gp3",
        operation="CreateVolume-Gp3",
    )
    found = parts(build_scenario(s, **SETTINGS))
    assert found[("team-a", "storage")] == pytest.approx(1.20, abs=1e-9)
    assert found[("team-b", "storage")] == pytest.approx(1.20, abs=1e-9)


def test_a_pv_without_a_claim_and_a_volume_whose_pv_is_gone(build_scenario):
    """vol-0b2's PV never had a claim: its $0.24 is __unallocated__. vol-0c3's PV is gone, but the EBS CSI driver
    tagged it for b-data's claim and the cluster: its $0.48 is b-data's storage."""
    s = Scenario()
    s.node("n1", "m5.xlarge", [0], 1.0, vcpu=4, memory_gib=16)
    s.pv("pvc-2", "vol-0b2", range(24), None, phase="Available")
    s.ec2_volume(
        "vol-0c3", 0, None, {"kubernetes.io/created-for/pvc/namespace": "b-data", "eks_cluster_name": "test-cluster"}
    )
    for volume, cost in (("vol-0b2", 0.24), ("vol-0c3", 0.48)):
        s.line(0, product_code="AmazonEC2", resource_id=volume, cost=cost, hours=24, usage_type="EBS:VolumeUsage.gp3")
    found = parts(build_scenario(s, **SETTINGS))
    assert found[("__unallocated__", "storage")] == pytest.approx(0.24, abs=1e-9)
    assert found[("team-b", "storage")] == pytest.approx(0.48, abs=1e-9)


def test_a_node_volume_is_node_cost_until_it_is_detached(build_scenario):
    """n1 is dedicated to team-a ($1/h, hours 0-23). Its data volume vol-0d4 ($0.48 for the day, $0.02 an hour) was
    attached at hour 0 and seen detached at hour 6: hours 0-5 are n1's cost (team-a +$0.12), hours 6-23 have no
    node (__idle__, $0.36)."""
    s = Scenario()
    instance = s.node(
        "n1", "m5.xlarge", range(24), 1.0, vcpu=4, memory_gib=16, labels={"chargeback.io/tenant": "team-a"}
    )
    s.ec2_volume("vol-0d4", 0, instance)
    s.ec2_volume("vol-0d4", 6, None)
    s.line(0, product_code="AmazonEC2", resource_id="vol-0d4", cost=0.48, hours=24, usage_type="EBS:VolumeUsage.gp3")
    s.pod("a-api", "a-1", "n1", range(24), cpu_request=1, cpu_usage=1, memory_request_gib=4, memory_usage_gib=4)
    found = parts(build_scenario(s, **SETTINGS))
    assert found[("team-a", "compute")] + found[("team-a", "idle")] == pytest.approx(24.12, abs=1e-9)
    assert found[("__idle__", "idle")] == pytest.approx(0.36, abs=1e-9)


def test_load_balancers_by_stack_and_an_ingress_group_shared_by_two_namespaces(build_scenario):
    """Hour 0, $0.0225 + $0.008 LCU per load balancer: a-web's service (stack a-web/frontend, tags from the elbv2
    snapshot) is team-a's network ($0.0305); the ingress group "shop" serving a-web and b-web is __shared__
    ($0.0305, tags from the CUR); a load balancer of another account's cluster is out of scope."""
    s = Scenario()
    s.node("n1", "m5.xlarge", [0], 1.0, vcpu=4, memory_gib=16)
    two_pods(s, "n1", [0])
    own, group, other = ALB.format("k8s-aweb-frontend"), ALB.format("k8s-shop"), ALB.format("k8s-other")
    s.load_balancer(own, 0, {"elbv2.k8s.aws/cluster": "test-cluster", "service.k8s.aws/stack": "a-web/frontend"})
    s.load_balancer(other, 0, {"elbv2.k8s.aws/cluster": "someone-else", "service.k8s.aws/stack": "x/y"})
    for arn, tags in (
        (own, None),
        (other, None),
        (group, {"user_elbv2.k8s.aws/cluster": "test-cluster", "user_ingress.k8s.aws/stack": "shop"}),
    ):
        s.line(0, product_code="AWSELB", resource_id=arn, cost=0.0225, usage_type="LoadBalancerUsage", tags=tags)
        s.line(0, product_code="AWSELB", resource_id=arn, cost=0.008, usage_type="LCUUsage", tags=tags)
    built = build_scenario(s, **SETTINGS)
    found = parts(built)
    assert found[("team-a", "network")] == pytest.approx(0.0305, abs=1e-9)
    shared_fee = built.scalar("select sum(amount) from intermediate.int_cost_lines where tenant = '__shared__'")
    assert float(shared_fee) == pytest.approx(0.0305, abs=1e-9)
    scopes = dict(built.rows("select resource_id, any_value(scope) from intermediate.int_cur__scoped group by 1"))
    assert scopes[other] is None


def test_cluster_overhead_joins_shared_and_a_line_tagged_for_two_clusters_is_split_evenly(build_scenario):
    """A NAT gateway's day ($1.08, tagged with the cluster) is overhead: __shared__ of test-cluster. A VPC endpoint's
    day ($0.50) tagged for both test-cluster and batch-cluster: $0.25 each."""
    s = Scenario()
    s.node("n1", "m5.xlarge", [0], 1.0, vcpu=4, memory_gib=16)
    s.cluster = "batch-cluster"
    s.node("n9", "m5.xlarge", [0], 1.0, vcpu=4, memory_gib=16)
    s.cluster = "test-cluster"
    s.line(
        0,
        product_code="AmazonEC2",
        resource_id="arn:aws:ec2:us-east-1:111122223333:natgateway/nat-0ab",
        cost=1.08,
        hours=24,
        usage_type="USE1-NatGateway-Hours",
        tags={"user_eks_cluster_name": "test-cluster"},
    )
    both = {"user_kubernetes.io/cluster/test-cluster": "owned", "user_kubernetes.io/cluster/batch-cluster": "owned"}
    s.line(
        0,
        product_code="AmazonVPC",
        resource_id="arn:aws:ec2:us-east-1:111122223333:vpc-endpoint/vpce-0cd",
        cost=0.50,
        hours=24,
        usage_type="USE1-VpcEndpoint-Hours",
        tags=both,
    )
    built = build_scenario(s, **SETTINGS)
    shared = dict(
        built.rows(
            "select cluster, sum(amount) from intermediate.int_cost_lines where tenant = '__shared__' group by 1"
        )
    )
    assert float(shared["test-cluster"]) == pytest.approx(1.08 + 0.25, abs=1e-9)
    assert float(shared["batch-cluster"]) == pytest.approx(0.25, abs=1e-9)


def test_a_spark_jobs_cost_includes_its_pods_transfer_and_its_shuffle_volume(build_scenario):
    """Job etl-1 in a-spark: its executor moved 6 GB of the node-hour's 8 GB ($0.40 of transfer: $0.30; a-api's
    2 GB: $0.10) and mounted the shuffle claim spark-pvc-1 (vol-0e5, $0.05 for its one hour). The job's cost
    has storage $0.05 and network $0.30 beside its compute; a-spark's bill part is the same $0.35."""
    s = Scenario()
    instance = s.node("n1", "m5.xlarge", [0], 1.0, vcpu=4, memory_gib=16)
    s.virtual_cluster("vc-1", "analytics", "a-spark")
    s.job_run("etl-1", "vc-1", "etl", 0)
    executor = s.pod(
        "a-spark",
        "etl-1-exec-1",
        "n1",
        [0],
        cpu_request=1,
        cpu_usage=1,
        memory_request_gib=4,
        memory_usage_gib=4,
        network_bytes=6e9,
        labels={"emr-containers.amazonaws.com/job.id": "etl-1", "spark-role": "executor"},
    )
    s.pod(
        "a-api",
        "a-1",
        "n1",
        [0],
        cpu_request=1,
        cpu_usage=1,
        memory_request_gib=4,
        memory_usage_gib=4,
        network_bytes=2e9,
    )
    s.mount(executor, "spark-pvc-1")
    s.pv("pvc-e5", "vol-0e5", [0], ("a-spark", "spark-pvc-1"))
    s.line(0, product_code="AmazonEC2", resource_id="vol-0e5", cost=0.05, usage_type="EBS:VolumeUsage.gp3")
    s.line(0, product_code="AmazonEC2", resource_id=instance, cost=0.40, usage_type="USE1-DataTransfer-Regional-Bytes")
    built = build_scenario(s, **SETTINGS)
    (job,) = built.rows("select storage_cost, network_cost from marts.fct_emr_job_costs where job_run_id = 'etl-1'")
    assert [float(v) for v in job] == pytest.approx([0.05, 0.30], abs=1e-9)
    found = parts(built)
    assert found[("team-a", "storage")] == pytest.approx(0.05, abs=1e-9)
    assert found[("team-a", "network")] == pytest.approx(0.40, abs=1e-9)


def test_storage_and_network_reach_the_namespace_workload_and_job_run_that_caused_them(build_scenario):
    """The drill-down's storage and network (marts.fct_workload_storage_network_daily). In a-spark, job etl-1's
    executor moved 6 GB and the Deployment api's pod 2 GB of the node-hour's transfer ($0.40: $0.30 and $0.10). The
    executor mounts the shuffle claim spark-pvc-1 (vol-0e5, $0.05); both pods mount the claim cache (vol-0c6, $0.02:
    $0.01 each); no pod mounts the claim orphan (vol-0f7, $0.03), so it is a-spark's own, as is a-web's load
    balancer ($0.0305). team-a's bill parts: storage $0.10 and network $0.4305, the rows' sums; the job's cost
    holds the same $0.06 of storage and $0.30 of network as its row."""
    s = Scenario()
    instance = s.node("n1", "m5.xlarge", [0], 1.0, vcpu=4, memory_gib=16)
    s.virtual_cluster("vc-1", "analytics", "a-spark")
    s.job_run("etl-1", "vc-1", "etl", 0)
    executor = s.pod(
        "a-spark",
        "etl-1-exec-1",
        "n1",
        [0],
        cpu_request=1,
        cpu_usage=1,
        memory_request_gib=4,
        memory_usage_gib=4,
        network_bytes=6e9,
        labels={"emr-containers.amazonaws.com/job.id": "etl-1", "spark-role": "executor"},
    )
    api = s.pod(
        "a-spark",
        "api-7d9f8-x2k4q",
        "n1",
        [0],
        cpu_request=1,
        cpu_usage=1,
        memory_request_gib=4,
        memory_usage_gib=4,
        network_bytes=2e9,
        owner=("ReplicaSet", "api-7d9f8"),
    )
    s.mount(executor, "spark-pvc-1")
    s.mount(executor, "cache")
    s.mount(api, "cache")
    for pv, volume, claim, cost in (
        ("pvc-e5", "vol-0e5", "spark-pvc-1", 0.05),
        ("pvc-c6", "vol-0c6", "cache", 0.02),
        ("pvc-f7", "vol-0f7", "orphan", 0.03),
    ):
        s.pv(pv, volume, [0], ("a-spark", claim))
        s.line(0, product_code="AmazonEC2", resource_id=volume, cost=cost, usage_type="EBS:VolumeUsage.gp3")
    s.line(0, product_code="AmazonEC2", resource_id=instance, cost=0.40, usage_type="USE1-DataTransfer-Regional-Bytes")
    web = ALB.format("k8s-aweb-frontend")
    s.load_balancer(web, 0, {"elbv2.k8s.aws/cluster": "test-cluster", "service.k8s.aws/stack": "a-web/frontend"})
    s.line(0, product_code="AWSELB", resource_id=web, cost=0.0305, usage_type="LoadBalancerUsage")
    built = build_scenario(s, **SETTINGS)
    rows = built.rows(
        "select tenant, namespace, workload_kind, workload_name, emr_job_run_id, storage_cost, network_cost"
        " from marts.fct_workload_storage_network_daily order by namespace, workload_kind nulls first"
    )
    assert [(*r[:5], round(float(r[5]), 9), round(float(r[6]), 9)) for r in rows] == [
        ("team-a", "a-spark", None, None, None, 0.03, 0.0),
        ("team-a", "a-spark", "Deployment", "api", None, 0.01, 0.10),
        ("team-a", "a-spark", "SparkApplication", "etl-1", "etl-1", 0.06, 0.30),
        ("team-a", "a-web", None, None, None, 0.0, 0.0305),
    ]
    found = parts(built)
    assert found[("team-a", "storage")] == pytest.approx(0.10, abs=1e-9)
    assert found[("team-a", "network")] == pytest.approx(0.4305, abs=1e-9)
    (job,) = built.rows("select storage_cost, network_cost from marts.fct_emr_job_costs where job_run_id = 'etl-1'")
    assert [float(v) for v in job] == pytest.approx([0.06, 0.30], abs=1e-9)
    # the month's leaves the Tenant bill and EMR jobs pages read: each pod a quarter of the $1.00 node-hour
    # (1 of 4 cores, 4 of 16 GiB), the storage and network above, pods counted once for their one day
    monthly = built.rows(
        "select namespace, workload_kind, workload_name, emr_job_run_id, pods, compute_cost, idle_cost, storage_cost,"
        " network_cost from marts.fct_workload_costs_monthly order by namespace, workload_kind nulls first"
    )
    assert [(*r[:5], *(round(float(v), 9) for v in r[5:])) for r in monthly] == [
        ("a-spark", None, None, None, 0, 0.0, 0.0, 0.03, 0.0),
        ("a-spark", "Deployment", "api", None, 1, 0.25, 0.0, 0.01, 0.10),
        ("a-spark", "SparkApplication", "etl-1", "etl-1", 1, 0.25, 0.0, 0.06, 0.30),
        ("a-web", None, None, None, 0, 0.0, 0.0, 0.0, 0.0305),
    ]
