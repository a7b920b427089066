"""Right-sizing, LimitRange and ResourceQuota checks, through the real pipeline, with numbers worked out by hand.

The node is an m5.xlarge at $1/h (4 vCPU, 16 GiB) under the scad weights: u = 1 / (9*4 + 1*16) = 1/52,
so a core-hour costs 9/52 and a GiB-hour 1/52. Pods there allocate less than the node has, so every pod
pays exactly those unit prices for what it allocates (cpu_cost / cpu_allocated_core_hours = 9/52).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import typer
from typer.testing import CliRunner

from chargeback.build.engines import build
from chargeback.cli.rightsize import register
from chargeback.core import config as config_module
from chargeback.core.errors import ConfigError
from chargeback.raw.landing import land
from chargeback.reports.rightsize import job_quota_fits, limit_violations, rightsize
from collectors import streams
from tests.factory import GIB, START, Scenario, hour

CPU_PRICE = 9 / 52
MEMORY_PRICE = 1 / 52
MIB = 1024**2

# web (Deployment): 100 hours, request 2 cores, usage 0.01, 0.02, ..., 1.00 cores.
# p95 by linear interpolation: rank 0.95 * 99 = 94.05 -> 0.95 + 0.05 * (0.96 - 0.95) = 0.9505.
WEB_P95 = 0.9505
WEB_CPU_RECOMMENDED = 0.9505 / 0.8  # 1.188125
WEB_CPU_SAVING = (2 - 1.188125) * 100 * 9 / 52  # 14.051683
# web memory: request 4 GiB, usage 2 GiB every hour -> 2 / 0.8 = 2.5 GiB; (4 - 2.5) * 100 / 52 = 2.884615
WEB_MEMORY_SAVING = (4 - 2.5) * 100 / 52
# agent (DaemonSet): 100 hours, request 0.1 cores, usage 0.5 -> recommended 0.625; allocated 0.5 pays 9/52 a core:
# (0.1 - 0.625) * 100 * 9/52 = -9.086538, "raise request".
AGENT_CPU_SAVING = (0.1 - 0.625) * 100 * 9 / 52


def scenario() -> Scenario:
    s = Scenario()
    s.node("node-1", "m5.xlarge", range(100), 1.0, vcpu=4, memory_gib=16)
    s.pod(
        "shop",
        "web-7d4b9-x2x9z",
        "node-1",
        range(100),
        cpu_request=2,
        cpu_usage=0,
        memory_request_gib=4,
        memory_usage_gib=2,
        owner=("ReplicaSet", "web-7d4b9"),
    )
    for n, row in enumerate(r for r in s.pod_hours if r["pod"] == "web-7d4b9-x2x9z"):
        row["cpu_usage_core_seconds"] = (n + 1) / 100 * 3600  # 0.01 .. 1.00 cores
    s.pod(
        "kube-system",
        "agent-abcde",
        "node-1",
        range(100),
        cpu_request=0.1,
        cpu_usage=0.5,
        memory_request_gib=0.5,
        memory_usage_gib=0.1,
        owner=("DaemonSet", "agent"),
    )
    # 10 hours only: too little history (72 by default)
    s.pod(
        "shop",
        "db-0",
        "node-1",
        range(10),
        cpu_request=0.5,
        cpu_usage=0.1,
        memory_request_gib=1,
        memory_usage_gib=0.5,
        owner=("StatefulSet", "db"),
    )
    # Spark on its own node: job "nightly-etl" runs twice, one executor of 1 core / 4 GiB each run
    s.node("node-2", "m5.xlarge", range(2), 1.0, vcpu=4, memory_gib=16)
    s.virtual_cluster("vc1", "analytics-spark", "emr-analytics")
    for job_id, h in (("job1", 0), ("job2", 1)):
        s.job_run(job_id, "vc1", "nightly-etl", h)
        s.pod(
            "emr-analytics",
            f"nightly-etl-{job_id}-exec-1",
            "node-2",
            [h],
            cpu_request=1,
            cpu_usage=0.5,
            memory_request_gib=4,
            memory_usage_gib=3,
            owner=None,
            labels={"emr-containers.amazonaws.com/job.id": job_id, "spark-role": "executor"},
        )
    # "wide-etl" asks for 7-core executors and an 8 GiB driver; it never got pods (refused at submission)
    s.job_run("job3", "vc1", "wide-etl", 5)
    s.job_runs[-1].update(executor_cores=7.0, driver_memory_bytes=8.0 * GIB, state="FAILED")
    # "tiny-driver" asks for a 0.25-core driver, below the container min of 0.5
    s.job_run("job4", "vc1", "tiny-driver", 6)
    s.job_runs[-1].update(driver_cores=0.25, state="FAILED")
    return s


def limit_range_rows() -> list[dict]:
    def row(limit_type: str, resource: str, lo: float | None, hi: float | None) -> dict:
        return {
            "cluster": "test-cluster",
            "collected_at": START,
            "namespace": "emr-analytics",
            "limit_range": "spark-limits",
            "type": limit_type,
            "resource": resource,
            "default_limit": None,
            "default_request": None,
            "min": lo,
            "max": hi,
        }

    return [
        row("Container", "cpu", 0.5, 6.0),
        row("Container", "memory", 256 * MIB, 8 * GIB),
        row("Pod", "cpu", None, 8.0),
        row("PersistentVolumeClaim", "storage", None, 1.0),  # not a pod shape: ignored
    ]


def resource_quota_rows() -> list[dict]:
    def row(collected_at, quota: str, resource: str, hard: float) -> dict:
        return {
            "cluster": "test-cluster",
            "collected_at": collected_at,
            "namespace": "emr-analytics",
            "quota": quota,
            "resource": resource,
            "hard": hard,
            "used": 0.0,
        }

    current = hour(24 * 30)
    return [
        # an older snapshot with room for everything: the current one binds
        row(START, "compute", "requests.cpu", 100.0),
        row(START, "compute", "requests.memory", 100.0 * GIB),
        # now: 4 cores, 10 GiB, and pods bound by the smaller of two quotas (3, not 10)
        row(current, "compute", "requests.cpu", 4.0),
        row(current, "compute", "memory", 10.0 * GIB),  # the short name of requests.memory
        row(current, "compute", "pods", 10.0),
        row(current, "spark-pods", "pods", 3.0),
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> config_module.Config:
    data_dir = tmp_path_factory.mktemp("rightsize") / "data"
    scenario().write(data_dir)
    table = streams.K8S_LIMIT_RANGES
    land(data_dir, table, pa.Table.from_pylist(limit_range_rows(), schema=table.schema), origin="test")
    table = streams.K8S_RESOURCE_QUOTAS
    land(data_dir, table, pa.Table.from_pylist(resource_quota_rows(), schema=table.schema), origin="test")
    config = config_module.parse({"data_dir": str(data_dir)})
    build(config)
    return config


def by_workload(report, name: str, resource: str):
    (found,) = [r for r in report.recommendations if r.workload_name == name and r.resource == resource]
    return found


def test_recommended_request_is_the_usage_quantile_over_target_utilisation(built):
    report = rightsize(built, "2026-10")
    web = by_workload(report, "web", "cpu")
    assert web.workload_kind == "Deployment" and web.namespace == "shop"
    assert web.pod_hours == 100 and web.request == pytest.approx(2)
    assert web.usage_quantile == pytest.approx(WEB_P95, abs=1e-12)
    assert web.recommended == pytest.approx(1.188125, abs=1e-12)
    assert web.price_per_unit_hour == pytest.approx(CPU_PRICE, abs=1e-12)
    assert float(web.monthly_saving) == pytest.approx(WEB_CPU_SAVING, abs=1e-9)
    assert round(WEB_CPU_SAVING, 6) == 14.051683
    assert web.verdict == "lower request"
    memory = by_workload(report, "web", "memory")
    assert memory.recommended == pytest.approx(2.5, abs=1e-12)
    assert memory.price_per_unit_hour == pytest.approx(MEMORY_PRICE, abs=1e-12)
    assert float(memory.monthly_saving) == pytest.approx(WEB_MEMORY_SAVING, abs=1e-9)


def test_under_requested_workload_is_told_to_raise_with_the_risk(built):
    report = rightsize(built, "2026-10")
    agent = by_workload(report, "agent", "cpu")
    assert agent.workload_kind == "DaemonSet"
    assert agent.recommended == pytest.approx(0.625, abs=1e-12)
    assert float(agent.monthly_saving) == pytest.approx(AGENT_CPU_SAVING, abs=1e-9)
    assert agent.verdict == "raise request" and "above the request" in agent.note and "throttling" in agent.note
    # memory: usage 0.1 GiB / 0.8 = 0.125 GiB, which is also the floor; request 0.5 -> (0.5 - 0.125) * 100 / 52
    memory = by_workload(report, "agent", "memory")
    assert memory.recommended == pytest.approx(0.125, abs=1e-12)
    assert float(memory.monthly_saving) == pytest.approx(0.375 * 100 / 52, abs=1e-9)
    assert report.total_raise_cost == -agent.monthly_saving


def test_floors_apply(built):
    config = built.model_copy(update={"capacity": built.capacity.model_copy(update={"min_cpu_cores": 1.5})})
    web = by_workload(rightsize(config, "2026-10"), "web", "cpu")
    assert web.recommended == 1.5
    assert float(web.monthly_saving) == pytest.approx(0.5 * 100 * CPU_PRICE, abs=1e-9)


def test_too_little_history_says_so(built):
    report = rightsize(built, "2026-10")
    db = by_workload(report, "db", "cpu")
    assert db.verdict == "too little history" and db.recommended is None and db.monthly_saving is None
    assert "10 pod-hours" in db.note and "72" in db.note


def test_spark_jobs_are_right_sized_per_executor_by_job_name_and_virtual_cluster(built):
    report = rightsize(built)  # default: the latest month
    assert report.period == "2026-10"
    etl = by_workload(report, "nightly-etl", "cpu")
    assert etl.workload_kind == "SparkJob" and etl.virtual_cluster_name == "analytics-spark"
    assert (etl.job_run_count, etl.pod_count, etl.pod_hours, etl.request) == (2, 2, 2, 1)
    assert etl.verdict == "too little history"


def test_unsupported_quantile_is_a_config_error(built):
    config = built.model_copy(update={"capacity": built.capacity.model_copy(update={"rightsize_quantile": 0.97})})
    with pytest.raises(ConfigError, match="0.97"):
        rightsize(config)


def test_spark_shapes_that_break_a_limit_range_are_flagged(built):
    found = {(v.job_name, v.spark_role, v.resource, v.limit_type, v.bound): v for v in limit_violations(built)}
    assert set(found) == {
        ("wide-etl", "executor", "cpu", "Container", "max"),
        ("wide-etl", "driver", "memory", "Container", "max"),
        ("tiny-driver", "driver", "cpu", "Container", "min"),
    }
    cores = found["wide-etl", "executor", "cpu", "Container", "max"]
    assert (cores.shape_amount, cores.limit_amount, cores.shape_source) == (7, 6, "spark-submit")
    assert cores.virtual_cluster_name == "analytics-spark" and cores.namespace == "emr-analytics"
    # driver: 8 GiB + overhead max(384 MiB, 10%) = 8.8 GiB = 9,448,928,051.2 bytes, against 8 GiB
    memory = found["wide-etl", "driver", "memory", "Container", "max"]
    assert memory.shape_amount == round(8 * GIB * 1.1) == 9448928051
    assert memory.limit_amount == 8 * GIB == 8589934592
    assert "9,448,928,051 bytes" in memory.description
    tiny = found["tiny-driver", "driver", "cpu", "Container", "min"]
    assert (tiny.shape_amount, tiny.limit_amount) == (0.25, 0.5)
    # nightly-etl fits: executors observed at 1 core / 4 GiB, drivers 1 core / 2 GiB + 384 MiB
    assert not [v for v in found.values() if v.job_name == "nightly-etl"]


# Full-scale footprints (2 executors each, the factory's spark.executor.instances), worked by hand:
# nightly-etl: executors observed at 1 core / 4 GiB, driver from spark-submit 1 core / 2 GiB + 384 MiB = 2.375 GiB
#   cpu 1 + 2 x 1 = 3 <= 4 fits; memory 2.375 + 2 x 4 = 10.375 > 10: floor((10 - 2.375) / 4) = 1 executor admitted
# wide-etl: 7-core executors, 8 GiB driver (+10% = 8.8), executors 2 GiB + 384 MiB
#   cpu 1 + 2 x 7 = 15 > 4: floor((4 - 1) / 7) = 0 admitted; memory 8.8 + 2 x 2.375 = 13.55 > 10: floor(1.2 / 2.375) = 0
# tiny-driver: cpu 0.25 + 2 = 2.25 fits; memory 2.375 + 2 x 2.375 = 7.125 fits
# pods: 1 + 2 = 3 for every job, against the binding hard of 3 (spark-pods): fits, exactly
EXPECTED_QUOTA_FITS = {
    ("nightly-etl", "requests.cpu"): (3.0, 4.0, True, 2),
    ("nightly-etl", "requests.memory"): (10.375, 10.0, False, 1),
    ("nightly-etl", "pods"): (3.0, 3.0, True, 2),
    ("wide-etl", "requests.cpu"): (15.0, 4.0, False, 0),
    ("wide-etl", "requests.memory"): (13.55, 10.0, False, 0),
    ("wide-etl", "pods"): (3.0, 3.0, True, 2),
    ("tiny-driver", "requests.cpu"): (2.25, 4.0, True, 2),
    ("tiny-driver", "requests.memory"): (7.125, 10.0, True, 2),
    ("tiny-driver", "pods"): (3.0, 3.0, True, 2),
}


def test_spark_jobs_at_full_scale_are_checked_against_the_current_quota(built):
    fits = job_quota_fits(built)
    found = {(f.job_name, f.resource): (f.footprint, f.hard, f.fits, f.executors_fitting) for f in fits}
    assert found.keys() == EXPECTED_QUOTA_FITS.keys()
    for key, (footprint, hard, fit, admitted) in EXPECTED_QUOTA_FITS.items():
        assert found[key][0] == pytest.approx(footprint, abs=1e-6), key
        assert found[key][1:] == (hard, fit, admitted), key
    quotas = {(f.job_name, f.resource): f.quota for f in fits}
    assert quotas["nightly-etl", "pods"] == "spark-pods" and quotas["nightly-etl", "requests.cpu"] == "compute"
    misfits = job_quota_fits(built, only_misfits=True)
    assert {(f.job_name, f.resource) for f in misfits} == {k for k, v in EXPECTED_QUOTA_FITS.items() if not v[2]}
    wide = next(f for f in misfits if (f.job_name, f.resource) == ("wide-etl", "requests.cpu"))
    assert wide.description == (
        "wide-etl at full scale asks requests.cpu 15 cores (driver 1 + 2 executors × 7), above quota compute"
        " hard 4 cores: only 0 of 2 executors are admitted, the rest are refused by the API server"
    )


@pytest.fixture(scope="module")
def cli(built, tmp_path_factory):
    app = typer.Typer()
    register(app)
    config_file: Path = tmp_path_factory.mktemp("config") / "chargeback.toml"
    config_file.write_text(f'data_dir = "{built.data_dir}"\n')

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, [*args, "--config", str(config_file)])
        assert result.exit_code == 0, result.output
        return result.stdout

    return run


def test_cli_rightsize_json_carries_the_numbers(cli):
    report = json.loads(cli("rightsize", "--period", "2026-10", "--format", "json"))
    rows = {(r["workload_name"], r["resource"]): r for r in report["recommendations"]}
    web = rows["web", "cpu"]
    assert web["recommended"] == pytest.approx(1.188125, abs=1e-12)
    assert Decimal(web["monthly_saving"]) == Decimal("14.05")
    assert rows["agent", "cpu"]["verdict"] == "raise request"
    assert rows["db", "cpu"]["verdict"] == "too little history"
    # lowering: web cpu 14.051683 + web memory 2.884615 + agent memory 0.721154 = 17.657452
    assert Decimal(report["total_saving"]) == Decimal("17.66")
    assert Decimal(report["total_raise_cost"]) == Decimal("9.09")


def test_cli_rightsize_table(cli):
    text = cli("rightsize")
    assert "Deployment/web" in text and "14.05" in text and "too little history" in text


def test_cli_limits_json_and_table(cli):
    checks = json.loads(cli("limits", "--format", "json"))
    rows = checks["limit_range_violations"]
    memory = next(r for r in rows if r["job_name"] == "wide-etl" and r["resource"] == "memory")
    assert (memory["shape_amount"], memory["limit_amount"], memory["bound"]) == (9448928051, 8589934592, "max")
    assert memory["spark_role"] == "driver" and memory["limit_type"] == "Container"
    assert len(checks["quota_fits"]) == len(EXPECTED_QUOTA_FITS)
    fits = {(r["job_name"], r["resource"]): r for r in checks["quota_fits"]}
    nightly = fits["nightly-etl", "requests.memory"]
    assert (nightly["fits"], nightly["executors_fitting"], nightly["hard"]) == (False, 1, 10.0)
    text = cli("limits")
    assert "wide-etl" in text and "tiny-driver" in text
    assert "would not fit their namespace's ResourceQuota" in text and "1 of 2" in text
