"""The committed sample month is exactly what its deterministic generator writes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from chargeback.raw.landing import partitions
from chargeback.raw.tables import RAW_TABLES

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


# The whole cluster bill's new raw tables, which the sample month gains with its volumes, load balancers and
# network bytes (issue 15, deliverable 5); until then they are absent, and this list says so.
NOT_YET_IN_THE_SAMPLE = {
    "prometheus/persistent_volume_hours",
    "prometheus/pod_volume_claims",
    "kubernetes/persistent_volumes",
    "ec2/volumes",
    "elbv2/load_balancers",
}


def test_every_raw_table_is_present_and_matches_its_schema():
    for table in RAW_TABLES:
        files = partitions(SAMPLE, table)
        assert files or table.key in NOT_YET_IN_THE_SAMPLE, f"sample month has no {table.key}"
        for file in files:
            assert pq.read_schema(file).remove_metadata() == table.schema, f"{file} does not match {table.key}"
