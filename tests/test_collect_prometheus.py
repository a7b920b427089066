"""The Prometheus collector against a real Prometheus holding a synthetic cluster with exact integrals.

Targets (the issue's, at a 30 s scrape interval): all pods' reserved and used core-hours and GiB-hours
within 1% of the truth; each pod living 5 minutes or more within 10%; no pod of a minute or more lost;
a counter reset neither inflating nor losing usage.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from datetime import timedelta

import pyarrow as pa
import pytest
import requests
from botocore.credentials import Credentials

from chargeback.core.config import ClusterSettings, PrometheusSettings
from chargeback.core.errors import CollectError
from chargeback.core.http import RetryPolicy
from collectors.base import Window
from collectors.prometheus import PrometheusCollector
from collectors.prometheus_http import MAX_POINTS, PrometheusClient, QueryError
from collectors.prometheus_queries import (
    CHUNK_QUERIES,
    HOURLY_QUERIES,
    LOOK_AHEAD_INTERVALS,
    METRICS,
    POD_CPU_CORE_SECONDS,
    label_key_map,
    original_labels,
    promql,
)
from collectors.streams import (
    NAMESPACE_LABELS,
    NODE_HOURS,
    OWNERS,
    PERSISTENT_VOLUME_HOURS,
    POD_HOUR_MEASURES,
    POD_HOUR_NETWORK,
    POD_HOURS,
    POD_VOLUME_CLAIMS,
    PODS,
)
from tests.services import prometheus as service
from tests.services.prometheus import START, Backfilled, FaultProxy

synthetic_prometheus = service.synthetic_prometheus  # the session fixture: a real Prometheus, backfilled

FIELDS = POD_HOUR_MEASURES
DAY1 = Window(START, START + timedelta(days=1))
DAY2 = Window(START + timedelta(days=1), START + timedelta(days=2))
FAST_RETRY = RetryPolicy(attempts=3, backoff_seconds=0.05, max_backoff_seconds=0.1)


def collect(url: str, window: Window, **options) -> dict[str, pa.Table]:
    settings = PrometheusSettings(url=url, **options.pop("settings", {}))
    collector = PrometheusCollector("synthetic", settings, label_keys=("chargeback.io/tenant",), **options)
    tables: dict[str, list[pa.Table]] = defaultdict(list)
    for batch in collector.collect(window):
        assert batch.data.schema == batch.stream.schema
        tables[batch.stream.name].append(batch.data)
    return {name: pa.concat_tables(parts) for name, parts in tables.items()}


@pytest.fixture(scope="module")
def two_days(synthetic_prometheus: Backfilled) -> dict:
    """Both days collected one UTC day at a time, as the orchestrator does, with the time it took."""
    began = time.perf_counter()
    days = [collect(synthetic_prometheus.url, day) for day in (DAY1, DAY2)]
    elapsed = time.perf_counter() - began
    return {"days": days, "seconds": elapsed, **{t: pa.concat_tables([d[t] for d in days]) for t in days[0]}}


def ordered(table: pa.Table) -> list[dict]:
    """Rows in a fixed order: batches come chunk by chunk, so only the row set is comparable."""
    return sorted(table.to_pylist(), key=repr)


def per_pod(rows: list[dict]) -> dict[str, dict[str, float]]:
    totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0.0))
    for row in rows:
        for name in FIELDS:
            totals[row["pod_uid"]][name] += row[name]
    return totals


def test_totals_within_one_percent_of_the_exact_integrals(synthetic_prometheus, two_days):
    truth = synthetic_prometheus.cluster.pod_hour_truth()
    collected = two_days["pod_hours"].to_pylist()
    for name in FIELDS:
        expected = sum(values[name] for values in truth.values())
        got = sum(row[name] for row in collected)
        print(f"{name}: {got:.6g} against {expected:.6g} ({100 * (got / expected - 1):+.3f}%)")
        assert got == pytest.approx(expected, rel=0.01), name


def test_each_pod_of_five_minutes_within_ten_percent(synthetic_prometheus, two_days):
    cluster = synthetic_prometheus.cluster
    truth = per_pod([{"pod_uid": uid, **values} for (uid, _), values in cluster.pod_hour_truth().items()])
    got = per_pod(two_days["pod_hours"].to_pylist())
    worst = 0.0
    for pod in cluster.pods:
        if pod.seconds < 300:
            continue
        for name in FIELDS:
            expected = truth[pod.uid][name]
            if expected:
                error = abs(got[pod.uid][name] / expected - 1)
                worst = max(worst, error)
                assert error < 0.10, f"{pod.namespace}/{pod.name} ({pod.uid}) {name}: {error:.2%}"
    print(f"worst per-pod error (pods of 5 minutes or more): {worst:.3%}")


def test_no_pod_of_a_minute_or_more_is_lost(synthetic_prometheus, two_days):
    cluster = synthetic_prometheus.cluster
    truth = per_pod([{"pod_uid": uid, **values} for (uid, _), values in cluster.pod_hour_truth().items()])
    got = per_pod(two_days["pod_hours"].to_pylist())
    short = [pod for pod in cluster.pods if pod.seconds < 300]
    assert {pod.seconds for pod in short} == {90, 61}  # the 90-second executor, a 61-second one
    for pod in cluster.pods:
        if pod.seconds >= 60:
            for name in FIELDS:
                assert got[pod.uid][name] > 0 or truth[pod.uid][name] == 0, f"{pod.name} lost its {name}"
            # A completed pod runs from its start to its completion exactly (Boundaries); one deleted without a
            # completion time stops at its last Running scrape, within a scrape interval of the truth.
            error = abs(got[pod.uid]["running_seconds"] - truth[pod.uid]["running_seconds"])
            assert error <= (1e-6 if pod.completes else 30), (pod.name, error)


def test_no_pod_or_node_hour_outside_its_life(synthetic_prometheus, two_days):
    """Each hour's running time lies inside the pod's (the node's) life in that hour: no slivers, no excess."""
    cluster = synthetic_prometheus.cluster
    truth = cluster.pod_hour_truth()
    for row in two_days["pod_hours"].to_pylist():
        key = (row["pod_uid"], row["hour"].timestamp())
        assert key in truth, f"{row['pod']} has an hour it did not run in: {row['hour']}"
        assert row["running_seconds"] <= truth[key]["running_seconds"] + 1e-6, (row["pod"], row["hour"])
    nodes = cluster.node_hour_truth()
    for row in two_days["node_hours"].to_pylist():
        assert row["running_seconds"] <= nodes[(row["node"], row["hour"].timestamp())] + 1e-6, row["node"]


def test_the_90_second_executor_across_an_hour_boundary(synthetic_prometheus, two_days):
    pod = synthetic_prometheus.cluster.pod("spark-pi-exec-1")
    rows = [r for r in two_days["pod_hours"].to_pylist() if r["pod_uid"] == pod.uid]
    assert [r["hour"].hour for r in rows] == [14, 15]
    assert {r["node"] for r in rows} == {pod.node}
    # 14:59:20 to 15:00:50, scraped at :13 and :43: 40 s and 50 s, split at 15:00 and ended at its completion.
    assert [r["running_seconds"] for r in rows] == [40, 50]
    truth = sum(c.cpu.integral(pod.start, pod.end) for c in pod.containers)
    assert sum(r["cpu_usage_core_seconds"] for r in rows) == pytest.approx(truth, rel=0.34)  # 3 scrapes


def test_a_counter_reset_neither_inflates_nor_loses_usage(synthetic_prometheus, two_days):
    cluster = synthetic_prometheus.cluster
    pod = cluster.pod("web-6b7c9d8f5-xk2lp")
    (reset,) = pod.containers[0].resets
    hour = cluster.start + (reset - cluster.start) // 3600 * 3600
    truth = cluster.pod_hour_truth()[(pod.uid, hour)]["cpu_usage_core_seconds"]
    (row,) = [r for r in two_days["pod_hours"].to_pylist() if r["pod_uid"] == pod.uid and r["hour"].timestamp() == hour]
    # A reset loses at most the part of one scrape interval before it (0.8% of an hour at most).
    assert row["cpu_usage_core_seconds"] == pytest.approx(truth, rel=0.02)
    # The counter's own span in that hour would be absurd: it starts over near zero.
    counter = pod.containers[0]
    assert counter.counter(pod.start, reset - 1) > 10 * truth


def test_a_pod_moving_to_another_node_is_two_pod_uids(synthetic_prometheus, two_days):
    cluster = synthetic_prometheus.cluster
    old, new = (p for p in cluster.pods if p.name == "db-0")
    rows = [r for r in two_days["pod_hours"].to_pylist() if r["pod"] == "db-0"]
    assert {r["node"] for r in rows if r["pod_uid"] == old.uid} == {old.node}
    assert {r["node"] for r in rows if r["pod_uid"] == new.uid} == {new.node}
    (shared_hour,) = {r["hour"] for r in rows if r["pod_uid"] == old.uid} & {
        r["hour"] for r in rows if r["pod_uid"] == new.uid
    }
    truth = cluster.pod_hour_truth()
    for pod in (old, new):
        (row,) = [r for r in rows if r["pod_uid"] == pod.uid and r["hour"] == shared_hour]
        expected = truth[(pod.uid, shared_hour.timestamp())]
        for name in ("running_seconds", "cpu_usage_core_seconds", "memory_working_set_byte_seconds"):
            assert row[name] == pytest.approx(expected[name], rel=0.05), (pod.uid, name)


def test_a_restarted_kube_state_metrics_neither_loses_nor_doubles(synthetic_prometheus, two_days):
    cluster = synthetic_prometheus.cluster
    hour = cluster.start + (cluster.ksm_restart - cluster.start) // 3600 * 3600  # its series split mid-hour
    web = cluster.pod("web-6b7c9d8f5-xk2lp")
    (pod_hour,) = [
        r for r in two_days["pod_hours"].to_pylist() if r["pod_uid"] == web.uid and r["hour"].timestamp() == hour
    ]
    assert pod_hour["running_seconds"] == 3600
    assert pod_hour["cpu_request_core_seconds"] == pytest.approx(0.6 * 3600)
    nodes = [r for r in two_days["node_hours"].to_pylist() if r["hour"].timestamp() == hour]
    assert [r["running_seconds"] for r in nodes] == [3600, 3600]
    namespaces = [r for r in two_days["namespace_labels"].to_pylist() if r["hour"].timestamp() == hour]
    assert len(namespaces) == 4 and {r["seconds_in_force"] for r in namespaces} == {3600}


def test_rows_belong_to_their_window(two_days):
    for window, day in zip((DAY1, DAY2), two_days["days"], strict=True):
        for table in (POD_HOURS, NAMESPACE_LABELS, NODE_HOURS, PERSISTENT_VOLUME_HOURS):
            hours = day[table.name].column("hour").to_pylist()
            assert hours and all(window.start <= h < window.end for h in hours), table.name
        assert set(day[PODS.name].column("date").to_pylist()) == {window.start.date()}
        assert set(day[POD_VOLUME_CLAIMS.name].column("date").to_pylist()) == {window.start.date()}
    keys = [(r["pod_uid"], r["hour"]) for r in two_days["pod_hours"].to_pylist()]
    assert len(keys) == len(set(keys))


def test_pods_carry_emr_labels_under_their_original_keys(synthetic_prometheus, two_days):
    pods = {(r["pod_uid"], r["date"]): r for r in two_days["pods"].to_pylist()}
    executor = synthetic_prometheus.cluster.pod("spark-pi-exec-1")
    row = pods[(executor.uid, START.date())]
    labels = dict(row["labels"])
    assert labels["emr-containers.amazonaws.com/job.id"] == "0000000349ab1cdef2g"
    assert labels["emr-containers.amazonaws.com/virtual-cluster-id"] == "b3k7p9x2m4q8r1s5t6u0v"
    assert labels["spark-role"] == "executor"
    assert labels["spark-app-name"] == "spark-pi"
    assert row["start_time"].timestamp() == executor.start
    assert row["completion_time"].timestamp() == executor.end
    assert (row["owner_kind"], row["owner_name"]) == ("Pod", "spark-pi-driver")
    driver = pods[(synthetic_prometheus.cluster.pod("spark-pi-driver").uid, START.date())]
    assert (driver["owner_kind"], driver["owner_name"]) == (None, None)  # kube-state-metrics' "<none>"
    web = synthetic_prometheus.cluster.pod("web-6b7c9d8f5-xk2lp")
    assert (web.uid, START.date()) in pods and (web.uid, DAY2.start.date()) in pods  # once per day it ran


def test_namespace_relabelled_mid_hour_gives_two_rows(synthetic_prometheus, two_days):
    truth = synthetic_prometheus.cluster.namespace_label_truth()
    got = {
        (r["namespace"], r["hour"].timestamp(), tuple(sorted(r["labels"]))): r["seconds_in_force"]
        for r in two_days["namespace_labels"].to_pylist()
    }
    assert got.keys() == truth.keys()
    for key, seconds in truth.items():
        assert got[key] == pytest.approx(seconds, abs=30), key
    noon = START + timedelta(hours=12)
    relabelled = {
        dict(labels)["tenant"]: s for (ns, h, labels), s in got.items() if ns == "team-a" and h == noon.timestamp()
    }
    assert relabelled == {"alpha": 2400, "beta": 1200}


def test_node_hours_carry_provider_id_instance_type_and_capacity(synthetic_prometheus, two_days):
    cluster = synthetic_prometheus.cluster
    truth = cluster.node_hour_truth()
    rows = {(r["node"], r["hour"].timestamp()): r for r in two_days["node_hours"].to_pylist()}
    assert rows.keys() == truth.keys()
    for node in cluster.nodes:
        for (name, hour), seconds in truth.items():
            if name != node.name:
                continue
            row = rows[(name, hour)]
            assert row["running_seconds"] == pytest.approx(seconds, abs=30)
            assert row["provider_id"] == node.provider_id
            assert row["instance_type"] == node.instance_type
            assert (row["cpu_capacity_cores"], row["memory_capacity_bytes"]) == (node.cpu, node.memory)
            assert row["gpu_capacity"] == (node.gpu or None)
            assert dict(row["labels"]) == node.labels  # original keys, chargeback.io/tenant included
    joined = rows[("ip-10-0-2-20.ec2.internal", (START + timedelta(hours=6)).timestamp())]
    assert joined["running_seconds"] == 2400  # the node joined at 06:20


def test_chunking_does_not_change_the_rows(synthetic_prometheus, two_days):
    odd = collect(synthetic_prometheus.url, DAY1, chunk_hours=5, settings={"max_concurrency": 2})
    tables = ("pod_hours", "node_hours", "namespace_labels", "pods", "persistent_volume_hours", "pod_volume_claims")
    for name in (*tables, "owners"):
        assert ordered(odd[name]) == ordered(two_days["days"][0][name]), name


def test_a_window_of_some_hours(synthetic_prometheus, two_days):
    window = Window(START + timedelta(hours=14), START + timedelta(hours=16))
    part = collect(synthetic_prometheus.url, window)["pod_hours"]
    whole = two_days["days"][0]["pod_hours"].to_pylist()
    assert part.to_pylist() == [r for r in whole if window.start <= r["hour"] < window.end]


def test_throughput(two_days):
    pod_hours = two_days["pod_hours"].num_rows
    print(f"\ncollected {pod_hours} pod-hours in {two_days['seconds']:.2f} s: {pod_hours / two_days['seconds']:,.0f}/s")


# --- network bytes ----------------------------------------------------------------------------------


def network_per_pod(rows: list[dict]) -> dict[str, list[float]]:
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for row in rows:
        for i, name in enumerate(POD_HOUR_NETWORK):
            if row[name] is not None:
                totals[row["pod_uid"]][i] += row[name]
    return totals


def test_network_bytes_within_one_percent_of_the_exact_integrals(synthetic_prometheus, two_days):
    """Received and sent bytes of every pod-hour against the rates' exact integrals over the time it ran."""
    truth = {k: v for k, v in synthetic_prometheus.cluster.network_truth().items() if v is not None}
    rows = two_days["pod_hours"].to_pylist()
    for i, name in enumerate(POD_HOUR_NETWORK):
        expected = sum(values[i] for values in truth.values())
        got = sum(row[name] or 0.0 for row in rows)
        print(f"{name}: {got:.6g} against {expected:.6g} ({100 * (got / expected - 1):+.3f}%)")
        assert got == pytest.approx(expected, rel=0.01), name
    # Every pod-hour with byte data is an hour the pod ran in, and every one of a minute or more has byte data
    # (an increment needs two scrapes: the 90-second executor's 40 s before 15:00 hold one, and no bytes).
    collected = {(r["pod_uid"], r["hour"].timestamp()) for r in rows if r["network_receive_bytes"] is not None}
    assert collected <= truth.keys()
    ran = {(r["pod_uid"], r["hour"].timestamp()) for r in rows if r["running_seconds"] >= 60}
    assert ran & truth.keys() <= collected


def test_each_pods_network_bytes_of_five_minutes_within_five_percent(synthetic_prometheus, two_days):
    cluster = synthetic_prometheus.cluster
    truth = network_per_pod(
        [
            {"pod_uid": uid, **dict(zip(POD_HOUR_NETWORK, values, strict=True))}
            for (uid, _), values in cluster.network_truth().items()
            if values is not None
        ]
    )
    got = network_per_pod(two_days["pod_hours"].to_pylist())
    worst = 0.0
    for pod in cluster.pods:
        if pod.host_network or pod.network is None:
            continue
        for i, name in enumerate(POD_HOUR_NETWORK):
            error = abs(got[pod.uid][i] / truth[pod.uid][i] - 1)
            if pod.seconds >= 300:
                worst = max(worst, error)
                assert error < 0.05, f"{pod.namespace}/{pod.name} {name}: {error:.2%}"
            else:  # the 90- and 61-second executors: 3 and 2 scrapes
                assert error < 0.35, f"{pod.namespace}/{pod.name} {name}: {error:.2%}"
    print(f"worst per-pod network error (pods of 5 minutes or more): {worst:.3%}")


def test_a_pods_cgroup_and_its_sandbox_are_one_counter(synthetic_prometheus, two_days):
    """Node A's cAdvisor reports each pod's network namespace twice (pause container and pod cgroup), the
    trainer has two interfaces, and the node's root cgroup (pod="") has its own: each pod's bytes once."""
    cluster = synthetic_prometheus.cluster
    truth = cluster.network_truth()
    got = {(r["pod_uid"], r["hour"].timestamp()): r for r in two_days["pod_hours"].to_pylist()}
    web = cluster.pod("web-6b7c9d8f5-xk2lp")
    assert cluster.nodes[0].pod_cgroup_network and web.node == cluster.nodes[0].name
    noon = (web.uid, cluster.start + 12 * 3600)
    # Long-running: the hour's bytes are the increments between its scrapes (within 2% of the integral).
    assert got[noon]["network_receive_bytes"] == pytest.approx(truth[noon][0], rel=0.02)
    trainer = cluster.pod("trainer-7xk9q")
    assert set(trainer.network.receive) == {"eth0", "net1"}
    hour = (trainer.uid, cluster.start + 86400 + 3 * 3600)  # 03:00, inside its run on day 2
    assert got[hour]["network_transmit_bytes"] == pytest.approx(truth[hour][1], rel=0.02)


def test_a_network_counter_reset_neither_inflates_nor_loses_bytes(synthetic_prometheus, two_days):
    cluster = synthetic_prometheus.cluster
    web = cluster.pod("web-6b7c9d8f5-xk2lp")
    (reset,) = web.network.resets
    hour = cluster.start + (reset - cluster.start) // 3600 * 3600
    truth = cluster.network_truth()[(web.uid, hour)]
    (row,) = [r for r in two_days["pod_hours"].to_pylist() if r["pod_uid"] == web.uid and r["hour"].timestamp() == hour]
    # A reset loses at most the part of one scrape interval before it (0.8% of an hour at most).
    assert row["network_receive_bytes"] == pytest.approx(truth[0], rel=0.02)
    assert row["network_transmit_bytes"] == pytest.approx(truth[1], rel=0.02)
    rate = web.network.receive["eth0"]
    assert web.network.counter(rate, web.start, reset - 1) > 10 * truth[0]  # the counter's own span is absurd


def test_a_host_network_pod_has_no_byte_data_and_is_marked(synthetic_prometheus, two_days):
    cluster = synthetic_prometheus.cluster
    proxy = cluster.pod("kube-proxy-7vq2m")
    rows = [r for r in two_days["pod_hours"].to_pylist() if r["pod_uid"] == proxy.uid]
    assert len(rows) == 48 and all(r["running_seconds"] == 3600 for r in rows)
    # Its sandbox reports the node's eth0 (gigabytes an hour): none of that is the pod's.
    assert {(r["network_receive_bytes"], r["network_transmit_bytes"]) for r in rows} == {(None, None)}
    pods = two_days["pods"].to_pylist()
    assert {r["host_network"] for r in pods if r["pod_uid"] == proxy.uid} == {True}
    assert {r["host_network"] for r in pods if r["pod_uid"] != proxy.uid} == {False}


# --- PersistentVolumes -------------------------------------------------------------------------------


def volume_hours(two_days: dict) -> dict[tuple[str, float], dict]:
    hours: dict[tuple[str, float], dict] = defaultdict(lambda: {"claims": {}})
    for r in two_days["persistent_volume_hours"].to_pylist():
        entry = hours[(r["persistent_volume"], r["hour"].timestamp())]
        claim = (r["claim_namespace"], r["claim_name"]) if r["claim_name"] else None
        entry["claims"][claim] = r["claim_seconds"]
        entry["last_seen"] = entry.get("last_seen", {}) | {claim: r["claim_last_seen"]}
        for name in ("phase", "capacity_bytes", "volume_handle", "storage_class"):
            entry[name] = r[name]
    return hours


def test_persistent_volume_hours_match_the_truth(synthetic_prometheus, two_days):
    """Every PV-hour: the seconds its claimRef named each claim (or none), the phase in force longest, the
    mean capacity and the EBS volume id, exactly (every change falls between two scrapes)."""
    truth = synthetic_prometheus.cluster.volume_truth()
    got = volume_hours(two_days)
    assert got.keys() == truth.keys()
    for key, expected in truth.items():
        for name, value in expected.items():
            assert got[key][name] == pytest.approx(value), (key, name)


def test_a_pv_released_then_bound_to_another_namespace(synthetic_prometheus, two_days):
    cluster = synthetic_prometheus.cluster
    got = volume_hours(two_days)
    shuffle = "pvc-9c7d3b1a-2e4f-4a6b-8c0d-1f3e5a7b9c20"
    at = lambda day, hour: cluster.start + day * 86400 + hour * 3600  # noqa: E731
    # 15:40:00 its claim is deleted (Released, the claimRef kept): 15:00 is still Bound for most of the hour.
    assert got[(shuffle, at(0, 15))]["phase"] == "Bound" and got[(shuffle, at(0, 16))]["phase"] == "Released"
    assert got[(shuffle, at(0, 16))]["claims"] == {("spark-jobs", "shuffle-spark-pi"): 3600}
    # 17:10:00 the claimRef is cleared, 17:25:30 a claim in ml binds it. kube-state-metrics is scraped at :13
    # and :43: 20 scrapes name the old claim (17:00:13 to 17:09:43), 31 none (17:10:13 to 17:25:13) and 69 the
    # new one (17:25:43 to 17:59:43), 30 s each.
    hour17 = got[(shuffle, at(0, 17))]
    assert hour17["claims"] == {("spark-jobs", "shuffle-spark-pi"): 600, None: 930, ("ml", "trainer-scratch"): 2070}
    assert hour17["phase"] == "Bound"  # Released 600 s, Available 930 s, Bound 2070 s
    assert hour17["volume_handle"] == "vol-0a7c9e1b3d5f70246"  # in-tree aws://us-east-1b/vol-0a7c9e1b3d5f70246
    # 09:30:00 on day 2 the claimRef moves straight to another claim (and kube-state-metrics restarts at
    # 09:41:01): 60 scrapes each; the later binding is the one last seen later.
    hour9 = got[(shuffle, at(1, 9))]
    assert hour9["claims"] == {("ml", "trainer-scratch"): 1800, ("spark-jobs", "shuffle-spark-pi-2"): 1800}
    assert {claim: seen.strftime("%H:%M:%S") for claim, seen in hour9["last_seen"].items()} == {
        ("ml", "trainer-scratch"): "09:29:43",
        ("spark-jobs", "shuffle-spark-pi-2"): "09:59:43",
    }


def test_pv_capacity_unclaimed_and_deleted_volumes(synthetic_prometheus, two_days):
    cluster = synthetic_prometheus.cluster
    got = volume_hours(two_days)
    at = lambda hour: cluster.start + hour * 3600  # noqa: E731
    data = got[("pvc-5a1e0c2d-4f1b-4c7e-9d3a-8b2f6e4c1a90", at(16))]
    # Grown from 100 to 200 GiB at 16:20:00: (20 x 100 + 40 x 200) / 60 = 166.67 GiB over the hour.
    assert data["capacity_bytes"] == pytest.approx((20 * 100 + 40 * 200) / 60 * 2**30)
    assert (data["volume_handle"], data["storage_class"]) == ("vol-0db5f3e1a2c4b6d80", "gp3")
    orphan = "pvc-e2b4d6f8-0a1c-4e3b-9d5f-7a9c1e3b5d70"  # created 08:12:00, deleted 20:05:00, never claimed
    hours = sorted(h for pv, h in got if pv == orphan)
    assert hours == [at(h) for h in range(8, 21)]
    assert got[(orphan, at(8))]["claims"] == {None: 2880} and got[(orphan, at(20))]["claims"] == {None: 300}
    assert got[(orphan, at(12))]["claims"] == {None: 3600} and got[(orphan, at(12))]["phase"] == "Available"


def test_pod_volume_claims_per_pod_and_day(synthetic_prometheus, two_days):
    cluster = synthetic_prometheus.cluster
    rows = {(r["pod_uid"], r["date"], r["claim"]): r for r in two_days["pod_volume_claims"].to_pylist()}
    expected = {
        (pod.uid, day, claim): (pod.namespace, volume, read_only)
        for pod in cluster.pods
        for volume, claim, read_only in pod.claims
        for window in (DAY1, DAY2)
        if pod.created < window.end.timestamp() and pod.deleted > window.start.timestamp()  # it existed that day
        for day in (window.start.date(),)
    }
    assert {k: (r["namespace"], r["volume"], r["read_only"]) for k, r in rows.items()} == expected
    driver = cluster.pod("spark-pi-driver")
    assert rows[(driver.uid, DAY1.start.date(), "shuffle-spark-pi")]["volume"] == "spark-local-dir-1"
    web = cluster.pod("web-6b7c9d8f5-xk2lp")
    assert rows[(web.uid, DAY2.start.date(), "static-assets")]["read_only"] is True


# --- faults -----------------------------------------------------------------------------------------


# --- the owners of pods' ReplicaSets and Jobs --------------------------------------------------------


def test_owners_of_the_pods_replicasets_and_jobs_per_day(synthetic_prometheus, two_days):
    """kube_replicaset_owner and kube_job_owner as kube-state-metrics writes them (tests/services/prometheus.py,
    ``_owned_objects``): one row per ReplicaSet or Job that owned a pod seen that day, with its controlling
    owner. A Rollout's ReplicaSet is the Rollout's; a bare ReplicaSet (``"<none>"`` owner labels before
    kube-state-metrics' upgrade, none after) has no owner; a Job's non-controlling owner is not its owner; an
    old ReplicaSet with no pods is not collected."""
    day1, day2 = DAY1.start.date(), DAY2.start.date()
    always = [
        ("kube-system", "ReplicaSet", "coredns-5d78c9869d", "Deployment", "coredns"),
        ("team-a", "ReplicaSet", "web-6b7c9d8f5", "Rollout", "storefront"),
    ]
    expected = {(day1, *row) for row in always} | {(day2, *row) for row in always}
    expected |= {
        (day2, "kube-system", "ReplicaSet", "legacy-proxy", None, None),
        (day2, "ml", "Job", "trainer", "CronJob", "trainer-nightly"),
    }
    rows = two_days["owners"].to_pylist()
    got = [(r["date"], r["namespace"], r["kind"], r["name"], r["owner_kind"], r["owner_name"]) for r in rows]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert {r["cluster"] for r in rows} == {"synthetic"}
    # Every day lands its own partition: each day's batch holds that day's rows only.
    assert [{r["date"] for r in day["owners"].to_pylist()} for day in two_days["days"]] == [{day1}, {day2}]


def test_owners_do_not_depend_on_the_chunking(synthetic_prometheus, two_days):
    one_chunk = collect(synthetic_prometheus.url, DAY2, chunk_hours=24)
    assert ordered(one_chunk["owners"]) == ordered(two_days["days"][1]["owners"])


def test_prometheus_stopped_mid_collection_fails_naming_source_and_window(synthetic_prometheus, tmp_path):
    server = synthetic_prometheus.serve_copy(tmp_path / "tsdb")
    try:
        collector = PrometheusCollector(
            "synthetic", PrometheusSettings(url=server.url, max_concurrency=2), retry=FAST_RETRY, chunk_hours=4
        )
        batches = collector.collect(DAY1)
        first = next(batches)
        assert first.stream is POD_HOURS and first.data.num_rows > 0
        server.stop()
        with pytest.raises(CollectError) as caught:
            list(batches)
    finally:
        server.stop()
    error = caught.value
    assert error.source == "prometheus" and error.window == DAY1
    message = str(error)
    assert message.startswith(f"prometheus {DAY1}: query ")
    # The next chunk's queries are already submitted (one chunk of look-ahead): one that reaches the server
    # while it shuts down gets Prometheus's own error ("block is closing", seen under load) rather than a
    # refused connection. Either way the collection stops with the cause named.
    refused = "ConnectionError" in message and "gave up after 3 attempts" in message
    assert refused or "block is closing" in message, message


def test_throttling_and_5xx_are_retried_honouring_retry_after(synthetic_prometheus, two_days):
    with FaultProxy(synthetic_prometheus.url) as proxy:
        proxy.fail(429, "1")
        proxy.fail(503)
        began = time.perf_counter()
        got = collect(proxy.url, DAY1, settings={"max_concurrency": 1}, retry=FAST_RETRY)
        elapsed = time.perf_counter() - began
    assert [s.status for s in proxy.seen[:3]] == [429, 503, 200]
    assert proxy.seen[0].form == proxy.seen[1].form == proxy.seen[2].form  # the same query, again
    assert {s.method for s in proxy.seen} == {"POST"}  # retried although urllib3 does not retry POST by default
    assert elapsed >= 1.0  # waited as Retry-After asked
    for name in ("pod_hours", "node_hours", "namespace_labels", "pods"):
        assert ordered(got[name]) == ordered(two_days["days"][0][name]), name


def test_every_query_asks_for_a_whole_answer_at_whole_seconds(synthetic_prometheus):
    with FaultProxy(synthetic_prometheus.url) as proxy:
        collect(proxy.url, Window(START, START + timedelta(hours=6)), settings={"max_concurrency": 1})
    ranges = [s.form for s in proxy.seen if s.path == "/api/v1/query_range"]
    instants = [s.form for s in proxy.seen if s.path == "/api/v1/query"]
    assert len(ranges) == len(HOURLY_QUERIES) and len(instants) == len(CHUNK_QUERIES)
    assert {form["partial_response"] for form in ranges + instants} == {"false"}  # Thanos: no partial answers
    first_end, last_end = (START + timedelta(hours=1)).timestamp(), (START + timedelta(hours=6)).timestamp()
    assert {(form["start"], form["end"], form["step"]) for form in ranges} == {
        (str(int(first_end)), str(int(last_end)), "3600")
    }
    # Completion times are read two scrape intervals past the chunk: one in its last interval is seen only then.
    ahead = {promql(CHUNK_QUERIES[name], 30, 6 * 3600 + 60) for name in LOOK_AHEAD_INTERVALS}
    assert {form["time"] for form in instants if form["query"] not in ahead} == {f"{last_end:.3f}"}
    assert {form["time"] for form in instants if form["query"] in ahead} == {f"{last_end + 60:.3f}"}
    assert {form["query"] for form in ranges} == {promql(query, 30) for query in HOURLY_QUERIES.values()}


def test_a_bad_query_fails_at_once_with_its_cause(synthetic_prometheus):
    with FaultProxy(synthetic_prometheus.url) as proxy:
        proxy.fail(400)
        with pytest.raises(CollectError, match=r"HTTP 400 .*bad_data: injected 400") as caught:
            collect(proxy.url, DAY1, settings={"max_concurrency": 1}, retry=FAST_RETRY)
    assert re.search(r"query \w+ for hours \[2025-03-10T00:00Z, 2025-03-10T06:00Z\)", str(caught.value))
    assert [s.status for s in proxy.seen].count(400) == 1


def test_retries_give_up_after_the_policys_attempts(synthetic_prometheus):
    with FaultProxy(synthetic_prometheus.url) as proxy:
        proxy.fail(502, times=10)
        with pytest.raises(CollectError, match=r"HTTP 502 .* \(gave up after 3 attempts\)"):
            collect(proxy.url, DAY1, settings={"max_concurrency": 1}, retry=FAST_RETRY)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"auth": "bearer", "bearer_token": "t0ken"}, r"Bearer t0ken"),
        ({"auth": "basic", "username": "chargeback", "password": "pw"}, r"Basic Y2hhcmdlYmFjazpwdw=="),
        (
            {"auth": "sigv4", "sigv4_region": "us-west-2"},
            r"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-west-2/aps/aws4_request, "
            r"SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}",
        ),
    ],
)
def test_authentication_reaches_the_server(synthetic_prometheus, settings, expected):
    with FaultProxy(synthetic_prometheus.url) as proxy:
        client = PrometheusClient(
            PrometheusSettings(url=proxy.url, headers={"X-Scope-OrgID": "tenant-1"}, **settings),
            credentials=Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        )
        assert client.query("up", START.timestamp()) == []
    (seen,) = proxy.seen
    assert re.fullmatch(expected, seen.headers["Authorization"])
    assert seen.headers["X-Scope-OrgID"] == "tenant-1"
    if settings["auth"] == "sigv4":
        assert re.fullmatch(r"\d{8}T\d{6}Z", seen.headers["X-Amz-Date"])


def test_a_bearer_token_file_is_read_per_request(synthetic_prometheus, tmp_path):
    token = tmp_path / "token"
    token.write_text("first\n")
    with FaultProxy(synthetic_prometheus.url) as proxy:
        client = PrometheusClient(PrometheusSettings(url=proxy.url, auth="bearer", bearer_token_file=token))
        client.query("up", START.timestamp())
        token.write_text("rotated\n")
        client.query("up", START.timestamp())
    assert [s.headers["Authorization"] for s in proxy.seen] == ["Bearer first", "Bearer rotated"]


# --- pieces -----------------------------------------------------------------------------------------


def test_query_range_refuses_more_than_the_points_limit():
    client = PrometheusClient(PrometheusSettings(url="http://127.0.0.1:1"))
    with pytest.raises(QueryError, match="over Prometheus's 11000"):
        client.query_range("up", 0, MAX_POINTS * 30, 30)


def test_warnings_are_logged_and_a_wrong_answer_fails(synthetic_prometheus, caplog):
    with FaultProxy(synthetic_prometheus.url) as proxy:
        client = PrometheusClient(PrometheusSettings(url=proxy.url), retry=FAST_RETRY)
        data = {"resultType": "vector", "result": []}
        proxy.answer({"status": "success", "warnings": ["some stores did not answer"], "data": data})
        with caplog.at_level(logging.WARNING, logger="collectors.prometheus_http"):
            assert client.query("up", START.timestamp()) == []
        assert "some stores did not answer" in caplog.text
        proxy.answer({"status": "success", "data": {"resultType": "matrix", "result": []}})
        with pytest.raises(QueryError, match=r"/api/v1/query: expected a vector, got 'matrix'"):
            client.query("up", START.timestamp())
        proxy.answer({"status": "error", "errorType": "timeout", "error": "query timed out"})
        with pytest.raises(QueryError, match=r"/api/v1/query_range: timeout: query timed out"):
            client.query_range("up", START.timestamp(), START.timestamp() + 3600, 3600)


def test_kube_state_metrics_labels_map_back_to_original_keys():
    keys = label_key_map(["team.example.com/tenant"])
    metric = {
        "__name__": "kube_pod_labels",
        "namespace": "spark",
        "label_emr_containers_amazonaws_com_job_id": "job-1",
        "label_spark_role": "driver",
        "label_team_example_com_tenant": "alpha",
        "label_tenant": "beta",
        "label_some_other_key": "kept sanitized",
        "label_empty": "",
    }
    assert original_labels(metric, keys) == {
        "emr-containers.amazonaws.com/job.id": "job-1",
        "spark-role": "driver",
        "team.example.com/tenant": "alpha",
        "tenant": "beta",
        "some_other_key": "kept sanitized",
    }


def test_queries_are_filled_for_the_scrape_interval():
    query = promql(POD_CPU_CORE_SECONDS, 15)
    assert "[29999ms]" in query and "[14999ms] offset 30000ms" in query and "[3599999ms:15000ms]" in query
    assert "<" not in query.replace("<none>", "")


def test_metrics_lists_every_series_the_queries_read():
    queries = (*HOURLY_QUERIES.values(), *CHUNK_QUERIES.values())
    assert {name for query in queries for name in re.findall(r"\b(?:kube|container)_[a-z_]+", query)} == set(METRICS)


def test_constructed_from_cluster_settings_without_io():
    cluster = ClusterSettings(name="prod", prometheus=PrometheusSettings(url="http://prometheus:9090"))
    collector = PrometheusCollector(cluster)
    assert (collector.cluster, collector.source) == ("prod", "prometheus")
    assert collector.streams() == (
        POD_HOURS,
        PODS,
        NAMESPACE_LABELS,
        NODE_HOURS,
        PERSISTENT_VOLUME_HOURS,
        POD_VOLUME_CLAIMS,
        OWNERS,
    )
    with pytest.raises(ValueError, match="no \\[clusters.prometheus\\]"):
        PrometheusCollector(ClusterSettings(name="bare"))


def test_the_server_answers_like_prometheus(synthetic_prometheus):
    build = requests.get(f"{synthetic_prometheus.url}/api/v1/status/buildinfo", timeout=5).json()["data"]
    assert build["version"].startswith("2.")
