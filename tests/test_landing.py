"""Landing raw tables: schema checks that name the problem, atomic partition replacement."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chargeback.core.errors import DataError
from chargeback.raw.landing import land, partitions, write_partition
from chargeback.raw.tables import BY_KEY, NODE_HOURS, RAW_TABLES


def node_rows(hours: list[int], node: str = "n1") -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "cluster": "c",
                "node": node,
                "hour": datetime(2026, 10, 1 + h // 24, h % 24, tzinfo=UTC),
                "running_seconds": 3600.0,
            }
            for h in hours
        ]
    )


def test_every_raw_table_has_a_unique_key_and_a_partition_scheme():
    assert len(BY_KEY) == len(RAW_TABLES)
    assert {t.partition for t in RAW_TABLES} <= {"date", "billing_period"}


def test_land_splits_by_utc_day_and_relanding_a_day_replaces_it(tmp_path):
    land(tmp_path, NODE_HOURS, node_rows([0, 1, 25]))  # optional columns absent: filled with nulls
    files = partitions(tmp_path, NODE_HOURS)
    assert [f.parent.name for f in files] == ["day=2026-10-01", "day=2026-10-02"]
    land(tmp_path, NODE_HOURS, node_rows([2], node="n2"))  # day 1 again: replaced as a whole
    day1 = pq.read_table(files[0])
    assert day1.column("node").to_pylist() == ["n2"]
    assert pq.read_table(files[1]).num_rows == 1
    assert not list(tmp_path.rglob("*.tmp")), "no temporary files left behind"


def test_missing_and_mistyped_columns_are_named(tmp_path):
    with pytest.raises(DataError, match=r"scrape-1: prometheus/node_hours is missing column\(s\) running_seconds"):
        land(tmp_path, NODE_HOURS, node_rows([0]).drop_columns(["running_seconds"]), origin="scrape-1")
    bad = node_rows([0]).set_column(3, "running_seconds", pa.array(["an hour"]))
    with pytest.raises(DataError, match=r"column 'running_seconds' is string, expected double"):
        land(tmp_path, NODE_HOURS, bad)
    nulls = node_rows([0]).set_column(1, "node", pa.array([None], pa.string()))
    with pytest.raises(DataError, match=r"column 'node' has 1 null value"):
        land(tmp_path, NODE_HOURS, nulls)
    assert partitions(tmp_path, NODE_HOURS) == [], "a rejected batch writes nothing"


def test_a_failed_write_keeps_the_earlier_partition(tmp_path):
    land(tmp_path, NODE_HOURS, node_rows([0]))

    def failing_batches():
        yield NODE_HOURS.conform(node_rows([1, 2]), "test")
        raise RuntimeError("collector died mid-window")

    with pytest.raises(RuntimeError):
        write_partition(tmp_path, NODE_HOURS, "2026-10-01", failing_batches())
    (only,) = partitions(tmp_path, NODE_HOURS)
    assert pq.read_table(only).num_rows == 1
    assert not list(tmp_path.rglob("*.tmp"))
