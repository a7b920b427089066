"""`chargeback schedule`: cron jobs on a fake clock, catch-up, one build at a time, exports that wait for the
final CUR, /healthz and /metrics over HTTP, config errors, and a clean exit on SIGTERM.

Every expected fire time below is worked out by hand from the cron expressions. Job actions are replaced at
the scheduler's seam (its ``actions`` table) by a recorder, so the scheduler's own logic is what runs.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from chargeback.build.warehouse import build_lock
from chargeback.core import config as config_module
from chargeback.core import cron
from chargeback.core.errors import ChargebackError, ConfigError
from chargeback.core.locks import LockedError, file_lock
from chargeback.raw.collect import land_billing_period
from chargeback.raw.landing import write_partition
from chargeback.scheduler import finality, http
from chargeback.scheduler.core import Scheduler
from chargeback.scheduler.finality import Verdict, final_verdict
from chargeback.scheduler.jobs import RunRequest
from chargeback.scheduler.state import ScheduleState, state_path
from collectors.streams import CUR_LINE_ITEMS

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
SAMPLE_CUR = SAMPLE / "cur_export" / "chargeback-cur2" / "data" / "BILLING_PERIOD=2026-10"
HOURLY = [
    {"name": "collect", "cron": "15 * * * *", "run": "collect"},
    {"name": "build", "cron": "15 * * * *", "run": "build"},
]
EXPORT = {"name": "export", "cron": "0 6 1 * *", "run": "export", "to": ["finance", "focus"]}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class FakeClock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


class Recorder:
    """Stands in for the job actions: records (job, period, now) of each call; may fail on request."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, datetime]] = []
        self.fail: set[str] = set()

    def __call__(self, request: RunRequest) -> str:
        self.calls.append((request.job.name, request.period, request.now))
        if request.job.name in self.fail:
            raise ChargebackError(f"{request.job.name} failed on purpose")
        return "recorded"

    def actions(self) -> dict:
        return {"collect": self, "build": self, "export": self}

    def of(self, job: str) -> list[tuple[str | None, datetime]]:
        return [(period, now) for name, period, now in self.calls if name == job]


def make_config(tmp_path: Path, jobs: list[dict], **schedule) -> config_module.Config:
    return config_module.parse({"data_dir": str(tmp_path / "data"), "schedule": {"jobs": jobs, **schedule}})


def scheduler_at(config, start: str, recorder: Recorder) -> tuple[Scheduler, FakeClock]:
    clock = FakeClock(utc(start))
    return Scheduler(config, clock=clock, actions=recorder.actions()), clock


def drive(scheduler: Scheduler, clock: FakeClock, start: str, end: str, step: timedelta) -> None:
    """Tick at every ``step`` from ``start`` to ``end`` inclusive."""
    moment = utc(start)
    while moment <= utc(end):
        clock.moment = moment
        scheduler.tick(moment)
        moment += step


def sample_value(scheduler: Scheduler, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(_metrics_text(scheduler)):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    raise AssertionError(f"no sample {name}{labels}")


def _metrics_text(scheduler: Scheduler) -> str:
    from prometheus_client import generate_latest

    return generate_latest(scheduler.metrics.registry).decode()


def land_empty_cur(config, period: str) -> Path:
    """A landed (empty) CUR partition for ``period``: enough for an export with require_final_cur = false."""
    return write_partition(config.data_dir, CUR_LINE_ITEMS, period, [])


def built_after(config, partition: Path) -> None:
    """A published warehouse newer than ``partition`` (what a build after the landing leaves)."""
    config.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    config.warehouse_path.touch()
    later = partition.stat().st_mtime + 60
    os.utime(config.warehouse_path, (later, later))


# --- cron expressions ----------------------------------------------------------------------------------


def test_cron_fire_times_are_computed_in_utc():
    assert cron.next_after("15 * * * *", utc("2026-11-10 10:15")) == utc("2026-11-10 11:15")
    assert cron.last_at_or_before("15 * * * *", utc("2026-11-10 10:15")) == utc("2026-11-10 10:15")
    assert cron.last_at_or_before("15 * * * *", utc("2026-11-10 10:14:59")) == utc("2026-11-10 09:15")
    assert cron.between("0 6 1 * *", utc("2026-09-15 00:00"), utc("2026-12-10 00:00")) == (
        [utc("2026-10-01 06:00"), utc("2026-11-01 06:00"), utc("2026-12-01 06:00")],
        False,
    )
    assert cron.expand("@monthly") == "0 0 1 * *"
    assert cron.problem("*/5 * * * *") is None
    assert "bad minute" in cron.problem("61 * * * *")
    assert "6 field(s)" in cron.problem("0 0 * * * *")


# --- firing on a fake clock ------------------------------------------------------------------------------


def test_hourly_jobs_fire_at_minute_15_in_config_order(tmp_path):
    # max_catch_up = 0: the first start (22:02) does not make up 21:15, so the first runs are at 22:15.
    config = make_config(tmp_path, HOURLY, max_catch_up=0)
    recorder = Recorder()
    scheduler, clock = scheduler_at(config, "2026-10-31 22:02", recorder)
    drive(scheduler, clock, "2026-10-31 22:02", "2026-11-01 02:10", timedelta(minutes=4))
    # Ticks fall at 22:02, 22:06, ..., 22:14, 22:18: the 22:15 fire is noticed at 22:18, within the grace.
    expected_times = [utc(t) for t in ("2026-10-31 22:18", "2026-10-31 23:18", "2026-11-01 00:18", "2026-11-01 01:18")]
    assert [(name, now) for name, _, now in recorder.calls] == [
        (name, now) for now in expected_times for name in ("collect", "build")
    ]
    state = ScheduleState(state_path(config))
    assert state.jobs["collect"].last_fire == "2026-11-01T01:15:00Z"
    assert state.jobs["build"].last_outcome == "ok"
    assert sample_value(scheduler, "chargeback_schedule_runs_total", job="build", outcome="ok") == 4


def test_monthly_export_fires_on_the_first_for_the_month_before(tmp_path):
    config = make_config(tmp_path, [{**EXPORT, "require_final_cur": False}], max_catch_up=0)
    land_empty_cur(config, "2026-10")
    built_after(config, land_empty_cur(config, "2026-11"))
    recorder = Recorder()
    scheduler, clock = scheduler_at(config, "2026-10-31 00:00", recorder)
    drive(scheduler, clock, "2026-10-31 00:00", "2026-12-02 00:00", timedelta(hours=1))
    # "0 6 1 * *" fires 2026-11-01 06:00 (bills October) and 2026-12-01 06:00 (bills November), once each.
    assert recorder.of("export") == [("2026-10", utc("2026-11-01 06:00")), ("2026-11", utc("2026-12-01 06:00"))]
    periods = ScheduleState(state_path(config)).jobs["export"].periods
    assert {p: s.due_since for p, s in periods.items()} == {
        "2026-10": "2026-11-01T06:00:00Z",
        "2026-11": "2026-12-01T06:00:00Z",
    }


def test_a_failing_job_does_not_stop_the_others(tmp_path):
    config = make_config(tmp_path, HOURLY)
    recorder = Recorder()
    recorder.fail.add("collect")
    scheduler, _ = scheduler_at(config, "2026-11-10 10:15", recorder)
    runs = scheduler.tick()
    assert [(r.job, r.outcome, r.error) for r in runs] == [
        ("collect", "failed", "collect failed on purpose"),
        ("build", "ok", None),
    ]


def test_a_job_stopped_by_a_full_disk_fails_with_one_line_and_no_traceback(tmp_path, caplog):
    """A fault of the machine is not a bug: the run's error names the file and what to do, as the CLI says it."""
    caplog.set_level("INFO", logger="chargeback.scheduler")
    config = make_config(tmp_path, HOURLY)
    state = tmp_path / "data" / "state" / "collect.json"

    def full_disk(request: RunRequest) -> str:
        raise OSError(errno.ENOSPC, "No space left on device", str(state))

    scheduler = Scheduler(config, clock=FakeClock(utc("2026-11-10 10:15")), actions={"collect": full_disk})
    collect = scheduler.tick()[0]
    assert collect.outcome == "failed"
    assert collect.error == f"{state}: no space left on device; free space on its file system (or give the volume" \
        " more), then run the command again"  # fmt: skip
    ended = [r for r in caplog.records if getattr(r, "event", "") == "run_end" and r.fields["job"] == "collect"]
    assert "traceback" not in ended[0].fields


# --- catching up after a restart ---------------------------------------------------------------------------


def test_restart_after_five_hours_coalesces_the_missed_hourly_runs_into_one(tmp_path, caplog):
    config = make_config(tmp_path, HOURLY)  # max_catch_up = 1, the default
    recorder = Recorder()
    first, _ = scheduler_at(config, "2026-11-10 10:15", recorder)
    first.tick()  # runs the 10:15 fire; then the scheduler stops at T = 10:30
    assert len(recorder.calls) == 2
    # Restart at T + 5 h = 15:30: the fires 11:15, 12:15, 13:15, 14:15 and 15:15 were missed (15:15 is
    # 15 minutes old, past the 5-minute grace). They coalesce: collect and build run once each, now.
    caplog.set_level("INFO", logger="chargeback.scheduler")
    second, clock = scheduler_at(config, "2026-11-10 15:30", recorder)
    second.tick()
    assert recorder.calls[2:] == [("collect", None, utc("2026-11-10 15:30")), ("build", None, utc("2026-11-10 15:30"))]
    catch_up = [r for r in caplog.records if getattr(r, "event", "") == "catch_up" and r.fields["job"] == "collect"]
    assert [(r.fields["missed"], r.fields["runs"], r.fields["skipped"]) for r in catch_up] == [(5, 1, 0)]
    assert catch_up[0].fields["first_missed"] == "2026-11-10T11:15:00Z"
    assert catch_up[0].fields["last_missed"] == "2026-11-10T15:15:00Z"
    assert sample_value(second, "chargeback_schedule_skipped_runs_total", job="collect", reason="coalesced") == 4
    assert ScheduleState(state_path(config)).jobs["collect"].last_fire == "2026-11-10T15:15:00Z"
    # Back on schedule: nothing more until 16:15.
    drive(second, clock, "2026-11-10 15:31", "2026-11-10 16:14", timedelta(minutes=1))
    assert len(recorder.calls) == 4
    clock.moment = utc("2026-11-10 16:15")
    second.tick()
    assert recorder.calls[4:] == [("collect", None, utc("2026-11-10 16:15")), ("build", None, utc("2026-11-10 16:15"))]


def test_without_catch_up_missed_runs_are_skipped_and_counted(tmp_path):
    config = make_config(tmp_path, HOURLY, max_catch_up=0)
    recorder = Recorder()
    scheduler_at(config, "2026-11-10 10:15", recorder)[0].tick()  # on time: runs even without catch-up
    assert len(recorder.calls) == 2
    second, clock = scheduler_at(config, "2026-11-10 15:30", recorder)
    second.tick()
    assert len(recorder.calls) == 2, "the five missed fires are not made up"
    assert sample_value(second, "chargeback_schedule_skipped_runs_total", job="build", reason="catch_up_limit") == 5
    clock.moment = utc("2026-11-10 16:15")
    second.tick()
    assert len(recorder.calls) == 4


def test_missed_monthly_exports_catch_up_one_month_each_up_to_the_limit(tmp_path):
    config = make_config(tmp_path, [{**EXPORT, "require_final_cur": False}], max_catch_up=2)
    recorder = Recorder()
    first, _ = scheduler_at(config, "2026-09-01 06:00", recorder)
    first.tick()  # bills August (nothing landed: it waits)
    # Stopped from 2026-09-15 until 2026-12-10: the fires of Oct 1, Nov 1 and Dec 1 (September, October and
    # November) were missed; with max_catch_up = 2 the two most recent months are asked for, September not.
    second, _ = scheduler_at(config, "2026-12-10 00:00", recorder)
    second.tick()
    periods = ScheduleState(state_path(config)).jobs["export"].periods
    assert sorted(periods) == ["2026-08", "2026-10", "2026-11"]
    assert sample_value(second, "chargeback_schedule_skipped_runs_total", job="export", reason="catch_up_limit") == 1
    assert recorder.calls == [], "nothing is landed, so every month waits"
    assert periods["2026-10"].waiting == "no CUR landed for 2026-10 yet (the collect job lands it)"


def test_stop_request_lets_the_running_job_finish_and_starts_nothing_else(tmp_path):
    config = make_config(tmp_path, HOURLY)
    scheduler: Scheduler

    def collect_then_sigterm(request: RunRequest) -> str:
        scheduler.request_stop("SIGTERM")  # as the signal handler does, while collect runs
        return "collected"

    recorder = Recorder()
    scheduler = Scheduler(
        config, clock=FakeClock(utc("2026-11-10 10:15")), actions={"collect": collect_then_sigterm, "build": recorder}
    )
    runs = scheduler.tick()
    assert [(r.job, r.outcome) for r in runs] == [("collect", "ok")]
    assert recorder.calls == []
    state = ScheduleState(state_path(config))
    assert state.jobs["collect"].last_fire == "2026-11-10T10:15:00Z"
    assert "build" not in state.jobs or state.jobs["build"].last_fire is None
    # The next start makes up the build it did not start.
    again = Scheduler(config, clock=FakeClock(utc("2026-11-10 10:20")), actions={"build": recorder})
    again.tick()
    assert [name for name, _, _ in recorder.calls] == ["build"]


# --- one build at a time -------------------------------------------------------------------------------


def test_a_build_due_while_another_holds_the_lock_is_skipped(tmp_path):
    config = make_config(tmp_path, HOURLY)
    taken, release = threading.Event(), threading.Event()

    def other_build() -> None:
        with build_lock(config.data_dir):
            taken.set()
            release.wait(10)

    holder = threading.Thread(target=other_build)
    holder.start()
    try:
        assert taken.wait(5)
        recorder = Recorder()
        scheduler, _ = scheduler_at(config, "2026-11-10 10:15", recorder)
        runs = scheduler.tick()
    finally:
        release.set()
        holder.join()
    assert [(r.job, r.outcome) for r in runs] == [("collect", "ok"), ("build", "skipped")]
    assert recorder.of("build") == [], "the build action was not called"
    assert "already running (pid" in runs[1].error
    assert sample_value(scheduler, "chargeback_schedule_skipped_runs_total", job="build", reason="build_running") == 1
    assert sample_value(scheduler, "chargeback_schedule_runs_total", job="build", outcome="ok") == 0
    # Once the other build is done, the next fire builds.
    scheduler.clock.moment = utc("2026-11-10 11:15")
    scheduler.tick()
    assert recorder.of("build") == [(None, utc("2026-11-10 11:15"))]


def test_a_manual_build_refuses_to_run_while_another_process_builds(tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(SAMPLE / "raw", data_dir / "raw")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom chargeback.build.warehouse import build_lock\n"
            f"with build_lock({str(data_dir)!r}):\n    print('locked', flush=True)\n    sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = subprocess.run(
            [sys.executable, "-m", "chargeback", "build", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2
        assert f"a build of this data directory is already running (pid {holder.pid} since" in result.stderr
        assert not (data_dir / "warehouse.duckdb").exists()
    finally:
        holder.communicate("", timeout=10)


def test_the_lock_is_reentrant_in_its_thread_only(tmp_path):
    lock = tmp_path / ".lock"
    with file_lock(lock, "a thing"), file_lock(lock, "a thing"):  # the holder may take it again
        failures = []

        def other() -> None:
            try:
                with file_lock(lock, "a thing"):
                    pass
            except LockedError as exc:
                failures.append(str(exc))

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert len(failures) == 1 and "a thing is already running" in failures[0]
    with file_lock(lock, "a thing"):  # released
        pass


# --- exports wait for the final CUR ----------------------------------------------------------------------


def deliver(export: Path, version: str, invoice_ids: list[str | None] | None) -> None:
    """AWS delivers ``version`` of October: the sample month's lines with these invoice ids (cycled;
    None: an export whose query leaves ``bill_invoice_id`` out)."""
    sample = next(SAMPLE_CUR.glob("*-v2/*.parquet"))
    table = pq.read_table(sample).drop_columns(["bill_invoice_id"])
    if invoice_ids is not None:
        ids = [invoice_ids[i % len(invoice_ids)] for i in range(table.num_rows)]
        table = table.append_column("bill_invoice_id", pa.array(ids, pa.string()))
    relative = f"data/BILLING_PERIOD=2026-10/{version}/{export.name}-00001.snappy.parquet"
    (export / relative).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, export / relative)
    manifest = export / "metadata" / "BILLING_PERIOD=2026-10" / f"{export.name}-Manifest.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "executionId": version,
        "exportName": export.name,
        "dataFiles": [f"s3://acme-cur/exports/{export.name}/{relative}"],
    }
    manifest.write_text(json.dumps(body))


def test_export_waits_until_the_landed_cur_is_final_then_runs_once_per_version(tmp_path, caplog):
    caplog.set_level("INFO", logger="chargeback.scheduler")
    export = tmp_path / "chargeback-cur2"
    data_dir = tmp_path / "data"
    config = config_module.parse(
        {"data_dir": str(data_dir), "cur": {"location": str(export)}, "schedule": {"jobs": [EXPORT]}}
    )
    recorder = Recorder()
    scheduler, clock = scheduler_at(config, "2026-11-01 06:00", recorder)

    def waiting() -> str | None:
        return scheduler.state.job("export").periods["2026-10"].waiting

    # Nov 1: the month closed; AWS's first delivery of October has no invoice ids yet (blank or null).
    deliver(export, "20261101T0400Z-v1", ["", None])
    _, landed = land_billing_period(data_dir, export, "2026-10")  # what the collect job does
    built_after(config, landed)
    scheduler.tick()
    assert waiting() == (
        "the CUR of 2026-10 is not final: version 20261101T0400Z-v1: 40,605 of 40,605 lines have no invoice id yet"
    )
    clock.moment = utc("2026-11-02 06:00")
    scheduler.tick()  # still waiting (and not logged again)
    # Nov 3: AWS delivers the final version and the collect job lands it; the warehouse still predates it.
    deliver(export, "20261103T0545Z-v2", ["734812345"])
    _, landed = land_billing_period(data_dir, export, "2026-10")
    os.utime(landed, (config.warehouse_path.stat().st_mtime + 60,) * 2)
    clock.moment = utc("2026-11-03 06:15")
    scheduler.tick()
    assert waiting() == "the warehouse predates the CUR landed for 2026-10; waiting for a build"
    assert recorder.calls == []
    # The build job publishes a warehouse from it: the export runs, once.
    built_after(config, landed)
    clock.moment = utc("2026-11-03 07:15")
    scheduler.tick()
    assert recorder.calls == [("export", "2026-10", utc("2026-11-03 07:15"))]
    for moment in ("2026-11-03 08:15", "2026-11-04 08:15"):
        clock.moment = utc(moment)
        scheduler.tick()
    assert len(recorder.calls) == 1, "an exported month is not exported again while its CUR version stands"
    record = ScheduleState(state_path(config)).jobs["export"].periods["2026-10"]
    assert (record.exported_version, record.waiting) == ("20261103T0545Z-v2", None)
    # AWS restates October: a new final version lands and is built: it is exported again.
    deliver(export, "20261110T0600Z-v3", ["734812345"])
    _, landed = land_billing_period(data_dir, export, "2026-10")
    built_after(config, landed)
    clock.moment = utc("2026-11-10 09:15")
    scheduler.tick()
    assert recorder.calls[1:] == [("export", "2026-10", utc("2026-11-10 09:15"))]
    waits = [r.fields["reason"] for r in caplog.records if getattr(r, "event", "") == "export_waiting"]
    assert len(waits) == 2, "a wait is logged when its reason changes, not at every tick"


def test_final_verdict_says_why_a_cur_is_not_final(tmp_path):
    export, data_dir = tmp_path / "chargeback-cur2", tmp_path / "data"
    config = config_module.parse({"data_dir": str(data_dir), "cur": {"location": str(export)}})
    deliver(export, "v1", ["inv-1", ""])
    land_billing_period(data_dir, export, "2026-10")
    assert final_verdict(config, "2026-10", "v1") == Verdict(
        False, "version v1: 20,302 of 40,605 lines have no invoice id yet"
    )
    deliver(export, "v2", ["inv-1"])
    assert final_verdict(config, "2026-10", "v1") == Verdict(
        False, "landed version v1 is superseded by v2; the next collect lands it"
    )
    assert final_verdict(config, "2026-10", "v2") == Verdict(True, "version v2: all 40,605 lines have an invoice id")
    deliver(export, "v3", None)  # a Data Export whose query leaves bill_invoice_id out
    verdict = final_verdict(config, "2026-10", "v3")
    assert not verdict.final and "has no bill_invoice_id column" in verdict.reason
    assert "require_final_cur = false" in verdict.reason
    no_location = config_module.parse({"data_dir": str(data_dir)})
    assert "no [cur] location" in final_verdict(no_location, "2026-10", "v2").reason


def test_a_cur_landed_without_a_version_cannot_be_called_final(tmp_path):
    config = make_config(tmp_path, [EXPORT])
    built_after(config, land_empty_cur(config, "2026-10"))
    recorder = Recorder()
    scheduler, _ = scheduler_at(config, "2026-11-01 06:00", recorder)
    scheduler.tick()
    assert recorder.calls == []
    assert "landed without a version record" in scheduler.state.job("export").periods["2026-10"].waiting


# --- /healthz and /metrics over HTTP ------------------------------------------------------------------------


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_healthz_and_metrics_over_http(tmp_path):
    config = make_config(tmp_path, HOURLY, unhealthy_after_failures=3)
    recorder = Recorder()
    recorder.fail.add("collect")
    scheduler, clock = scheduler_at(config, "2026-11-10 10:15", recorder)
    server = http.start(scheduler, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        status, body = get(f"{base}/healthz")
        assert status == 503 and json.loads(body)["problems"] == ["the scheduler loop has not run yet"]

        scheduler.tick()  # 10:15: collect fails, build succeeds
        status, body = get(f"{base}/healthz")
        health = json.loads(body)
        assert status == 200 and health["status"] == "ok"
        assert health["jobs"]["collect"]["consecutive_failures"] == 1
        assert health["jobs"]["collect"]["last_error"] == "collect failed on purpose"
        assert health["jobs"]["build"]["next_fire"] == "2026-11-10T11:15:00Z"

        for moment in ("2026-11-10 11:15", "2026-11-10 12:15"):
            clock.moment = utc(moment)
            scheduler.tick()
        status, body = get(f"{base}/metrics")
        assert status == 200
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body)
            for s in family.samples
        }
        assert samples[("chargeback_schedule_failures_total", (("job", "collect"),))] == 3
        assert samples[("chargeback_schedule_failures_total", (("job", "build"),))] == 0
        assert samples[("chargeback_schedule_last_success_timestamp_seconds", (("job", "build"),))] == (
            utc("2026-11-10 12:15").timestamp()
        )
        assert ("chargeback_schedule_last_success_timestamp_seconds", (("job", "collect"),)) not in samples
        assert samples[("chargeback_schedule_run_duration_seconds_count", (("job", "build"),))] == 3
        assert samples[("chargeback_schedule_run_duration_seconds_count", (("job", "collect"),))] == 3
        assert samples[("chargeback_schedule_skipped_runs_total", (("job", "build"), ("reason", "build_running")))] == 0
        assert samples[("chargeback_schedule_consecutive_failures", (("job", "collect"),))] == 3

        status, body = get(f"{base}/healthz")  # three failures in a row
        assert status == 503
        assert json.loads(body)["problems"] == ["job collect failed 3 times in a row: collect failed on purpose"]
        assert get(f"{base}/livez")[0] == 200, "the loop itself is fine: no reason to restart the process"

        recorder.fail.clear()
        clock.moment = utc("2026-11-10 13:15")
        scheduler.tick()
        assert get(f"{base}/healthz")[0] == 200
        clock.moment = utc("2026-11-10 13:20")  # no tick for 5 minutes: the loop is stuck
        status, body = get(f"{base}/healthz")
        assert status == 503 and json.loads(body)["problems"] == ["the scheduler loop last ran 300 s ago"]
        assert get(f"{base}/livez")[0] == 503
        assert get(f"{base}/nothing")[0] == 404
    finally:
        server.shutdown()
        server.server_close()


# --- configuration -------------------------------------------------------------------------------------------


def test_a_bad_cron_expression_is_a_config_error_naming_the_job(tmp_path):
    path = tmp_path / "chargeback.toml"
    path.write_text('[[schedule.jobs]]\nname = "nightly-build"\ncron = "0 25 * * *"\nrun = "build"\n')
    with pytest.raises(ConfigError) as error:
        config_module.load(path)
    assert "schedule.jobs.0: job 'nightly-build': cron '0 25 * * *' is not a cron expression: bad hour" in str(
        error.value
    )
    result = subprocess.run(
        [sys.executable, "-m", "chargeback", "schedule", "--config", str(path), "--once"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "job 'nightly-build'" in result.stderr


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ({"name": "x", "cron": "@daily", "run": "export"}, "job 'x' runs export: set to = "),
        ({"name": "x", "cron": "@daily", "run": "build", "to": ["focus"]}, "job 'x' runs build, which takes no to"),
        ({"name": "x", "cron": "@daily", "run": "export", "to": ["pdf"]}, "'pdf' is not allowed"),
        ({"name": "x", "cron": "@daily", "run": "build", "timezone": "Europe/Paris"}, "is not allowed"),
    ],
)
def test_job_settings_are_checked(job, message):
    with pytest.raises(ConfigError, match=message):
        config_module.parse({"schedule": {"jobs": [job]}})


def test_default_schedule():
    jobs = config_module.Config().schedule.jobs
    assert [(j.name, j.cron, j.run, j.to) for j in jobs] == [
        ("collect", "15 * * * *", "collect", ()),
        ("build", "15 * * * *", "build", ()),
        ("alerts", "15 * * * *", "alerts", ()),
        ("export", "0 6 1 * *", "export", ("focus", "finance")),
    ]
    settings = config_module.Config().schedule
    assert (settings.address, settings.port, settings.max_catch_up) == ("127.0.0.1", 9090, 1)


def test_list_prints_the_jobs_and_their_next_fire_times(tmp_path, monkeypatch):
    from chargeback.cli import app

    monkeypatch.delenv("CHARGEBACK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["schedule", "--list", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "At minute 15 of every hour" in result.output
    assert "to focus, finance" in result.output
    assert "At 06:00 on the first day of every month" in result.output
    next_collect = cron.next_after("15 * * * *", datetime.now(UTC))
    assert f"{next_collect:%Y-%m-%d %H:%M}" in result.output


# --- the command, as a deployment runs it --------------------------------------------------------------------


def write_config(tmp_path: Path, jobs: str, **schedule: object) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(SAMPLE / "raw", data_dir / "raw")
    settings = "\n".join(f"{key} = {json.dumps(value)}" for key, value in schedule.items())
    path = tmp_path / "chargeback.toml"
    path.write_text(f'data_dir = "data"\n\n[schedule]\n{settings}\n\n{jobs}')
    return path


def test_once_runs_what_is_due_logs_each_run_and_exits_1_when_one_failed(tmp_path):
    # Every minute: at a first start the latest fire time is at most a minute old, so both run. Cost
    # Explorer is asked for but not enabled: that collect fails (without touching the network).
    path = write_config(
        tmp_path,
        '[[schedule.jobs]]\nname = "collect"\ncron = "* * * * *"\nrun = "collect"\nsources = ["cost-explorer"]\n\n'
        '[[schedule.jobs]]\nname = "build"\ncron = "* * * * *"\nrun = "build"\n',
    )
    result = subprocess.run(
        [sys.executable, "-m", "chargeback", "schedule", "--config", str(path), "--once"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # every line is one JSON object
    assert [(line["event"], line.get("job")) for line in lines] == [
        ("run_start", "collect"),
        ("run_end", "collect"),
        ("run_start", "build"),
        ("run_end", "build"),
    ]
    ends = {line["job"]: line for line in lines if line["event"] == "run_end"}
    assert ends["collect"]["outcome"] == "failed" and ends["collect"]["level"] == "error"
    assert ends["collect"]["error"] == "cannot collect cost-explorer: [cost_explorer] enabled = false"
    assert ends["build"]["outcome"] == "ok" and ends["build"]["seconds"] > 0
    assert {"ts", "start", "end", "seconds", "outcome", "fire"} <= set(ends["build"])
    assert (tmp_path / "data" / "warehouse.duckdb").is_file()
    state = json.loads((tmp_path / "data" / "state" / "schedule.json").read_text())
    assert state["jobs"]["build"]["last_outcome"] == "ok"
    assert state["jobs"]["collect"]["consecutive_failures"] == 1


def test_sigterm_stops_the_scheduler_cleanly(tmp_path):
    path = write_config(
        tmp_path,
        '[[schedule.jobs]]\nname = "build"\ncron = "* * * * *"\nrun = "build"\n',
        port=0,
        tick_seconds=0.5,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "chargeback", "schedule", "--config", str(path)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[dict] = queue.Queue()

    def read() -> None:
        for line in process.stderr:
            lines.put(json.loads(line))

    threading.Thread(target=read, daemon=True).start()

    def wait_for(event: str) -> dict:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert process.poll() is None, "the scheduler exited early"
                continue
            if line["event"] == event:
                return line
        raise AssertionError(f"no {event} logged")

    try:
        port = wait_for("listening")["port"]
        assert wait_for("run_end")["outcome"] == "ok"
        status, body = get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["jobs"]["build"]["last_outcome"] == "ok"
        status, body = get(f"http://127.0.0.1:{port}/metrics")
        assert re.search(r'^chargeback_schedule_runs_total\{job="build",outcome="ok"\} [1-9]', body, re.M)
        process.send_signal(signal.SIGTERM)
        assert wait_for("stopped")
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_long_cur_finality_check_counts_as_running_for_the_liveness_probe(tmp_path, monkeypatch):
    """Reading a large final delivery can take minutes: /livez must not call the loop stuck meanwhile."""
    export, data_dir = tmp_path / "chargeback-cur2", tmp_path / "data"
    config = config_module.parse(
        {"data_dir": str(data_dir), "cur": {"location": str(export)}, "schedule": {"jobs": [EXPORT]}}
    )
    recorder = Recorder()
    scheduler, clock = scheduler_at(config, "2026-11-03 06:00", recorder)
    deliver(export, "20261103T0545Z-v2", ["734812345"])
    _, landed = land_billing_period(data_dir, export, "2026-10")
    built_after(config, landed)
    scheduler.tick()  # a first tick: the heartbeat is set, the verdict kept
    seen = []
    real = finality.final_verdict

    def slow_verdict(*args):
        clock.moment += timedelta(minutes=10)  # far beyond the liveness window
        seen.append(scheduler.health(loop_only=True))
        return real(*args)

    monkeypatch.setattr(finality, "final_verdict", slow_verdict)
    scheduler.state.cur.clear()  # forget the verdict so the next tick asks again
    scheduler._verdict("2026-10", "20261103T0545Z-v2")
    ((healthy, body),) = seen
    assert healthy, body
    assert body["loop"]["running"] == "CUR finality check of 2026-10"
    assert scheduler.running is None
    healthy, body = scheduler.health(loop_only=True)
    assert not healthy and "last ran 600 s ago" in " ".join(body.get("problems", [])), body


def test_the_scheduled_build_runs_on_the_configured_engine(tmp_path, monkeypatch):
    """[build] engine = "spark" reaches the scheduler's build, as it does `chargeback build`: one entry point,
    chargeback.build.engines.build, hands the run to the Spark engine (replaced here by a recorder; the engine
    itself is tested against DuckDB in test_spark_build.py)."""
    from chargeback.build.engines import spark
    from chargeback.build.runner import BuildResult
    from chargeback.scheduler.jobs import build

    calls = []
    monkeypatch.setattr(
        spark,
        "build",
        lambda config, progress=None, accept_method_change=False, closed=None: (
            calls.append((config, accept_method_change)) or BuildResult(tmp_path / "w", 1.5)
        ),
    )
    shutil.copytree(SAMPLE / "raw", tmp_path / "raw")
    config = config_module.parse({"data_dir": str(tmp_path), "build": {"engine": "spark"}})
    job = next(j for j in config.schedule.jobs if j.run == "build")
    assert build(RunRequest(config, job, datetime(2026, 11, 1, tzinfo=UTC))) == f"built {tmp_path / 'w'} in 1.5 s"
    assert calls == [(config, False)]  # never accepting a method change by itself
