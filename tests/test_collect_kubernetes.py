"""The Kubernetes collector, through the official client, against a local server of recorded list JSON.

Expected numbers are worked out by hand from ``tests/fixtures/k8s`` (Ki = 1024 bytes, m = 1/1000 core).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from kubernetes import client as k8s

from chargeback.core.config import ClusterSettings, KubernetesSettings
from chargeback.core.errors import CollectError, ConfigError
from chargeback.core.http import RetryPolicy
from chargeback.raw.landing import DayWriter, partitions
from collectors.base import Window
from collectors.kubernetes import RETRY, KubernetesCollector, from_settings, quantity
from collectors.streams import (
    K8S_LIMIT_RANGES,
    K8S_NAMESPACES,
    K8S_NODES,
    K8S_PERSISTENT_VOLUMES,
    K8S_PRIORITY_CLASSES,
    K8S_RESOURCE_QUOTAS,
)
from tests.services.k8s_api import FakeKubeApi, decode_continue

NAMESPACES = "/api/v1/namespaces"
NODES = "/api/v1/nodes"
QUOTAS = "/api/v1/resourcequotas"
PRIORITY_CLASSES = "/apis/scheduling.k8s.io/v1/priorityclasses"

NOW = datetime(2026, 10, 28, 9, 0, 12, tzinfo=UTC)
WINDOW = Window(datetime(2026, 10, 28, tzinfo=UTC), datetime(2026, 10, 29, tzinfo=UTC))
GI = 2**30


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    with FakeKubeApi() as server:
        yield server


# The collector's own policy with tiny waits, so that retries cost the suite milliseconds.
FAST = RetryPolicy(attempts=RETRY.attempts, backoff_seconds=0.01, max_backoff_seconds=0.05)


@pytest.fixture
def waits(caplog: pytest.LogCaptureFixture) -> Callable[[], list[float]]:
    """The waits the retry policy chose before each retry, in order (it logs every retry)."""
    caplog.set_level(logging.INFO, logger="chargeback.core.http")
    return lambda: [r.retry_wait_seconds for r in caplog.records if hasattr(r, "retry_wait_seconds")]


def api_client(url: str, token: str | None = None, policy: RetryPolicy = FAST) -> k8s.ApiClient:
    configuration = k8s.Configuration(host=url)
    configuration.retries = policy.retry()  # as from_settings does
    if token:
        configuration.api_key = {"authorization": f"Bearer {token}"}
    return k8s.ApiClient(configuration)


def make_collector(api: FakeKubeApi, policy: RetryPolicy = FAST, **options) -> KubernetesCollector:
    options.setdefault("page_size", 500)
    return KubernetesCollector("prod-use1", api_client(api.url, policy=policy), clock=lambda: NOW, **options)


def snapshot(collector: KubernetesCollector) -> dict[str, list]:
    """Every batch, grouped by table key, in the order they came."""
    batches = defaultdict(list)
    for batch in collector.collect(WINDOW):
        batches[batch.stream.key].append(batch.data)
    return batches


def rows(batches: dict[str, list], table) -> list[dict]:
    return [row for data in batches[table.key] for row in data.to_pylist()]


def by(rows_: list[dict], *keys: str) -> dict:
    return {tuple(row[k] for k in keys) if len(keys) > 1 else row[keys[0]]: row for row in rows_}


# --- What lands ----------------------------------------------------------------------------------------


def test_snapshot_yields_every_table_conformed_and_stamped(api):
    batches = snapshot(make_collector(api))

    counts = {key: sum(data.num_rows for data in datas) for key, datas in batches.items()}
    assert counts == {
        "kubernetes/namespaces": 7,
        "kubernetes/nodes": 4,
        "kubernetes/resource_quotas": 4 + 3 + 6,  # one row per resource of each quota
        "kubernetes/limit_ranges": 4 + 3,  # (Container, Pod) x (cpu, memory); Container cpu, memory + PVC storage
        "kubernetes/priority_classes": 3,
        "kubernetes/persistent_volumes": 5,
    }
    tables = (
        K8S_NAMESPACES,
        K8S_NODES,
        K8S_RESOURCE_QUOTAS,
        K8S_LIMIT_RANGES,
        K8S_PRIORITY_CLASSES,
        K8S_PERSISTENT_VOLUMES,
    )
    for table in tables:
        for data in batches[table.key]:
            assert data.schema == table.schema
            assert set(data.column("collected_at").to_pylist()) == {NOW}
            assert set(data.column("cluster").to_pylist()) == {"prod-use1"}


def test_node_capacity_and_allocatable_in_cores_and_bytes(api):
    nodes = by(rows(snapshot(make_collector(api)), K8S_NODES), "node")

    m5 = nodes["ip-10-0-101-23.ec2.internal"]
    assert m5["cpu_capacity_cores"] == 4.0
    assert m5["cpu_allocatable_cores"] == 3.92  # "3920m"
    assert m5["memory_capacity_bytes"] == 16_278_077_440.0  # "15896560Ki" = 15896560 * 1024
    assert m5["memory_allocatable_bytes"] == 15_236_841_472.0  # "14879728Ki"
    assert (m5["gpu_capacity"], m5["gpu_allocatable"]) == (0.0, 0.0)  # reports resources, none of them GPUs
    assert m5["provider_id"] == "aws:///us-east-1a/i-0a1f3c5e7b9d20001"
    assert m5["instance_type"] == "m5.xlarge"
    assert m5["taints"] == []
    assert m5["created_at"] == datetime(2026, 9, 14, 3, 21, 7, tzinfo=UTC)

    gpu = nodes["ip-10-0-104-89.ec2.internal"]
    assert (gpu["gpu_capacity"], gpu["gpu_allocatable"]) == (1.0, 1.0)
    assert gpu["memory_allocatable_bytes"] == 15_626_567_680.0  # "15260320Ki"
    assert gpu["instance_type"] == "g4dn.xlarge"

    r5 = nodes["ip-10-0-103-67.ec2.internal"]
    assert r5["cpu_allocatable_cores"] == 7.91  # "7910m"
    assert r5["memory_capacity_bytes"] == 66_587_729_920.0  # "65027080Ki"


def test_node_labels_taints_and_instance_type_fallback(api):
    nodes = by(rows(snapshot(make_collector(api)), K8S_NODES), "node")

    dedicated = nodes["ip-10-0-103-67.ec2.internal"]
    labels = dict(dedicated["labels"])
    assert labels["chargeback.io/tenant"] == "data-eng"
    assert labels["eks.amazonaws.com/nodegroup"] == "data-eng-dedicated"
    assert labels["eks.amazonaws.com/capacityType"] == "ON_DEMAND"
    assert dedicated["taints"] == ["dedicated=data-eng:NoSchedule"]

    assert nodes["ip-10-0-104-89.ec2.internal"]["taints"] == ["nvidia.com/gpu:NoSchedule"]  # a taint with no value

    spot = nodes["ip-10-0-102-45.ec2.internal"]  # an older kubelet: only the beta instance-type label
    assert "node.kubernetes.io/instance-type" not in dict(spot["labels"])
    assert spot["instance_type"] == "m5.2xlarge"
    assert dict(spot["labels"])["eks.amazonaws.com/capacityType"] == "SPOT"


def test_namespaces_keep_labels_and_annotations(api):
    namespaces = by(rows(snapshot(make_collector(api)), K8S_NAMESPACES), "namespace")

    assert sorted(namespaces) == [
        "default",
        "emr-data-eng",
        "kube-system",
        "ml-serving",
        "monitoring",
        "payments-api",
        "sandbox",
    ]
    ml = namespaces["ml-serving"]
    assert dict(ml["labels"])["tenant"] == "ml"
    assert ml["uid"] == "b3c4d5e6-f7a8-4b9c-8d0e-1f2a3b4c5d04"
    assert ml["created_at"] == datetime(2025, 8, 2, 7, 45, 10, tzinfo=UTC)
    assert dict(namespaces["emr-data-eng"]["annotations"])["chargeback.io/cost-center"] == "CC-4410"
    assert dict(namespaces["monitoring"]["annotations"])["meta.helm.sh/release-name"] == "kube-prometheus-stack"
    assert "tenant" not in dict(namespaces["sandbox"]["labels"])
    assert namespaces["default"]["annotations"] == []


def test_resource_quotas_one_row_per_resource_with_hard_and_used(api):
    quotas = by(rows(snapshot(make_collector(api)), K8S_RESOURCE_QUOTAS), "namespace", "resource")

    emr_cpu = quotas["emr-data-eng", "requests.cpu"]
    assert (emr_cpu["quota"], emr_cpu["hard"], emr_cpu["used"]) == ("compute-quota", 200.0, 37.5)  # "37500m"
    assert quotas["emr-data-eng", "pods"]["hard"] == 2000.0  # "2k"
    assert quotas["emr-data-eng", "limits.memory"]["hard"] == 1_099_511_627_776.0  # "1Ti" = 2^40
    assert quotas["emr-data-eng", "limits.memory"]["used"] == 300 * GI
    assert quotas["payments-api", "limits.memory"]["hard"] == 100_000_000_000.0  # "100G" is decimal
    assert quotas["payments-api", "limits.memory"]["used"] == 37_580_963_840.0  # "35Gi"
    assert quotas["payments-api", "count/deployments.apps"]["used"] == 14.0
    assert (
        quotas["ml-serving", "requests.nvidia.com/gpu"]["hard"],
        quotas["ml-serving", "requests.nvidia.com/gpu"]["used"],
    ) == (4.0, 1.0)
    assert quotas["ml-serving", "requests.memory"]["used"] == 12 * GI


def test_limit_ranges_one_row_per_type_and_resource(api):
    limits = by(rows(snapshot(make_collector(api)), K8S_LIMIT_RANGES), "namespace", "type", "resource")

    assert sorted(limits) == [
        ("payments-api", "Container", "cpu"),
        ("payments-api", "Container", "memory"),
        ("payments-api", "Pod", "cpu"),
        ("payments-api", "Pod", "memory"),
        ("sandbox", "Container", "cpu"),
        ("sandbox", "Container", "memory"),
        ("sandbox", "PersistentVolumeClaim", "storage"),
    ]
    cpu = limits["payments-api", "Container", "cpu"]
    assert (cpu["default_limit"], cpu["default_request"], cpu["min"], cpu["max"]) == (0.5, 0.25, 0.05, 2.0)
    memory = limits["payments-api", "Container", "memory"]
    assert (memory["default_limit"], memory["default_request"]) == (536_870_912.0, 268_435_456.0)  # 512Mi, 256Mi
    assert (memory["min"], memory["max"]) == (67_108_864.0, 4 * GI)  # 64Mi, 4Gi
    pod = limits["payments-api", "Pod", "memory"]
    assert (pod["default_limit"], pod["default_request"], pod["min"], pod["max"]) == (None, None, None, 8 * GI)
    pvc = limits["sandbox", "PersistentVolumeClaim", "storage"]
    assert (pvc["min"], pvc["max"], pvc["limit_range"]) == (1 * GI, 10 * GI, "sandbox-limits")


def test_priority_classes(api):
    classes = by(rows(snapshot(make_collector(api)), K8S_PRIORITY_CLASSES), "priority_class")

    assert {name: (c["value"], c["global_default"], c["preemption_policy"]) for name, c in classes.items()} == {
        "default-workloads": (1000, True, "PreemptLowerPriority"),
        "spark-batch": (-100, False, "Never"),  # the API omits globalDefault when false
        "system-cluster-critical": (2_000_000_000, False, "PreemptLowerPriority"),
    }


def test_persistent_volumes_with_their_ebs_volume_claim_and_phase(api):
    pvs = by(rows(snapshot(make_collector(api)), K8S_PERSISTENT_VOLUMES), "persistent_volume")

    bound = pvs["pvc-0b8e6f2a-7c1d-4e5f-9a3b-2d4c6e8f0a11"]  # EBS CSI: the volume handle is the volume id
    assert (bound["volume_handle"], bound["storage_class"], bound["phase"]) == ("vol-0c3a5e7f9b1d24680", "gp3", "Bound")
    assert (bound["claim_namespace"], bound["claim_name"]) == ("payments-api", "data-ledger-db-0")
    assert bound["capacity_bytes"] == 100 * GI  # "100Gi"
    assert bound["created_at"] == datetime(2025, 11, 2, 9, 14, 27, tzinfo=UTC)
    released = pvs["pvc-3d9f1b7c-5e2a-4c8d-b6f0-a1c3e5d7f922"]  # Retain: its claim is gone, its claimRef stays
    assert (released["phase"], released["claim_namespace"], released["claim_name"]) == (
        "Released",
        "emr-data-eng",
        "spark-shuffle-nightly",
    )
    available = pvs["pvc-6a2c4e8b-0d1f-4b3a-8c5e-7f9a1b3c5d33"]  # never claimed
    assert (available["phase"], available["claim_namespace"], available["claim_name"]) == ("Available", None, None)
    in_tree = pvs["pvc-8e4a6c0d-2f3b-4d5c-9e7a-b1d3f5a7c944"]  # volumeID "aws://us-east-1c/vol-04f3e2d1c0b9a8776"
    assert (in_tree["volume_handle"], in_tree["storage_class"]) == ("vol-04f3e2d1c0b9a8776", "gp2")
    assert in_tree["capacity_bytes"] == 8 * GI
    efs = pvs["ml-datasets-efs"]  # not EBS: the handle as it is; an empty storageClassName is none
    assert (efs["volume_handle"], efs["storage_class"]) == ("fs-0123456789abcdef0::fsap-0fedcba9876543210", None)
    assert efs["capacity_bytes"] == 5 * 2**40  # "5Ti"


def test_paged_batches_land_as_one_day_partition_per_table(api, tmp_path):
    collector = make_collector(api, page_size=3)
    with DayWriter(tmp_path, "2026-10-28", collector.streams(), str(WINDOW)) as writer:  # as `chargeback collect`
        for batch in collector.collect(WINDOW):
            writer.write(batch.stream, batch.data)
        writer.commit()

    [nodes] = partitions(tmp_path, K8S_NODES)
    assert nodes.parent.name == "day=2026-10-28"
    assert pq.read_table(nodes).num_rows == 4  # two pages (3 + 1), one partition
    assert pq.read_table(partitions(tmp_path, K8S_NAMESPACES)[0]).num_rows == 7


# --- Paging ---------------------------------------------------------------------------------------------


def test_lists_are_paged_with_limit_and_continue(api):
    batches = snapshot(make_collector(api, page_size=3))

    assert [data.num_rows for data in batches["kubernetes/namespaces"]] == [3, 3, 1]
    assert [data.num_rows for data in batches["kubernetes/nodes"]] == [3, 1]
    requests = api.requests_to(NAMESPACES)
    assert [(r.limit, r.status) for r in requests] == [(3, 200), (3, 200), (3, 200)]
    tokens = [r.continue_token for r in requests]
    assert tokens[0] is None
    # The server's opaque tokens, sent back verbatim: each resumes after the last name of the page before.
    assert [decode_continue(token)["start"] for token in tokens[1:]] == ["kube-system\x00", "payments-api\x00"]
    assert len(api.requests) == 3 + 2 + 1 + 1 + 1 + 2  # ... and 5 PersistentVolumes: 3 + 2


def test_constructing_does_no_io(api):
    make_collector(api)
    assert api.requests == []


def test_fake_server_honours_label_selector_through_the_official_client(api):
    core = k8s.CoreV1Api(api_client(api.url))

    tenants = core.list_namespace(label_selector="tenant=ml")
    assert [ns.metadata.name for ns in tenants.items] == ["ml-serving"]
    first = core.list_node(label_selector="eks.amazonaws.com/capacityType=ON_DEMAND", limit=2)
    rest = core.list_node(
        label_selector="eks.amazonaws.com/capacityType=ON_DEMAND", limit=2, _continue=first.metadata._continue
    )
    assert [n.metadata.name for n in first.items + rest.items] == [
        "ip-10-0-101-23.ec2.internal",
        "ip-10-0-103-67.ec2.internal",
        "ip-10-0-104-89.ec2.internal",
    ]
    assert rest.metadata._continue is None


# --- Failures --------------------------------------------------------------------------------------------


def test_throttling_is_retried_after_the_servers_retry_after(api, waits):
    api.fail(NODES, 429, retry_after=1)

    began = time.perf_counter()
    nodes = rows(snapshot(make_collector(api)), K8S_NODES)

    assert len(nodes) == 4
    assert [r.status for r in api.requests_to(NODES)] == [429, 200]
    assert waits() == [1.0] and time.perf_counter() - began >= 1.0


def test_server_errors_are_retried_with_growing_backoff(api, waits):
    api.fail(QUOTAS, 503, times=2)

    quotas = rows(snapshot(make_collector(api, RetryPolicy(backoff_seconds=0.05))), K8S_RESOURCE_QUOTAS)

    assert len(quotas) == 13
    assert [r.status for r in api.requests_to(QUOTAS)] == [503, 503, 200]
    first, second = waits()
    assert 0.025 <= first <= 0.05 and 0.05 <= second <= 0.1  # 0.05 s then 0.1 s, jittered down by up to half


def test_retries_are_bounded_and_the_error_names_source_window_and_cause(api, waits):
    api.fail(QUOTAS, 500, times=3)

    with pytest.raises(CollectError) as caught:
        snapshot(make_collector(api, RetryPolicy(attempts=3, backoff_seconds=0.01)))

    message = str(caught.value)
    assert message.startswith("kubernetes [2026-10-28T00:00Z, 2026-10-29T00:00Z): ")
    assert "resourcequotas" in message and "after 3 attempts" in message
    assert "HTTP 500" in message and "etcdserver: request timed out" in message
    assert len(api.requests_to(QUOTAS)) == 3 and len(waits()) == 2


def test_forbidden_names_the_missing_permission_and_the_rbac_rule(api, waits):
    api.fail(PRIORITY_CLASSES, 403)

    with pytest.raises(CollectError) as caught:
        snapshot(make_collector(api))

    error = caught.value
    assert (error.source, error.window) == ("kubernetes", WINDOW)
    assert "forbidden (HTTP 403) to list priorityclasses (API group scheduling.k8s.io" in error.cause
    assert '{apiGroups: ["scheduling.k8s.io"], resources: ["priorityclasses"], verbs: ["get", "list"]}' in error.cause
    assert "kubectl create clusterrole chargeback-reader --verb=get,list" in error.cause
    assert 'User "system:serviceaccount:chargeback:collector" cannot list resource "priorityclasses"' in error.cause
    assert len(api.requests_to(PRIORITY_CLASSES)) == 1  # a permission error is not retried
    assert waits() == []


def test_an_unknown_api_says_the_server_does_not_serve_it(api, waits):
    api.fail(PRIORITY_CLASSES, 404)

    with pytest.raises(
        CollectError, match=r"not found \(HTTP 404\) listing priorityclasses .* does not serve this API"
    ):
        snapshot(make_collector(api))
    assert len(api.requests_to(PRIORITY_CLASSES)) == 1 and waits() == []


def test_rejected_credentials_say_so():
    with FakeKubeApi(token="the-right-token") as api:
        collector = KubernetesCollector("prod-use1", api_client(api.url, token="an-expired-token"), clock=lambda: NOW)
        with pytest.raises(
            CollectError, match=r"unauthorized \(HTTP 401\) listing namespaces .* rejected the credentials"
        ):
            snapshot(collector)


def test_an_expired_continue_token_restarts_the_list_once(api):
    api.expire_continue(NAMESPACES)

    batches = snapshot(make_collector(api, page_size=3))

    names = [row["namespace"] for row in rows(batches, K8S_NAMESPACES)]
    assert len(names) == len(set(names)) == 7  # nothing lost, nothing twice
    assert [data.num_rows for data in batches["kubernetes/namespaces"]] == [3, 3, 1]
    requests = api.requests_to(NAMESPACES)
    assert [(r.continue_token is not None, r.status) for r in requests] == [
        (False, 200),
        (True, 410),
        (False, 200),  # the restart: its first page is already out, so it yields nothing
        (True, 200),
        (True, 200),
    ]


def test_a_second_expired_continue_token_fails(api):
    api.expire_continue(NAMESPACES, times=2)

    with pytest.raises(CollectError, match=r"continue token expired \(410 Gone\) twice.*raise page_size"):
        snapshot(make_collector(api, page_size=3))


def test_slow_answers_time_out(api, waits):
    api.delay(NODES, 0.6, times=2)

    with pytest.raises(CollectError) as caught:
        snapshot(make_collector(api, RetryPolicy(attempts=2, backoff_seconds=0.01), timeout=(1.0, 0.2)))

    assert "listing nodes" in caught.value.cause and "after 2 attempts" in caught.value.cause
    assert "read 0.2s" in caught.value.cause and "timed out" in caught.value.cause
    assert len(waits()) == 1  # (the server records a request when it answers, after the client gave up)


def test_an_unreachable_server_fails_after_bounded_attempts(waits):
    client = api_client("http://127.0.0.1:9", policy=RetryPolicy(attempts=2, backoff_seconds=0.01))
    collector = KubernetesCollector("prod-use1", client, clock=lambda: NOW)
    with pytest.raises(CollectError, match=r"listing namespaces on http://127.0.0.1:9 failed after 2 attempts"):
        snapshot(collector)
    assert len(waits()) == 1


def test_a_malformed_quantity_is_reported_not_dropped(api):
    api.lists[NODES]["items"][1]["status"]["allocatable"]["memory"] = "31 gigs"

    with pytest.raises(CollectError, match=r"nodes ip-10-0-102-45.ec2.internal: quantity '31 gigs' does not parse"):
        snapshot(make_collector(api))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", 0.5),
        ("3920m", 3.92),
        ("16Gi", 17_179_869_184.0),
        ("15896560Ki", 16_278_077_440.0),
        ("1.5", 1.5),
        ("100M", 100_000_000.0),
        ("2k", 2000.0),
        ("1e3", 1000.0),
        ("0", 0.0),
    ],
)
def test_quantities(text, value):
    assert quantity(text) == value


# --- Construction from configuration ------------------------------------------------------------------


def test_from_settings_uses_the_kubeconfig_context_token_and_page_size(tmp_path):
    with FakeKubeApi(token="s3cret") as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="prod-use1-admin")
        cluster = ClusterSettings(
            name="prod-use1",
            kubernetes=KubernetesSettings(
                kubeconfig=kubeconfig, context="prod-use1-admin", page_size=2, timeout_seconds=5
            ),
        )
        collector = from_settings(cluster, clock=lambda: NOW)
        assert api.requests == []  # reading the kubeconfig contacts nothing

        namespaces = [
            row
            for batch in collector.collect(WINDOW)
            if batch.stream is K8S_NAMESPACES
            for row in batch.data.to_pylist()
        ]

    assert len(namespaces) == 7
    assert collector.cluster_name == "prod-use1" and collector.timeout == (5.0, 5.0)
    assert [r.limit for r in api.requests_to(NAMESPACES)] == [2, 2, 2, 2]  # 7 namespaces, 2 a page
    assert {r.authorization for r in api.requests} == {"Bearer s3cret"}


def test_from_settings_reports_a_missing_kubeconfig(tmp_path):
    cluster = ClusterSettings(name="prod-use1", kubernetes=KubernetesSettings(kubeconfig=tmp_path / "nope"))
    with pytest.raises(ConfigError, match=r"cluster 'prod-use1': cannot load the kubeconfig .*nope"):
        from_settings(cluster)


def test_from_settings_reports_an_unknown_context(tmp_path, api):
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    cluster = ClusterSettings(name="prod-use1", kubernetes=KubernetesSettings(kubeconfig=kubeconfig, context="staging"))
    with pytest.raises(ConfigError, match=r"cluster 'prod-use1': cannot load the kubeconfig .*staging"):
        from_settings(cluster)


def test_from_settings_in_cluster_outside_a_pod(monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    cluster = ClusterSettings(name="prod-use1", kubernetes=KubernetesSettings(in_cluster=True))
    with pytest.raises(ConfigError, match=r"cluster 'prod-use1': cannot load the in-cluster service account"):
        from_settings(cluster)


def test_from_settings_needs_a_kubernetes_table():
    with pytest.raises(ConfigError, match=r"no \[clusters.kubernetes\] table"):
        from_settings(ClusterSettings(name="prod-use1"))


def test_kubeconfig_path_is_expanded(tmp_path, monkeypatch, api):
    monkeypatch.setenv("HOME", str(tmp_path))
    api.write_kubeconfig(tmp_path / "kubeconfig")
    cluster = ClusterSettings(
        name="prod-use1", kubernetes=KubernetesSettings(kubeconfig=Path("~/kubeconfig"), context="fake-eks")
    )
    assert from_settings(cluster).api_client.configuration.host == api.url
