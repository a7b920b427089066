"""What a build reads of the raw tree: partition files only (anything else is reported as a stray file), each
one verified against the page checksums landing wrote, once (docs/collecting.md#the-raw-tables)."""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from chargeback.build.engines import build
from chargeback.build.warehouse import connect
from chargeback.cli import app
from chargeback.core import config as config_module
from chargeback.core.errors import DataError
from chargeback.raw import integrity
from chargeback.raw.landing import is_partition_file, land, partitions, stray_files
from chargeback.raw.tables import CUR_LINE_ITEMS, POD_HOURS
from collectors import streams
from tests.factory import GIB, Scenario

TENANCY = {"namespaces": [{"pattern": "a-*", "tenant": "team-a"}, {"pattern": "b-*", "tenant": "team-b"}]}


def one_node() -> Scenario:
    """m5.xlarge at $1 for hour 0; a-api requests 1 vCPU and 4 GiB, b-web 3 vCPU and 12 GiB: with the scad
    weights (vCPU 36/52 of the node, memory 16/52) team-a pays 1/4 of each, $0.25, and team-b $0.75."""
    s = Scenario()
    s.node("n-1", "m5.xlarge", [0], 1.0, vcpu=4, memory_gib=16)
    s.pod("a-api", "api", "n-1", [0], cpu_request=1, cpu_usage=0.5, memory_request_gib=4, memory_usage_gib=2)
    s.pod("b-web", "web", "n-1", [0], cpu_request=3, cpu_usage=1, memory_request_gib=12, memory_usage_gib=6)
    return s


def totals(config: config_module.Config) -> dict[str, Decimal]:
    with connect(config) as con:
        return dict(
            con.execute(
                "select tenant, sum(total_cost) from marts.fct_tenant_costs_daily group by tenant"
                " having abs(sum(total_cost)) > 1e-9"
            ).fetchall()
        )


def test_partition_files_are_matched_exactly():
    assert is_partition_file(POD_HOURS, "day=2026-10-01/data.parquet")
    assert is_partition_file(POD_HOURS, "day=2026-10-01/data-prod-analytics.parquet")
    assert is_partition_file(CUR_LINE_ITEMS, "billing_period=2026-10/data.parquet")
    for stray in (
        "day=2026-10-01/data (1).parquet",  # a copy a file manager makes: read as data before, counted twice
        "day=2026-10-01/database.parquet",
        "day=2026-10-01/data.parquet.bak",
        "day=2026-13-01/data.parquet",
        "billing_period=2026-10/data.parquet",  # the wrong partition key for a daily table
        "data.parquet",
        "day=2026-10-01/old/data.parquet",
    ):
        assert not is_partition_file(POD_HOURS, stray), stray


def test_stray_files_are_reported_and_never_read(tmp_path):
    data_dir = tmp_path / "data"
    one_node().write(data_dir)
    day = data_dir / "raw/prometheus/pod_hours/day=2026-10-01"
    shutil.copy(day / "data.parquet", day / "data (1).parquet")
    shutil.copy(day / "data.parquet", day / "old.parquet")
    (day / ".data.parquet.0123abcd.tmp").write_bytes(b"half a file")
    (data_dir / "raw/prometheus/pod_hours/README.txt").write_text("notes")
    (data_dir / "raw/prometheus/pod_hour/day=2026-10-01").mkdir(parents=True)
    shutil.copy(day / "data.parquet", data_dir / "raw/prometheus/pod_hour/day=2026-10-01/data.parquet")
    (data_dir / "raw/prometheus/pod_hours/day=2026-10-32").mkdir()
    shutil.copy(day / "data.parquet", data_dir / "raw/prometheus/pod_hours/day=2026-10-32/data.parquet")

    config = config_module.parse({"data_dir": str(data_dir), "tenancy": TENANCY})
    result = build(config)
    # Read once: $0.25 and $0.75 (before, `data (1).parquet` matched data*.parquet and doubled every pod-hour).
    assert totals(config) == {"team-a": Decimal("0.25"), "team-b": Decimal("0.75")}
    expected = {
        "raw/prometheus/pod_hour/day=2026-10-01/data.parquet": "not in a raw table's folder (raw/<source>/<table>/)",
        "raw/prometheus/pod_hours/README.txt": "not in a partition folder (day=YYYY-MM-DD)",
        "raw/prometheus/pod_hours/day=2026-10-01/.data.parquet.0123abcd.tmp": (
            "a temporary file of a landing that is running, or was killed (delete it if none is running)"
        ),
        "raw/prometheus/pod_hours/day=2026-10-01/data (1).parquet": "not named data.parquet or data-<cluster>.parquet",
        "raw/prometheus/pod_hours/day=2026-10-01/old.parquet": "not named data.parquet or data-<cluster>.parquet",
        "raw/prometheus/pod_hours/day=2026-10-32/data.parquet": "not in a partition folder (day=YYYY-MM-DD)",
    }
    assert {s.path: s.reason for s in stray_files(data_dir)} == expected
    with connect(config) as con:
        recorded = con.execute("select file, issue, detail from bookkeeping.raw_file_issues order by file").fetchall()
    assert recorded == [(path, "stray", f"not read: {reason}") for path, reason in sorted(expected.items())]
    assert any(note.startswith("6 stray file(s) under raw/ not read: ") for note in result.notes), result.notes

    printed = CliRunner().invoke(app, ["check", "--data-dir", str(data_dir)], env={"COLUMNS": "250"}).output
    assert "stray file raw/prometheus/pod_hours/day=2026-10-01/data (1).parquet: not read" in printed


def noisy_pod_hours(data_dir) -> None:
    """200 pod-hours of a-api on n-1 with random usage: doubles that zstd cannot compress, so the column's
    page holds them as stored (a flipped bit there decodes, silently, as another number)."""
    rng = random.Random(7)
    rows = [
        {
            "cluster": "test-cluster", "namespace": "a-api", "pod": f"api-{i}", "pod_uid": f"uid-{i}", "node": "n-1",
            "hour": datetime(2026, 10, 1, tzinfo=UTC), "running_seconds": 3600.0,
            "cpu_request_core_seconds": 0.01 * 3600, "cpu_usage_core_seconds": rng.random() * 0.01 * 3600,
            "memory_request_byte_seconds": 0.05 * GIB * 3600, "memory_working_set_byte_seconds": rng.random() * GIB,
            "gpu_request_seconds": 0.0,
        }
        for i in range(200)
    ]  # fmt: skip
    land(data_dir, streams.POD_HOURS, pa.Table.from_pylist(rows, schema=streams.POD_HOURS.schema))


def flip_a_byte_in(file, column: str) -> None:
    """Flip one bit in the middle of ``column``'s column chunk: a data page's values, the footer intact."""
    meta = pq.ParquetFile(file).metadata.row_group(0)
    chunk = next(meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema == column)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(file.read_bytes())
    data[start + chunk.total_compressed_size // 2] ^= 0x10
    file.write_bytes(bytes(data))


def test_a_flipped_byte_in_a_data_page_stops_the_build_naming_the_file(tmp_path):
    data_dir = tmp_path / "data"
    s = one_node()
    s.pod_hours, s.pods = [], {}
    s.write(data_dir)
    noisy_pod_hours(data_dir)
    config = config_module.parse({"data_dir": str(data_dir), "tenancy": TENANCY})
    build(config)
    published = config.warehouse_path.read_bytes()
    (file,) = partitions(data_dir, POD_HOURS)
    landed = pq.read_table(file)["cpu_usage_core_seconds"].to_pylist()
    assert json.loads((data_dir / integrity.STATE).read_text()) == {
        f.relative_to(data_dir).as_posix(): f"{f.stat().st_size}:{f.stat().st_mtime_ns}"
        for table in (streams.POD_HOURS, streams.NODE_HOURS, streams.CUR_LINE_ITEMS)
        for f in partitions(data_dir, table)
    }, "every file verified once, remembered by size and time"

    flip_a_byte_in(file, "cpu_usage_core_seconds")
    read = pq.read_table(file)["cpu_usage_core_seconds"].to_pylist()  # without verification: other numbers
    assert sum(a != b for a, b in zip(read, landed, strict=True)) == 1
    with pytest.raises(DataError, match=r"data\.parquet: its bytes changed after landing .*CRC.*collect that"):
        build(config)
    assert config.warehouse_path.read_bytes() == published


def test_files_landed_without_page_checksums_are_read_and_reported(tmp_path):
    data_dir = tmp_path / "data"
    one_node().write(data_dir)
    (file,) = partitions(data_dir, POD_HOURS)
    table = pq.read_table(file)
    pq.write_table(table.replace_schema_metadata(None), file, compression="zstd")  # as landed before checksums
    config = config_module.parse({"data_dir": str(data_dir), "tenancy": TENANCY})
    result = build(config)
    assert totals(config) == {"team-a": Decimal("0.25"), "team-b": Decimal("0.75")}
    assert result.notes == [
        "1 raw file(s) without page checksums: raw/prometheus/pod_hours/day=2026-10-01/data.parquet"
        " (see `chargeback check`)"
    ]
    assert not integrity.has_checksums(file) and integrity.has_checksums(partitions(data_dir, streams.NODE_HOURS)[0])
