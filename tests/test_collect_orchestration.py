"""Collection runs: day-by-day publishing, watermarks, resuming after a failure, and the CLI.

Against the real backfilled Prometheus of ``tests/services/prometheus.py``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from chargeback.core import config as config_module
from chargeback.core.http import RetryPolicy
from chargeback.raw.collect import collect_days, run
from chargeback.raw.landing import DEMO_MARKER, partitions
from chargeback.raw.status import StateStore, status_of
from collectors.base import Batch, Window
from collectors.prometheus import PrometheusCollector
from collectors.streams import NODE_HOURS, POD_HOURS
from tests.services.prometheus import START, synthetic_prometheus  # noqa: F401 - pytest fixture

TWO_DAYS = Window(START, START + timedelta(days=2))
FAST_RETRY = RetryPolicy(attempts=2, backoff_seconds=0.05, max_backoff_seconds=0.1)


class StopsMidDay:
    """A collector that stops its Prometheus after the first batch of the second day."""

    def __init__(self, collector: PrometheusCollector, server):
        self.collector, self.server, self.source = collector, server, collector.source

    def streams(self):
        return self.collector.streams()

    def collect(self, window: Window) -> Iterator[Batch]:
        for index, batch in enumerate(self.collector.collect(window)):
            yield batch
            if window.start > START and index == 0:
                self.server.stop()


def files(data_dir: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in (data_dir / "raw").rglob("*") if p.is_file()}


def test_a_run_that_dies_mid_day_keeps_every_earlier_day_and_the_next_run_resumes(synthetic_prometheus, tmp_path):  # noqa: F811
    data_dir = tmp_path / "data"
    server = synthetic_prometheus.serve_copy(tmp_path / "tsdb")
    settings = config_module.PrometheusSettings(url=server.url, max_concurrency=2)
    state = StateStore(data_dir)
    try:
        # A first, complete run over both days, then a re-collection that dies in the middle of day 2.
        complete = collect_days(data_dir, PrometheusCollector("c1", settings, retry=FAST_RETRY), "c1", TWO_DAYS, state)
        assert complete.error is None and complete.days == 2
        before = files(data_dir)
        dying = StopsMidDay(PrometheusCollector("c1", settings, retry=FAST_RETRY), server)
        failed = collect_days(data_dir, dying, "c1", TWO_DAYS, state)
    finally:
        server.stop()
    assert failed.days == 1 and failed.error.startswith("prometheus [2025-03-11T00:00Z, 2025-03-12T00:00Z): query ")
    assert files(data_dir) == before, "day 1 was rewritten identically; day 2 kept its earlier files whole"
    assert not [p for p in data_dir.rglob("*.tmp")], "nothing half-written is left"
    record = StateStore(data_dir).get("prometheus", "c1")
    assert record.complete_through == "2025-03-12T00:00:00Z" and "query" in record.last_error

    # A fresh data directory: the dying run lands day 1 only, and the next run resumes at day 2.
    fresh = tmp_path / "fresh"
    server = synthetic_prometheus.serve_copy(tmp_path / "tsdb-2")
    try:
        settings = config_module.PrometheusSettings(url=server.url, max_concurrency=2)
        dying = StopsMidDay(PrometheusCollector("c1", settings, retry=FAST_RETRY), server)
        collect_days(fresh, dying, "c1", TWO_DAYS, StateStore(fresh))
    finally:
        server.stop()
    assert [p.parent.name for p in partitions(fresh, POD_HOURS)] == ["day=2025-03-10"]
    assert StateStore(fresh).get("prometheus", "c1").complete_through == "2025-03-11T00:00:00Z"
    config = config_module.parse(
        {"data_dir": str(fresh), "clusters": [{"name": "c1", "prometheus": {"url": synthetic_prometheus.url}}]}
    )
    (resumed,) = run(config, ["prometheus"], end=TWO_DAYS.end, now=TWO_DAYS.end + timedelta(hours=1))
    assert resumed.error is None and resumed.window == Window(TWO_DAYS.start + timedelta(days=1), TWO_DAYS.end)
    assert [p.parent.name for p in partitions(fresh, POD_HOURS)] == ["day=2025-03-10", "day=2025-03-11"]
    coverage = {(c.source, c.table, c.target): c for c in status_of(config.data_dir).coverage}
    node_hours = coverage[("prometheus", "node_hours", "c1")]
    assert (str(node_hours.first_day), str(node_hours.last_day), node_hours.missing_days) == (
        "2025-03-10",
        "2025-03-11",
        [],
    )


def test_a_partial_day_is_collected_but_does_not_move_the_watermark(synthetic_prometheus, tmp_path):  # noqa: F811
    config = config_module.parse(
        {"data_dir": str(tmp_path), "clusters": [{"name": "c1", "prometheus": {"url": synthetic_prometheus.url}}]}
    )
    now = START + timedelta(hours=30)
    (outcome,) = run(config, ["prometheus"], start=START, now=now)
    assert outcome.error is None and outcome.days == 2
    assert StateStore(tmp_path).get("prometheus", "c1").complete_through == "2025-03-11T00:00:00Z"
    assert len(partitions(tmp_path, NODE_HOURS)) == 2  # today's hours so far are there, to be redone


def chargeback(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chargeback", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_collect_and_status_from_the_command_line(synthetic_prometheus, tmp_path):  # noqa: F811
    (tmp_path / "chargeback.toml").write_text(
        f'[[clusters]]\nname = "synthetic"\n[clusters.prometheus]\nurl = "{synthetic_prometheus.url}"\n'
    )
    collected = chargeback(
        "collect", "--source", "prometheus", "--start", "2025-03-10", "--end", "2025-03-12", cwd=tmp_path
    )
    assert collected.returncode == 0, collected.stderr
    assert "prometheus" in collected.stdout and "synthetic" in collected.stdout and "ok" in collected.stdout
    shown = chargeback("status", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "2025-03-12T00:00:00Z" in shown.stdout and "prometheus/pod_hours" in shown.stdout
    unknown = chargeback("collect", "--source", "graphite", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown source(s) graphite" in unknown.stderr
    unconfigured = chargeback("collect", "--source", "cur", cwd=tmp_path)
    assert unconfigured.returncode == 2 and "no [cur] table" in unconfigured.stderr
    bad_time = chargeback("collect", "--start", "yesterday", cwd=tmp_path)
    assert bad_time.returncode == 2 and "'yesterday' is not a date" in bad_time.stderr


def test_an_unreachable_source_fails_the_run_with_exit_1_and_says_so(tmp_path):
    (tmp_path / "chargeback.toml").write_text(
        '[[clusters]]\nname = "c1"\n[clusters.prometheus]\nurl = "http://127.0.0.1:9"\nmax_attempts = 2\n'
    )
    failed = chargeback(
        "collect", "--source", "prometheus", "--start", "2025-03-10", "--end", "2025-03-10T02:00", cwd=tmp_path
    )
    assert failed.returncode == 1
    assert "prometheus [2025-03-10T00:00Z, 2025-03-10T02:00Z)" in failed.stdout
    assert "1 source(s) failed" in failed.stderr
    shown = chargeback("status", cwd=tmp_path)
    assert "never" in shown.stdout and "prometheus [2025-03-10T00:00Z" in shown.stdout


def test_collect_refuses_to_mix_real_data_into_the_demo_month(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / DEMO_MARKER).write_text("demo\n")
    (tmp_path / "chargeback.toml").write_text(
        '[[clusters]]\nname = "c1"\n[clusters.prometheus]\nurl = "http://127.0.0.1:9"\n'
    )
    refused = chargeback("collect", cwd=tmp_path)
    assert refused.returncode == 2 and "holds the demo month" in refused.stderr
    assert not (tmp_path / "data" / "raw").exists()


@pytest.mark.parametrize("when", ["2025-03-10", "2025-03-10T05:30:00", "2025-03-10T05:30:00+02:00"])
def test_times_parse_as_utc(when):
    from chargeback.raw.collect import parse_time

    parsed = parse_time(when)
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)
