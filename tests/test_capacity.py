"""Capacity, forecast and tenancy what-if on hand-sized clusters; every expectation worked by hand.

Nodes are m5.xlarge (4 vCPU, 16 GiB) at $1/h unless said otherwise; with the scad weights one vCPU-hour
costs 9/52 and one GiB-hour 1/52.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from chargeback.core.errors import ChargebackError
from chargeback.reports.capacity import InstanceOption, capacity, forecast, pack
from tests.factory import Scenario

TEAMS = {"namespaces": [{"pattern": "a-*", "tenant": "team-a"}, {"pattern": "b-*", "tenant": "team-b"}]}
RISK = {"chargeback.io/tenant": "risk"}


def group(name: str) -> dict[str, str]:
    return {"eks.amazonaws.com/nodegroup": name}


def pod(s: Scenario, namespace: str, name: str, node: str, hours, cpu: float, mem: float) -> str:
    return s.pod(
        namespace,
        name,
        node,
        hours,
        cpu_request=cpu,
        cpu_usage=cpu / 2,
        memory_request_gib=mem,
        memory_usage_gib=mem / 2,
    )


def spot_m5(s: Scenario, name: str, hours, cost: float, labels: dict[str, str]) -> None:
    """An m5.xlarge billed by SpotUsage lines."""
    instance_id = s.node(name, "m5.xlarge", hours, None, vcpu=4, memory_gib=16, labels=labels)
    for h in hours:
        s.line(
            h,
            product_code="AmazonEC2",
            usage_type="SpotUsage:m5.xlarge",
            resource_id=instance_id,
            cost=cost,
            instance_type="m5.xlarge",
            product={"vcpu": "4", "memory": "16 GiB"},
        )


def two_groups() -> Scenario:
    s = Scenario()
    s.node("a1", "m5.xlarge", [0, 1], 1.0, vcpu=4, memory_gib=16, labels=group("a"))
    spot_m5(s, "b1", [0, 1], 0.5, group("b"))
    pod(s, "a-api", "p1", "a1", [0, 1], cpu=1, mem=4)
    pod(s, "a-api", "p2", "a1", [0], cpu=2, mem=2)
    pod(s, "b-etl", "p3", "b1", [0, 1], cpu=0.5, mem=8)
    return s


def test_capacity_per_node_group_allocated_available_headroom_spot_share(build_scenario):
    built = build_scenario(two_groups(), tenancy=TEAMS)
    report = capacity(built.config)
    assert report.period == "2026-10"
    a, b = report.node_groups
    # group a: 2 node-hours of 4 vCPU / 16 GiB; requests 1+1+2 = 4 core-h, 4+4+2 = 10 GiB-h
    assert (a.node_group, a.cpu_available, a.cpu_requested, a.cpu_headroom) == ("a", 8, 4, 4)
    assert (a.memory_available, a.memory_requested, a.memory_headroom) == (32, 10, 22)
    assert (a.spot_share, a.cost, a.peak_nodes, a.cpu_requested_peak) == (0, Decimal(2), 1, 3)
    # group b: the spot node; requests 0.5+0.5 core-h, 8+8 GiB-h
    assert (b.node_group, b.cpu_available, b.cpu_requested, b.cpu_headroom) == ("b", 8, 1, 7)
    assert (b.memory_available, b.memory_requested, b.memory_headroom) == (32, 16, 16)
    assert (b.spot_share, b.cost) == (1, Decimal(1))
    rows = built.rows(
        "select node_group, hour, nodes, spot_node_hours from marts.fct_capacity_hourly order by node_group, hour"
    )
    assert [(r[0], r[2], r[3]) for r in rows] == [("a", 1, 0), ("a", 1, 0), ("b", 1, 1), ("b", 1, 1)]
    # two days are too few for a trend
    (f,) = report.forecasts
    assert f.status == "too little history" and f.history_days == 1
    assert "too little history" in f.method and f.series[2].history_total == pytest.approx(3)


def test_spot_share_within_a_group_and_soft_tenants_on_dedicated_nodes(build_scenario):
    s = two_groups()
    spot_m5(s, "a2", [0], 0.5, group("a"))  # group a: 3 node-hours, 1 of them spot
    built = build_scenario(s, tenancy=TEAMS)
    report = capacity(built.config, "2026-10")
    assert report.node_groups[0].spot_share == pytest.approx(1 / 3)
    by_tenant = {w.tenant: w for w in report.whatifs}
    # team-a peaks at hour 0: 3 cores, 6 GiB -> one m5.xlarge at the non-spot average $1/h for the cluster's
    # 2 hours = $2; it pays a1's two hours now (its pods are alone there, idle included) = $2.
    a = by_tenant["team-a"]
    assert (a.tenancy, a.peak_cpu, a.peak_memory) == ("soft", 3, 6)
    (general,) = a.pools
    assert (general.pool, general.peak_cpu, general.peak_memory) == ("general", 3, 6)
    assert (general.packing.instance_type, general.packing.nodes, general.packing.hours) == ("m5.xlarge", 1, 2)
    assert general.packing.price_per_hour == Decimal(1)
    assert a.alternative_cost == Decimal(2)
    assert float(a.current_cost) == pytest.approx(2.0, abs=1e-9)
    b = by_tenant["team-b"]
    # team-b: peak 0.5 core / 8 GiB -> still one node, $2 against the spot node's $1 it pays now
    assert (b.pools[0].packing.nodes, b.alternative_cost) == (1, Decimal(2))
    assert float(b.current_cost) == pytest.approx(1.0, abs=1e-9)
    assert float(b.difference) == pytest.approx(1.0, abs=1e-9)


def test_single_type_packing_by_hand():
    # peak 6 vCPU / 20 GiB: m5.xlarge (4/16) needs max(ceil(6/4), ceil(20/16)) = 2 nodes, m5.2xlarge (8/32) 1.
    xl = InstanceOption("m5.xlarge", 4, 16, Decimal("1"))
    xxl = InstanceOption("m5.2xlarge", 8, 32, Decimal("1.5"))
    best, other = pack(6, 20, [xl, xxl], 744)
    assert (best.instance_type, best.nodes, best.cost) == ("m5.2xlarge", 1, Decimal("1116.0"))  # 1 × 1.5 × 744
    assert (other.instance_type, other.nodes, other.cost) == ("m5.xlarge", 2, Decimal("1488"))  # 2 × 1 × 744
    # at on-demand list prices ($0.192, $0.384) both cost $0.384/h: the tie goes to fewer nodes
    od = [InstanceOption("m5.xlarge", 4, 16, Decimal("0.192")), InstanceOption("m5.2xlarge", 8, 32, Decimal("0.384"))]
    best, other = pack(6, 20, od, 744)
    assert (best.instance_type, best.nodes, best.cost) == ("m5.2xlarge", 1, Decimal("285.696"))
    assert other.cost == Decimal("285.696")
    # memory decides: 2 vCPU / 40 GiB -> ceil(40/16) = 3 m5.xlarge
    assert pack(2, 40, [xl], 10)[0].nodes == 3


def test_gpu_pool_packs_onto_gpu_types_only_and_counts_gpus():
    xl = InstanceOption("m5.xlarge", 4, 16, Decimal("1"))
    g4 = InstanceOption("g4dn.xlarge", 4, 16, Decimal("0.526"), gpus=1)
    g12 = InstanceOption("g4dn.12xlarge", 48, 192, Decimal("3.912"), gpus=4)
    # 6 vCPU / 20 GiB / 3 GPUs: g4dn.xlarge needs max(ceil(6/4), ceil(20/16), ceil(3/1)) = 3 nodes,
    # 3 × 0.526 × 744 = 1174.032; g4dn.12xlarge 1 node, 3.912 × 744 = 2910.528; m5.xlarge has no GPU
    best, other = pack(6, 20, [xl, g4, g12], 744, peak_gpus=3, pool="gpu")
    assert (best.instance_type, best.nodes, best.cost, best.pool) == ("g4dn.xlarge", 3, Decimal("1174.032"), "gpu")
    assert (other.instance_type, other.nodes, other.cost) == ("g4dn.12xlarge", 1, Decimal("2910.528"))
    # the general pool never takes a GPU type, even when it would be the cheapest per node
    (general,) = pack(6, 20, [xl, g4, g12], 744)
    assert (general.instance_type, general.nodes, general.pool) == ("m5.xlarge", 2, "general")


def test_tenant_with_gpu_pods_is_sized_on_gpu_nodes_too(build_scenario):
    s = Scenario()
    s.node("m1", "m5.xlarge", range(4), 1.0, vcpu=4, memory_gib=16)
    s.node("g1", "g4dn.xlarge", range(4), 0.5, vcpu=4, memory_gib=16, gpus=1)
    s.node("g2", "g4dn.xlarge", range(4), 0.5, vcpu=4, memory_gib=16, gpus=1)
    pod(s, "a-api", "api", "m1", range(4), cpu=3, mem=6)
    for node in ("g1", "g2"):  # two 1-GPU trainers in hour 0, one after
        s.pod(
            "a-train",
            f"trainer-{node}",
            node,
            [0] if node == "g2" else range(4),
            cpu_request=2,
            cpu_usage=2,
            memory_request_gib=8,
            memory_usage_gib=8,
            gpus=1,
        )
    built = build_scenario(s, tenancy=TEAMS)
    (w,) = capacity(built.config).whatifs
    # whole tenant: hour 0 asks 3 + 2 + 2 = 7 cores, 6 + 8 + 8 = 22 GiB, 2 GPUs
    assert (w.peak_cpu, w.peak_memory, w.peak_gpus) == (7, 22, 2)
    general, gpu = w.pools
    # general pool: 3 cores / 6 GiB -> 1 m5.xlarge at $1/h × 4 h = $4
    assert (general.pool, general.peak_cpu, general.packing.instance_type, general.packing.cost) == (
        "general",
        3,
        "m5.xlarge",
        Decimal(4),
    )
    # GPU pool: 4 cores / 16 GiB / 2 GPUs -> max(1, 1, 2) = 2 g4dn.xlarge at $0.5/h × 4 h = $4
    assert (gpu.pool, gpu.peak_cpu, gpu.peak_memory, gpu.peak_gpus) == ("gpu", 4, 16, 2)
    assert (gpu.packing.instance_type, gpu.packing.nodes, gpu.packing.cost) == ("g4dn.xlarge", 2, Decimal(4))
    assert w.alternative_cost == Decimal(8)
    assert "gpu: peak 4.00 cores / 16.0 GiB / 2 GPU -> 2× g4dn.xlarge" in w.basis


def test_packing_through_the_build_with_two_instance_types(build_scenario):
    s = Scenario()
    s.node("x1", "m5.xlarge", range(4), 1.0, vcpu=4, memory_gib=16, labels=group("general"))
    s.node("x2", "m5.2xlarge", range(4), 1.5, vcpu=8, memory_gib=32, labels=group("general"))
    pod(s, "a-api", "big", "x2", [0], cpu=6, mem=20)
    pod(s, "a-api", "small", "x2", [1, 2, 3], cpu=1, mem=2)
    built = build_scenario(s, tenancy=TEAMS)
    (w,) = capacity(built.config).whatifs
    # peak 6/20 over 4 hours: m5.xlarge 2 × $1 × 4 = $8, m5.2xlarge 1 × $1.5 × 4 = $6
    assert (w.tenant, w.peak_cpu, w.peak_memory) == ("team-a", 6, 20)
    (general,) = w.pools
    assert (general.packing.instance_type, general.packing.nodes, w.alternative_cost) == ("m5.2xlarge", 1, Decimal(6))
    assert "2× m5.xlarge 8.00" in w.note


def test_sole_tenant_against_shared_unit_prices(build_scenario):
    s = Scenario()
    s.node("dedicated-1", "m5.xlarge", [0, 1], 1.0, vcpu=4, memory_gib=16, labels=RISK)
    s.node("shared-1", "m5.xlarge", [0, 1], 1.0, vcpu=4, memory_gib=16)
    pod(s, "risk-engine", "engine-0", "dedicated-1", [0], cpu=1, mem=4)
    pod(s, "kube-system", "aws-node-x", "dedicated-1", [0, 1], cpu=0.5, mem=1)
    pod(s, "a-api", "api-1", "shared-1", [0, 1], cpu=1, mem=2)
    s.label_namespace("risk-engine", [0, 1], {"tenant": "risk"})
    built = build_scenario(s, tenancy=TEAMS)
    report = capacity(built.config)
    by_tenant = {w.tenant: w for w in report.whatifs}
    risk = by_tenant["risk"]
    # its dedicated node: 2 h × $1; its own pod: 1 core-h × 9/52 + 4 GiB-h × 1/52 = 13/52 on shared nodes
    assert (risk.tenancy, risk.alternative, risk.cpu_allocated, risk.memory_allocated) == ("sole", "shared nodes", 1, 4)
    assert float(risk.current_cost) == pytest.approx(2.0, abs=1e-9)
    assert float(risk.alternative_cost) == pytest.approx(13 / 52, abs=1e-9)
    assert report.node_groups[0].node_group == ""  # no nodegroup label
    team_a = by_tenant["team-a"]
    assert (team_a.tenancy, team_a.pools[0].packing.nodes, team_a.alternative_cost) == ("soft", 1, Decimal(2))
    assert '"tenancy": "sole"' in report.to_json()


def _days(values: list[float], month: int = 10) -> list[dict]:
    return [
        {"date": date(2026, month, i + 1), "cpu_requested": v * 2, "memory_requested": v * 4, "cost": v}
        for i, v in enumerate(values)
    ]


def test_forecast_of_a_linear_series():
    # cost 10, 11, ..., 40 over October's 31 days: y = 10 + x; November x = 31..60:
    # 30 × 10 + (31 + 60) × 30 / 2 = 300 + 1365 = 1665
    f = forecast("c", "2026-10", _days([10 + i for i in range(31)]))
    assert (f.status, f.next_period, f.next_days, f.history_days) == ("ok", "2026-11", 30, 31)
    cpu, mem, cost = f.series
    assert cost.predicted_total == pytest.approx(1665)
    assert cost.slope_per_day == pytest.approx(1)
    assert cost.r2 == pytest.approx(1)
    assert cost.band == pytest.approx(0, abs=1e-9) and cost.residual_sd == pytest.approx(0, abs=1e-9)
    assert cpu.predicted_total == pytest.approx(2 * 1665) and mem.predicted_total == pytest.approx(4 * 1665)
    assert cost.history_total == pytest.approx(775)  # (10 + 40) × 31 / 2


def test_forecast_band_from_residuals():
    # 10 November days alternating 9, 11; the OLS line, its residuals and December's 31 days (x = 30..60)
    # worked out with the textbook formulas: b = Sxy / Sxx, a = ȳ − b·x̄, σ = √(SSE / (n − 2)).
    f = forecast("c", "2026-11", _days([9, 11] * 5, month=11))
    cost = f.series[2]
    xs = list(range(10))
    ys = [9, 11] * 5
    mx, my = sum(xs) / 10, sum(ys) / 10
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    a = my - b * mx
    sse = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys, strict=True))
    assert b == pytest.approx(5 / 82.5)  # Sxy = (1+3+5+7+9) − (0+2+4+6+8) = 5, Sxx = 82.5
    assert cost.slope_per_day == pytest.approx(b)
    assert cost.predicted_total == pytest.approx(sum(a + b * x for x in range(30, 61)))
    assert cost.residual_sd == pytest.approx((sse / 8) ** 0.5)
    assert cost.band == pytest.approx((sse / 8) ** 0.5 * 31**0.5)
    assert f.next_days == 31


def test_fewer_than_seven_days_is_too_little_history():
    f = forecast("c", "2026-10", _days([10, 11, 12, 13, 14, 15]))
    assert f.status == "too little history" and f.series[2].predicted_total is None
    assert forecast("c", "2026-10", _days([10, 11, 12, 13, 14, 15, 16])).status == "ok"


def test_bad_period_is_a_user_error(build_scenario):
    built = build_scenario(two_groups(), tenancy=TEAMS)
    with pytest.raises(ChargebackError, match="YYYY-MM"):
        capacity(built.config, "2026-13")
    with pytest.raises(ChargebackError, match="no node-hours in 2026-09"):
        capacity(built.config, "2026-09")
