"""Boundaries: a pod's (or node's) running time in an hour lies inside its life (DESIGN, Inputs per pod-hour).

First the arithmetic of ``collectors.prometheus_boundaries`` on hand-made scrapes, then a small GPU cluster
backfilled into the real Prometheus with kube-state-metrics and cAdvisor scraped exactly on the 30-second
marks (so a pod that starts at 10:00:00 has a Running scrape at 10:00:00 sharp, which stands for the interval
before it, in hour 09), collected by the real collector, built and billed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pytest

from chargeback.core.config import PrometheusSettings
from collectors.base import Window
from collectors.prometheus import PrometheusCollector
from collectors.prometheus_boundaries import running_seconds
from tests.factory import GIB, START, Scenario
from tests.services.prometheus import (
    Backfilled,
    Container,
    Namespace,
    Node,
    Piecewise,
    Pod,
    SyntheticCluster,
    build,
)

NAN = math.nan
H = START.timestamp() + 10 * 3600  # 10:00:00, the hour the pods start in
STEP = 30


def one(hour=H, sampled=0.0, before=NAN, last=NAN, start=NAN, end=NAN) -> tuple[float, float]:
    """``running_seconds`` for one row: (running seconds, seconds of the hour inside the life)."""
    running, life = running_seconds(
        *(np.array([v], dtype=np.float64) for v in (hour, sampled, before, last, start, end)), STEP
    )
    return float(running[0]), float(life[0])


# --- the arithmetic, by hand ----------------------------------------------------------------------


def test_a_pod_starting_on_the_hour_has_no_time_in_the_hour_before():
    # Scrapes on the 30 s marks; the pod starts at 10:00:00 and its first Running scrape is at 10:00:00,
    # which belongs to hour 09 ((09:00, 10:00]) and stands for (09:59:30, 10:00:00]: cut at the start, nothing.
    assert one(hour=H - 3600, sampled=30, last=H, start=H) == (0, 0)
    # Hour 10: scrapes 10:00:30 .. 11:00:00 (120 x 30 s); the one at 10:00:00 before it stood for nothing.
    assert one(hour=H, sampled=3600, before=H, last=H + 3600, start=H) == (3600, 3600)


def test_a_pod_starting_ten_seconds_in_has_the_rest_of_the_hour():
    # Starts 10:00:10: first Running scrape 10:00:30 stands for (10:00:10, 10:00:30] = 20 s, then 119 x 30 s.
    assert one(sampled=120 * 30, last=H + 3600, start=H + 10) == (3590, 3590)
    assert one(hour=H - 3600, start=H + 10) == (0, 0)  # nothing in hour 09


def test_scrapes_off_the_marks_split_at_the_hour_and_end_at_the_completion():
    # kube-state-metrics scraped at :13 and :43; a 90-second pod from 14:59:20 to 15:00:50 that completes.
    h14, h15 = H + 4 * 3600, H + 5 * 3600
    # Hour 14: one Running scrape (14:59:43), standing for (14:59:20, 14:59:43] (cut at the start: 23 s),
    # plus the part before 15:00 of the next scrape's interval (14:59:43, 15:00:13]: 17 s -> 40 s.
    assert one(hour=h14, sampled=30, last=h15 - 17, start=h15 - 40, end=h15 + 50) == (40, 40)
    # Hour 15: scrapes 15:00:13 and 15:00:43 (60 s) less the 17 s before 15:00, plus the time from the last
    # Running scrape to the completion (15:00:43 -> 15:00:50, 7 s) -> 50 s, its life in the hour.
    assert one(hour=h15, sampled=60, before=h15 - 17, start=h15 - 40, end=h15 + 50) == (50, 50)


def test_the_last_hour_ends_at_the_completion():
    # Completes at 10:40:20; Running scrapes 10:00:30 .. 10:40:00 (80 x 30 s), running since before 10:00.
    assert one(sampled=2400, before=H, start=H - 7200, end=H + 2420) == (2420, 2420)
    # Completes at 11:00:00 sharp: scrapes to 10:59:30 (3570 s) and the completion at 11:00:00 -> the whole hour,
    # and the Running scrape a lagging kube-state-metrics still reports at 11:00:30 counts nothing in hour 11.
    assert one(sampled=3570, before=H, start=H - 7200, end=H + 3600) == (3600, 3600)
    assert one(hour=H + 3600, sampled=30, before=NAN, last=NAN, start=H - 7200, end=H + 3600) == (0, 0)
    # Completes at 11:00:05, last Running scrape 11:00:00 (in hour 10): hour 11 holds 5 s and no scrape.
    assert one(hour=H + 3600, sampled=0, before=H + 3600, start=H - 7200, end=H + 3605) == (5, 5)


def test_without_a_completion_time_the_running_time_ends_at_the_last_scrape():
    # Deleted while Running (no completion): last Running scrape at 10:20:00, nothing after; no extension.
    assert one(sampled=1200, before=H, start=H - 7200) == (1200, 3600)


def test_an_unknown_start_begins_at_the_first_running_scrape():
    # No kube_pod_start_time: the first Running scrape stands for no time before it.
    assert one(hour=H - 3600, sampled=30, last=H) == (0, 0)  # a first scrape at 10:00:00: nothing in hour 09
    assert one(sampled=3600, before=H, last=H + 3600) == (3600, 3600)
    assert one(sampled=1800, last=H + 3600) == (1770, 3600)  # first Running scrape 10:30:30


def test_a_node_observed_inside_its_life():
    # Created at 10:00:00 with a scrape at 10:00:00 sharp: nothing in hour 09 (so no ghost hour there).
    assert one(hour=H - 3600, sampled=30, last=H, start=H) == (0, 0)
    # Created at 10:20:10, scraped from 10:20:30 (80 x 30 s): 2390 s, not the 2400 the scrapes stand for.
    assert one(sampled=2400, last=H + 3600, start=H + 1210) == (2390, 2390)
    # Scraped at :13 and :43 and created at 06:20:00: its first hour is its life, 2400 s.
    assert one(sampled=80 * 30, last=H + 3600 - 17, start=H + 1200) == (2400, 2400)


# --- a small GPU cluster in the real Prometheus, collected, built and billed --------------------------


def boundary_cluster() -> SyntheticCluster:
    """Two g4dn.xlarge GPU nodes and an m5.xlarge dedicated to tenant risk, 08:00 to 12:00, scraped on the marks.

    trainer-a starts at 10:00:00 on gpu-1 and completes at 11:40:20; trainer-b starts at 10:00:10 on gpu-2 and
    runs on; each asks 1 GPU, 2 cores and 8 GiB (using 1.5 cores and 6 GiB). A DaemonSet pod on each GPU node
    asks 0.25 cores and 0.5 GiB. The dedicated node is created at 10:00:00 sharp; risk's engine runs on it from
    10:20:00 to 11:00:00.
    """
    t0, t1 = START.timestamp() + 8 * 3600, START.timestamp() + 12 * 3600 + 300  # scrapes up to 12:05 (12:00 included)
    before, after = t0 - 86400, t1 + 86400

    def node(name: str, instance: str, instance_type: str, cpu: float, gpu: float, up: float, **labels) -> Node:
        labels = {"node.kubernetes.io/instance-type": instance_type, "kubernetes.io/hostname": name, **labels}
        return Node(name, f"aws:///us-east-1a/{instance}", instance_type, cpu, 16 * GIB, gpu, up, after, labels, 0.0)

    def container(name: str, a: float, b: float, cpu: float, gib: float, gpu: float = 0) -> list[Container]:
        usage = Piecewise.constant(a, b, 0.75 * cpu), Piecewise.constant(a, b, 0.75 * gib * GIB)
        return [Container(name, cpu, gib * GIB, *usage, gpu_request=gpu)]

    nodes = [
        node("gpu-1", "i-0b00000000000a001", "g4dn.xlarge", 4, 1, before),
        node("gpu-2", "i-0b00000000000a002", "g4dn.xlarge", 4, 1, before),
        node("ded-1", "i-0b00000000000a003", "m5.xlarge", 4, 0, H, **{"chargeback.io/tenant": "risk"}),
    ]
    a_end = H + 3600 + 2420  # 11:40:20
    pods = [
        Pod("kube-system", "aws-node-g1", "gpu-1", before, after, container("aws-node", before, after, 0.25, 0.5),
            "DaemonSet", "aws-node"),
        Pod("kube-system", "aws-node-g2", "gpu-2", before, after, container("aws-node", before, after, 0.25, 0.5),
            "DaemonSet", "aws-node"),
        Pod("ml-train", "trainer-a", "gpu-1", H, a_end, container("trainer", H, a_end, 2, 8, gpu=1), "Job", "trainer-a",
            created=H - 40, deleted=a_end + 300, completes=True),
        Pod("ml-train", "trainer-b", "gpu-2", H + 10, after, container("trainer", H + 10, after, 2, 8, gpu=1), "Job",
            "trainer-b", created=H - 30),
        Pod("risk-engine", "engine-0", "ded-1", H + 1200, H + 3600, container("engine", H + 1200, H + 3600, 1, 4),
            "Job", "engine", created=H + 1190, deleted=H + 3600 + 600, completes=True),
    ]  # fmt: skip
    namespaces = [
        Namespace("kube-system", [(before, {"kubernetes.io/metadata.name": "kube-system"})]),
        Namespace("ml-train", [(before, {"tenant": "ml"})]),
        Namespace("risk-engine", [(before, {"tenant": "risk"})]),
    ]
    return SyntheticCluster(t0, t1, nodes, pods, namespaces, ksm_offset=0.0)


@pytest.fixture(scope="module")
def boundary_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    backfilled = build(boundary_cluster(), tmp_path_factory.mktemp("boundaries"))
    try:
        yield backfilled
    finally:
        backfilled.server.stop()


@pytest.fixture(scope="module")
def collected(boundary_prometheus: Backfilled) -> dict[str, pa.Table]:
    collector = PrometheusCollector("boundaries", PrometheusSettings(url=boundary_prometheus.url))
    tables: dict[str, list[pa.Table]] = defaultdict(list)
    window = Window(START + timedelta(hours=8), START + timedelta(hours=12))
    for batch in collector.collect(window):
        tables[batch.stream.name].append(batch.data)
    return {name: pa.concat_tables(parts) for name, parts in tables.items()}


def hours_of(table: pa.Table, column: str, value: str, measure: str) -> dict[int, float]:
    return {r["hour"].hour: r[measure] for r in table.to_pylist() if r[column] == value}


def test_collected_pod_hours_lie_inside_each_pods_life(collected):
    pod_hours = collected["pod_hours"]
    # trainer-a: its 10:00:00 scrapes (Running, and cAdvisor's) fall in hour 09 and stand for nothing; its last
    # hour ends at its completion, 11:40:20 (2420 s, where its Running scrapes alone stand for 2400 s).
    assert hours_of(pod_hours, "pod", "trainer-a", "running_seconds") == {10: 3600, 11: 2420}
    assert hours_of(pod_hours, "pod", "trainer-a", "gpu_request_seconds") == {10: 3600, 11: 2420}
    # trainer-b: started at 10:00:10, so 3590 s of hour 10 (its first scrape, 10:00:30, stands for 20 s).
    assert hours_of(pod_hours, "pod", "trainer-b", "gpu_request_seconds") == {10: 3590, 11: 3600}
    assert hours_of(pod_hours, "pod", "engine-0", "running_seconds") == {10: 2400}  # 10:20:00 to 11:00:00
    # The dedicated node, created at 10:00:00 sharp, has no hour 09.
    assert hours_of(collected["node_hours"], "node", "ded-1", "running_seconds") == {10: 3600, 11: 3600}


def test_the_hour_before_a_gpu_pod_starts_leaves_its_gpu_on_idle(build_scenario, collected):
    scenario = Scenario(cluster="boundaries")
    scenario.pod_hours = collected["pod_hours"].to_pylist()
    scenario.pods = {(r["pod_uid"], r["date"]): r for r in collected["pods"].to_pylist()}
    scenario.namespace_labels = collected["namespace_labels"].to_pylist()
    scenario.node_hours = collected["node_hours"].to_pylist()
    gpu = {"vcpu": "4", "memory": "16 GiB", "gpu": "1"}
    for h in range(8, 12):  # the GPU nodes at $0.526 an hour, the dedicated node from 10:00 at $0.192
        for instance in ("i-0b00000000000a001", "i-0b00000000000a002"):
            scenario.line(
                h,
                product_code="AmazonEC2",
                resource_id=instance,
                cost=0.526,
                usage_type="BoxUsage:g4dn.xlarge",
                instance_type="g4dn.xlarge",
                product=gpu,
            )
        if h >= 10:
            m5 = {"vcpu": "4", "memory": "16 GiB"}
            scenario.line(
                h,
                product_code="AmazonEC2",
                resource_id="i-0b00000000000a003",
                cost=0.192,
                usage_type="BoxUsage:m5.xlarge",
                instance_type="m5.xlarge",
                product=m5,
            )
    built = build_scenario(scenario, allocation={"shared": "separate"})

    # A g4dn.xlarge (4 vCPU, 16 GiB, 1 GPU) under the scad GPU-node weights (gpu 9, cpu 0.9, memory 0.1):
    # u = 0.526 / (9*1 + 0.9*4 + 0.1*16) = 0.526 / 14.2; the GPU-hour costs 9u = $0.333380, the cores 3.6u,
    # the memory 1.6u.
    u = Fraction("0.526") / Fraction("14.2")

    def trainer(f: Fraction) -> Fraction:
        """A trainer running fraction f of an hour beside the DaemonSet pod (0.25 cores, 0.5 GiB all hour): the
        whole GPU (nobody else asked for it; idle mode node), and the cores and memory by allocation share."""
        return (
            9 * u
            + Fraction(36, 10) * u * 2 * f / (2 * f + Fraction(1, 4))
            + Fraction(16, 10) * u * 8 * f / (8 * f + Fraction(1, 2))
        )

    # ml: trainer-a hour 10 (f = 1) and hour 11 (2420 s), trainer-b hour 10 (3590 s) and hour 11 (f = 1).
    ml = 2 * trainer(Fraction(1)) + trainer(Fraction(2420, 3600)) + trainer(Fraction(3590, 3600))
    # __idle__: hours 08 and 09 of both GPU nodes, where no pod asked for the GPU: 4 x 9u = 36u = $1.333521.
    idle = 36 * u
    node_hours = 8 * Fraction("0.526")
    totals = built.tenant_totals()
    assert totals["ml"] == pytest.approx(float(ml), abs=1e-9)  # $2.023094
    assert totals["__idle__"] == pytest.approx(float(idle), abs=1e-9)
    assert totals["risk"] == pytest.approx(0.384, abs=1e-9)  # the dedicated node's two hours
    # The DaemonSet pods take the rest of the GPU nodes' $4.208: $0.851385.
    assert totals["__shared__"] == pytest.approx(float(node_hours - ml - idle), abs=1e-9)
    assert set(totals) == {"ml", "risk", "__idle__", "__shared__"}
    # Hour 09 on gpu-1: only the DaemonSet pod, which takes the cores and memory (5.2u); the GPU (9u) is idle.
    # (Counting trainer-a's 10:00:00 scrape in hour 09 gave it 30 s there, and with them the whole idle GPU and
    # a share of the cores and memory: 9u + 3.6u*(1/60)/(1/60 + 1/4) + 1.6u*(1/15)/(1/15 + 1/2) = $0.348687.)
    hour_09 = built.rows(
        "select pod, total_cost from marts.fct_pod_costs_hourly where node = 'gpu-1' and hour = $1",
        [START + timedelta(hours=9)],
    )
    assert [(pod, float(cost)) for pod, cost in hour_09] == [
        ("aws-node-g1", pytest.approx(float(Fraction(52, 10) * u)))
    ]
    # Ghost hours: the dedicated node's hour 11 (risk's engine completed at 11:00:00); none at 09.
    ghosts = built.rows(
        "select extract(hour from hour), is_ghost_hour from marts.fct_node_costs_hourly where node = 'ded-1' order by 1"
    )
    assert ghosts == [(10, False), (11, True)]
