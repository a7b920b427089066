"""The Spark build's parity: every model transpiled from its DuckDB file and run on a local SparkSession,
with the marts, and the bill, equal to the DuckDB build's on the sample month (closed, then restated). The
engine's failures, raw Parquet read from moto's S3 and the value rules on Spark: tests/test_spark_engine.py;
the session and moto's S3: tests/conftest.py and tests/spark_support.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from chargeback.build.demo import sample_data_dir
from chargeback.build.engines import build
from chargeback.build.engines.spark_sql import NotPortableError, to_spark
from chargeback.build.runner import discover_models
from chargeback.cli import app
from chargeback.raw.landing import partitions
from chargeback.raw.tables import CUR_LINE_ITEMS
from chargeback.reports.close import close_period
from tests.spark_support import PERIOD, bill_json, sample_config, with_sample_raw


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
def duckdb_dir(tmp_path_factory) -> Path:
    data_dir = closed_and_restated(tmp_path_factory.mktemp("duckdb"))
    build(sample_config(data_dir))
    return data_dir


@pytest.fixture(scope="module")
def spark_dir(tmp_path_factory, spark) -> Path:
    """The sample month built by `chargeback build --engine spark`, in this process's SparkSession (closed and
    restated first: see closed_and_restated)."""
    root = tmp_path_factory.mktemp("spark")
    data_dir = closed_and_restated(root / "data")
    config = write_toml(root / "c.toml", data_dir)
    result = CliRunner().invoke(app, ["build", "--engine", "spark", "--config", str(config)])
    assert result.exit_code == 0, result.output
    return data_dir


def mart_names() -> list[str]:
    return [m.name for m in discover_models() if m.layer == "marts"]


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
    with duckdb.connect(str(spark_dir / "warehouse.duckdb"), read_only=True) as on_spark, duckdb.connect(
        str(duckdb_dir / "warehouse.duckdb"), read_only=True
    ) as on_duckdb:
        for name in mart_names():
            count = f"select count(*) from marts.{name}"
            expected = on_duckdb.execute(count).fetchall()[0][0]
            assert on_spark.execute(count).fetchall()[0][0] == expected, f"marts.{name} row count"
            assert expected > 0 or name in EMPTY_ON_THE_SAMPLE, (
                f"the sample month leaves marts.{name} empty: the parity test would prove nothing"
            )


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = 'marts'"
        " and table_name = ? order by ordinal_position",
        [name],
    ).fetchall()


def test_spark_marts_equal_the_duckdb_builds(spark_dir, duckdb_dir):
    """Same columns and types; rows matched on every non-numeric column, money within $0.000001 and
    other numbers within a relative 1e-9 (Spark and DuckDB add doubles in different orders)."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{spark_dir / 'warehouse.duckdb'}' as on_spark (read_only)")
    con.execute(f"attach '{duckdb_dir / 'warehouse.duckdb'}' as on_duckdb (read_only)")
    con.execute("use on_duckdb")
    for name in mart_names():
        columns = _columns(con, name)
        con.execute("use on_spark")
        assert _columns(con, name) == columns, f"marts.{name} columns and types"
        con.execute("use on_duckdb")
        numeric = ("DECIMAL", "DOUBLE", "BIGINT", "INTEGER", "HUGEINT")
        keys = [c for c, t in columns if not t.startswith(numeric)]
        amounts = [(c, t) for c, t in columns if t.startswith(numeric)]
        key_list = ", ".join(f'"{k}"' for k in keys)
        sums = ", ".join(f'sum("{c}") as "{c}"' for c, _ in amounts)
        joined = " and ".join(f'a."{k}" is not distinct from b."{k}"' for k in keys) or "true"
        off = " or ".join(
            f'abs(a."{c}" - b."{c}") > 0.000001' if t.startswith("DECIMAL")
            else f'abs(a."{c}" - b."{c}") > 1e-9 * greatest(1, abs(b."{c}"))'
            for c, t in amounts
        ) or "false"
        # A group only one engine has counts unless all its money is dust (a remainder row of 1e-11 that one engine's
        # additions leave and the other's do not: a mart drops rows of exactly 0, not rows of 0 within $0.000001).
        dust = " and ".join(
            f'abs(coalesce(a."{c}", b."{c}")) <= 0.000001' for c, t in amounts if t.startswith("DECIMAL")
        ) or "false"
        grouped = f"select {key_list}, count(*) as n, {sums} from {{}}.marts.{name} group by all"
        mismatched = con.execute(
            f"with a as ({grouped.format('on_spark')}), b as ({grouped.format('on_duckdb')})"
            f" select count(*) from a full outer join b on {joined}"
            f" where ((a.n is null or b.n is null) and not ({dust})) or a.n <> b.n or {off}"
        ).fetchall()[0][0]
        assert mismatched == 0, f"marts.{name}: {mismatched} group(s) differ between the Spark and DuckDB builds"


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
