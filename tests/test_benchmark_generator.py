"""The benchmark generator makes the sizes it promises, and what it makes builds and conserves every dollar."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pytest

from benchmarks.generate import SIZES, Layout, SampleMonth, Size, generate, land_next_day
from benchmarks.layout import DAY, MONTH_START, hour_slices
from chargeback.build.engines import build
from chargeback.build.warehouse import connect
from chargeback.core import config as config_module
from sample_data import generate as sample
from tests.test_sample_data import SAMPLE, digests

TINY = Size("tiny", nodes=12, long_running_pods=80, spark_jobs_per_day=6, executors_per_job=3, days=2)
SAMPLE_CONFIG = SAMPLE / "chargeback.toml"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    generate(TINY, out)
    return out


def raw(out: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for source, table in (("prometheus", "pod_hours"), ("prometheus", "pods"), ("prometheus", "node_hours"),
                          ("emr", "job_runs"), ("cur", "line_items")):  # fmt: skip
        con.execute(f"create view {table} as select * from read_parquet('{out}/raw/{source}/{table}/*/*.parquet')")
    return con


def test_named_sizes_are_the_issues_sizes():
    assert isinstance(SIZES["S"], SampleMonth)
    m, large = SIZES["M"], SIZES["L"]
    assert (m.nodes, m.long_running_pods, m.spark_jobs_per_day, m.executors_per_job, m.days) == (100, 3000, 300, 20, 30)
    assert (large.nodes, large.long_running_pods, large.spark_jobs_per_day, large.executors_per_job, large.days) == (
        500, 20_000, 2_000, 20, 30)  # fmt: skip
    assert large.executor_seconds == m.executor_seconds == (600, 3600)
    assert m.key != large.key and dataclasses.replace(m).key == m.key  # a cache per size, stable across runs


def test_a_tiny_size_has_the_promised_shape(tiny):
    con = raw(tiny)
    assert con.execute("select count(distinct node) from node_hours").fetchone()[0] == TINY.nodes
    days = con.execute("select count(distinct cast(hour as date)) from pod_hours").fetchone()[0]
    assert days == TINY.days
    # long-running: a pod in every hour of every day
    all_hours = con.execute(
        "select count(*) from (select pod_uid from pod_hours group by pod_uid having count(*) = ?)",
        [TINY.days * 24],
    ).fetchone()[0]
    assert all_hours == TINY.long_running_pods
    per_day = con.execute("select cast(created_at as date), count(*) from job_runs group by all").fetchall()
    assert len(per_day) == TINY.days and {n for _, n in per_day} == {TINY.spark_jobs_per_day}
    roles = con.execute("""
        select labels['emr-containers.amazonaws.com/job.id'] as job,
               count(distinct pod_uid) filter (labels['spark-role'] = 'driver') as drivers,
               count(distinct pod_uid) filter (labels['spark-role'] = 'executor') as executors,
               min(epoch(completion_time) - epoch(start_time)) filter (labels['spark-role'] = 'executor'),
               max(epoch(completion_time) - epoch(start_time)) filter (labels['spark-role'] = 'executor')
        from pods where labels['spark-role'] is not null group by all""").fetchall()
    assert len(roles) == TINY.days * TINY.spark_jobs_per_day
    assert {(d, e) for _, d, e, _, _ in roles} == {(1, TINY.executors_per_job)}
    low, high = TINY.executor_seconds
    assert all(low <= shortest and longest <= high for *_, shortest, longest in roles)


def test_a_tiny_size_is_physically_consistent(tiny):
    """The sample generator's own self-checks: pods on running nodes, requests within capacity, one CUR
    instance line per node-hour, every Spark pod's job run known."""
    con = raw(tiny)
    con.execute("create view cur_v2 as select * from line_items")
    con.execute("create view cur_raw as select * from line_items")
    failures = {
        name: n
        for name, query in sample.SELF_CHECKS.items()
        if "cur_v1" not in query and (n := con.execute(query).fetchone()[0])
    }
    assert failures == {}


def test_a_tiny_size_builds_and_conserves_every_dollar(tiny, tmp_path):
    data_dir = tmp_path / "data"
    generate(TINY, data_dir)
    config = config_module.load(SAMPLE_CONFIG).model_copy(update={"data_dir": data_dir})
    build(config)  # raises if an invariant (conservation among them) breaks
    # the in-scope cost, computed from the raw CUR by the sample generator's own query
    con = raw(data_dir)
    con.execute("create view cur_v2 as select * from line_items")
    sample.scope_views(con, data_dir / "raw")  # volumes and load balancers: none in a benchmark month
    parts = dict(con.execute(sample.IN_SCOPE_V2, [sample.CLUSTER_ARN]).fetchall())
    assert set(parts) == {"ec2 nodes", "eks", "emr", "tagged"}
    with connect(config) as wh:
        billed = wh.execute("select sum(total_cost) from marts.fct_tenant_costs_daily").fetchone()[0]
        tenants = {t for (t,) in wh.execute("select distinct tenant from marts.fct_tenant_costs_daily").fetchall()}
    assert abs(billed - Decimal(str(sum(parts.values())))) < Decimal("0.00001")
    assert {"payments", "data-eng", "ml", "risk"} <= tenants


def test_the_next_day_adds_a_day_and_keeps_the_earlier_cur_lines(tmp_path):
    data_dir = tmp_path / "data"
    generate(TINY, data_dir)
    lines = """select line_item_usage_start_date, line_item_resource_id, line_item_usage_type, line_item_line_item_type,
        line_item_usage_amount, line_item_unblended_cost from line_items
        where line_item_line_item_type <> 'Tax' and line_item_usage_start_date < to_timestamp(?) order by all"""
    month_end = MONTH_START + TINY.days * DAY
    before = raw(data_dir).execute(lines, [month_end]).fetchall()
    land_next_day(TINY, data_dir)
    con = raw(data_dir)
    assert con.execute("select count(distinct cast(hour as date)) from pod_hours").fetchone()[0] == TINY.days + 1
    assert con.execute(lines, [month_end]).fetchall() == before
    assert con.execute(lines, [month_end + DAY]).fetchall() != before  # the new day's lines
    config = config_module.load(SAMPLE_CONFIG).model_copy(update={"data_dir": data_dir})
    build(config)


def test_m_and_l_layouts_have_the_promised_shapes():
    for name, expected_pod_hours in (("M", (2.2e6, 2.8e6)), ("L", (15e6, 17.5e6))):
        size = SIZES[name]
        layout = Layout.build(size)
        assert len({n.name for n in layout.nodes}) == size.nodes
        assert len(layout.pods) == size.long_running_pods
        spark = layout.spark
        assert np.bincount(spark.day).tolist() == [size.spark_jobs_per_day] * (size.days + 1)
        assert np.bincount(spark.job).tolist() == [1 + size.executors_per_job] * len(spark.day)
        executor = spark.index > 0
        lives = spark.end[executor] - spark.start[executor]
        assert lives.min() >= size.executor_seconds[0] and lives.max() <= size.executor_seconds[1]
        month_end = MONTH_START + size.days * DAY
        spark_pod_hours = len(hour_slices(spark.start, spark.end, MONTH_START, month_end)[0])
        pod_hours = size.long_running_pods * size.days * 24 + spark_pod_hours
        assert expected_pod_hours[0] < pod_hours < expected_pod_hours[1], (name, pod_hours)


def test_size_s_is_the_sample_month(tmp_path):
    generate(SIZES["S"], tmp_path)
    assert digests(tmp_path) == digests(SAMPLE)


def test_a_size_that_cannot_fit_says_so():
    with pytest.raises(ValueError, match="nodes cannot hold"):
        Layout.build(dataclasses.replace(TINY, nodes=8, spark_jobs_per_day=200))
