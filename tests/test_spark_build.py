"""The Spark build's parity on the sample's October (its history months left out: tests/spark_support.py's
with_sample_raw, for CI's time): every model transpiled from its DuckDB file and run on a local
SparkSession, with the marts, and the bill, equal to the DuckDB build's (closed, then restated). `make pytest`
runs this file on EMR's Spark 3.5 (the second virtual environment) and not in the main suite: a Spark build of
the sample month takes minutes of CI's two cores, and pyspark 4's parity test is on a smaller month (every value
rule's, in tests/test_spark_engine.py, with the engine's failures and the raw Parquet read from moto's S3). The
session and moto's S3: tests/conftest.py and tests/spark_support.py.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from chargeback.build.demo import sample_data_dir
from chargeback.build.engines import build
from chargeback.build.engines.spark_sql import NotPortableError, to_spark
from chargeback.build.runner import discover_models
from chargeback.build.warehouse import read_only
from chargeback.cli import app
from chargeback.raw.landing import partitions
from chargeback.raw.tables import CUR_LINE_ITEMS
from chargeback.reports.close import close_period
from tests.spark_support import PERIOD, bill_json, mart_names, marts_differ, sample_config, with_sample_raw


def write_toml(path: Path, data_dir: Path, extra: str = "") -> Path:
    sample = (sample_data_dir() / "chargeback.toml").read_text()
    path.write_text(f'data_dir = "{data_dir}"\n{extra}\n{sample}')
    return path


def closed_and_restated(data_dir: Path) -> Path:
    """The sample month built on DuckDB and closed, then its CUR restated (one m5 node-hour $5.00 dearer):
    the next build books the difference as adjustments in 2026-11, so the parity tests cover
    marts.fct_adjustments and the closed.* tables too (docs/method.md#closed-periods-and-adjustments)."""
    with_sample_raw(data_dir)
    build(sample_config(data_dir))
    close_period(sample_config(data_dir), PERIOD, now=datetime(2026, 12, 6, tzinfo=UTC))
    (path,) = partitions(data_dir, CUR_LINE_ITEMS)
    lines = pq.read_table(path)
    node_hour = pc.and_(  # an on-demand hour of one of the cluster's m5 nodes
        pc.starts_with(lines["line_item_usage_type"], "BoxUsage:m5"),
        pc.equal(lines["line_item_line_item_type"], "Usage"),
    )
    first = pc.index(node_hour, True).as_py()
    costs = lines["line_item_unblended_cost"].to_pylist()
    costs[first] += 5.0
    column = lines.schema.get_field_index("line_item_unblended_cost")
    restated = lines.set_column(column, "line_item_unblended_cost", pa.array(costs, lines.schema.field(column).type))
    pq.write_table(restated, path)  # with its schema's metadata: the landed CUR version
    return data_dir


@pytest.fixture(scope="module")
def restated(tmp_path_factory) -> Path:
    """The sample month closed and restated (closed_and_restated), once: each build below takes a copy."""
    return closed_and_restated(tmp_path_factory.mktemp("restated") / "data")


@pytest.fixture(scope="module")
def duckdb_dir(tmp_path_factory, restated) -> Path:
    data_dir = tmp_path_factory.mktemp("duckdb") / "data"
    shutil.copytree(restated, data_dir)
    build(sample_config(data_dir))
    return data_dir


@pytest.fixture(scope="module")
def spark_dir(tmp_path_factory, restated, spark) -> Path:
    """The sample month built by `chargeback build --engine spark`, in this process's SparkSession (closed and
    restated first: see closed_and_restated)."""
    root = tmp_path_factory.mktemp("spark")
    data_dir = root / "data"
    shutil.copytree(restated, data_dir)
    config = write_toml(root / "c.toml", data_dir)
    result = CliRunner().invoke(app, ["build", "--engine", "spark", "--config", str(config)])
    assert result.exit_code == 0, result.output
    return data_dir


# Marts the sample month leaves empty by design: its raw rows break no value rule (see the corrupted cluster below).
EMPTY_ON_THE_SAMPLE = {"fct_data_quality"}


def test_every_model_transpiles_to_spark_sql_reading_spark_views():
    import sqlglot

    for model in discover_models():
        sql = to_spark(model)
        tree = sqlglot.parse_one(sql, read="spark")
        qualified = [t.sql() for t in tree.find_all(sqlglot.exp.Table) if t.db]
        assert not qualified, f"{model.relation} still reads schema-qualified relations: {qualified}"


def test_transpiling_keeps_exact_quantiles_and_positional_ids():
    from chargeback.build.runner import Model

    def spark_sql(sql: str) -> str:
        return to_spark(Model("marts", "fct_x", Path("fct_x.sql"), sql, frozenset())).lower()

    assert "percentile(x, array(0.5, 0.9))" in spark_sql("select quantile_cont(x, [0.5, 0.9]) from t")
    assert "percentile(x, 0.5)" in spark_sql("select percentile_cont(0.5) within group (order by x) from t")
    assert "approx" not in spark_sql("select percentile_cont(0.5) within group (order by x) from t")
    assert "monotonically_increasing_id() + 1" in spark_sql("select row_number() over () as id from t")
    with pytest.raises(NotPortableError, match=r"marts\.fct_x \(fct_x\.sql\)"):
        spark_sql("select 1; select 2")


def test_every_model_runs_on_spark_with_the_duckdb_builds_row_counts(spark_dir, duckdb_dir):
    with read_only(spark_dir / "warehouse.duckdb") as on_spark, read_only(duckdb_dir / "warehouse.duckdb") as on_duckdb:
        for name in mart_names():
            count = f"select count(*) from marts.{name}"
            expected = on_duckdb.execute(count).fetchall()[0][0]
            assert on_spark.execute(count).fetchall()[0][0] == expected, f"marts.{name} row count"
            assert expected > 0 or name in EMPTY_ON_THE_SAMPLE, (
                f"the sample month leaves marts.{name} empty: the parity test would prove nothing"
            )


def test_spark_marts_equal_the_duckdb_builds(spark_dir, duckdb_dir):
    differ = marts_differ(spark_dir / "warehouse.duckdb", duckdb_dir / "warehouse.duckdb")
    assert differ == [], differ


def test_bill_json_is_the_same_from_either_build(spark_dir, duckdb_dir):
    printed = bill_json(spark_dir)
    assert printed == bill_json(duckdb_dir)
    assert json.loads(printed)["total"] == "2928.07"  # closed: as it was before the restatement
    adjusted = bill_json(spark_dir, "2026-11")
    assert adjusted == bill_json(duckdb_dir, "2026-11")
    assert json.loads(adjusted)["total"] == "5.00"  # the restated line's $5.00, in the first open month


def test_marts_are_parquet_partitioned_by_day_and_cluster(spark_dir):
    version = max(p for p in (spark_dir / "builds").iterdir() if p.is_dir())  # the Spark build, the last
    days = sorted(p.name for p in (version / "marts.fct_tenant_costs_daily").glob("day=*"))
    assert days[0] == "day=2026-10-01" and len(days) == 31
    assert (version / "marts.fct_pod_costs_hourly" / "day=2026-10-15" / "cluster=prod-analytics").is_dir()
    assert list((version / "marts.fct_quota_use_hourly").glob("day=2026-10-15/cluster=prod-analytics/*.parquet"))
    assert not list((version / "marts.fct_rightsizing").glob("day=*")), "a mart without a date or hour has no day"
