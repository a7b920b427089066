"""Tenancy, idle, shared and cost-basis rules on hand-sized clusters; every expectation worked by hand.

Unless a test says otherwise nodes are m5.xlarge (4 vCPU, 16 GiB) at $1/h, so with the scad weights
u = 1/52: one vCPU-hour costs 9/52 and one GiB-hour 1/52.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from chargeback.reports.bill import monthly_bill
from tests.factory import Scenario

RISK = {"chargeback.io/tenant": "risk"}
TEAMS = {"namespaces": [{"pattern": "a-*", "tenant": "team-a"}, {"pattern": "b-*", "tenant": "team-b"}]}


def m5(s: Scenario, name: str, hours, cost: float = 1.0, **kwargs) -> str:
    return s.node(name, "m5.xlarge", hours, cost, vcpu=4, memory_gib=16, **kwargs)


def small_pod(
    s: Scenario, namespace: str, name: str, node: str, hours, cpu: float = 1, mem: float = 4, **kwargs
) -> str:
    return s.pod(
        namespace,
        name,
        node,
        hours,
        cpu_request=cpu,
        cpu_usage=cpu / 2,
        memory_request_gib=mem,
        memory_usage_gib=mem / 2,
        **kwargs,
    )


# --- sole tenancy ---------------------------------------------------------------------------------


def sole_tenancy() -> Scenario:
    s = Scenario()
    m5(s, "dedicated-1", [0, 1], labels=RISK)
    m5(s, "shared-1", [0, 1])
    small_pod(s, "risk-engine", "engine-0", "dedicated-1", [0])
    small_pod(s, "kube-system", "aws-node-x", "dedicated-1", [0, 1], cpu=0.5, mem=1)
    small_pod(s, "a-api", "api-0", "dedicated-1", [0], cpu=1, mem=2)  # a team-a pod placed on risk's node
    small_pod(s, "a-api", "api-1", "shared-1", [0, 1], cpu=1, mem=2)
    s.label_namespace("risk-engine", [0, 1], {"tenant": "risk"})
    return s


def test_dedicated_node_cost_goes_to_its_tenant_with_idle_and_shows_ghost_hours(build_scenario):
    built = build_scenario(sole_tenancy(), tenancy=TEAMS)
    totals = built.tenant_totals()
    # Both hours of the dedicated node, idle included; team-a pays only the shared node (its only pod
    # there takes the whole node in idle mode `node`), never for its pod on risk's node.
    assert totals == pytest.approx({"risk": 2.0, "team-a": 2.0}, abs=1e-9)
    compute, idle = built.rows(
        "select sum(compute_cost), sum(idle_cost) from marts.fct_tenant_costs_daily where tenant = 'risk'"
    )[0]
    # Hour 0: pods allocate 2.5 vCPU and 7 GiB (requests) -> 2.5*9/52 + 7/52 = 29.5/52;
    # hour 1: 0.5 vCPU and 1 GiB -> 5.5/52.
    assert float(compute) == pytest.approx(35 / 52, abs=1e-9)
    assert float(idle) == pytest.approx(2 - 35 / 52, abs=1e-9)
    ghosts = built.rows(
        "select hour, is_ghost_hour, cross_tenant_pod_count from marts.fct_node_costs_hourly"
        " where node = 'dedicated-1' order by hour"
    )
    assert [(g[1], g[2]) for g in ghosts] == [(False, 1), (True, 0)]
    cross = built.rows("select pod, namespace_tenant, tenant from marts.fct_pod_costs_hourly where is_cross_tenant")
    assert cross == [("api-0", "team-a", "risk")]


def test_dedicated_node_by_cur_tag_when_the_node_has_no_label(build_scenario):
    s = Scenario()
    m5(s, "tagged-node", [0], tags={"user_tenant": "risk"})
    small_pod(s, "kube-system", "proxy", "tagged-node", [0])
    built = build_scenario(s)
    assert built.tenant_totals() == pytest.approx({"risk": 1.0}, abs=1e-9)


# --- soft tenancy ---------------------------------------------------------------------------------


def test_unmapped_namespace_is_billed_as_unallocated_and_nothing_is_dropped(build_scenario):
    s = Scenario()
    m5(s, "n1", [0])
    small_pod(s, "a-api", "api", "n1", [0], cpu=2, mem=8)  # 2*9/52 + 8/52 = 26/52
    small_pod(s, "sandbox", "toy", "n1", [0], cpu=1, mem=4)  # 13/52
    built = build_scenario(s, tenancy=TEAMS, allocation={"idle": "separate"})
    assert built.tenant_totals() == pytest.approx(
        {"team-a": 26 / 52, "__unallocated__": 13 / 52, "__idle__": 13 / 52}, abs=1e-9
    )
    bill = monthly_bill(built.config, "2026-10")
    assert [line.tenant for line in bill.lines] == ["__idle__", "__unallocated__", "team-a"]
    assert bill.total == Decimal("1.00") == sum(line.total for line in bill.lines)


def test_namespace_label_in_force_for_most_of_the_hour_decides_the_tenant(build_scenario):
    s = Scenario()
    m5(s, "n1", [0, 1])
    small_pod(s, "feature-store", "fs", "n1", [0, 1])
    s.label_namespace("feature-store", [0], {"tenant": "ml"}, seconds=2400)
    s.label_namespace("feature-store", [0], {"tenant": "data-eng"}, seconds=1200)
    s.label_namespace("feature-store", [1], {"tenant": "data-eng"})
    built = build_scenario(s)
    assert built.tenant_totals() == pytest.approx({"ml": 1.0, "data-eng": 1.0}, abs=1e-9)


def test_label_wins_over_glob_and_first_glob_rule_wins(build_scenario):
    s = Scenario()
    m5(s, "n1", [0])
    m5(s, "n2", [0])
    small_pod(s, "a-labelled", "p1", "n1", [0])
    small_pod(s, "a-plain", "p2", "n2", [0])
    s.label_namespace("a-labelled", [0], {"tenant": "ml"})
    rules = {"namespaces": [{"pattern": "a-pl*", "tenant": "first"}, {"pattern": "a-*", "tenant": "second"}]}
    built = build_scenario(s, tenancy=rules)
    assert built.tenant_totals() == pytest.approx({"ml": 1.0, "first": 1.0}, abs=1e-9)


# --- EMR on EKS -----------------------------------------------------------------------------------


def emr_scenario() -> Scenario:
    s = Scenario()
    m5(s, "spot-1", [0])
    s.virtual_cluster("vc1", "data-eng-spark", "emr-data-eng", tags={"tenant": "data-eng"})
    s.virtual_cluster("vc2", "ml-spark", "emr-ml")
    arn = s.job_run("job1", "vc1", "daily-etl", 0)
    labels = {"emr-containers.amazonaws.com/job.id": "job1", "spark-role": "driver"}
    small_pod(s, "emr-data-eng", "driver", "spot-1", [0], cpu=1, mem=4, labels=labels, owner=None, running_seconds=1800)
    s.line(0, product_code="ElasticMapReduce", resource_id=arn, cost=0.30, usage_type="USE1-EMR-EKS-EC2-vCPUHours")
    s.line(0, product_code="ElasticMapReduce", resource_id=s.job_arn("vc1", "missing"), cost=0.05)
    return s


def test_emr_charges_go_to_the_virtual_clusters_tenant_and_unknown_jobs_to_unallocated(build_scenario):
    built = build_scenario(emr_scenario())
    rows = dict(
        built.rows(
            "select tenant, sum(emr_cost) from marts.fct_tenant_costs_daily group by tenant having sum(emr_cost) <> 0"
        )
    )
    assert {k: float(v) for k, v in rows.items()} == pytest.approx({"data-eng": 0.30, "__unallocated__": 0.05})
    # The driver alone on the node takes its whole $1 (split + idle share), plus its EMR charge.
    job = built.rows(
        "select compute_cost + idle_cost, emr_cost, total_cost, tenant from marts.fct_emr_job_costs"
        " where job_run_id = 'job1'"
    )[0]
    assert [float(x) for x in job[:3]] == pytest.approx([1.0, 0.30, 1.30], abs=1e-9)
    assert job[3] == "data-eng"


def test_virtual_cluster_tenant_from_config_by_name(build_scenario):
    s = Scenario()
    m5(s, "n1", [0])
    s.virtual_cluster("vc2", "ml-spark", "emr-ml")
    small_pod(s, "emr-ml", "exec-1", "n1", [0])
    built = build_scenario(s, tenancy={"virtual_clusters": {"ml-spark": "ml"}})
    assert built.tenant_totals() == pytest.approx({"ml": 1.0}, abs=1e-9)


# --- idle modes -----------------------------------------------------------------------------------


def two_nodes() -> Scenario:
    s = Scenario()
    m5(s, "n1", [0])
    m5(s, "n2", [0])
    small_pod(s, "a-api", "a", "n1", [0], cpu=2, mem=8)  # split 18/52 + 8/52 = 0.5
    small_pod(s, "b-api", "b", "n2", [0], cpu=1, mem=4)  # split 9/52 + 4/52 = 0.25
    return s


@pytest.mark.parametrize(
    ("idle", "expected"),
    [
        ("node", {"team-a": 1.0, "team-b": 1.0}),
        ("separate", {"team-a": 0.5, "team-b": 0.25, "__idle__": 1.25}),
        # Pools: cpu (2 + 3) * 9/52 = 45/52, memory (8 + 12)/52 = 20/52, shared by split cost of each
        # resource: cpu 18:9, memory 8:4, so team-a gets 0.5 + 45/52*2/3 + 20/52*2/3.
        ("cluster", {"team-a": 0.5 + (30 + 40 / 3) / 52, "team-b": 0.25 + (15 + 20 / 3) / 52}),
    ],
)
def test_idle_modes(build_scenario, idle, expected):
    built = build_scenario(two_nodes(), tenancy=TEAMS, allocation={"idle": idle})
    assert built.tenant_totals() == pytest.approx(expected, abs=1e-9)


def test_gpu_nobody_requested_stays_idle_in_node_mode(build_scenario):
    s = Scenario()
    # g4dn.xlarge, 1 GPU, 4 vCPU, 16 GiB at $0.526: u = 0.526 / (9 + 0.9*4 + 0.1*16) = 0.526 / 14.2
    s.node("g1", "g4dn.xlarge", [0], 0.526, vcpu=4, memory_gib=16, gpus=1)
    small_pod(s, "a-api", "cpu-only", "g1", [0], cpu=4, mem=16)  # takes all cpu and memory, no GPU
    built = build_scenario(s, tenancy=TEAMS)
    u = 0.526 / 14.2
    assert built.tenant_totals() == pytest.approx({"team-a": 5.2 * u, "__idle__": 9 * u}, abs=1e-9)


# --- shared costs ---------------------------------------------------------------------------------


def shared_scenario() -> Scenario:
    s = Scenario()
    m5(s, "n1", [0])
    s.node("n2", "m5.xlarge", [0], 3.0, vcpu=4, memory_gib=16)
    small_pod(s, "a-api", "a", "n1", [0])
    small_pod(s, "b-api", "b", "n2", [0])
    s.line(
        0,
        product_code="AmazonEKS",
        resource_id=f"arn:aws:eks:us-east-1:111122223333:cluster/{s.cluster}",
        cost=0.40,
        usage_type="USE1-AmazonEKS-Hours:perCluster",
        operation="CreateOperation",
    )
    return s


@pytest.mark.parametrize(
    ("shared", "expected"),
    [
        ("weighted", {"team-a": 1.10, "team-b": 3.30}),  # direct cost 1 : 3
        ("even", {"team-a": 1.20, "team-b": 3.20}),
        ("separate", {"team-a": 1.0, "team-b": 3.0, "__shared__": 0.40}),
    ],
)
def test_shared_modes_spread_the_cluster_fee(build_scenario, shared, expected):
    built = build_scenario(shared_scenario(), tenancy=TEAMS, allocation={"shared": shared})
    assert built.tenant_totals() == pytest.approx(expected, abs=1e-9)


def test_shared_namespace_pods_join_the_shared_pool(build_scenario):
    s = Scenario()
    m5(s, "n1", [0])
    small_pod(s, "a-api", "a", "n1", [0], cpu=2, mem=8)
    small_pod(s, "monitoring", "prometheus", "n1", [0], cpu=2, mem=8)
    built = build_scenario(s, tenancy=TEAMS, allocation={"shared": "separate"})
    assert built.tenant_totals() == pytest.approx({"team-a": 0.5, "__shared__": 0.5}, abs=1e-9)


# --- cost bases and tagged lines ----------------------------------------------------------------


@pytest.mark.parametrize(("basis", "expected"), [("amortized", 0.72), ("net_amortized", 0.70), ("on_demand", 1.0)])
def test_cost_basis_of_a_savings_plan_covered_node(build_scenario, basis, expected):
    s = Scenario()
    m5(s, "sp-1", [0], line_item_type="SavingsPlanCoveredUsage", effective_cost_per_hour=0.72, net_cost_per_hour=0.70)
    small_pod(s, "a-api", "a", "sp-1", [0])
    built = build_scenario(s, tenancy=TEAMS, allocation={"cost_basis": basis})
    assert built.tenant_totals() == pytest.approx({"team-a": expected}, abs=1e-9)


def test_tagged_lines_join_the_tenant_and_out_of_scope_lines_do_not(build_scenario):
    s = Scenario()
    m5(s, "n1", [0])
    small_pod(s, "a-api", "a", "n1", [0])
    s.line(
        0,
        product_code="AmazonEC2",
        resource_id="vol-0abc",
        cost=0.25,
        usage_type="EBS:VolumeUsage.gp3",
        tags={"user_tenant": "ml", "user_eks_cluster_name": s.cluster},
    )
    s.line(0, product_code="AmazonEC2", resource_id="i-0bastion", cost=5.0, usage_type="BoxUsage:t3.medium")
    s.line(0, product_code="AmazonEC2", resource_id="", cost=9.0, line_item_type="Tax")
    built = build_scenario(s, tenancy=TEAMS)
    assert built.tenant_totals() == pytest.approx({"team-a": 1.0, "ml": 0.25}, abs=1e-9)
    # Tagged lines off: the volume still carries the cluster's tag, so it is cluster overhead (__shared__), which
    # the weighted shared mode spreads over the cluster's one tenant: team-a $1.00 + $0.25.
    untagged = build_scenario(s, tenancy=TEAMS, tagged={"enabled": False}, accept_method_change=True)
    assert untagged.tenant_totals() == pytest.approx({"team-a": 1.25}, abs=1e-9)


def test_node_day_without_cur_is_estimated_at_on_demand_price(build_scenario):
    s = Scenario()
    m5(s, "n1", [0])
    m5(s, "n1", [24], cost=None)  # the next day: Prometheus saw the node, the CUR has not arrived
    small_pod(s, "a-api", "a", "n1", [0, 24])
    built = build_scenario(s, tenancy=TEAMS)
    assert built.tenant_totals() == pytest.approx({"team-a": 1.0 + 0.192}, abs=1e-9)
    assert float(built.scalar("select actual from marts.checks where check_name = 'estimated_cost'")) == pytest.approx(
        0.192
    )


def test_node_day_without_cur_is_estimated_from_cost_explorer_when_it_has_the_day(build_scenario):
    s = Scenario()
    m5(s, "n1", [0])
    m5(s, "n1", [24, 25], cost=None)  # 2026-10-02: no CUR yet
    small_pod(s, "a-api", "a", "n1", [0, 24, 25])
    # Cost Explorer: m5.xlarge cost $3.00 for 20 instance-hours that day -> $0.15 per hour.
    s.cost_explorer_day(1, "INSTANCE_TYPE", "m5.xlarge", 3.00, usage_hours=20, estimated=True)
    built = build_scenario(s, tenancy=TEAMS)
    assert built.tenant_totals() == pytest.approx({"team-a": 1.0 + 2 * 0.15}, abs=1e-9)
    assert built.rows("select distinct estimate_source from marts.fct_node_costs_hourly where is_estimated") == [
        ("cost_explorer",)
    ]


def test_reconciliation_compares_the_cur_with_cost_explorer_per_service(build_scenario):
    s = Scenario()
    m5(s, "n1", [0, 1])  # $2 of EC2 compute on 10-01
    s.cost_explorer_day(0, "SERVICE", "Amazon Elastic Compute Cloud - Compute", 2.05)
    s.cost_explorer_day(1, "SERVICE", "Amazon Elastic Compute Cloud - Compute", 0.50, estimated=True)
    built = build_scenario(s)
    rows = built.rows(
        "select date::varchar, cur_cost, ce_cost, difference, ce_is_estimated from marts.fct_reconciliation_daily"
        " where service = 'Amazon Elastic Compute Cloud - Compute' order by date"
    )
    assert rows == [
        ("2026-10-01", Decimal("2.00"), Decimal("2.05"), Decimal("-0.05"), False),
        ("2026-10-02", Decimal("0"), Decimal("0.50"), Decimal("-0.50"), True),
    ]


def test_lines_of_no_known_cluster_are_kept_under_the_unknown_cluster(build_scenario):
    s = Scenario()
    m5(s, "n1", [0])
    small_pod(s, "a-api", "a", "n1", [0])
    s.line(0, product_code="ElasticMapReduce", resource_id=s.job_arn("vc-gone", "job-x"), cost=0.07)
    s.line(
        0,
        product_code="AmazonS3",
        resource_id="ml-bucket",
        cost=0.03,
        usage_type="TimedStorage-ByteHrs",
        tags={"user_tenant": "ml"},
    )
    built = build_scenario(s, tenancy=TEAMS)
    by_cluster = {
        (cluster, tenant): float(total)
        for cluster, tenant, total in built.rows(
            "select cluster, tenant, sum(total_cost) from marts.fct_tenant_costs_daily group by all"
            " having abs(sum(total_cost)) > 1e-9"
        )
    }
    assert by_cluster == pytest.approx(
        {("test-cluster", "team-a"): 1.0, ("__unknown__", "__unallocated__"): 0.07, ("__unknown__", "ml"): 0.03}
    )
    assert built.rows("select cluster, passed from marts.checks where check_name = 'conservation' order by 1") == [
        ("__unknown__", True),
        ("test-cluster", True),
    ]
    bill = monthly_bill(built.config, "2026-10")
    assert bill.total == Decimal("1.10")
    assert monthly_bill(built.config, "2026-10", cluster="test-cluster").total == Decimal("1.00")
