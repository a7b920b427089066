"""What the Spark build's tests share (tests/test_spark_build.py: parity on the sample month;
tests/test_spark_engine.py: the engine's failures, S3 and the value rules): one SparkSession per test process
(local[2], Java from the machine) and moto's S3: the fixtures ``spark`` and ``moto_s3`` in tests/conftest.py,
session-scoped, so the two modules share them when they run in the same process.

The session is created with the s3a connector on its classpath and pointed at moto's server, since a session's
jars and Hadoop settings are fixed when it starts: hadoop-aws and the AWS SDK bundle come from the
`sagemaker-pyspark` package on PyPI (Maven Central is out of reach here), whose hadoop-aws 3.3.1 predates
pyspark's Hadoop 3.5 client; the settings below are what it needs on that client (plain numbers where Hadoop
3.5's defaults say "60s", and its SDK v1 credentials provider).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from chargeback.build.demo import sample_data_dir
from chargeback.build.runner import discover_models
from chargeback.core import config as config_module
from tests.sample_support import HISTORY_PARTITIONS

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


def sample_config(data_dir: Path, **build: object) -> config_module.Config:
    config = config_module.load(sample_data_dir() / "chargeback.toml").model_copy(update={"data_dir": data_dir})
    return config.model_copy(update={"build": config.build.model_copy(update=build)})


def with_sample_raw(data_dir: Path) -> Path:
    """The sample's raw tables of October only (its days' partitions and the snapshots collected after it): the
    history months (August, September) would triple a Spark build's minutes and add no model path October lacks."""
    shutil.copytree(sample_data_dir() / "raw", data_dir / "raw", ignore=shutil.ignore_patterns(*HISTORY_PARTITIONS))
    return data_dir


def bill_json(data_dir: Path, period: str = PERIOD) -> dict:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chargeback",
            "bill",
            "--period",
            period,
            "--format",
            "json",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=data_dir,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def mart_names() -> list[str]:
    return [m.name for m in discover_models() if m.layer == "marts"]


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = 'marts'"
        " and table_name = ? order by ordinal_position",
        [name],
    ).fetchall()


def marts_differ(on_spark: Path, on_duckdb: Path) -> list[str]:
    """What differs between the marts of a Spark build's and a DuckDB build's warehouses (nothing: []): the
    same columns and types; rows matched on every non-numeric column, money within $0.000001 and other numbers
    within a relative 1e-9 (Spark and DuckDB add doubles in different orders)."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    # the views name their files relative to their data directory: search both (a build's folder name is unique)
    con.execute("set file_search_path = ?", [f"{on_spark.parent.resolve()},{on_duckdb.parent.resolve()}"])
    con.execute(f"attach '{on_spark}' as on_spark (read_only)")
    con.execute(f"attach '{on_duckdb}' as on_duckdb (read_only)")
    differ = []
    for name in mart_names():
        con.execute("use on_duckdb")
        columns = _columns(con, name)
        con.execute("use on_spark")
        if _columns(con, name) != columns:
            differ.append(f"marts.{name}: columns and types {_columns(con, name)} != {columns}")
            continue
        numeric = ("DECIMAL", "DOUBLE", "BIGINT", "INTEGER", "HUGEINT")
        keys = [c for c, t in columns if not t.startswith(numeric)]
        amounts = [(c, t) for c, t in columns if t.startswith(numeric)]
        key_list = ", ".join(f'"{k}"' for k in keys)
        sums = ", ".join(f'sum("{c}") as "{c}"' for c, _ in amounts)
        joined = " and ".join(f'a."{k}" is not distinct from b."{k}"' for k in keys) or "true"
        off = (
            " or ".join(
                f'abs(a."{c}" - b."{c}") > 0.000001'
                if t.startswith("DECIMAL")
                else f'abs(a."{c}" - b."{c}") > 1e-9 * greatest(1, abs(b."{c}"))'
                for c, t in amounts
            )
            or "false"
        )
        # A group only one engine has counts unless all its money is dust (a remainder row of 1e-11 that one engine's
        # additions leave and the other's do not: a mart drops rows of exactly 0, not rows of 0 within $0.000001).
        dust = (
            " and ".join(f'abs(coalesce(a."{c}", b."{c}")) <= 0.000001' for c, t in amounts if t.startswith("DECIMAL"))
            or "false"
        )
        grouped = f"select {key_list}, count(*) as n, {sums} from {{}}.marts.{name} group by all"
        mismatched = con.execute(
            f"with a as ({grouped.format('on_spark')}), b as ({grouped.format('on_duckdb')})"
            f" select count(*) from a full outer join b on {joined}"
            f" where ((a.n is null or b.n is null) and not ({dust})) or a.n <> b.n or {off}"
        ).fetchall()[0][0]
        if mismatched:
            differ.append(f"marts.{name}: {mismatched} group(s) differ between the Spark and DuckDB builds")
    con.close()
    return differ
