"""The build folders: day partitions linked from build to build, counted once, and pruned to the last two; a data
directory moved elsewhere still reads."""

from __future__ import annotations

import os

import duckdb
import pyarrow.parquet as pq
import pytest

from chargeback.build import layout
from chargeback.build.engines import build
from chargeback.build.warehouse import connect, search_from
from chargeback.core import config as config_module
from chargeback.core.errors import ChargebackError
from chargeback.reports.bill import monthly_bill
from tests.test_build import TEAMS, two_teams

PERIOD = "2026-10"  # two_teams' month


def test_prune_keeps_the_last_two_published_builds_and_a_later_one_still_running(tmp_path):
    names = ["20261101T000000Z-a", "20261102T000000Z-b", "20261103T000000Z-c", "20261104T000000Z-d",
             "20261105T000000Z-e"]  # fmt: skip
    for name in names:
        (tmp_path / name).mkdir()
    for name in ("20261101T000000Z-a", "20261102T000000Z-b", "20261104T000000Z-d"):
        layout.mark_published(tmp_path / name)
    # c died before publishing; d is the build just published; e started later and is still running
    deleted = layout.prune(tmp_path, "20261104T000000Z-d")
    assert sorted(p.name for p in deleted) == ["20261101T000000Z-a", "20261103T000000Z-c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20261102T000000Z-b", "20261104T000000Z-d",
                                                          "20261105T000000Z-e"]  # fmt: skip


def test_a_carried_day_is_the_same_file_and_disk_use_counts_it_once(tmp_path):
    old = tmp_path / "old" / "day=2026-10-01" / "cluster=c1"
    old.mkdir(parents=True)
    (old / "part_1.parquet").write_bytes(b"x" * 1000)
    (old / "part_2.parquet").write_bytes(b"y" * 500)
    linked = layout.carry_forward(tmp_path / "old" / "day=2026-10-01", tmp_path / "new" / "day=2026-10-01")
    new = tmp_path / "new" / "day=2026-10-01" / "cluster=c1"
    assert linked == 2
    assert os.path.samefile(old / "part_1.parquet", new / "part_1.parquet")
    assert layout.disk_use(tmp_path) == 1500  # not 3000


def test_partitions_are_by_day_where_there_is_a_date_or_hour_and_by_cluster_where_there_is_one():
    assert layout.partition_columns(["cluster", "hour", "cost"]) == ["day", "cluster"]
    assert layout.partition_columns(["date", "tenant"]) == ["day"]
    assert layout.partition_columns(["cluster", "pod"]) == ["cluster"]
    assert layout.day_source(["cluster", "date", "hour"]) == "date"
    assert layout.day_source(["cluster", "first_date"], "first_date") == "first_date"


def test_a_moved_data_directory_serves_the_same_bill_and_builds_again(tmp_path):
    """A data directory restored from a backup, or its volume mounted at another path: the warehouse's views
    name their files relative to the data directory, so at the new path, the old one gone, it serves the same
    bill, the same priced pod-hours (a view over the build folder's Parquet) and the same raw rows (views over
    raw/), and the next build there (whole: the day fingerprints record the path) bills the same."""
    before, after = tmp_path / "before" / "data", tmp_path / "after" / "data"
    two_teams().write(before)
    config = config_module.parse({"data_dir": str(before), "tenancy": TEAMS})
    build(config)
    bill = monthly_bill(config, PERIOD).to_json()
    priced = "select count(*), sum(cpu_cost + memory_cost + idle_cost) from intermediate.int_pod_hours_priced"
    with connect(config) as con:
        pod_hours = con.execute(priced).fetchall()
    raw_rows = pq.read_table(before / "raw" / "prometheus" / "pod_hours").num_rows
    (tmp_path / "before").rename(tmp_path / "after")
    moved = config.model_copy(update={"data_dir": after})
    assert monthly_bill(moved, PERIOD).to_json() == bill
    assert monthly_bill(moved, PERIOD).lines
    with connect(moved) as con:
        assert con.execute(priced).fetchall() == pod_hours
        assert pod_hours[0][0] > 0
        assert con.execute("select count(*) from raw.prometheus__pod_hours").fetchone()[0] == raw_rows > 0
    result = build(moved)
    assert result.refreshed["intermediate.int_pod_hours_priced"].whole
    assert monthly_bill(moved, PERIOD).to_json() == bill


def test_a_data_directory_whose_path_has_a_comma_is_refused_naming_it(tmp_path):
    """DuckDB's file_search_path, where the views' relative paths are resolved, is a comma-separated list."""
    with pytest.raises(ChargebackError, match=r"a,b: a data directory's path cannot contain a comma"):
        search_from(duckdb.connect(), tmp_path / "a,b")
