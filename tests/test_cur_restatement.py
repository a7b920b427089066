"""A restated CUR billing period replaces the first version as a whole: nothing is counted twice."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from chargeback.build.engines import build
from chargeback.build.warehouse import connect
from chargeback.core import config as config_module
from chargeback.core.errors import DataError
from chargeback.raw.collect import land_billing_period
from chargeback.raw.landing import partitions
from collectors.cur import manifest_path
from collectors.streams import CUR_LINE_ITEMS
from tests.sample_support import HISTORY_PARTITIONS

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
EXPORT = SAMPLE / "cur_export" / "chargeback-cur2"
PERIOD = "2026-10"


@pytest.fixture
def workspace(tmp_path):
    """The sample's Prometheus, Kubernetes and EMR tables of October (not its history months), no CUR yet, and a
    copy of the export."""
    data_dir = tmp_path / "data"
    shutil.copytree(SAMPLE / "raw", data_dir / "raw", ignore=shutil.ignore_patterns("cur", *HISTORY_PARTITIONS))
    export = tmp_path / "chargeback-cur2"
    shutil.copytree(EXPORT, export)
    return data_dir, export


def use_version(export: Path, version: str) -> None:
    """Point the billing period's manifest at an older version, as AWS's was before the restatement."""
    top = manifest_path(export, PERIOD)
    shutil.copy(top.parent / version / top.name, top)


def cluster_fee(config) -> Decimal:
    with connect(config) as con:
        return con.execute("select sum(cost) from marts.fct_source_costs_daily where scope = 'cluster_fee'").fetchall()[
            0
        ][0]


def test_restated_period_replaces_the_first_version(workspace):
    data_dir, export = workspace
    config = config_module.parse({"data_dir": str(data_dir)})
    final_manifest = json.loads(manifest_path(export, PERIOD).read_text())
    v1_id = next(p.name for p in manifest_path(export, PERIOD).parent.iterdir() if p.is_dir())
    use_version(export, v1_id)

    first, _ = land_billing_period(data_dir, export, PERIOD)
    assert first.execution_id == v1_id
    build(config)
    # Version 1 was delivered on 2026-10-28 with usage up to 2026-10-27: 27 days of the $0.10/h EKS fee.
    assert cluster_fee(config) == Decimal("0.10") * 24 * 27
    with connect(config) as con:
        estimated_v1 = con.execute("select sum(cost) from marts.fct_source_costs_daily where is_estimated").fetchall()[
            0
        ][0]
    assert estimated_v1 > 0, "node-days after the first version are estimated until the CUR covers them"

    manifest_path(export, PERIOD).write_text(json.dumps(final_manifest))  # AWS delivers the restatement
    second, _ = land_billing_period(data_dir, export, PERIOD)
    assert second.execution_id == final_manifest["executionId"]
    (landed,) = partitions(data_dir, CUR_LINE_ITEMS)
    v2_file = pq.read_table(second.data_files[0])
    raw = pq.read_table(landed)
    assert raw.num_rows == v2_file.num_rows, "the partition holds exactly the restated version"
    assert pc.sum(raw["line_item_unblended_cost"]).as_py() == pytest.approx(
        pc.sum(v2_file["line_item_unblended_cost"]).as_py()
    )

    build(config)
    assert cluster_fee(config) == Decimal("0.10") * 24 * 31  # the whole month, once
    with connect(config) as con:
        estimated = con.execute(
            "select coalesce(sum(cost), 0) from marts.fct_source_costs_daily where is_estimated"
        ).fetchall()[0][0]
    assert estimated == 0


def test_manifest_naming_a_missing_file_is_refused_and_keeps_the_landed_version(workspace):
    data_dir, export = workspace
    land_billing_period(data_dir, export, PERIOD)
    (landed,) = partitions(data_dir, CUR_LINE_ITEMS)
    before = pq.read_table(landed).num_rows
    body = json.loads(manifest_path(export, PERIOD).read_text())
    body["dataFiles"].append(body["dataFiles"][0].replace("00001", "00002"))
    manifest_path(export, PERIOD).write_text(json.dumps(body))
    with pytest.raises(DataError, match=r"Manifest.json: lists s3://.*00002.snappy.parquet, which is not at"):
        land_billing_period(data_dir, export, PERIOD)
    assert pq.read_table(landed).num_rows == before


def test_missing_manifest_names_the_period(workspace):
    data_dir, export = workspace
    with pytest.raises(DataError, match=r"no CUR manifest for billing period 2026-07"):
        land_billing_period(data_dir, export, "2026-07")  # before the sample's first month
