"""October's files on schedule: the sample month run by `chargeback schedule`'s real jobs on a fake clock.

The timeline is AWS's: the CUR export of October is delivered on 10-28 (version v1, an estimate whose
``bill_invoice_id`` is blank) and again on 11-03 05:45 (v2, final: every line has the invoice id). The
scheduler collects the CUR hourly, builds daily at 06:15 (the default builds hourly; daily keeps this test
to four builds) and runs the default monthly export (``0 6 1 * *``) in all three formats. On 11-01 06:00 the
export asks for October and waits while only v1 is there; on 11-03 06:15 the collect lands v2, the build
publishes it and the export writes October's three files, whose totals are the bill's.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from chargeback.cli import app
from chargeback.core import config as config_module
from chargeback.raw.collect import land_billing_period
from chargeback.raw.landing import DEMO_MARKER
from chargeback.raw.status import landed_version
from chargeback.scheduler.core import Run, Scheduler
from chargeback.scheduler.state import ScheduleState, state_path
from tests.sample_support import copy_built

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
SAMPLE_EXPORT = SAMPLE / "cur_export" / "chargeback-cur2"
PERIOD = "2026-10"
V1, V2 = "20261028T061500Z-v1", "20261103T054500Z-v2"
METADATA = Path("metadata") / f"BILLING_PERIOD={PERIOD}"
DATA = Path("data") / f"BILLING_PERIOD={PERIOD}"
MANIFEST = METADATA / "chargeback-cur2-Manifest.json"
ARN = "arn:aws:billingconductor::111122223333:billinggroup/ABCDEFGHIJ"
SCHEDULE = f"""
[cur]
location = "{{export}}"

[export.billing_conductor]
billing_group_arn = "{ARN}"

[schedule]
max_catch_up = 0  # a first start on 10-31 does not make up the 10-01 export (September is not in the sample)

[[schedule.jobs]]
name = "collect"
cron = "15 * * * *"
run = "collect"
sources = ["cur"]

[[schedule.jobs]]
name = "build"
cron = "15 6 * * *"
run = "build"

[[schedule.jobs]]
name = "export"
cron = "0 6 1 * *"
run = "export"
to = ["billing-conductor", "focus", "finance"]
"""


class FakeClock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def drive(scheduler: Scheduler, clock: FakeClock, start: str, end: str) -> list[Run]:
    """Tick every 15 minutes from ``start`` to ``end`` inclusive; the runs made."""
    runs, moment = [], utc(start)
    while moment <= utc(end):
        clock.moment = moment
        runs += scheduler.tick(moment)
        moment += timedelta(minutes=15)
    return runs


def deliver_v1(export: Path) -> None:
    """The bucket between 10-28 and 11-03: only v1, named by the period's manifest."""
    shutil.copytree(SAMPLE_EXPORT, export, ignore=shutil.ignore_patterns(V2))
    shutil.copyfile(SAMPLE_EXPORT / METADATA / V1 / MANIFEST.name, export / MANIFEST)


def deliver_v2(export: Path) -> None:
    """11-03 05:45: AWS delivers the final version and points the manifest at it."""
    shutil.copytree(SAMPLE_EXPORT / DATA / V2, export / DATA / V2)
    shutil.copyfile(SAMPLE_EXPORT / MANIFEST, export / MANIFEST)


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def cli(config_file: Path, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_finance_receives_octobers_files_once_the_final_cur_is_built(tmp_path, built_sample):
    data, export = tmp_path / "data", tmp_path / "cur" / "chargeback-cur2"
    copy_built(built_sample, data)  # the sample month's raw tables, built
    (data / DEMO_MARKER).unlink()  # from here on it is a collected data directory (collect refuses demo data)
    deliver_v1(export)
    land_billing_period(data, export, PERIOD)  # what the collect of 10-28 landed
    config_file = tmp_path / "chargeback.toml"
    config_file.write_text(
        f'data_dir = "{data}"\n\n' + (SAMPLE / "chargeback.toml").read_text() + SCHEDULE.format(export=export)
    )
    config = config_module.load(config_file)
    clock = FakeClock(utc("2026-10-31 06:15"))
    scheduler = Scheduler(config, clock=clock)

    # 10-31 06:15 to 11-03 05:30: October is asked for on 11-01 06:00 and waits, as v1 is not final.
    runs = drive(scheduler, clock, "2026-10-31 06:15", "2026-11-03 05:30")
    assert [r for r in runs if r.outcome != "ok"] == []
    assert [r.fire for r in runs if r.job == "build"] == [
        utc("2026-10-31 06:15"),
        utc("2026-11-01 06:15"),
        utc("2026-11-02 06:15"),
    ]
    assert [r for r in runs if r.job == "export"] == []
    october = ScheduleState(state_path(config)).jobs["export"].periods[PERIOD]
    assert october.due_since == "2026-11-01T06:00:00Z"
    assert october.waiting == (
        f"the CUR of {PERIOD} is not final: version {V1}: 30,106 of 30,106 lines have no invoice id yet"
    )
    assert october.exported_version is None
    assert not (data / "exports").exists(), "nothing is exported from a CUR that is not final"

    # 11-03 05:45: v2 arrives. The 06:15 collect lands it, the build publishes it, the export runs: once.
    deliver_v2(export)
    runs = drive(scheduler, clock, "2026-11-03 05:45", "2026-11-03 09:00")
    assert [(r.job, r.outcome, r.started) for r in runs if r.job != "collect"] == [
        ("build", "ok", utc("2026-11-03 06:15")),
        ("export", "ok", utc("2026-11-03 06:15")),
    ]
    assert landed_version(data, PERIOD) == V2
    october = ScheduleState(state_path(config)).jobs["export"].periods[PERIOD]
    assert (october.exported_version, october.exported_at, october.waiting) == (V2, "2026-11-03T06:15:00Z", None)

    # October's files: one version of each format, its manifest naming the final CUR.
    out = data / "exports"
    files = {
        "billing-conductor": [f"custom-line-items-{PERIOD}.csv"],
        "focus": [f"focus-{PERIOD}.csv", f"focus-{PERIOD}.parquet"],
        "finance": [f"bill-{PERIOD}.csv"],
    }
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        f"{fmt}/{PERIOD}/v1/{name}" for fmt, names in files.items() for name in (*names, "manifest.json")
    )
    manifests = {fmt: json.loads((out / fmt / PERIOD / "v1" / "manifest.json").read_text()) for fmt in files}
    for fmt, manifest in manifests.items():
        assert (manifest["format"], manifest["period"], manifest["version"]) == (fmt, PERIOD, 1)
        assert manifest["source"]["cur_version"] == V2
        assert [f["name"] for f in manifest["files"]] == files[fmt]

    # Their totals are the bill's, as `chargeback bill` prints it.
    bill = json.loads(cli(config_file, "bill", "--period", PERIOD, "--format", "json"))
    assert bill["total"] == "2928.07"
    lines = {line["tenant"]: Decimal(line["total"]) for line in bill["lines"]}
    tenants = {"data-eng", "ml", "payments", "risk"}
    assert set(lines) == tenants | {"__idle__", "__unallocated__"}

    finance = out / "finance" / PERIOD / "v1" / files["finance"][0]
    assert finance.read_text() == cli(config_file, "bill", "--period", PERIOD, "--format", "csv")
    assert manifests["finance"]["totals"]["total"] == "2928.07"

    focus = read_csv(out / "focus" / PERIOD / "v1" / files["focus"][0])
    assert len(focus) == manifests["focus"]["rows"]
    assert sum(Decimal(row["EffectiveCost"]) for row in focus) == Decimal("2928.07")
    by_tenant: dict[str, Decimal] = {}
    for row in focus:
        by_tenant[row["x_TenantName"]] = by_tenant.get(row["x_TenantName"], Decimal(0)) + Decimal(row["EffectiveCost"])
    assert by_tenant == lines
    assert manifests["focus"]["totals"]["total"] == "2928.07"

    items = read_csv(out / "billing-conductor" / PERIOD / "v1" / files["billing-conductor"][0])
    assert {item["Name"]: Decimal(item["ChargeDetails.Flat.ChargeValue"]) for item in items} == {
        f"chargeback-{PERIOD}-{tenant}": lines[tenant] for tenant in tenants
    }
    assert {item["ChargeDetails.Type"] for item in items} == {"FEE"}
    assert {item["BillingGroupArn"] for item in items} == {ARN}
    left_out = {left["tenant"]: Decimal(left["amount"]) for left in manifests["billing-conductor"]["left_out"]}
    assert left_out == {"__idle__": Decimal("39.03"), "__unallocated__": Decimal("36.81")}
    assert manifests["billing-conductor"]["totals"]["total"] == "2852.23"
    assert Decimal("2852.23") + sum(left_out.values()) == Decimal("2928.07")
