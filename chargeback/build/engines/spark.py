"""``chargeback build --engine spark``: the same models on a SparkSession, published for DuckDB readers.

A Spark build
1. gets the SparkSession (inside spark-submit, the one it configured; else a local one from ``[build.spark]``)
   and sets what the results depend on: UTC, no silent loss of DECIMAL scale, Parquet timestamps in UTC;
2. registers each raw table as a view over the same partition files DuckDB reads (each checked against its
   schema first; an empty table where nothing was collected), from the data directory or ``s3a://``, and
   the configuration tables, made by the DuckDB build's own code and handed over as Arrow tables;
3. runs every model, transpiled from its DuckDB file (``spark_sql``), in dependency order: staging as
   views, the rest checkpointed, so no plan grows with the depth of the model graph;
4. refuses to publish, like the DuckDB build, when an error-severity check fails, or when the method differs
   from the published one's and the change is not accepted (``chargeback.build.method``);
5. writes every mart as Parquet in the build's folder (``chargeback.build.layout``:
   ``<data_dir>/builds/<build id>/marts.<mart>/``), partitioned by ``day`` (of its ``date``, else its ``hour``)
   and ``cluster`` where it has them, with the column types the DuckDB build gives the mart, and publishes
   a DuckDB warehouse (built beside, then renamed) whose ``marts.*`` are views over that Parquet, plus the
   tables a DuckDB build has beside the marts (``config.*`` and ``bookkeeping.*``: build info, CUR versions,
   raw coverage, collection status). Readers cannot tell the engines apart. Earlier builds' folders are
   pruned as the DuckDB build prunes them (``layout.prune``).
"""

from __future__ import annotations

import fnmatch
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from py4j.protocol import Py4JError
from pyspark import SparkConf
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import from_arrow_schema
from sqlglot import exp
from sqlglot.errors import SqlglotError

from chargeback.build import layout, validation
from chargeback.build.adjustments import ClosedPlan, register_closed
from chargeback.build.bookkeeping import notes, open_periods, refuse_broken_invariants, register_bookkeeping
from chargeback.build.config_tables import register_config
from chargeback.build.engines.duckdb import mart_types
from chargeback.build.engines.spark_sql import to_spark, view_name
from chargeback.build.method import refuse_method_change
from chargeback.build.runner import VIEW_LAYERS, BuildResult, Model, Progress, discover_models
from chargeback.build.warehouse import building, publish, search_from
from chargeback.core import aws
from chargeback.core.config import Config, SparkSettings
from chargeback.core.errors import ChargebackError, DataError
from chargeback.raw import integrity
from chargeback.raw.landing import FILE_PATTERN, PARTITION_GLOB, check_partition, is_partition_file, partitions
from chargeback.raw.tables import RAW_TABLES, RawTable

# What the models' results depend on, set on every session, a pre-configured one included: times in UTC;
# DECIMAL arithmetic that keeps its scale (Spark otherwise drops digits past 38 where DuckDB keeps 12);
# Parquet timestamps stored as UTC instants, which DuckDB reads back as TIMESTAMPTZ.
SESSION_SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "zstd",
}
# Raw Parquet read from S3 is checked page by page by Spark's own reader (parquet-mr), against the page checksums
# landing writes (chargeback.raw.integrity); a local data directory's files are verified before Spark reads them.
PAGE_CHECKSUMS = {"spark.hadoop.parquet.page.verify-checksum.enabled": "true"}
# A local session: loopback only, no UI or progress bars, few shuffle partitions for one machine's cores.
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
}
_SPARK_TYPES = {"INT128": "DECIMAL(38, 0)"}  # DuckDB's HUGEINT (sums of integers)


def session(settings: SparkSettings) -> SparkSession:
    """The active SparkSession, else one built with ``[build.spark]``: its master only where none is set
    (spark-submit sets one), its ``conf`` on top; then the SQL settings the models' results depend on."""
    spark = SparkSession.getActiveSession()
    if spark is None:
        builder = SparkSession.builder.appName("chargeback-build")
        for key, value in PAGE_CHECKSUMS.items():
            builder = builder.config(key, value)
        master = SparkConf().get("spark.master", None)
        if master is None:
            master = settings.master
            builder = builder.master(master)
        if master.startswith("local"):
            for key, value in LOCAL_CONF.items():
                builder = builder.config(key, value)
        for key, value in settings.conf.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        if master.startswith("local"):
            spark.sparkContext.setLogLevel("ERROR")
    for key, value in SESSION_SQL_CONF.items():
        spark.conf.set(key, value)
    return spark


def _reason(exc: BaseException) -> str:
    """The first line of a Spark error that says something (not py4j's "An error occurred while calling")."""
    for line in str(exc).splitlines():
        line = line.strip().removeprefix(": ")
        if line and not line.startswith("An error occurred while calling"):
            return line[:2000]
    return type(exc).__name__


SPARK_ERRORS = (PySparkException, Py4JError)  # what a failed Spark query raises


# --- raw tables --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawFiles:
    """Where one raw table's partition files are, as Spark paths and as what the schema check reads."""

    table: RawTable
    spark_paths: list[str]


def _local_raw(data_dir: Path, table: RawTable) -> RawFiles:
    files = partitions(data_dir, table)
    for file in files:
        check_partition(table, file)
    return RawFiles(table, [str(file.resolve()) for file in files])


def _s3_raw(config: Config, location: str, table: RawTable) -> RawFiles:
    """The partition files under ``s3a://bucket/prefix/<source>/<table>/``, each footer checked (pyarrow's S3
    filesystem, with the ``[aws]`` endpoint override and the default credential chain)."""
    bucket, _, prefix = location.removeprefix("s3a://").partition("/")
    table_prefix = "/".join(p for p in (prefix.strip("/"), table.source, table.name) if p) + "/"
    s3 = aws.client(config.aws, "s3")
    keys = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=table_prefix):
            keys += [item["Key"] for item in page.get("Contents", [])]
    except Exception as exc:  # botocore's errors, described the way the collectors describe them
        raise DataError(f"{location}: cannot list {table.key}: {aws.describe(exc, 's3', 'ListObjectsV2')}") from None
    matched = sorted(
        k
        for k in keys
        if fnmatch.fnmatchcase(k.removeprefix(table_prefix), PARTITION_GLOB)
        and is_partition_file(table, k.removeprefix(table_prefix))
    )
    query = _pyarrow_s3_query(config)
    for key in matched:
        check_partition(table, f"s3://{bucket}/{key}{query}")  # type: ignore[arg-type]  # pyarrow takes URIs
    return RawFiles(table, [f"s3a://{bucket}/{key}" for key in matched])


def _pyarrow_s3_query(config: Config) -> str:
    endpoint = config.aws.endpoints.get("s3")
    parts = [f"region={config.aws.region}"]
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        parts += [f"endpoint_override={host.rstrip('/')}", f"scheme={scheme}"]
    return "?" + "&".join(parts)


def raw_files(config: Config) -> list[RawFiles]:
    """Every raw table's partition files, from ``[build.spark] raw`` (each page checked against its checksum
    by Spark's Parquet reader: ``PAGE_CHECKSUMS``) or the data directory (each file not verified before checked
    page by page here, as the DuckDB build does: ``chargeback.raw.integrity``)."""
    location = config.build.spark.raw
    if location:
        return [_s3_raw(config, location, table) for table in RAW_TABLES]
    found = [_local_raw(Path(config.data_dir), table) for table in RAW_TABLES]
    integrity.verify(Path(config.data_dir), [Path(path) for files in found for path in files.spark_paths])
    return found


def _register_raw_views(spark: SparkSession, raw: list[RawFiles]) -> None:
    """One view per raw table, with ``_file``: the file a row came from (``FILE_PATTERN``), as DuckDB has it."""
    for files in raw:
        schema = from_arrow_schema(files.table.schema)
        if files.spark_paths:
            frame = spark.read.schema(schema).parquet(*files.spark_paths)
            pattern = layout.literal(FILE_PATTERN)
            frame = frame.selectExpr("*", f"regexp_extract(_metadata.file_path, {pattern}, 0) as _file")
        else:
            frame = spark.createDataFrame([], schema).selectExpr("*", "cast(null as string) as _file")
        frame.createOrReplaceTempView(view_name(files.table.relation))


def _register_config_views(spark: SparkSession, config: Config, closed: ClosedPlan) -> None:
    """The DuckDB build's ``config.*`` and ``closed.*`` tables, made by its own code, as Spark views."""
    con = duckdb.connect()
    try:
        register_config(con, config)
        register_closed(con, closed)
        names = con.execute(
            "select table_schema, table_name from information_schema.tables where table_schema in ('config', 'closed')"
        ).fetchall()
        for schema, name in names:  # a few rows each; as rows and a schema, which every pyspark takes
            table = con.sql(f"select * from {schema}.{name}").to_arrow_table()
            frame = spark.createDataFrame(table.to_pylist(), from_arrow_schema(table.schema))
            frame.createOrReplaceTempView(view_name(f"{schema}.{name}"))
    finally:
        con.close()


def _spark_type(duckdb_type: str) -> str | None:
    """The Spark SQL type of a DuckDB type (None: leave the column as Spark computed it)."""
    try:
        spark_type = exp.DataType.build(duckdb_type, dialect="duckdb").sql("spark")
    except SqlglotError:
        return None
    spark_type = _SPARK_TYPES.get(spark_type, spark_type)
    return None if spark_type.startswith(("U", "INT128")) else spark_type


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _write_mart(frame: DataFrame, types: list[tuple[str, str]], path: str) -> None:
    columns = [name for name, _ in types]
    selected = []
    for name, duckdb_type in types:
        spark_type = _spark_type(duckdb_type)
        selected.append(f"cast({_quote(name)} as {spark_type}) as {_quote(name)}" if spark_type else _quote(name))
    parts = layout.partition_columns(columns)
    if "day" in parts:
        source = layout.day_source(columns)
        selected.append(f"cast({_quote(source)} as date) as day")
    out = frame.selectExpr(*selected)
    if parts:
        out.repartition(*parts).write.partitionBy(*parts).parquet(path)
    else:
        out.coalesce(1).write.parquet(path)


# --- the build -----------------------------------------------------------------------------------------


def _run(spark: SparkSession, models: list[Model], progress: Progress | None) -> dict[str, int]:
    """Each model as a Spark view, in order; tables are checkpointed (computed once, lineage cut); the marts'
    row counts (an intermediate table is not counted: a count is one more Spark job per model)."""
    counts = {}
    for index, model in enumerate(models, start=1):
        if progress:
            progress(model.relation, index, len(models))
        sql = to_spark(model)
        try:
            frame = spark.sql(sql)
            if model.layer not in VIEW_LAYERS:
                if model.materialized == "table" or model.layer == "marts":
                    frame = frame.localCheckpoint()
                if model.layer == "marts":
                    counts[model.relation] = frame.count()
            frame.createOrReplaceTempView(view_name(model.relation))
            gate = frame.collect() if model.relation == validation.CUR_GATE else None
        except SPARK_ERRORS as exc:
            raise ChargebackError(
                f"model {model.relation} ({model.path.name}) failed on Spark: {_reason(exc)}"
            ) from None
        if gate is not None:  # in-scope CUR lines that break a rule: stop before pricing, as on DuckDB
            validation.refuse_invalid_cur([row.asDict() for row in gate])
    return counts


def _checks(spark: SparkSession) -> list[dict[str, Any]]:
    rows = spark.sql(f"select * from {view_name('marts.checks')}").collect()
    checks = [row.asDict() for row in rows]
    return sorted(checks, key=lambda c: (c["severity"], c["check_name"], c["cluster"] or "", c["period"] or ""))


def build(
    config: Config,
    progress: Progress | None = None,
    accept_method_change: bool = False,
    closed: ClosedPlan | None = None,
) -> BuildResult:
    """Run every model on Spark and publish the warehouse atomically (the caller holds the build lock); see
    the module's docstring."""
    started = time.perf_counter()
    data_dir = Path(config.data_dir)
    models = discover_models()
    types = mart_types(config, models)
    target = config.warehouse_path
    builds = layout.root(data_dir)
    build_id = layout.new_build_id()
    version = builds / build_id
    published = False
    try:
        spark = session(config.build.spark)
        _register_raw_views(spark, raw_files(config))
        closed = closed or ClosedPlan()
        _register_config_views(spark, config, closed)
        counts = _run(spark, models, progress)
        checks = _checks(spark)
        refuse_broken_invariants(checks, target)
        marts = [m for m in models if m.layer == "marts"]
        try:
            for model in marts:
                frame = spark.table(view_name(model.relation))
                _write_mart(frame, types[model.relation], str(layout.folder(version, model.relation)))
        except SPARK_ERRORS as exc:
            raise ChargebackError(f"writing the marts under {version} failed: {_reason(exc)}") from None
        with building(config) as path:
            con = duckdb.connect(str(path))
            try:
                con.execute("set TimeZone = 'UTC'")
                search_from(con, data_dir)
                con.execute("create schema marts")
                for model in marts:
                    where = layout.folder(version, model.relation)
                    con.execute(layout.parquet_view(model.relation, types[model.relation], where, True, data_dir))
                register_config(con, config)
                register_bookkeeping(con, config, data_dir, closed)
                still_open = open_periods(con, closed)
                found = notes(con)
            finally:
                con.close()
            change = refuse_method_change(path, config, accept_method_change, still_open)
            layout.mark_published(version)
            publish(path, config)
        published = True
    finally:
        if not published and version.exists():
            shutil.rmtree(version)
    layout.prune(builds, build_id)
    return BuildResult(
        target, time.perf_counter() - started, counts, checks, method_change=change, notes=[*closed.notes, *found]
    )
