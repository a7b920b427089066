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
    POD_CPU_CORE_SECONDS,
    label_key_map,
    original_labels,
    promql,
)
from collectors.streams import NAMESPACE_LABELS, NODE_HOURS, POD_HOUR_MEASURES, POD_HOURS, PODS
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
        for table in (POD_HOURS, NAMESPACE_LABELS, NODE_HOURS):
            hours = day[table.name].column("hour").to_pylist()
            assert hours and all(window.start <= h < window.end for h in hours), table.name
        assert set(day[PODS.name].column("date").to_pylist()) == {window.start.date()}
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
    for name in ("pod_hours", "node_hours", "namespace_labels", "pods"):
        assert ordered(odd[name]) == ordered(two_days["days"][0][name]), name


def test_a_window_of_some_hours(synthetic_prometheus, two_days):
    window = Window(START + timedelta(hours=14), START + timedelta(hours=16))
    part = collect(synthetic_prometheus.url, window)["pod_hours"]
    whole = two_days["days"][0]["pod_hours"].to_pylist()
    assert part.to_pylist() == [r for r in whole if window.start <= r["hour"] < window.end]


def test_throughput(two_days):
    pod_hours = two_days["pod_hours"].num_rows
    print(f"\ncollected {pod_hours} pod-hours in {two_days['seconds']:.2f} s: {pod_hours / two_days['seconds']:,.0f}/s")


# --- faults -----------------------------------------------------------------------------------------


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


def test_constructed_from_cluster_settings_without_io():
    cluster = ClusterSettings(name="prod", prometheus=PrometheusSettings(url="http://prometheus:9090"))
    collector = PrometheusCollector(cluster)
    assert (collector.cluster, collector.source) == ("prod", "prometheus")
    assert collector.streams() == (POD_HOURS, PODS, NAMESPACE_LABELS, NODE_HOURS)
    with pytest.raises(ValueError, match="no \\[clusters.prometheus\\]"):
        PrometheusCollector(ClusterSettings(name="bare"))


def test_the_server_answers_like_prometheus(synthetic_prometheus):
    build = requests.get(f"{synthetic_prometheus.url}/api/v1/status/buildinfo", timeout=5).json()["data"]
    assert build["version"].startswith("2.")
