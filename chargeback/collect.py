"""Collection: run collectors day by day into the landing layout, keep watermarks, report status.

A day-windowed source (Prometheus, EMR on EKS, Cost Explorer) is asked for one UTC day at a time;
the day's batches are published together (``DayWriter``) and only then is the watermark moved, so a
failed run leaves every earlier day intact and the next run resumes at the first day not done.
The current, partial day is collected too but never marks the watermark: the next run redoes it.
Kubernetes is a snapshot (stamped with its collection time, landed in today's partition); the CUR is
landed per billing period, whole, when its manifest names a version not landed yet.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from chargeback.config import Config
from chargeback.demo import DEMO_MARKER
from chargeback.errors import ChargebackError
from chargeback.landing import DayWriter, partition_target, partitions
from collectors.base import DAY, Collector, Window

SOURCES = ("prometheus", "kubernetes", "emr", "cur", "cost-explorer")
ACCOUNT = "-"  # the target name of account-wide sources (EMR, CUR, Cost Explorer)

Report = Callable[[str], None]


@dataclass
class SourceState:
    """What one source knows about one target (a cluster, or the account)."""

    complete_through: str | None = None  # ISO UTC: every whole day before it is landed
    last_attempt: str | None = None
    last_success: str | None = None
    last_error: str | None = None
    rows: dict[str, int] = field(default_factory=dict)  # rows landed by the last successful run, per table


class StateStore:
    """``<data_dir>/state/collect.json``, rewritten atomically after every change."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / "state" / "collect.json"
        self._states: dict[str, SourceState] = {}
        if self.path.is_file():
            try:
                raw = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:
                raise ChargebackError(
                    f"{self.path}: unreadable collection state ({exc}); move it aside to start over"
                ) from None
            self._states = {key: SourceState(**value) for key, value in raw.items()}

    def get(self, source: str, target: str) -> SourceState:
        return self._states.setdefault(f"{source}/{target}", SourceState())

    def items(self) -> Iterator[tuple[str, str, SourceState]]:
        for key, state in sorted(self._states.items()):
            source, target = key.split("/", 1)
            yield source, target, state

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_text(json.dumps({k: asdict(v) for k, v in sorted(self._states.items())}, indent=2) + "\n")
        os.replace(temporary, self.path)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def parse_time(text: str) -> datetime:
    """A CLI time: ``YYYY-MM-DD`` (midnight UTC) or an ISO timestamp (UTC unless it has an offset)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ChargebackError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO timestamp") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def default_start(now: datetime) -> datetime:
    """Where a source with no watermark starts: the first day of the previous month, so a new
    install can bill last month straight away."""
    first = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first - timedelta(days=1)).replace(day=1)


@dataclass
class Outcome:
    source: str
    target: str
    window: Window | None
    days: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    skipped: str | None = None  # why a source asked for as part of "all" did not run


def collect_days(
    data_dir: Path,
    collector: Collector,
    target: str,
    window: Window,
    state: StateStore,
    report: Report | None = None,
) -> Outcome:
    """Collect ``window`` day by day; publish each day, then move the watermark past it."""
    record = state.get(collector.source, target)
    outcome = Outcome(collector.source, target, window)
    started = time.perf_counter()
    record.last_attempt = _iso(datetime.now(UTC))
    try:
        for day in window.days():
            if report:
                report(f"{collector.source} {target} {day.start:%Y-%m-%d}")
            target_file = None if target == ACCOUNT else target
            origin = f"{collector.source} {target} {day}"
            with DayWriter(data_dir, f"{day.start:%Y-%m-%d}", collector.tables(), origin, target_file) as writer:
                for batch in collector.collect(day):
                    writer.write(batch.table, batch.data)
                writer.commit()
            for key, rows in writer.rows.items():
                outcome.rows[key] = outcome.rows.get(key, 0) + rows
            outcome.days += 1
            midnight = day.start.replace(hour=0, minute=0, second=0, microsecond=0)
            done_through = day.end if day.start == midnight and day.end == midnight + DAY else midnight
            if record.complete_through is None or _parse(record.complete_through) < done_through:
                record.complete_through = _iso(done_through)
            state.save()
    except ChargebackError as exc:
        return _finish(state, record, outcome, started, exc)
    return _finish(state, record, outcome, started)


def _finish(
    state: StateStore, record: SourceState, outcome: Outcome, started: float, error: Exception | None = None
) -> Outcome:
    """Record how a run of one source and target ended, in the outcome and in the saved state."""
    outcome.seconds = time.perf_counter() - started
    if error is not None:
        outcome.error = str(error)
        record.last_error = f"{_iso(datetime.now(UTC))} {error}"
    else:
        record.last_success = _iso(datetime.now(UTC))
        record.last_error = None
        record.rows = outcome.rows
    state.save()
    return outcome


def window_for(state: SourceState, start: datetime | None, end: datetime | None, now: datetime) -> Window | None:
    """The window to collect: the given bounds, else from the watermark (or the default start) to now."""
    if start is None:
        start = _parse(state.complete_through) if state.complete_through else default_start(now)
    end = end or now
    return Window(start, end) if end > start else None


@dataclass
class Coverage:
    source: str
    table: str
    target: str  # the cluster whose files these are, or "-" for account-wide files
    first_day: date | None
    last_day: date | None
    missing_days: list[date]


def coverage(data_dir: Path, tables) -> list[Coverage]:
    """Which days each raw table holds per cluster (or account-wide), and the gaps in between."""
    result = []
    for table in tables:
        by_target: dict[str, list[date]] = {}
        for path in partitions(data_dir, table):
            day = date.fromisoformat(path.parent.name.split("=", 1)[1])
            by_target.setdefault(partition_target(path) or ACCOUNT, []).append(day)
        if not by_target:
            result.append(Coverage(table.source, table.name, ACCOUNT, None, None, []))
        for target, days in sorted(by_target.items()):
            days.sort()
            have, missing, cursor = set(days), [], days[0]
            while cursor <= days[-1]:
                if cursor not in have:
                    missing.append(cursor)
                cursor += timedelta(days=1)
            result.append(Coverage(table.source, table.name, target, days[0], days[-1], missing))
    return result


def check_sources(sources: list[str]) -> list[str]:
    if "all" in sources:
        return list(SOURCES)
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ChargebackError(f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(SOURCES)} or all")
    return sources


def describe_config_gap(config: Config, source: str) -> str | None:
    """Why ``source`` cannot run with this config, or None when it can."""
    if source in ("prometheus", "kubernetes") and not any(getattr(c, source) for c in config.clusters):
        return f"no [[clusters]] entry has a [clusters.{source}] table (see chargeback.example.toml)"
    if source == "cur" and config.cur is None:
        return "no [cur] table with the CUR's location (see chargeback.example.toml)"
    if source == "cost-explorer" and not config.cost_explorer.enabled:
        return "[cost_explorer] enabled = false"
    return None


def _cur(config: Config, state: StateStore, start, end, refresh: bool, now: datetime, report) -> Outcome:
    from collectors.cur import CurCollector, billing_periods  # boto3 is imported only when needed

    record = state.get("cur", ACCOUNT)
    # Billing periods are restated after they close: by default re-read the previous period's
    # manifest and the current one's (an unchanged version is not downloaded again).
    window = Window(start or default_start(now), end or now)
    outcome = Outcome("cur", ACCOUNT, window)
    started = time.perf_counter()
    record.last_attempt = _iso(datetime.now(UTC))
    periods = billing_periods(window)
    try:
        if report:
            report(f"cur {', '.join(periods)}")
        landings = CurCollector.from_config(config).land_periods(
            config.data_dir, periods, None, missing_ok=True, force=refresh
        )
    except ChargebackError as exc:
        return _finish(state, record, outcome, started, exc)
    for landing in landings:  # the landed version itself is kept in the partition's metadata
        outcome.rows[f"cur {landing.billing_period}"] = int(landing.landed)
    return _finish(state, record, outcome, started)


def make_collectors(config: Config, source: str, refresh: bool = False) -> list[tuple[str, Collector]]:
    """The collectors of ``source`` for this config, as (target, collector) pairs."""
    if source == "prometheus":
        from collectors.prometheus import PrometheusCollector, RetryPolicy

        keys = (config.tenancy.namespace_label, config.tenancy.node_label)
        collectors = []
        for cluster in config.clusters:
            if cluster.prometheus is None:
                continue
            credentials = None
            if cluster.prometheus.auth == "sigv4":  # Amazon Managed Prometheus: sign with the [aws] identity
                from collectors.aws import session

                credentials = session(config.aws).get_credentials()
            retry = RetryPolicy(attempts=cluster.prometheus.max_attempts)
            collector = PrometheusCollector(cluster, label_keys=keys, credentials=credentials, retry=retry)
            collectors.append((cluster.name, collector))
        return collectors
    if source == "kubernetes":
        from collectors.kubernetes import from_settings

        return [(c.name, from_settings(c)) for c in config.clusters if c.kubernetes]
    if source == "emr":
        from collectors.emr import EmrCollector

        return [(ACCOUNT, EmrCollector.from_config(config))]
    if source == "cost-explorer":
        from collectors.cost_explorer import CostExplorerCollector

        return [(ACCOUNT, CostExplorerCollector.from_config(config, refresh=refresh))]
    raise ChargebackError(f"unknown source {source!r}")


def run(
    config: Config,
    sources: list[str],
    start: datetime | None = None,
    end: datetime | None = None,
    refresh: bool = False,
    report: Report | None = None,
    now: datetime | None = None,
) -> list[Outcome]:
    """Collect every requested source; a source that fails is recorded and the others still run."""
    now = now or datetime.now(UTC)
    if (Path(config.data_dir) / DEMO_MARKER).exists():
        raise ChargebackError(
            f"{config.data_dir} holds the demo month (`chargeback demo`); collect into another --data-dir, "
            f"or delete {config.data_dir} first"
        )
    state = StateStore(config.data_dir)
    outcomes = []
    for source in check_sources(sources):
        gap = describe_config_gap(config, source)
        if gap:
            if "all" not in sources:
                raise ChargebackError(f"cannot collect {source}: {gap}")
            outcomes.append(Outcome(source, ACCOUNT, None, skipped=gap))
            continue
        if source == "cur":
            outcomes.append(_cur(config, state, start, end, refresh, now, report))
            continue
        for target, collector in make_collectors(config, source, refresh):
            record = state.get(collector.source, target)
            if source == "kubernetes":  # a snapshot of now, landed in today's partition
                today = now.replace(hour=0, minute=0, second=0, microsecond=0)
                window = Window(today, max(now, today + timedelta(seconds=1)))
            else:
                window = window_for(record, start, end, now)
            if window is None:
                outcomes.append(Outcome(collector.source, target, None))
                continue
            outcomes.append(collect_days(config.data_dir, collector, target, window, state, report))
    return outcomes


@dataclass
class Status:
    sources: list[tuple[str, str, SourceState]]
    coverage: list[Coverage]
    cur_periods: dict[str, str | None]  # landed billing period -> version


def status(config: Config) -> Status:
    """Per source and target: watermark, last success and failure; per raw table: days held and gaps."""
    return status_of(config.data_dir)


def status_of(data_dir: Path) -> Status:
    from collectors.cur import landed_version
    from collectors.schemas import CUR_LINE_ITEMS, RAW_TABLES

    state = StateStore(data_dir)
    periods = {}
    for path in partitions(data_dir, CUR_LINE_ITEMS):
        period = path.parent.name.split("=", 1)[1]
        periods[period] = landed_version(data_dir, period)
    tables = [t for t in RAW_TABLES if t.partition == "date"]
    return Status(list(state.items()), coverage(data_dir, tables), periods)

