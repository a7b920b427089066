"""The committed sample month is exactly what its deterministic generator writes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from chargeback.raw.landing import partitions
from chargeback.raw.tables import RAW_TABLES
from sample_data import generate as sample

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in ("raw", "cur_export")
        for path in sorted((root / folder).rglob("*"))
        if path.is_file()
    }


def test_generator_reproduces_the_committed_files_byte_for_byte(tmp_path):
    subprocess.run([sys.executable, str(SAMPLE / "generate.py"), str(tmp_path)], check=True, capture_output=True)
    assert digests(tmp_path) == digests(SAMPLE)


def test_every_raw_table_is_present_and_matches_its_schema():
    for table in RAW_TABLES:
        files = partitions(SAMPLE, table)
        assert files, f"sample month has no {table.key}"
        for file in files:
            assert pq.read_schema(file).remove_metadata() == table.schema, f"{file} does not match {table.key}"


def test_the_scope_read_from_the_raw_files_is_the_bills_source_total():
    """The generator's own reading of the scope (``IN_SCOPE_V2``: docs/method.md's rules in plain SQL over the raw
    files, no model) on the landed CUR: each scope's amortized cost, and their sum is the source total the README's
    sample bill prints. Storage (PV and node volumes) and network (data transfer and load balancers) are about a
    sixth of it: (166.000768 + 100.142585 + 119.471073 + 89.581440) / 2,928.070646 = 16.2%."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for view, table in (("node_hours", "prometheus/node_hours"), ("cur_v2", "cur/line_items")):
        con.execute(f"create view {view} as select * from read_parquet('{SAMPLE}/raw/{table}/*/*.parquet')")
    sample.scope_views(con, SAMPLE / "raw")
    parts = {
        part: Decimal(str(cost)) for part, cost in con.execute(sample.IN_SCOPE_V2, [sample.CLUSTER_ARN]).fetchall()
    }
    assert parts == {
        "ec2 nodes": Decimal("2280.748174"),
        "pv volumes": Decimal("166.000768"),
        "node volumes": Decimal("100.142585"),
        "data transfer": Decimal("119.471073"),
        "load balancers": Decimal("89.581440"),
        "eks": Decimal("74.400000"),
        "emr": Decimal("7.169106"),
        "tagged": Decimal("40.000000"),
        "overhead": Decimal("50.557500"),  # the NAT gateway
    }
    total = sum(parts.values()).quantize(Decimal("0.01"))
    assert total == Decimal("2928.07")
    readme = (SAMPLE.parent / "README.md").read_text()
    assert f"source total (in-scope CUR cost): {total:,}" in readme
