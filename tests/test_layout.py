"""The build folders: day partitions linked from build to build, counted once, and pruned to the last two."""

from __future__ import annotations

import os

from chargeback.build import layout


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
