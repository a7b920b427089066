"""Quota use and recommendations: hand-made series whose answers are worked out here, and the sample month."""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
import typer
import yaml
from kubernetes.utils import parse_quantity
from typer.testing import CliRunner

from chargeback.build.engines import build
from chargeback.cli.quotas import register
from chargeback.core import config as config_module
from chargeback.raw.landing import land
from chargeback.reports.quotas import NO_LIMIT_DATA, quantity, quota_report, round_up
from collectors import streams
from tests.conftest import Built
from tests.factory import GIB, START, Scenario
from tests.sample_support import copy_built

RESOURCES = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "pods")


def quota_rows(namespace: str, hard: dict[str, float], cluster: str = "test-cluster") -> list[dict]:
    return [
        {
            "cluster": cluster,
            "collected_at": START + timedelta(days=31),
            "namespace": namespace,
            "quota": "compute-resources",
            "resource": resource,
            "hard": value,
            "used": None,
        }
        for resource, value in hard.items()
    ]


@pytest.fixture
def built(tmp_path):
    """Three namespaces, each alone on its own node at $1/h so costs are whole dollars.

    - busy, on an m6i.32xlarge (128 vCPU, 512 GiB: a request must fit its node, else validation sets it to 0):
      100 hours, hour h requests h+1 cores (1..100) and 16 GiB, uses all of it: pays $1 every hour.
    - lazy: 100 hours of 2 cores / 8 GiB requested, 0.5 cores / 4 GiB used.
    - tiny: 10 hours only.
    """
    s = Scenario()
    s.node("n-busy", "m6i.32xlarge", range(0, 100), 1.0, vcpu=128, memory_gib=512)
    for h in range(100):
        s.pod(
            "busy",
            f"busy-{h}",
            "n-busy",
            [h],
            cpu_request=h + 1,
            cpu_usage=h + 1,
            memory_request_gib=16,
            memory_usage_gib=16,
        )
    s.node("n-lazy", "m5.xlarge", range(0, 100), 1.0, vcpu=4, memory_gib=16)
    s.pod(
        "lazy",
        "lazy-1",
        "n-lazy",
        range(0, 100),
        cpu_request=2,
        cpu_usage=0.5,
        memory_request_gib=8,
        memory_usage_gib=4,
    )
    s.node("n-tiny", "m5.xlarge", range(0, 10), 1.0, vcpu=4, memory_gib=16)
    s.pod(
        "tiny", "tiny-1", "n-tiny", range(0, 10), cpu_request=1, cpu_usage=1, memory_request_gib=4, memory_usage_gib=4
    )
    rows = (
        quota_rows(
            "busy",
            {
                "requests.cpu": 100.0,
                "requests.memory": 20.0 * GIB,
                "limits.cpu": 200.0,
                "limits.memory": 32.0 * GIB,
                "pods": 2.0,
            },
        )
        + quota_rows("lazy", {"requests.cpu": 4.0, "requests.memory": 8.0 * GIB, "pods": 3.0})
        + quota_rows("tiny", {"cpu": 2.0, "memory": 8.0 * GIB})  # short names, as kubectl allows
    )
    data_dir = s.write(tmp_path / "data")
    land(data_dir, streams.K8S_RESOURCE_QUOTAS, pa.Table.from_pylist(rows, schema=streams.K8S_RESOURCE_QUOTAS.schema))
    config = config_module.parse({"data_dir": str(data_dir)})
    build(config)
    return Built(config)


def by_namespace(report) -> dict:
    return {ns.namespace: ns for ns in report.namespaces}


def resource(ns, name: str):
    return next(r for r in ns.resources if r.resource == name)


def test_quantiles_and_recommendation_of_a_known_series(built):
    busy = by_namespace(quota_report(built.config))["busy"]
    cpu = resource(busy, "requests.cpu")
    series = list(range(1, 101))

    def linear(q: float) -> float:  # quantile by linear interpolation, worked out independently
        pos = q * (len(series) - 1)
        low = math.floor(pos)
        return series[low] + (pos - low) * (series[min(low + 1, len(series) - 1)] - series[low])

    assert cpu.hours == 100
    assert cpu.requested_median == pytest.approx(50.5)
    assert cpu.requested_p95 == pytest.approx(linear(0.95)) == pytest.approx(95.05)
    assert cpu.requested_p99 == pytest.approx(99.01)
    assert cpu.requested_max == pytest.approx(100)
    assert cpu.used_p95 == pytest.approx(95.05)
    # 95.05 x 1.2 = 114.06 cores, rounded up to 100m
    assert cpu.recommended == pytest.approx(114.1)
    assert cpu.recommended_quantity == "114100m"
    # hours at >= 90% of hard 100: requests 90..100 cores = 11 hours, $1 each (the pod fills its node)
    assert cpu.hours_near_limit == 11
    assert cpu.near_limit_cost == pytest.approx(Decimal(11))
    # memory: 16 GiB every hour x 1.2 = 19.2 GiB = 19660.8 Mi -> 154 x 128Mi = 19712Mi; 16/20 = 80% is not near
    memory = resource(busy, "requests.memory")
    assert memory.recommended_quantity == "19712Mi"
    assert memory.hours_near_limit == 0
    # pods: one pod each hour; 1 x 1.2 rounded up = 2; 1/2 < 90%
    pods = resource(busy, "pods")
    assert (pods.requested_p95, pods.recommended_quantity, pods.hours_near_limit) == (1, "2", 0)
    for name in ("limits.cpu", "limits.memory"):
        limit = resource(busy, name)
        assert limit.requested_p95 is None and limit.recommended is None
        assert limit.evidence.startswith(NO_LIMIT_DATA)
    assert busy.advice == "ok" and not cpu.right_size_first


def test_configured_quantile_headroom_and_near_ratio_are_used(built):
    config = built.config.model_copy(
        update={
            "capacity": built.config.capacity.model_copy(
                update={"quota_quantile": 0.5, "quota_headroom": 0.0, "near_limit_ratio": 0.5}
            )
        }
    )
    cpu = resource(by_namespace(quota_report(config, namespace="busy"))["busy"], "requests.cpu")
    assert cpu.requested_at_quantile == pytest.approx(50.5)
    assert cpu.recommended_quantity == "50500m"
    assert cpu.hours_near_limit == 51  # 50..100 cores
    assert cpu.near_limit_cost == pytest.approx(Decimal(51))


def test_too_little_history_says_so_instead_of_recommending(built):
    tiny = by_namespace(quota_report(built.config))["tiny"]
    assert tiny.too_little_history and tiny.hours == 10
    assert tiny.advice == "too little history (10 h)"
    for use in tiny.resources:
        assert use.recommended is None
    cpu = resource(tiny, "requests.cpu")
    assert cpu.hard == 2  # `cpu` is the short name of requests.cpu
    assert cpu.evidence.startswith("too little history (10 h)")


def test_over_requesting_namespace_is_told_to_right_size_first_with_the_money(built):
    lazy = by_namespace(quota_report(built.config))["lazy"]
    cpu, memory = resource(lazy, "requests.cpu"), resource(lazy, "requests.memory")
    # scad weights: u = $1 / (9 x 4 + 1 x 16) = 1/52 per weighted unit; the pod requests 2 of 4 cores and 8 of
    # 16 GiB and, alone on the node, takes all of the idle too: cpu costs (18 + 18)/52 and memory (8 + 8)/52 an hour.
    assert cpu.over_request_ratio == pytest.approx(4.0)
    assert memory.over_request_ratio == pytest.approx(2.0)
    assert cpu.right_size_first and memory.right_size_first
    cpu_money = Decimal(100 * 36) / 52 * Decimal("0.75")
    memory_money = Decimal(100 * 16) / 52 * Decimal("0.5")
    assert cpu.money_at_stake == pytest.approx(cpu_money, abs=Decimal("0.000001"))
    assert memory.money_at_stake == pytest.approx(memory_money, abs=Decimal("0.000001"))
    assert lazy.advice == f"right-size cpu and memory requests first: ${cpu_money + memory_money:,.2f} at stake"
    assert "right-size requests first ($51.92 at stake)" in cpu.evidence


def test_yaml_manifests_are_valid_resource_quotas_with_evidence(built):
    documents = list(yaml.safe_load_all(quota_report(built.config).to_yaml()))
    assert [d["metadata"]["namespace"] for d in documents] == ["busy", "lazy", "tiny"]
    for doc in documents:
        assert_resource_quota(doc)
    busy = documents[0]
    assert busy["spec"]["hard"]["requests.cpu"] == "114100m"
    assert busy["spec"]["hard"]["limits.cpu"] == "200"  # no data: current hard kept
    assert busy["metadata"]["annotations"]["chargeback.io/requests.cpu"] == (
        "p95 95.05 cores over 100 h + 20% headroom; current hard 100; 11 h at >= 90% costing $11.00;"
        " usage p95 95.05 cores"
    )
    assert documents[2]["spec"]["hard"] == {"requests.cpu": "2", "requests.memory": "8Gi"}


# Kubernetes' rule for annotation keys: an optional DNS-subdomain prefix and "/", then a name of at
# most 63 characters of [A-Za-z0-9-_.] that starts and ends alphanumeric.
ANNOTATION_KEY = re.compile(
    r"^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*/)?"
    r"(?=.{1,63}$)[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


def assert_resource_quota(doc: dict) -> None:
    assert doc["apiVersion"] == "v1" and doc["kind"] == "ResourceQuota"
    assert doc["metadata"]["name"] and doc["metadata"]["namespace"]
    assert doc["spec"]["hard"]
    annotations = doc["metadata"]["annotations"]
    bad_keys = [key for key in annotations if not ANNOTATION_KEY.match(key)]
    assert bad_keys == []
    for name, value in doc["spec"]["hard"].items():
        assert isinstance(value, str)
        assert parse_quantity(value) >= 0
        assert annotations["chargeback.io/" + name.replace("/", "-")]


def test_quantities_round_up_to_sensible_steps():
    assert (round_up("requests.cpu", 3.71 * 1.2), quantity("requests.cpu", 4.5)) == (pytest.approx(4.5), "4500m")
    assert quantity("requests.cpu", round_up("requests.cpu", 3.6)) == "3600m"
    assert quantity("requests.memory", round_up("requests.memory", 11.9)) == "12Gi"
    assert quantity("requests.memory", round_up("requests.memory", 0.01)) == "128Mi"
    assert quantity("pods", round_up("pods", 6.000000000000001)) == "6"
    assert parse_quantity(quantity("requests.memory", 19712 / 1024)) == 19712 * 2**20


def test_json_and_table_through_the_command(built):
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """Group, so `quotas` stays a subcommand."""

    runner = CliRunner()
    args = ["quotas", "--data-dir", str(built.config.data_dir), "--namespace", "lazy"]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["period"] == "2026-10"
    [lazy] = payload["namespaces"]
    assert lazy["money_at_stake"] == f"{Decimal(3600) / 52 * Decimal('0.75') + Decimal(1600) / 52 / 2:.2f}"
    table = runner.invoke(app, [*args, "--format", "table"])
    assert table.exit_code == 0 and "right-size first" in table.output


def test_sample_month_yaml_gives_a_manifest_per_namespace_with_a_quota(tmp_path, built_sample):
    config = copy_built(built_sample, tmp_path / "data")
    report = quota_report(config)
    assert report.period == "2026-10"
    documents = list(yaml.safe_load_all(report.to_yaml()))
    assert {d["metadata"]["namespace"] for d in documents} == {
        "payments-api",
        "payments-web",
        "data-eng-etl",
        "emr-data-eng",
        "ml-serving",
        "ml-training",
        "emr-ml",
        "sandbox",
    }
    for doc in documents:
        assert_resource_quota(doc)
    manifests = {d["metadata"]["namespace"]: d for d in documents}
    # payments-api runs 3 x 1 core all month against a hard of 3.2: near the limit every hour
    api = manifests["payments-api"]["metadata"]["annotations"]["chargeback.io/requests.cpu"]
    assert api.startswith("p95 3.00 cores over 744 h + 20% headroom; current hard 3200m; 744 h at >= 90% costing $")
    assert manifests["payments-api"]["spec"]["hard"]["requests.cpu"] == "3600m"
    assert manifests["emr-ml"]["metadata"]["annotations"]["chargeback.io/advice"] == "too little history (38 h)"
    # emr-data-eng: daily-sales-etl asks 1 + 5 x 2 = 11 cores at once (sample_data/generate.py), far above the
    # hourly p95 of its 20-minute runs: the recommendation is raised to it
    etl = manifests["emr-data-eng"]
    assert etl["spec"]["hard"]["requests.cpu"] == "11"
    assert (
        "raised to fit Spark job daily-sales-etl at full scale (11.00 cores)"
        in (etl["metadata"]["annotations"]["chargeback.io/requests.cpu"])
    )
    assert manifests["sandbox"]["metadata"]["annotations"]["chargeback.io/advice"].startswith(
        "right-size cpu requests first: $"
    )


def test_recommendation_never_goes_below_a_recurring_spark_job_at_full_scale(tmp_path):
    """A steady 1-core / 2 GiB pod all 100 hours, plus a daily Spark job asking a 1-core / 2 GiB driver and
    3 executors of 2 cores / 4 GiB for 20 minutes: hourly averages stay near the steady pod, but the job
    needs 1 + 3 x 2 = 7 cores, 2 + 3 x 4 = 14 GiB and 4 pods at once."""
    s = Scenario()
    s.node("n1", "m5.4xlarge", range(100), 1.0, vcpu=16, memory_gib=64)
    s.pod("spark", "steady-1", "n1", range(100), cpu_request=1, cpu_usage=1, memory_request_gib=2, memory_usage_gib=2)
    s.virtual_cluster("vc1", "etl-spark", "spark")
    for day, h in enumerate((5, 29, 53, 77)):
        job = f"job{day}"
        s.job_run(job, "vc1", "etl", h)
        s.job_runs[-1].update(executor_instances=3, executor_cores=2.0, executor_memory_bytes=3.5 * GIB)
        emr = {"emr-containers.amazonaws.com/job.id": job}
        s.pod(
            "spark",
            f"etl-{job}-driver",
            "n1",
            [h],
            cpu_request=1,
            cpu_usage=1,
            memory_request_gib=2,
            memory_usage_gib=1,
            running_seconds=1200,
            labels={**emr, "spark-role": "driver"},
            owner=None,
        )
        for e in range(3):
            s.pod(
                "spark",
                f"etl-{job}-exec-{e}",
                "n1",
                [h],
                cpu_request=2,
                cpu_usage=1,
                memory_request_gib=4,
                memory_usage_gib=3,
                running_seconds=1200,
                labels={**emr, "spark-role": "executor"},
                owner=None,
            )
    # a November run asking 50 executors: another month, so no floor for October
    s.job_run("job-nov", "vc1", "etl", 24 * 33)
    s.job_runs[-1].update(executor_instances=50, executor_cores=2.0, state="FAILED")
    data_dir = s.write(tmp_path / "data")
    rows = quota_rows("spark", {"requests.cpu": 8.0, "requests.memory": 16.0 * GIB, "pods": 10.0})
    land(data_dir, streams.K8S_RESOURCE_QUOTAS, pa.Table.from_pylist(rows, schema=streams.K8S_RESOURCE_QUOTAS.schema))
    config = config_module.parse({"data_dir": str(data_dir)})
    build(config)

    spark = by_namespace(quota_report(config, "2026-10"))["spark"]
    cpu, memory, pods = (resource(spark, name) for name in ("requests.cpu", "requests.memory", "pods"))
    # job hours: 1 + 7 x 1200/3600 = 3.33 cores; 96 of 100 hours at 1 core, so p95 (rank 94.05) is 1 core
    assert cpu.requested_p95 == pytest.approx(1) and cpu.requested_max == pytest.approx(1 + 7 / 3)
    # 1 x 1.2 = 1.2 cores would refuse the job's executors: raised to its 7 cores
    assert (cpu.recommended, cpu.recommended_quantity) == (7.0, "7")
    assert "raised to fit Spark job etl at full scale (7.00 cores)" in cpu.evidence
    assert (memory.recommended_quantity, pods.recommended_quantity) == ("14Gi", "4")
    assert "14.00 GiB" in memory.evidence
