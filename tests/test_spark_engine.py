"""The Spark engine's own tests, and the parity test of the main environment's pyspark 4: a model only DuckDB
can run, a broken invariant and a method change each fail the Spark build and leave the published warehouse as
it was; every value rule corrects the same rows on Spark, reading raw Parquet from moto's S3 through s3a, with
every mart equal to a DuckDB build's. (Parity on the sample month, closed and restated: tests/test_spark_build.py,
which `make pytest` runs on EMR's Spark 3.5 beside this suite.)
"""

from __future__ import annotations

import dataclasses
import io
import shutil
from decimal import Decimal

import boto3
import pytest

from chargeback.build.engines import build
from chargeback.build.engines import spark as spark_engine
from chargeback.build.runner import MODELS_DIR, Model, closure, discover_models
from chargeback.build.warehouse import read_only
from chargeback.core import config as config_module
from chargeback.core.errors import ChargebackError, InvariantError, MethodChangeError
from chargeback.reports.bill import monthly_bill
from tests.spark_support import BUCKET, bill_json, marts_differ
from tests.test_build import TEAMS, two_teams


def reading(*relations: str) -> list[Model]:
    """The models ``relations`` read, directly or not, and theirs, in build order: what a Spark failure test
    runs (a Spark build costs about half a second of planning per model here, and the rest cannot change what it
    checks)."""
    models = {m.relation: m for m in discover_models()}
    needed = set().union(*(closure(models[r], models) for r in relations))
    return [m for m in models.values() if m.relation in needed]


def test_a_model_only_duckdb_can_run_fails_the_spark_build_naming_it(spark, tmp_path, monkeypatch):
    models = tmp_path / "models"
    shutil.copytree(MODELS_DIR, models)
    (models / "staging" / "stg_list_lambda.sql").write_text(  # staging: among the first models to run
        "-- grain: one row; DuckDB's list functions and lambda\n"
        "select list_sum(list_transform([1, 2, 3], lambda x: x * 2)) as total\n"
    )
    monkeypatch.setattr(spark_engine, "discover_models", lambda: discover_models(models))
    two_teams().write(tmp_path)
    config = config_module.parse({"data_dir": str(tmp_path), "tenancy": TEAMS, "build": {"engine": "spark"}})
    with pytest.raises(ChargebackError, match=r"model staging\.stg_list_lambda \(stg_list_lambda\.sql\)"):
        spark_engine.build(config)
    assert not config.warehouse_path.exists()
    assert not (tmp_path / "builds").exists() or not list((tmp_path / "builds").iterdir())


def test_a_broken_invariant_fails_the_spark_build_and_keeps_the_published_warehouse(spark, tmp_path, monkeypatch):
    """The published warehouse is a DuckDB build's (the Spark build replaces it only when publishing; the kept
    Spark marts are covered by tests/test_layout.py). The Spark build runs the models the invariants read
    (``reading``)."""
    config = config_module.parse({"data_dir": str(tmp_path), "tenancy": TEAMS, "build": {"engine": "spark"}})
    two_teams().write(tmp_path)
    build(config.model_copy(update={"build": config.build.model_copy(update={"engine": "duckdb"})}))
    published = config.warehouse_path.read_bytes()
    folders = sorted((tmp_path / "builds").iterdir())  # the DuckDB build's

    def dropping_team_a():  # a model bug: one tenant's lines vanish from the daily mart
        return [
            dataclasses.replace(m, sql=m.sql.replace("from unioned\n", "from unioned where tenant <> 'team-a'\n"))
            if m.relation == "marts.fct_tenant_costs_daily"
            else m
            for m in reading("marts.checks")
        ]

    monkeypatch.setattr(spark_engine, "discover_models", dropping_team_a)
    with pytest.raises(InvariantError, match=r"conservation test-cluster 2026-10: expected 2\.0+, got 1\.0+"):
        spark_engine.build(config)
    assert config.warehouse_path.read_bytes() == published, "the published warehouse is untouched"
    assert sorted((tmp_path / "builds").iterdir()) == folders, "the failed build left no marts"
    assert not list(tmp_path.glob(".warehouse.*")), "the failed build leaves no files behind"
    bill = monthly_bill(config, "2026-10")
    assert {line.tenant: str(line.total) for line in bill.lines} == {"team-a": "1.00", "team-b": "1.00"}


def test_a_method_change_is_refused_by_the_spark_build_too(spark, tmp_path, monkeypatch):
    """Nodes n1 and n2 ($1/h, 4 vCPU, 16 GiB) each run one pod of 1 vCPU and 4 GiB: 9 + 4 = 13 of 52 units,
    $0.25. Idle `node` gives each team its whole node ($1.00); idle `separate` keeps 3 * $0.25 of each node on
    `__idle__` ($1.50). The published build is DuckDB's (one Spark run is enough: the gate reads warehouses).
    The Spark build runs the models the invariants, the bill lines' totals and the build's notes read
    (``reading``), and publishes their marts before the gate refuses it."""
    config = config_module.parse({"data_dir": str(tmp_path), "tenancy": TEAMS})
    two_teams().write(tmp_path)
    build(config)
    published = config.warehouse_path.read_bytes()
    folders = sorted((tmp_path / "builds").iterdir())  # the DuckDB build's
    separate = config_module.parse(
        {"data_dir": str(tmp_path), "tenancy": TEAMS, "allocation": {"idle": "separate"}, "build": {"engine": "spark"}}
    )
    monkeypatch.setattr(
        spark_engine,
        "discover_models",
        lambda: reading(
            "marts.checks", "marts.fct_tenant_costs_daily", "marts.fct_source_costs_daily", "marts.fct_data_quality"
        ),
    )
    with pytest.raises(MethodChangeError) as refused:
        spark_engine.build(separate)
    message = str(refused.value)
    assert 'idle: "node" -> "separate"' in message
    for line in ("__idle__: 0.00 -> 1.50 (+1.50)", "team-a: 1.00 -> 0.25 (-0.75)", "team-b: 1.00 -> 0.25 (-0.75)"):
        assert f"2026-10 {line}" in message, message
    assert config.warehouse_path.read_bytes() == published, "the published warehouse is untouched"
    assert sorted((tmp_path / "builds").iterdir()) == folders, "the refused build's marts are removed"
    assert not list(tmp_path.glob(".warehouse.*")), "the refused build leaves no files behind"


def test_every_value_rule_corrects_the_same_rows_on_spark_reading_the_raw_files_from_s3(
    spark, moto_s3, tmp_path, monkeypatch
):
    """Every rule of tests/test_validation.py, its raw files on moto's S3 and nowhere else: the Spark build reads
    them through s3a and records the same corrections as a DuckDB build of the same files (file, row, rules,
    values as text), with the same bill lines, money within $0.000001, every mart equal, and prints the same bill.
    This is the pyspark 4 environment's parity test; the sample month's runs on EMR's Spark 3.5
    (tests/test_spark_build.py). (One Spark build for all of it: each costs about a minute here.)"""
    from tests.test_validation import SETTINGS, every_rule

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    scenario = every_rule()
    # Owner records of two of its ReplicaSets (a Deployment's, a bare one): Spark resolves workloads alike.
    scenario.owner("a-neg", "ReplicaSet", "api", ("Deployment", "api-server"))
    scenario.owner("b-neg", "ReplicaSet", "web", None)
    local = scenario.write(tmp_path / "local")
    on_duckdb = config_module.parse({"data_dir": str(local), **SETTINGS})
    build(on_duckdb)
    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    raw = local / "raw"
    for file in sorted(raw.rglob("*.parquet")):
        s3.upload_fileobj(io.BytesIO(file.read_bytes()), BUCKET, f"copy/raw/{file.relative_to(raw)}")
    data_dir = tmp_path / "data"  # no raw/ at all: everything comes from S3
    on_spark = config_module.parse(
        {
            "data_dir": str(data_dir),
            **SETTINGS,
            "aws": {"endpoints": {"s3": moto_s3}},
            "build": {"engine": "spark", "spark": {"raw": f"s3a://{BUCKET}/copy/raw"}},
        }
    )
    build(on_spark)
    assert not (data_dir / "raw").exists()

    results = {}
    for engine, config in (("duckdb", on_duckdb), ("spark", on_spark)):
        with read_only(config.warehouse_path) as con:
            corrections = con.execute(
                "select raw_table, file, row_key, rules, original_values, corrected_values, tenant,"
                " tenant_with_raw_value, cost_with_raw_value, cost_as_corrected from marts.fct_data_quality"
                " order by all"
            ).fetchall()
            lines = con.execute(
                "select tenant, sum(total_cost) from marts.fct_tenant_costs_daily group by tenant order by tenant"
            ).fetchall()
        results[engine] = corrections, lines
    (duck_rows, duck_lines), (spark_rows, spark_lines) = results["duckdb"], results["spark"]
    assert len(duck_rows) == len(spark_rows) == 10
    for duck, on_s3 in zip(duck_rows, spark_rows, strict=True):
        assert duck[:8] == on_s3[:8]
        for a, b in zip(duck[8:], on_s3[8:], strict=True):
            assert (a is None and b is None) or abs(a - b) <= Decimal("0.000001"), (duck, on_s3)
    assert [t for t, _ in duck_lines] == [t for t, _ in spark_lines]
    assert all(abs(a - b) <= Decimal("0.000001") for (_, a), (_, b) in zip(duck_lines, spark_lines, strict=True))
    assert marts_differ(on_spark.warehouse_path, on_duckdb.warehouse_path) == []
    with read_only(on_spark.warehouse_path) as con:
        workloads = con.execute(
            "select namespace, workload_kind, workload_name from marts.fct_workload_costs_monthly"
            " where namespace in ('a-neg', 'b-neg', 'a-nan') order by all"
        ).fetchall()
    assert workloads == [
        ("a-nan", "Deployment", "api"),  # no owner record: the name's guess
        ("a-neg", "Deployment", "api-server"),
        ("b-neg", "ReplicaSet", "web"),
    ]
    assert bill_json(data_dir) == bill_json(local)
