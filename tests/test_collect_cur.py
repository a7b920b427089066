"""CUR collection from S3 (moto's server) and from disk: manifests, restatements, legacy CUR and drift."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from chargeback.core import aws
from chargeback.core import config as config_module
from chargeback.core.errors import CollectError, DataError
from chargeback.raw.collect import land_periods
from chargeback.raw.landing import partition_path
from chargeback.raw.status import landed_version
from collectors.cur import CurCollector, load_manifest, read_batches
from collectors.cur_columns import athena_name, plan_columns
from collectors.cur_files import LocalCurSource, S3CurSource
from collectors.streams import CUR_LINE_ITEMS
from tests.services.aws import error_response, inject, moto, record_calls, utc  # noqa: F401 - moto is a fixture

SAMPLE_EXPORT = Path(__file__).resolve().parents[1] / "sample_data" / "cur_export" / "chargeback-cur2"
PERIOD = "2026-10"
V1 = "20261028T061500Z-v1"
V2 = "20261103T054500Z-v2"
BUCKET = "acme-cur"
PREFIX = "exports/chargeback-cur2"
LOCATION = f"s3://{BUCKET}/{PREFIX}"
MANIFEST_KEY = f"{PREFIX}/metadata/BILLING_PERIOD={PERIOD}/chargeback-cur2-Manifest.json"


def sample_file(version: str) -> Path:
    return SAMPLE_EXPORT / "data" / f"BILLING_PERIOD={PERIOD}" / version / "chargeback-cur2-00001.snappy.parquet"


def sample_manifest(version: str) -> dict:
    top = SAMPLE_EXPORT / "metadata" / f"BILLING_PERIOD={PERIOD}" / "chargeback-cur2-Manifest.json"
    path = top.parent / version / top.name if version == V1 else top
    return json.loads(path.read_text())


@pytest.fixture
def export(moto):  # noqa: F811
    """The sample export in S3 as AWS delivered its first version (the top manifest points to v1)."""
    moto.create_bucket(BUCKET)
    moto.upload_tree(BUCKET, PREFIX, SAMPLE_EXPORT)
    moto.put(BUCKET, MANIFEST_KEY, sample_manifest(V1))
    return moto


def s3_collector(moto, **settings) -> CurCollector:  # noqa: F811
    return CurCollector(S3CurSource(aws.client(moto.settings(**settings), "s3"), LOCATION))


def downloaded_keys(collector: CurCollector) -> _Keys:
    """Keys of every GetObject the collector's S3 client makes from now on."""
    calls = record_calls(collector.cur_source.client, "GetObject")
    return _Keys(calls)


class _Keys:
    """A live view of the keys in recorded GetObject calls."""

    def __init__(self, calls: list[dict]):
        self.calls = calls

    def __eq__(self, other: object) -> bool:
        return [call["Key"] for call in self.calls] == other

    def __repr__(self) -> str:
        return repr([call["Key"] for call in self.calls])


def landed(data_dir: Path) -> pa.Table:
    return pq.read_table(partition_path(data_dir, CUR_LINE_ITEMS, PERIOD))


def test_lands_exactly_the_files_the_manifest_lists(export, tmp_path):
    collector = s3_collector(export)
    keys = downloaded_keys(collector)

    (result,) = land_periods(tmp_path, collector, [PERIOD])

    assert result.landed and result.version == V1 and result.previous is None
    v1_key = f"{PREFIX}/data/BILLING_PERIOD={PERIOD}/{V1}/chargeback-cur2-00001.snappy.parquet"
    assert result.files == (f"s3://{BUCKET}/{v1_key}",)
    assert keys == [MANIFEST_KEY, v1_key], "the manifest, then its one data file; v2's file is never read"
    expected = pq.read_table(sample_file(V1))
    raw = landed(tmp_path)
    assert raw.num_rows == expected.num_rows == 30106
    assert pc.sum(raw["line_item_unblended_cost"]).as_py() == pytest.approx(
        pc.sum(expected["line_item_unblended_cost"]).as_py(), abs=1e-9
    )
    assert raw.schema.remove_metadata() == CUR_LINE_ITEMS.schema
    assert landed_version(tmp_path, PERIOD) == V1


def test_restatement_replaces_the_period_and_an_unchanged_manifest_costs_nothing(export, tmp_path):
    land_periods(tmp_path, s3_collector(export), [PERIOD])
    export.put(BUCKET, MANIFEST_KEY, sample_manifest(V2))  # AWS delivers the restated version

    (result,) = land_periods(tmp_path, s3_collector(export), [PERIOD])

    assert result.landed and result.version == V2 and result.previous == V1
    expected = pq.read_table(sample_file(V2))
    raw = landed(tmp_path)
    assert raw.num_rows == expected.num_rows == 40605, "exactly v2's rows: nothing of v1 kept or appended"
    assert pc.sum(raw["line_item_unblended_cost"]).as_py() == pytest.approx(
        pc.sum(expected["line_item_unblended_cost"]).as_py(), abs=1e-9
    )
    assert len(list(partition_path(tmp_path, CUR_LINE_ITEMS, PERIOD).parent.iterdir())) == 1

    path = partition_path(tmp_path, CUR_LINE_ITEMS, PERIOD)
    before = path.stat()
    again = s3_collector(export)
    keys = downloaded_keys(again)
    (unchanged,) = land_periods(tmp_path, again, [PERIOD])
    assert not unchanged.landed and unchanged.version == V2
    assert keys == [MANIFEST_KEY], "only the manifest is read"
    assert again.cur_source.downloads == 0
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), "the partition is not rewritten"

    # The caller's own record of what was landed works the same way; ``force`` re-lands.
    (told,) = land_periods(tmp_path, again, [PERIOD], landed={PERIOD: V2})
    assert not told.landed
    (forced,) = land_periods(tmp_path, again, [PERIOD], landed={PERIOD: V2}, force=True)
    assert forced.landed and landed(tmp_path).num_rows == 40605


def test_a_manifest_listing_a_missing_object_keeps_the_landed_version(export, tmp_path):
    land_periods(tmp_path, s3_collector(export), [PERIOD])
    broken = sample_manifest(V2)
    broken["dataFiles"].append(broken["dataFiles"][0].replace("00001", "00002"))
    export.put(BUCKET, MANIFEST_KEY, broken)
    collector = s3_collector(export)

    with pytest.raises(DataError, match=r"Manifest.json: lists s3://acme-cur/.*/chargeback-cur2-00002.snappy.parquet"):
        land_periods(tmp_path, collector, [PERIOD])

    assert collector.cur_source.downloads == 0, "nothing is downloaded before every listed file is known to exist"
    assert landed(tmp_path).num_rows == 30106 and landed_version(tmp_path, PERIOD) == V1


def test_a_corrupt_parquet_object_names_the_key_and_keeps_the_landed_version(export, tmp_path):
    land_periods(tmp_path, s3_collector(export), [PERIOD])
    bad_key = f"{PREFIX}/data/BILLING_PERIOD={PERIOD}/20261104T050000Z-v3/chargeback-cur2-00001.snappy.parquet"
    export.put(BUCKET, bad_key, b"PAR1 this is not parquet at all")
    manifest = sample_manifest(V2) | {"executionId": "20261104T050000Z-v3", "dataFiles": [f"s3://{BUCKET}/{bad_key}"]}
    export.put(BUCKET, MANIFEST_KEY, manifest)

    with pytest.raises(DataError, match=rf"s3://{BUCKET}/{bad_key}: cannot read CUR Parquet"):
        land_periods(tmp_path, s3_collector(export), [PERIOD])

    assert landed(tmp_path).num_rows == 30106 and landed_version(tmp_path, PERIOD) == V1
    leftovers = [p.name for p in partition_path(tmp_path, CUR_LINE_ITEMS, PERIOD).parent.iterdir()]
    assert leftovers == ["data.parquet"], "no temporary file is left behind"


def test_a_period_without_a_manifest(export, tmp_path):
    with pytest.raises(DataError, match=r"no CUR manifest for billing period 2026-11"):
        land_periods(tmp_path, s3_collector(export), ["2026-11"])
    (pending,) = land_periods(tmp_path, s3_collector(export), ["2026-11"], missing_ok=True)
    assert pending.version is None and not pending.landed


def test_access_denied_names_the_iam_action_and_period(export, tmp_path):
    collector = s3_collector(export, max_attempts=1)
    inject(collector.cur_source.client, "GetObject", [error_response(403, "AccessDenied", protocol="rest-xml")])

    with pytest.raises(CollectError, match=r"^cur billing period 2026-10: GetObject .* AccessDenied.*s3:GetObject"):
        land_periods(tmp_path, collector, [PERIOD])


def test_assume_role_when_role_arn_is_set(export, tmp_path):
    role = "arn:aws:iam::123456789012:role/cur-reader"
    config = config_module.parse(
        {
            "data_dir": str(tmp_path / "data"),
            "aws": export.settings(role_arn=role, external_id="chargeback-7f3a").model_dump(),
            "cur": {"location": LOCATION},
        }
    )
    collector = CurCollector.from_config(config)

    (result,) = land_periods(config.data_dir, collector, [PERIOD])

    assert result.landed and landed(config.data_dir).num_rows == 30106
    credentials = collector.cur_source.client._request_signer._credentials
    assert credentials.method == "sts-assume-role"
    assert credentials.get_frozen_credentials().access_key.startswith("ASIA")
    (assumed,) = export.assumed_roles()
    assert (assumed.role_arn, assumed.session_name, assumed.external_id) == (role, "chargeback", "chargeback-7f3a")
    identity = aws.client(config.aws, "sts").get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/cur-reader/chargeback"


def test_a_delivery_is_the_current_version_of_the_period_whole(export):
    """The PeriodCollector protocol: the period's delivery names its version and files; collecting it yields
    every line of that version, as cur/line_items batches."""
    collector = s3_collector(export)
    delivery = collector.delivery(PERIOD)
    assert (delivery.period, delivery.version) == (PERIOD, V1)
    batches = list(collector.collect_delivery(delivery))
    assert sum(batch.data.num_rows for batch in batches) == 30106
    assert {batch.stream.key for batch in batches} == {"cur/line_items"}


# --- legacy CUR -------------------------------------------------------------------------------------------


def legacy_rows() -> list[dict]:
    start, end = datetime(2026, 10, 1), datetime(2026, 11, 1)
    return [
        {
            "period_start": start,
            "period_end": end,
            "type": "Usage",
            "usage_start": datetime(2026, 10, 3, 5),
            "usage_end": datetime(2026, 10, 3, 6),
            "product_code": "AmazonEC2",
            "resource_id": "i-0aaa",
            "amount": 1.0,
            "cost": 0.192,
            "instance_type": "m5.xlarge",
            "region": "us-east-1",
            "vcpu": "4",
            "memory": "16 GiB",
            "tenant": "ml",
            "cluster": "prod-analytics",
        },
        {
            "period_start": start,
            "period_end": end,
            "type": "Usage",
            "usage_start": datetime(2026, 10, 3, 5),
            "usage_end": datetime(2026, 10, 3, 6),
            "product_code": "AmazonS3",
            "resource_id": "acme-data-lake",
            "amount": 2.5,
            "cost": 0.0575,
            "instance_type": None,
            "region": "us-east-1",
            "vcpu": "",
            "memory": None,
            "tenant": "",
            "cluster": None,
        },
    ]


# Legacy CSV-era names (as in Parquet reports without Athena integration) and Athena-style names.
CSV_NAMES = {
    "period_start": "bill/BillingPeriodStartDate",
    "period_end": "bill/BillingPeriodEndDate",
    "type": "lineItem/LineItemType",
    "usage_start": "lineItem/UsageStartDate",
    "usage_end": "lineItem/UsageEndDate",
    "product_code": "lineItem/ProductCode",
    "resource_id": "lineItem/ResourceId",
    "amount": "lineItem/UsageAmount",
    "cost": "lineItem/UnblendedCost",
    "instance_type": "product/instanceType",
    "region": "product/region",
    "vcpu": "product/vcpu",
    "memory": "product/memory",
    "tenant": "resourceTags/user:tenant",
    "cluster": "resourceTags/user:eks_cluster_name",
}
ATHENA_NAMES = {key: athena_name(name) for key, name in CSV_NAMES.items()}


def write_legacy_file(path: Path, names: dict[str, str], cost_as_text: bool = False) -> None:
    rows = legacy_rows()
    columns = {}
    for key, name in names.items():
        values = [row[key] for row in rows]
        if key in ("period_start", "period_end", "usage_start", "usage_end"):
            columns[name] = pa.array(values, pa.timestamp("ms"))  # legacy Parquet: naive, UTC by convention
        elif key == "cost" and cost_as_text:
            columns[name] = pa.array([str(v) for v in values], pa.string())
        else:
            columns[name] = pa.array(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


def test_legacy_cur_maps_to_cur2_names(moto, tmp_path):  # noqa: F811
    assert ATHENA_NAMES["tenant"] == "resource_tags_user_tenant"
    assert ATHENA_NAMES["usage_start"] == "line_item_usage_start_date"
    report, prefix = "acme-legacy", "legacy/acme-legacy"
    local = tmp_path / "legacy"
    write_legacy_file(local / "a.parquet", CSV_NAMES)
    write_legacy_file(local / "b.parquet", ATHENA_NAMES, cost_as_text=True)
    moto.create_bucket(BUCKET)
    assembly = "9f1c2a7e-0d3b-4c55-8e61-2b7f3e4a5c6d"
    keys = [f"{prefix}/20261001-20261101/{assembly}/{report}-{n}.snappy.parquet" for n in (1, 2)]
    moto.put(BUCKET, keys[0], (local / "a.parquet").read_bytes())
    moto.put(BUCKET, keys[1], (local / "b.parquet").read_bytes())
    moto.put(BUCKET, f"{prefix}/20260901-20261001/{report}-Manifest.json", {"assemblyId": "old", "reportKeys": []})
    manifest = {
        "assemblyId": assembly,
        "reportName": report,
        "bucket": BUCKET,
        "billingPeriod": {"start": "20261001T000000.000Z", "end": "20261101T000000.000Z"},
        "contentType": "application/Parquet",
        "compression": "Parquet",
        "reportKeys": keys,
    }
    moto.put(BUCKET, f"{prefix}/20261001-20261101/{report}-Manifest.json", manifest)
    collector = CurCollector(S3CurSource(moto.client("s3"), f"s3://{BUCKET}/{prefix}"), "legacy")

    (result,) = land_periods(tmp_path / "data", collector, [PERIOD])

    assert result.landed and result.version == assembly
    rows = landed(tmp_path / "data").to_pylist()
    assert len(rows) == 4, "both files, each with both rows"
    for row in rows[:2], rows[2:]:
        ec2, s3 = row
        assert ec2["bill_billing_period_start_date"] == utc(2026, 10, 1)
        assert ec2["line_item_usage_start_date"] == utc(2026, 10, 3, 5)
        assert ec2["line_item_unblended_cost"] == pytest.approx(0.192)
        assert ec2["product_instance_type"] == "m5.xlarge"
        assert ec2["product_region_code"] == "us-east-1"
        assert dict(ec2["product"]) == {"vcpu": "4", "memory": "16 GiB"}
        assert dict(ec2["resource_tags"]) == {"user_tenant": "ml", "user_eks_cluster_name": "prod-analytics"}
        assert s3["resource_tags"] == [] and s3["product"] == [], "empty values are left out of the maps"
        assert s3["line_item_net_unblended_cost"] is None, "an optional column the report lacks is null"


def test_legacy_csv_report_is_refused_with_a_reason(tmp_path):
    root = tmp_path / "acme-legacy"
    (root / "20261001-20261101").mkdir(parents=True)
    (root / "20261001-20261101" / "acme-legacy-Manifest.json").write_text(
        json.dumps({"assemblyId": "x", "contentType": "text/csv", "compression": "GZIP", "reportKeys": ["a.csv.gz"]})
    )
    with pytest.raises(DataError, match=r"delivered as text/csv; only Parquet is supported"):
        land_periods(tmp_path / "data", CurCollector(LocalCurSource(root), "legacy"), [PERIOD])


# --- schema drift (local exports) -------------------------------------------------------------------------


def local_export(tmp_path: Path, table: pa.Table, version: str = "v1") -> Path:
    root = tmp_path / "drift-export"
    data = root / "data" / f"BILLING_PERIOD={PERIOD}" / version / "drift-export-00001.snappy.parquet"
    data.parent.mkdir(parents=True)
    pq.write_table(table, data)
    manifest = root / "metadata" / f"BILLING_PERIOD={PERIOD}" / "drift-export-Manifest.json"
    manifest.parent.mkdir(parents=True)
    uri = f"s3://b/exports/drift-export/data/BILLING_PERIOD={PERIOD}/{version}/{data.name}"
    manifest.write_text(json.dumps({"executionId": version, "dataFiles": [uri]}))
    return root


def sample_slice(rows: int = 5) -> pa.Table:
    return pq.read_table(sample_file(V2)).slice(0, rows)


def test_a_missing_required_column_is_named(tmp_path):
    table = sample_slice().drop_columns(["line_item_usage_start_date"])
    root = local_export(tmp_path, table)
    with pytest.raises(
        DataError,
        match=r"drift-export-00001.snappy.parquet: CUR file lacks required column\(s\) "
        r"line_item_usage_start_date",
    ):
        land_periods(tmp_path / "data", CurCollector(LocalCurSource(root)), [PERIOD])
    assert not partition_path(tmp_path / "data", CUR_LINE_ITEMS, PERIOD).exists()


def test_a_retyped_column_that_cannot_be_cast_is_named(tmp_path):
    table = sample_slice()
    index = table.schema.get_field_index("line_item_unblended_cost")
    table = table.set_column(index, "line_item_unblended_cost", pa.array(["n/a"] * table.num_rows))
    root = local_export(tmp_path, table)
    with pytest.raises(DataError, match=r"column 'line_item_unblended_cost' is string, expected double"):
        land_periods(tmp_path / "data", CurCollector(LocalCurSource(root)), [PERIOD])


def test_map_columns_as_struct_or_json_and_legacy_tag_spellings(tmp_path):
    table = sample_slice(3)
    tags = pa.array([[("user:tenant", "ml")], [], None], pa.map_(pa.string(), pa.string()))
    product = pa.array(
        [{"vcpu": "4", "memory": "16 GiB"}, {"vcpu": None, "memory": "8 GiB"}, {"vcpu": "", "memory": None}],
        pa.struct([("vcpu", pa.string()), ("memory", pa.string())]),
    )
    table = table.set_column(table.schema.get_field_index("resource_tags"), "resource_tags", tags)
    table = table.set_column(table.schema.get_field_index("product"), "product", product)
    root = local_export(tmp_path, table)
    source = LocalCurSource(root)
    rows = pa.concat_tables(read_batches(source, load_manifest(source, PERIOD))).to_pylist()
    assert [row["resource_tags"] for row in rows] == [[("user_tenant", "ml")], [], None]
    assert [row["product"] for row in rows] == [[("vcpu", "4"), ("memory", "16 GiB")], [("memory", "8 GiB")], []]

    as_json = sample_slice(2)
    text = pa.array(['{"user_tenant": "risk"}', None])
    as_json = as_json.set_column(as_json.schema.get_field_index("resource_tags"), "resource_tags", text)
    shutil.rmtree(root)
    source = LocalCurSource(local_export(tmp_path, as_json))
    rows = pa.concat_tables(read_batches(source, load_manifest(source, PERIOD))).to_pylist()
    assert [row["resource_tags"] for row in rows] == [[("user_tenant", "risk")], []]


def test_rows_of_another_period_are_refused(tmp_path):
    root = local_export(tmp_path, sample_slice())
    (root / "metadata" / f"BILLING_PERIOD={PERIOD}").rename(root / "metadata" / "BILLING_PERIOD=2026-09")
    manifest = root / "metadata" / "BILLING_PERIOD=2026-09" / "drift-export-Manifest.json"
    with pytest.raises(DataError, match=r"holds rows of billing period\(s\) 2026-10, but the manifest is for 2026-09"):
        land_periods(tmp_path / "data", CurCollector(LocalCurSource(root)), ["2026-09"])
    assert manifest.exists()


def test_only_the_needed_columns_are_read():
    table = with_split_columns(sample_slice())
    table = table.append_column("line_item_blended_cost", pa.array([1.0] * table.num_rows))
    table = table.append_column("identity_line_item_id", pa.array(["x"] * table.num_rows))
    plan = plan_columns(table.schema, "test")
    assert "line_item_blended_cost" not in plan.read and "identity_line_item_id" not in plan.read
    assert set(plan.read) == set(CUR_LINE_ITEMS.schema.names)


# --- invoice id and split cost allocation data --------------------------------------------------------------

SPLIT = {  # CUR 2.0 name -> (legacy name, a value on an EKSPod-EC2 row)
    "split_line_item_parent_resource_id": ("splitLineItem/ParentResourceId", "i-0a1f3c5e7b9d20001"),
    "split_line_item_split_cost": ("splitLineItem/SplitCost", 0.0812),
    "split_line_item_unused_cost": ("splitLineItem/UnusedCost", 0.0123),
}


def with_split_columns(table: pa.Table) -> pa.Table:
    """The sample's rows with split cost allocation columns: null but on its first row, made a split row."""
    for name, (_, value) in SPLIT.items():
        column = pa.array([value] + [None] * (table.num_rows - 1))
        if name in table.column_names:
            table = table.set_column(
                table.schema.get_field_index(name), name, column.cast(table.schema.field(name).type)
            )
        else:
            table = table.append_column(name, column)
    return table


def test_cur2_lands_the_invoice_id_and_split_cost_allocation_columns(tmp_path):
    table = with_split_columns(sample_slice(3))
    root = local_export(tmp_path, table, version="20261103T054500Z-v2")
    source = LocalCurSource(root)
    split, *others = pa.concat_tables(read_batches(source, load_manifest(source, PERIOD))).to_pylist()
    assert {name: split[name] for name in SPLIT} == {name: value for name, (_, value) in SPLIT.items()}
    assert all(row[name] is None for row in others for name in SPLIT)
    # v2 of the sample is invoiced: every line carries the payer's invoice id, as in the file.
    assert [row["bill_invoice_id"] for row in [split, *others]] == table.column("bill_invoice_id").to_pylist()
    assert split["bill_invoice_id"]


@pytest.mark.parametrize("spelling", ["legacy", "athena"])
def test_legacy_cur_maps_invoice_and_split_columns(tmp_path, spelling):
    """A legacy report with split cost allocation data enabled: ``bill/InvoiceId`` and ``splitLineItem/*`` (or
    their Athena spellings) land under the CUR 2.0 names."""
    name = (lambda legacy: legacy) if spelling == "legacy" else athena_name
    split_row = {
        CSV_NAMES["type"]: "Usage",
        CSV_NAMES["period_start"]: datetime(2026, 10, 1),
        CSV_NAMES["period_end"]: datetime(2026, 11, 1),
        CSV_NAMES["usage_start"]: datetime(2026, 10, 3, 5),
        CSV_NAMES["usage_end"]: datetime(2026, 10, 3, 6),
        CSV_NAMES["resource_id"]: "arn:aws:eks:us-east-1:111122223333:pod/prod-analytics/team-a/web-0/5f6e7d8c",
        "lineItem/Operation": "EKSPod-EC2",
        "bill/InvoiceId": "2065513719",
        **{legacy: value for legacy, value in SPLIT.values()},
    }
    table = pa.table({name(column): [value] for column, value in split_row.items()})
    root = tmp_path / "acme-legacy"
    (root / "20261001-20261101" / "assembly-1").mkdir(parents=True)
    pq.write_table(table, root / "20261001-20261101" / "assembly-1" / "acme-legacy-1.snappy.parquet")
    keys = ["acme-legacy/20261001-20261101/assembly-1/acme-legacy-1.snappy.parquet"]
    manifest = {"assemblyId": "assembly-1", "contentType": "application/Parquet", "reportKeys": keys}
    (root / "20261001-20261101" / "acme-legacy-Manifest.json").write_text(json.dumps(manifest))

    (result,) = land_periods(tmp_path / "data", CurCollector(LocalCurSource(root), "legacy"), [PERIOD])

    assert result.landed
    (row,) = landed(tmp_path / "data").to_pylist()
    assert (row["bill_invoice_id"], row["line_item_operation"]) == ("2065513719", "EKSPod-EC2")
    assert {column: row[column] for column in SPLIT} == {column: value for column, (_, value) in SPLIT.items()}
