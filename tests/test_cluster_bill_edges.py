"""Cases of the whole cluster bill that the property test (tests/test_property.py) found the pipeline and the
reference (tests/reference.py) disagreeing on, shrunk to a few lines each and worked out by hand
(docs/method.md#the-whole-cluster-bill).

Every scenario keeps the shared pool visible (``shared = "separate"``) and the idle on its line
(``idle = "separate"``), so each part is a sum of the lines it comes from.
"""

from __future__ import annotations

import pytest

from tests.factory import Scenario
from tests.reference import reference

TEAMS = {"namespaces": [{"pattern": "a-*", "tenant": "team-a"}, {"pattern": "b-*", "tenant": "team-b"}]}
SETTINGS = {"tenancy": TEAMS, "allocation": {"shared": "separate", "idle": "separate"}}


def parts(built) -> dict[tuple[str, str], float]:
    """Each (tenant, component)'s exact amount over the scenario, shared pool spread (or kept) as billed."""
    rows = built.rows(
        "select tenant, unnest(['compute', 'idle', 'shared', 'storage', 'network', 'emr', 'tagged']),"
        " unnest([sum(compute_cost), sum(idle_cost), sum(shared_cost), sum(storage_cost), sum(network_cost),"
        " sum(emr_cost), sum(tagged_cost)]) from marts.fct_tenant_costs_daily group by tenant"
    )
    return {(t, c): float(v) for t, c, v in rows if v}


def agrees_with_reference(scenario: Scenario, built) -> None:
    """The reference's bill, (tenant, part) by (tenant, part), to $0.000001."""
    expected = {k: float(v) for k, v in reference(scenario, built.config).bill().items() if v}
    assert parts(built) == pytest.approx(expected, abs=1e-6)


def test_a_volume_tagged_by_the_ebs_csi_driver_with_the_in_tree_cluster_key(build_scenario):
    """vol-0c3's PV is gone. The EBS CSI driver tagged it with the claim's namespace (b-data) and, run with
    --k8s-tag-cluster-id, the cluster as the key kubernetes.io/cluster/test-cluster = owned: "a cluster tag"
    (docs/method.md#storage; the same key names a cluster for overhead lines). Its day, $0.48, is b-data's
    storage, not out of scope."""
    s = Scenario()
    s.node("n1", "m5.xlarge", [0], 1.0, vcpu=4, memory_gib=16)
    s.ec2_volume(
        "vol-0c3",
        0,
        None,
        {"kubernetes.io/created-for/pvc/namespace": "b-data", "kubernetes.io/cluster/test-cluster": "owned"},
    )
    s.line(0, product_code="AmazonEC2", resource_id="vol-0c3", cost=0.48, hours=24, usage_type="EBS:VolumeUsage.gp3")
    built = build_scenario(s, **SETTINGS)
    found = parts(built)
    assert found[("team-b", "storage")] == pytest.approx(0.48, abs=1e-9)
    assert sum(found.values()) == pytest.approx(1.0 + 0.48, abs=1e-9)  # the node's hour and the volume's day
    agrees_with_reference(s, built)


def test_a_node_hour_without_billed_hours_runs_for_the_time_prometheus_observed(build_scenario):
    """n1 (m5.xlarge, $0.192 an hour on demand) ran 1,800 s of hour 0 and the CUR has no line for it yet: the hour
    is estimated at $0.192 × 0.5 = $0.096 and offers 4 × 0.5 = 2 core-hours and 16 × 0.5 = 8 GiB-hours
    (docs/method.md#available-capacity: the billed hours, else the observed running time). a-api requests 4 vCPU
    and 16 GiB for those 1,800 s: 2 core-hours and 8 GiB-hours, all of it, so it pays the whole $0.096 and nothing
    is idle. n2 (m5.large) has one daily CUR line of $2.40 and ran 1,800 s of hour 0 only: the line is spread
    over that hour (whole), which has no billed hours of its own, so it too offers half the type (1 core-hour,
    4 GiB-hours); b-api takes exactly that and pays $2.40. (DuckDB's least() skips nulls: least(null, 1) is 1,
    which read both hours as whole ones, halved the pods' shares and put the rest on __idle__.)"""
    s = Scenario()
    s.node("n1", "m5.xlarge", [0], None, vcpu=4, memory_gib=16)
    n2 = s.node("n2", "m5.large", [0], None, vcpu=2, memory_gib=8)
    s.line(
        0,
        product_code="AmazonEC2",
        resource_id=n2,
        cost=2.40,
        hours=24,
        usage_amount=24.0,
        usage_type="BoxUsage:m5.large",
        instance_type="m5.large",
        product={"vcpu": "2", "memory": "8 GiB"},
    )
    for row in s.node_hours:
        row["running_seconds"] = 1800.0
    s.pod(
        "a-api",
        "a-1",
        "n1",
        [0],
        cpu_request=4,
        cpu_usage=4,
        memory_request_gib=16,
        memory_usage_gib=16,
        running_seconds=1800.0,
    )
    s.pod(
        "b-api",
        "b-1",
        "n2",
        [0],
        cpu_request=2,
        cpu_usage=2,
        memory_request_gib=8,
        memory_usage_gib=8,
        running_seconds=1800.0,
    )
    built = build_scenario(s, **SETTINGS)
    hours = built.rows("select node, running_hours, cost from intermediate.int_node_hours order by node")
    assert [(n, h, float(c)) for n, h, c in hours] == [("n1", 0.5, 0.096), ("n2", 0.5, 2.40)]
    found = parts(built)
    assert found[("team-a", "compute")] == pytest.approx(0.096, abs=1e-9)
    assert found[("team-b", "compute")] == pytest.approx(2.40, abs=1e-9)
    assert ("__idle__", "idle") not in found
    agrees_with_reference(s, built)


def test_a_volume_still_attached_after_its_dedicated_node_is_gone_is_idle(build_scenario):
    """n1 is dedicated to team-a by its instance's tenant tag (in the CUR, not a node label), billed $1.00 an hour
    for hours 0-5. Its data volume vol-0d4 ($0.02 an hour, one 8-hour line) was last seen attached to it: hours
    0-5 are n1's cost (team-a: 6 × $1.02 = $6.12), hours 6 and 7 have no node-hour (neither Prometheus nor an
    instance line saw n1), so they are __idle__'s, $0.04 (docs/method.md#storage), not team-a's. Hour 6 also has
    an instance line of the tag-dedicated n2 ($0.50) that Prometheus missed: a node-hour all the same, team-a's
    idle."""
    s = Scenario()
    tag = {"user_tenant": "team-a"}
    n1 = s.node("n1", "m5.xlarge", range(6), 1.0, vcpu=4, memory_gib=16, tags=tag)
    s.node("n2", "m5.xlarge", range(6), 0.5, vcpu=4, memory_gib=16, tags=tag)
    s.line(
        6,
        product_code="AmazonEC2",
        resource_id=Scenario.instance_id("test-cluster", "n2"),
        cost=0.5,
        usage_type="BoxUsage:m5.xlarge",
        instance_type="m5.xlarge",
        tags=tag,
    )
    s.ec2_volume("vol-0d4", 0, n1)
    s.line(0, product_code="AmazonEC2", resource_id="vol-0d4", cost=0.16, hours=8, usage_type="EBS:VolumeUsage.gp3")
    built = build_scenario(s, **SETTINGS)
    found = parts(built)
    assert found[("team-a", "idle")] == pytest.approx(6.12 + 6 * 0.5 + 0.5, abs=1e-9)
    assert found[("__idle__", "idle")] == pytest.approx(0.04, abs=1e-9)
    # on the Nodes page hours 6 and 7 of n1 are its volume's cost, not node-hours bought on demand
    volume_only = built.rows(
        "select hour(hour), purchase_option, running_hours, cost from marts.fct_node_costs_hourly"
        " where node = 'n1' and hour(hour) >= 6 order by hour"
    )
    assert [(h, p, r, float(c)) for h, p, r, c in volume_only] == [(6, None, 0, 0.02), (7, None, 0, 0.02)]
    agrees_with_reference(s, built)


def test_a_daily_transfer_line_follows_the_hours_prometheus_saw_the_node(build_scenario):
    """n1 ran hours 0 and 1 (Prometheus saw it; a-api ran on it both hours, with bytes) and the CUR also bills
    hour 2, which Prometheus missed. One daily data-transfer line of $0.30 from hour 0 is spread over the node's
    observed running hours in it (docs/method.md#lines-longer-than-an-hour): $0.15 each to hours 0 and 1, all
    a-api's (team-a). Spread over every node-hour instead, hour 2 (no pods) took a third to __idle__."""
    s = Scenario()
    n1 = s.node("n1", "m5.xlarge", [0, 1], 1.0, vcpu=4, memory_gib=16)
    s.line(
        2,
        product_code="AmazonEC2",
        resource_id=n1,
        cost=1.0,
        usage_type="BoxUsage:m5.xlarge",
        instance_type="m5.xlarge",
    )
    s.line(
        0,
        product_code="AmazonEC2",
        resource_id=n1,
        cost=0.30,
        hours=24,
        usage_amount=5.0,
        usage_type="USE1-DataTransfer-Regional-Bytes",
        operation="InterZone-In",
    )
    s.pod(
        "a-api",
        "a-1",
        "n1",
        [0, 1],
        cpu_request=1,
        cpu_usage=1,
        memory_request_gib=4,
        memory_usage_gib=4,
        network_bytes=1e9,
    )
    built = build_scenario(s, **SETTINGS)
    found = parts(built)
    assert found[("team-a", "network")] == pytest.approx(0.30, abs=1e-9)
    assert ("__idle__", "network") not in found
    agrees_with_reference(s, built)


def test_an_hour_the_cur_bills_and_prometheus_missed_joins_the_cluster_idle_pool(build_scenario):
    """Idle mode `cluster`. Hour 0: n1 ($1.00, m5.xlarge) runs a-api (1 vCPU, 4 GiB: 13 of 52 weight units, split
    $0.25, unused $0.75); n2 ($1.00) is billed by the CUR but Prometheus missed it: a node-hour with no pods and
    nobody's label, so its whole $1.00 is unused capacity of a shared node (docs/method.md#node-hours-and-their-cost,
    #idle-modes). The cluster-hour's pool, $1.75, goes to its only pod: team-a pays $0.25 + $1.75 = $2.00. Hour 1:
    n2 is seen, without pods: $1.00 on __idle__. (The reference once sent the missed hour straight to __idle__.)"""
    s = Scenario()
    s.node("n1", "m5.xlarge", [0], 1.0, vcpu=4, memory_gib=16)
    n2 = s.node("n2", "m5.xlarge", [1], 1.0, vcpu=4, memory_gib=16)
    s.line(
        0,
        product_code="AmazonEC2",
        resource_id=n2,
        cost=1.0,
        usage_type="BoxUsage:m5.xlarge",
        instance_type="m5.xlarge",
    )
    s.pod("a-api", "a-1", "n1", [0], cpu_request=1, cpu_usage=1, memory_request_gib=4, memory_usage_gib=4)
    built = build_scenario(s, tenancy=TEAMS, allocation={"idle": "cluster", "shared": "separate"})
    found = parts(built)
    assert found[("team-a", "compute")] == pytest.approx(0.25, abs=1e-9)
    assert found[("team-a", "idle")] == pytest.approx(1.75, abs=1e-9)
    assert found[("__idle__", "idle")] == pytest.approx(1.00, abs=1e-9)
    agrees_with_reference(s, built)
