"""The Spark build: every model transpiled from its DuckDB file and run on a local SparkSession, with the
marts, and the bill, equal to the DuckDB build's on the sample month; raw Parquet read from moto's S3.

One SparkSession serves the module (local[2], Java from the machine). It is created with the s3a connector
on its classpath and pointed at moto's server, since a session's jars and Hadoop settings are fixed when it
starts: hadoop-aws and the AWS SDK bundle come from the `sagemaker-pyspark` package on PyPI (Maven Central
is out of reach here), whose hadoop-aws 3.3.1 predates pyspark's Hadoop 3.5 client; the settings below are
what it needs on that client (plain numbers where Hadoop 3.5's defaults say "60s", and its SDK v1
credentials provider).
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession  # the test extra installs pyspark: missing, the suite fails
from typer.testing import CliRunner

from chargeback.build.demo import sample_data_dir
from chargeback.build.engines import build
from chargeback.build.engines import spark as spark_engine
from chargeback.build.engines.spark_sql import NotPortableError, to_spark
from chargeback.build.runner import MODELS_DIR, discover_models
from chargeback.cli import app
from chargeback.core import config as config_module
from chargeback.core.config import SparkSettings
from chargeback.core.errors import ChargebackError, InvariantError, MethodChangeError
from chargeback.raw.landing import partitions
from chargeback.raw.tables import CUR_LINE_ITEMS
from chargeback.reports.bill import monthly_bill
from chargeback.reports.close import close_period
from tests.test_build import TEAMS, two_teams

PERIOD = "2026-10"
BUCKET = "chargeback-raw"
S3A_COMPATIBILITY = {
    "spark.hadoop.fs.s3a.path.style.access": "true",
    "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
    "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    "spark.hadoop.fs.s3a.access.key": "testing",
    "spark.hadoop.fs.s3a.secret.key": "testing",
    "spark.hadoop.fs.s3a.threads.keepalivetime": "60",
    "spark.hadoop.fs.s3a.connection.establish.timeout": "5000",
    "spark.hadoop.fs.s3a.connection.timeout": "200000",
    "spark.hadoop.fs.s3a.connection.ttl": "300000",
    "spark.hadoop.fs.s3a.multipart.purge.age": "86400",
}


def s3a_jars() -> list[str]:
    try:
        import sagemaker_pyspark
    except ImportError:
        pytest.fail("the s3a jars are missing: pip install --no-deps sagemaker-pyspark (see the README's test command)")
    return [j for j in sagemaker_pyspark.classpath_jars() if "/hadoop-aws-" in j or "/aws-java-sdk-bundle-" in j]


@pytest.fixture(scope="module")
def moto_s3(tmp_path_factory):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def spark(moto_s3):
    """The module's one SparkSession, as `chargeback build --engine spark` gets it, with the s3a connector."""
    if SparkSession.getActiveSession() is not None:
        pytest.fail("a SparkSession was already started in this process without the s3a connector")
    conf = {**S3A_COMPATIBILITY, "spark.jars": ",".join(s3a_jars()), "spark.hadoop.fs.s3a.endpoint": moto_s3}
    session = spark_engine.session(SparkSettings(master="local[2]", conf=conf))
    yield session
    session.stop()


def sample_config(data_dir: Path, **build: object) -> config_module.Config:
    config = config_module.load(sample_data_dir() / "chargeback.toml").model_copy(update={"data_dir": data_dir})
    return config.model_copy(update={"build": config.build.model_copy(update=build)})


def with_sample_raw(data_dir: Path) -> Path:
    shutil.copytree(sample_data_dir() / "raw", data_dir / "raw")
    return data_dir


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


def bill_json(data_dir: Path, period: str = PERIOD) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "chargeback", "bill", "--period", period, "--format", "json", "--data-dir",
         str(data_dir)],
        capture_output=True, text=True, timeout=120, cwd=data_dir,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_bill_json_is_the_same_from_either_build(spark_dir, duckdb_dir):
    printed = bill_json(spark_dir)
    assert printed == bill_json(duckdb_dir)
    assert json.loads(printed)["total"] == "2928.07"  # closed: as it was before the restatement
    adjusted = bill_json(spark_dir, "2026-11")
    assert adjusted == bill_json(duckdb_dir, "2026-11")
    assert json.loads(adjusted)["total"] == "5.00"  # the restated line's $5.00, in the first open month


def test_marts_are_parquet_partitioned_by_day_and_cluster(spark_dir):
    (version,) = [p for p in (spark_dir / "marts").iterdir() if p.is_dir()]
    days = sorted(p.name for p in (version / "fct_tenant_costs_daily").glob("day=*"))
    assert days[0] == "day=2026-10-01" and len(days) == 31
    assert (version / "fct_pod_costs_hourly" / "day=2026-10-15" / "cluster=prod-analytics").is_dir()
    assert list((version / "fct_quota_use_hourly").glob("day=2026-10-15/cluster=prod-analytics/*.parquet"))
    assert not list((version / "fct_rightsizing").glob("day=*")), "a mart without a date or hour has no day"


def test_the_marts_of_the_last_two_builds_are_kept(tmp_path):
    for name in ("20261101T000000Z-a", "20261102T000000Z-b", "20261103T000000Z-c", "20261104T000000Z-d"):
        (tmp_path / name).mkdir()
    spark_engine._prune(tmp_path, keep="20261103T000000Z-c")  # d: a build that started later, still running
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20261102T000000Z-b", "20261103T000000Z-c",
                                                          "20261104T000000Z-d"]


def test_a_model_only_duckdb_can_run_fails_the_spark_build_naming_it(spark, tmp_path, monkeypatch):
    models = tmp_path / "models"
    shutil.copytree(MODELS_DIR, models)
    (models / "staging" / "stg_list_lambda.sql").write_text(  # staging: among the first models to run
        "-- grain: one row; DuckDB's list functions and lambda\n"
        "select list_sum(list_transform([1, 2, 3], lambda x: x * 2)) as total\n"
    )
    monkeypatch.setattr(spark_engine, "discover_models", lambda: discover_models(models))
    data_dir = with_sample_raw(tmp_path / "data")
    with pytest.raises(ChargebackError, match=r"model staging\.stg_list_lambda \(stg_list_lambda\.sql\)"):
        spark_engine.build(sample_config(data_dir, engine="spark"))
    assert not (data_dir / "warehouse.duckdb").exists()
    assert not (data_dir / "marts").exists() or not list((data_dir / "marts").iterdir())


def test_a_broken_invariant_fails_the_spark_build_and_keeps_the_published_warehouse(spark, tmp_path, monkeypatch):
    """The published warehouse is a DuckDB build's (the Spark build replaces it only when publishing; the kept
    Spark marts are covered by test_the_marts_of_the_last_two_builds_are_kept)."""
    config = config_module.parse({"data_dir": str(tmp_path), "tenancy": TEAMS, "build": {"engine": "spark"}})
    two_teams().write(tmp_path)
    build(config.model_copy(update={"build": config.build.model_copy(update={"engine": "duckdb"})}))
    published = config.warehouse_path.read_bytes()

    def dropping_team_a():  # a model bug: one tenant's lines vanish from the daily mart
        return [
            dataclasses.replace(m, sql=m.sql.replace("from unioned\n", "from unioned where tenant <> 'team-a'\n"))
            if m.relation == "marts.fct_tenant_costs_daily" else m
            for m in discover_models()
        ]

    monkeypatch.setattr(spark_engine, "discover_models", dropping_team_a)
    with pytest.raises(InvariantError, match=r"conservation test-cluster 2026-10: expected 2\.0+, got 1\.0+"):
        spark_engine.build(config)
    assert config.warehouse_path.read_bytes() == published, "the published warehouse is untouched"
    marts = tmp_path / "marts"
    assert not marts.exists() or not list(marts.iterdir()), "the failed build wrote no marts"
    assert not list(tmp_path.glob(".warehouse.*")), "the failed build leaves no files behind"
    bill = monthly_bill(config, "2026-10")
    assert {line.tenant: str(line.total) for line in bill.lines} == {"team-a": "1.00", "team-b": "1.00"}


def test_a_method_change_is_refused_by_the_spark_build_too(spark, tmp_path):
    """Nodes n1 and n2 ($1/h, 4 vCPU, 16 GiB) each run one pod of 1 vCPU and 4 GiB: 9 + 4 = 13 of 52 units,
    $0.25. Idle `node` gives each team its whole node ($1.00); idle `separate` keeps 3 * $0.25 of each node on
    `__idle__` ($1.50). The published build is DuckDB's (one Spark run is enough: the gate reads warehouses)."""
    config = config_module.parse({"data_dir": str(tmp_path), "tenancy": TEAMS})
    two_teams().write(tmp_path)
    build(config)
    published = config.warehouse_path.read_bytes()
    separate = config_module.parse(
        {"data_dir": str(tmp_path), "tenancy": TEAMS, "allocation": {"idle": "separate"}, "build": {"engine": "spark"}}
    )
    with pytest.raises(MethodChangeError) as refused:
        spark_engine.build(separate)
    message = str(refused.value)
    assert 'idle: "node" -> "separate"' in message
    for line in ("__idle__: 0.00 -> 1.50 (+1.50)", "team-a: 1.00 -> 0.25 (-0.75)", "team-b: 1.00 -> 0.25 (-0.75)"):
        assert f"2026-10 {line}" in message, message
    assert config.warehouse_path.read_bytes() == published, "the published warehouse is untouched"
    assert not list((tmp_path / "marts").iterdir()), "the refused build's marts are removed"
    assert not list(tmp_path.glob(".warehouse.*")), "the refused build leaves no files behind"


def test_raw_parquet_is_read_from_s3_through_s3a(spark, moto_s3, tmp_path, monkeypatch):
    """Two teams' raw files on moto's S3 and nowhere else: the Spark build reads them through s3a and prints
    the bill a DuckDB build of the same files prints (team-a $1.00, team-b $1.00)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    local = two_teams().write(tmp_path / "local")
    build(config_module.parse({"data_dir": str(local), "tenancy": TEAMS}))
    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    raw = local / "raw"
    for file in sorted(raw.rglob("*.parquet")):
        s3.upload_fileobj(io.BytesIO(file.read_bytes()), BUCKET, f"copy/raw/{file.relative_to(raw)}")
    data_dir = tmp_path / "data"  # no raw/ at all: everything comes from S3
    teams = "".join(f'[[tenancy.namespaces]]\npattern = "{n["pattern"]}"\ntenant = "{n["tenant"]}"\n'
                    for n in TEAMS["namespaces"])
    config = tmp_path / "c.toml"
    config.write_text(
        f'data_dir = "{data_dir}"\n[aws]\nendpoints = {{ s3 = "{moto_s3}" }}\n'
        f'[build.spark]\nraw = "s3a://{BUCKET}/copy/raw"\n{teams}'
    )
    result = CliRunner().invoke(app, ["build", "--engine", "spark", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert not (data_dir / "raw").exists()
    printed = json.loads(bill_json(data_dir))
    assert printed == json.loads(bill_json(local))
    assert {line["tenant"]: line["total"] for line in printed["lines"]} == {"team-a": "1.00", "team-b": "1.00"}


def test_the_validation_rules_correct_the_same_rows_the_same_way_on_spark(spark, tmp_path):
    """Every rule of tests/test_validation.py on both engines: the same corrections (file, row, rules, values as
    text) and the same bill lines, money within $0.000001."""
    from tests.test_validation import SETTINGS, every_rule

    results = {}
    for engine in ("duckdb", "spark"):
        data_dir = tmp_path / engine
        every_rule().write(data_dir)
        config = config_module.parse({"data_dir": str(data_dir), **SETTINGS, "build": {"engine": engine}})
        build(config)
        with duckdb.connect(str(config.warehouse_path), read_only=True) as con:
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
    for duck, on_spark in zip(duck_rows, spark_rows, strict=True):
        assert duck[:8] == on_spark[:8]
        for a, b in zip(duck[8:], on_spark[8:], strict=True):
            assert (a is None and b is None) or abs(a - b) <= Decimal("0.000001"), (duck, on_spark)
    assert [t for t, _ in duck_lines] == [t for t, _ in spark_lines]
    assert all(abs(a - b) <= Decimal("0.000001") for (_, a), (_, b) in zip(duck_lines, spark_lines, strict=True))
