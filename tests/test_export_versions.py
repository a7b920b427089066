"""Export versions: unchanged periods are not rewritten, restatements become new versions, crashes change
nothing, and S3 destinations (moto's server over HTTP) behave like directories."""

from __future__ import annotations

import hashlib
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from chargeback.build.engines import build
from chargeback.core import config as config_module
from chargeback.core.errors import ChargebackError
from chargeback.exports import run_export, writer
from chargeback.raw.collect import land_billing_period
from collectors.cur import manifest_path
from tests.export_support import ARN, PERIOD, ROOT, build_sample, sample  # noqa: F401 - sample is a fixture
from tests.services.aws import moto  # noqa: F401 - a fixture

TARGETS = ("finance", "focus", "billing-conductor")
EXPORT = ROOT / "sample_data" / "cur_export" / "chargeback-cur2"
V1 = "20261028T061500Z-v1"
V2 = "20261103T054500Z-v2"


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def configured(config):
    export = config_module.ExportSettings.model_validate({"billing_conductor": {"billing_group_arn": ARN}})
    return config.model_copy(update={"export": export})


@pytest.mark.parametrize("target", TARGETS)
def test_reexporting_an_unchanged_period_is_byte_identical(sample, tmp_path, target):  # noqa: F811
    config = configured(sample.config)
    first = run_export(config, PERIOD, target, tmp_path / "a")
    before = tree(tmp_path / "a")
    again = run_export(config, PERIOD, target, tmp_path / "a")
    assert first.changed and not again.changed
    assert again.version == first.version == 1 and again.manifest == first.manifest
    assert tree(tmp_path / "a") == before, "nothing rewritten, nothing added"
    fresh = run_export(config, PERIOD, target, tmp_path / "b")
    assert tree(tmp_path / "b") == before, "a fresh export of the same period is the same bytes"
    manifest = json.loads(Path(fresh.paths[-1]).read_text())
    for entry, path in zip(manifest["files"], fresh.paths, strict=False):
        data = Path(path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
    assert manifest["period"] == PERIOD and manifest["format"] == target and manifest["version"] == 1
    assert manifest["source"]["cur_version"] == V2


def test_finance_csv_is_the_bill_as_the_cli_prints_it(sample, tmp_path):  # noqa: F811
    result = run_export(sample.config, PERIOD, "finance", tmp_path)
    assert Path(result.paths[0]).read_text() == sample.cli("bill", "--period", PERIOD, "--format", "csv")
    bill = sample.bill_json()
    assert result.manifest["totals"] == {
        "total": bill["total"],
        "by_tenant": {line["tenant"]: line["total"] for line in bill["lines"]},
    }
    assert result.manifest["rows"] == len(bill["lines"])


@pytest.fixture
def restated(tmp_path):
    """The sample month with the CUR's first version landed and built (v2 lands when the test says)."""
    data_dir = tmp_path / "data"
    shutil.copytree(ROOT / "sample_data" / "raw", data_dir / "raw", ignore=shutil.ignore_patterns("cur"))
    export = tmp_path / "chargeback-cur2"
    shutil.copytree(EXPORT, export)
    final = manifest_path(export, PERIOD).read_text()
    top = manifest_path(export, PERIOD)
    shutil.copy(top.parent / V1 / top.name, top)
    land_billing_period(data_dir, export, PERIOD)
    config = configured(config_module.load(ROOT / "sample_data" / "chargeback.toml")).model_copy(
        update={"data_dir": data_dir}
    )
    build(config)

    def restate() -> None:
        manifest_path(export, PERIOD).write_text(final)
        land_billing_period(data_dir, export, PERIOD)
        build(config)

    return config, restate


def test_a_restated_period_becomes_a_new_version_that_says_what_changed(restated, tmp_path):
    config, restate = restated
    out = tmp_path / "exports"
    first = {t: run_export(config, PERIOD, t, out) for t in TARGETS}
    assert all(r.version == 1 and r.manifest["source"]["cur_version"] == V1 for r in first.values())
    v1_files = tree(out)
    restate()
    second = {t: run_export(config, PERIOD, t, out) for t in TARGETS}
    for target, result in second.items():
        assert result.changed and result.version == 2, target
        assert result.location.endswith(f"{target}/{PERIOD}/v2")
        assert result.manifest["previous_version"] == 1
        changes = result.changes
        assert changes["source"]["cur_version"] == {"before": V1, "after": V2}
        before, after = first[target].manifest["totals"], result.manifest["totals"]
        assert changes["total"] == {"before": before["total"], "after": after["total"]}
        assert changes["by_tenant"], "the full month's CUR moves every tenant's line"
        for tenant, change in changes["by_tenant"].items():
            assert change == {"before": before["by_tenant"].get(tenant), "after": after["by_tenant"].get(tenant)}
    # Version 1 covered October 1-27 and the rest was estimated; the final CUR covers the whole month.
    totals = [Decimal(r["finance"].manifest["totals"]["total"]) for r in (first, second)]
    assert totals[0] != totals[1]
    assert first["finance"].manifest["source"]["estimated"] != "0.00"
    assert second["finance"].manifest["source"]["estimated"] == "0.00"
    assert {k: v for k, v in tree(out).items() if "/v1/" in f"/{k}"} == v1_files, "v1 is kept as it was"
    again = run_export(config, PERIOD, "focus", out)
    assert not again.changed and again.version == 2


def test_a_crash_in_the_middle_leaves_the_previous_export_intact(restated, tmp_path, monkeypatch):
    config, restate = restated
    out = tmp_path / "exports"
    for target in TARGETS:
        run_export(config, PERIOD, target, out)
    before = tree(out)
    restate()
    real = writer.LocalDestination._write
    written: list[Path] = []

    def fail_after_first_file(self, path: Path, data: bytes) -> None:
        if written:
            raise OSError(28, "No space left on device")
        written.append(path)
        real(self, path, data)

    monkeypatch.setattr(writer.LocalDestination, "_write", fail_after_first_file)
    for target in TARGETS:
        written.clear()
        with pytest.raises(ChargebackError, match=rf"{target}/{PERIOD}/v2: cannot write the export"):
            run_export(config, PERIOD, target, out)
        assert written, "the first file was written before the failure"
    assert tree(out) == before, "v1 untouched, no v2, no temporary files left"
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]
    monkeypatch.setattr(writer.LocalDestination, "_write", real)
    assert run_export(config, PERIOD, "finance", out).version == 2


def test_s3_destination_on_moto(sample, moto, tmp_path, monkeypatch):  # noqa: F811
    s3 = moto.create_bucket("finance-drop")
    config = configured(sample.config).model_copy(update={"aws": moto.settings()})
    uri = "s3://finance-drop/chargeback/exports"
    first = run_export(config, PERIOD, "focus", uri)
    assert first.changed and first.version == 1
    prefix = f"chargeback/exports/focus/{PERIOD}/v1/"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="finance-drop", Prefix=prefix)["Contents"]]
    names = [f"focus-{PERIOD}.csv", f"focus-{PERIOD}.parquet", "manifest.json"]
    assert sorted(keys) == [prefix + name for name in names]
    assert first.paths == tuple(f"s3://finance-drop/{prefix}{name}" for name in names)
    content_types = {k: s3.head_object(Bucket="finance-drop", Key=k)["ContentType"] for k in keys}
    assert content_types == {
        f"{prefix}focus-{PERIOD}.csv": "text/csv; charset=utf-8",
        f"{prefix}focus-{PERIOD}.parquet": "application/vnd.apache.parquet",
        f"{prefix}manifest.json": "application/json",
    }
    local = run_export(config, PERIOD, "focus", tmp_path / "local")
    for key, path in zip(sorted(keys), local.paths, strict=True):
        assert s3.get_object(Bucket="finance-drop", Key=key)["Body"].read() == Path(path).read_bytes()
    again = run_export(config, PERIOD, "focus", uri)
    assert not again.changed and again.version == 1

    # An export interrupted before its manifest is no version: the next one writes the same number again.
    put = writer.S3Destination._put

    def lose_the_manifest(self, key: str, data: bytes) -> None:
        if key.endswith("manifest.json"):
            raise ConnectionError("connection reset")
        put(self, key, data)

    monkeypatch.setattr(writer.S3Destination, "_put", lose_the_manifest)
    with pytest.raises(ConnectionError):
        run_export(config, PERIOD, "finance", uri)
    monkeypatch.setattr(writer.S3Destination, "_put", put)
    finished = run_export(config, PERIOD, "finance", uri)
    assert finished.changed and finished.version == 1
    manifest = json.loads(
        s3.get_object(Bucket="finance-drop", Key=f"chargeback/exports/finance/{PERIOD}/v1/manifest.json")["Body"].read()
    )
    assert manifest == finished.manifest


def test_default_destination_is_the_data_directory(tmp_path, built_sample):
    sample_month = build_sample(built_sample, tmp_path / "data")
    result = run_export(sample_month.config, PERIOD, "finance")
    assert Path(result.paths[0]) == tmp_path / "data" / "exports" / "finance" / PERIOD / "v1" / f"bill-{PERIOD}.csv"
    relative = sample_month.config.model_copy(update={"export": config_module.ExportSettings(out="to-finance")})
    assert Path(run_export(relative, PERIOD, "finance").location) == tmp_path / "data" / "to-finance" / "finance" / (
        f"{PERIOD}/v1"
    )
