"""The benchmark generator makes the sizes it promises, and what it makes builds and conserves every dollar."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pytest

from benchmarks.basics import DAY, MONTH_START, Fleet, hour_slices
from benchmarks.generate import SIZES, Layout, SampleMonth, Size, generate, land_next_day
from chargeback.build.engines import build
from chargeback.build.warehouse import connect
from chargeback.core import config as config_module
from chargeback.reports.bill import monthly_bill
from sample_data import generate as sample
from tests.test_sample_data import SAMPLE, digests

TINY = Size("tiny", nodes=12, long_running_pods=80, spark_jobs_per_day=6, executors_per_job=3, days=2)
SAMPLE_CONFIG = SAMPLE / "chargeback.toml"


TINY_FLEET = Fleet("tiny-fleet", TINY, ("prod-analytics", "prod-analytics-2"))


def built(out: Path) -> config_module.Config:
    config = config_module.load(SAMPLE_CONFIG).model_copy(update={"data_dir": out})
    build(config)  # raises if an invariant (conservation among them) breaks
    return config


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    generate(TINY, out)
    return out


@pytest.fixture(scope="module")
def tiny_built(tmp_path_factory: pytest.TempPathFactory) -> config_module.Config:
    out = tmp_path_factory.mktemp("tiny-built")
    generate(TINY, out)
    return built(out)


@pytest.fixture(scope="module")
def tiny_fleet(tmp_path_factory: pytest.TempPathFactory) -> config_module.Config:
    out = tmp_path_factory.mktemp("tiny-fleet")
    generate(TINY_FLEET, out)
    return built(out)


RAW_VIEWS = (("prometheus", "pod_hours"), ("prometheus", "pods"), ("prometheus", "node_hours"), ("emr", "job_runs"),
             ("cur", "line_items"), ("prometheus", "persistent_volume_hours"), ("prometheus", "pod_volume_claims"),
             ("ec2", "volumes"), ("elbv2", "load_balancers"))  # fmt: skip
VIEW_NAMES = {"load_balancers": "balancers"}  # sample.scope_views has its own load_balancers view


def raw(out: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for source, table in RAW_VIEWS:
        view = VIEW_NAMES.get(table, table)
        con.execute(f"create view {view} as select * from read_parquet('{out}/raw/{source}/{table}/*/*.parquet')")
    return con


def test_named_sizes_are_the_issues_sizes():
    assert isinstance(SIZES["S"], SampleMonth)
    m, large = SIZES["M"], SIZES["L"]
    assert (m.nodes, m.long_running_pods, m.spark_jobs_per_day, m.executors_per_job, m.days) == (100, 3000, 300, 20, 30)
    assert (large.nodes, large.long_running_pods, large.spark_jobs_per_day, large.executors_per_job, large.days) == (
        500, 20_000, 2_000, 20, 30)  # fmt: skip
    assert large.executor_seconds == m.executor_seconds == (600, 3600)
    assert m.key != large.key and dataclasses.replace(m).key == m.key  # a cache per size, stable across runs
    fleet = SIZES["XL"]
    assert isinstance(fleet, Fleet) and fleet.size == large and len(set(fleet.clusters)) == 4
    assert [m.cluster for m in fleet.members()] == list(fleet.clusters) and fleet.key != large.key
    assert fleet.members()[0].cluster == sample.CLUSTER and fleet.members()[0].seed == large.seed


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


def test_a_tiny_size_builds_and_conserves_every_dollar(tiny_built):
    data_dir = tiny_built.data_dir
    # the in-scope cost, computed from the raw CUR by the sample generator's own query
    con = raw(data_dir)
    con.execute("create view cur_v2 as select * from line_items")
    sample.scope_views(con, data_dir / "raw")
    parts = dict(con.execute(sample.IN_SCOPE_V2, [sample.CLUSTER_ARN]).fetchall())
    assert set(parts) == {"ec2 nodes", "eks", "emr", "tagged", "pv volumes", "node volumes", "data transfer",
                          "load balancers"}  # fmt: skip
    with connect(tiny_built) as wh:
        billed = wh.execute("select sum(total_cost) from marts.fct_tenant_costs_daily").fetchone()[0]
        tenants = {t for (t,) in wh.execute("select distinct tenant from marts.fct_tenant_costs_daily").fetchall()}
    assert abs(billed - Decimal(str(sum(parts.values())))) < Decimal("0.00001")
    assert {"payments", "data-eng", "ml", "risk"} <= tenants


def test_a_tiny_size_bills_its_volumes_and_network(tiny_built):
    """What the raw CUR holds beyond the nodes, summed independently of the models, is what the build bills: data
    transfer and load balancers as network, PV volumes as storage, root volumes with their nodes."""
    con = raw(tiny_built.data_dir)
    raw_cost = """select coalesce(sum(line_item_unblended_cost), 0) from line_items
                  where line_item_line_item_type = 'Usage' and {}"""
    transfer = con.execute(raw_cost.format("line_item_usage_type like '%DataTransfer%'")).fetchone()[0]
    balancers = con.execute(raw_cost.format("line_item_product_code = 'AWSELB'")).fetchone()[0]
    pv = con.execute(raw_cost.format("line_item_resource_id in (select volume_handle from persistent_volume_hours)"))
    pv = pv.fetchone()[0]
    roots = con.execute(raw_cost.format("line_item_resource_id in (select volume_id from volumes "
                                        "where device = '/dev/xvda')")).fetchone()[0]  # fmt: skip
    assert min(transfer, balancers, pv, roots) > 0
    with connect(tiny_built) as wh:
        scopes = dict(wh.execute("select scope, sum(cost) from marts.fct_source_costs_daily group by all").fetchall())
    cent = Decimal("0.01")
    assert abs(scopes["data_transfer"] + scopes["load_balancer"] - Decimal(str(transfer + balancers))) < cent
    assert abs(scopes["pv_volume"] - Decimal(str(pv))) < cent
    assert abs(scopes["node_volume"] - Decimal(str(roots))) < cent
    bill = monthly_bill(tiny_built, "2026-10")
    assert sum(line.parts["storage"] for line in bill.lines) > 0
    assert sum(line.parts["network"] for line in bill.lines) > 0


def test_a_tiny_size_has_volumes_bytes_and_load_balancers(tiny):
    con = raw(tiny)
    # every pod-hour but the host-network DaemonSets' has bytes each way; Spark executors move the most
    nulls = con.execute("""
        select count(*) filter (i.host_network and network_receive_bytes is not null),
               count(*) filter (not i.host_network
                                and (network_receive_bytes is null or network_transmit_bytes is null)),
               count(*) filter (i.host_network)
        from pod_hours p join (select distinct pod_uid, host_network from pods) i using (pod_uid)""").fetchone()
    assert nulls[:2] == (0, 0) and nulls[2] == 3 * TINY.nodes * TINY.days * 24
    rates = dict(
        con.execute("""
        select coalesce(labels['spark-role'], 'service'),
               sum(network_receive_bytes + network_transmit_bytes) / sum(running_seconds)
        from pod_hours p join (select distinct pod_uid, labels from pods) i using (pod_uid)
        where network_receive_bytes is not null group by all""").fetchall()
    )
    assert rates["executor"] > 3 * rates["service"] > 0
    # a root volume per node, attached at every hourly snapshot; a PV per StatefulSet pod, its claim mounted daily
    roots = con.execute("""
        select count(distinct instance_id), count(*) from volumes where device = '/dev/xvda'""").fetchone()
    assert roots == (TINY.nodes, TINY.nodes * 24 * TINY.days)
    stateful = con.execute("select count(distinct pod_uid) from pods where owner_kind = 'StatefulSet'").fetchone()[0]
    pvs = con.execute("select count(distinct persistent_volume), count(*) from persistent_volume_hours").fetchone()
    claims = con.execute("select count(distinct pod_uid), count(*) from pod_volume_claims").fetchone()
    assert stateful > 0 and pvs == (stateful, stateful * 24 * TINY.days) and claims == (stateful, stateful * TINY.days)
    # each node-hour: one InterZone-In and one InterZone-Out line of its instance
    transfer = con.execute("""
        select count(*), count(distinct (line_item_resource_id, line_item_usage_start_date, line_item_operation))
        from line_items where line_item_usage_type like '%DataTransfer%'""").fetchone()
    assert transfer == (2 * TINY.nodes * 24 * TINY.days,) * 2
    alb = con.execute("select count(distinct load_balancer_arn) from balancers").fetchone()[0]
    assert alb == len([ns for ns in con.execute("select distinct namespace from pods").fetchall()
                       if ns[0].startswith(("payments-web", "ml-serving"))]) > 0  # fmt: skip


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
    for table, column in (
        ("persistent_volume_hours", "hour"),
        ("volumes", "collected_at"),
        ("balancers", "collected_at"),
    ):  # volumes and load balancers too
        days = con.execute(f"select count(distinct cast({column} as date)) from {table}").fetchone()[0]
        assert days == TINY.days + 1, table
    built(data_dir)


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


def test_a_tiny_fleet_bills_each_cluster_as_it_would_alone(tiny_fleet, tiny_built, tmp_path):
    """Two clusters in one account, CUR and warehouse: each cluster's bill is the bill of that cluster generated
    alone (the first is the tiny size itself), and nothing of one is taken for the other's."""
    members = TINY_FLEET.members()
    alone = tmp_path / "second"
    generate(members[1], alone)
    for cluster, single in ((members[0].cluster, tiny_built), (members[1].cluster, built(alone))):
        in_fleet, by_itself = monthly_bill(tiny_fleet, "2026-10", cluster=cluster), monthly_bill(single, "2026-10")
        assert in_fleet.total == by_itself.total > 0 and in_fleet.source_total == by_itself.source_total
        assert [(x.tenant, x.parts) for x in in_fleet.lines] == [(x.tenant, x.parts) for x in by_itself.lines]
    whole = monthly_bill(tiny_fleet, "2026-10")
    clusters = [monthly_bill(tiny_fleet, "2026-10", cluster=c) for c in TINY_FLEET.clusters]
    assert whole.source_total == sum(bill.source_total for bill in clusters)
    con = raw(tiny_fleet.data_dir)
    distinct = con.execute("""select count(distinct cluster), count(distinct node), count(distinct pod_uid),
        count(distinct (cluster, pod_uid)) from pod_hours""").fetchone()
    assert distinct[0] == 2 and distinct[2] == distinct[3]
    assert distinct[1] == 2 * TINY.nodes
    eks = "select count(distinct line_item_resource_id) from line_items where line_item_product_code = 'AmazonEKS'"
    assert con.execute(eks).fetchone()[0] == 2
    # the account's sources land one file a day, as the account's collection does; the clusters' one each
    raw_dir = tiny_fleet.data_dir / "raw"
    assert {f.name for f in raw_dir.glob("emr/job_runs/*/*.parquet")} == {"data.parquet"}
    assert {f.name for f in raw_dir.glob("prometheus/pod_hours/*/*.parquet")} == {
        f"data-{c}.parquet" for c in TINY_FLEET.clusters
    }


def test_a_tiny_fleet_lands_the_next_day_of_every_cluster(tmp_path):
    generate(TINY_FLEET, tmp_path)
    land_next_day(TINY_FLEET, tmp_path)
    con = raw(tmp_path)
    days = con.execute("select cluster, count(distinct cast(hour as date)) from pod_hours group by all").fetchall()
    assert sorted(days) == [(c, TINY.days + 1) for c in TINY_FLEET.clusters]
    built(tmp_path)
