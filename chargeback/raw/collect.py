"""Collection: run the sources (``collectors.registry``) into the landing layout, keep watermarks.

A source read by window (Prometheus, EMR on EKS, Cost Explorer) is asked for one UTC day at a time; the
day's batches are published together (``DayWriter``) and only then is the watermark moved, so a failed run
leaves every earlier day intact and the next run resumes at the first day not done. The current, partial day
is collected too but never marks the watermark: the next run redoes it. A snapshot source (the Kubernetes
API, EBS volumes, load balancers) is stamped with its collection time and landed in today's partition beside
the day's earlier snapshots (the APIs describe only what exists now: an object gone by the day's last
collection is still in the snapshots taken while it lived). A period source (the CUR) is landed per billing
period, whole, when its current delivery's version differs from the one landed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from chargeback.core import periods
from chargeback.core.config import Config
from chargeback.core.errors import ChargebackError
from chargeback.core.times import iso, parse_iso
from chargeback.raw.landing import DEMO_MARKER, DayWriter, partition_path, write_partition
from chargeback.raw.status import VERSION_KEY, SourceState, StateStore, landed_version
from chargeback.raw.tables import CUR_LINE_ITEMS
from collectors.base import DAY, Collector, Delivery, NotDelivered, PeriodCollector, Window
from collectors.cur import CurCollector, CurManifest
from collectors.cur_files import LocalCurSource
from collectors.registry import ACCOUNT, resolve

Report = Callable[[str], None]


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
    return periods.start(periods.previous_period(periods.of(now)))


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
    *,
    keep_snapshots: bool = False,
) -> Outcome:
    """Collect ``window`` day by day; publish each day, then move the watermark past it. ``keep_snapshots``: a
    snapshot source's day keeps the snapshots landed in it before (its rows' ``collected_at`` tell them apart)."""
    record = state.get(collector.source, target)
    outcome = Outcome(collector.source, target, window)
    started = time.perf_counter()
    record.last_attempt = iso(datetime.now(UTC))
    try:
        for day in window.days():
            if report:
                report(f"{collector.source} {target} {day.start:%Y-%m-%d}")
            target_file = None if target == ACCOUNT else target
            origin = f"{collector.source} {target} {day}"
            with DayWriter(data_dir, f"{day.start:%Y-%m-%d}", collector.streams(), origin, target_file) as writer:
                if keep_snapshots:
                    for stream in collector.streams():
                        earlier = partition_path(data_dir, stream, f"{day.start:%Y-%m-%d}", target_file)
                        if earlier.exists():
                            writer.write(stream, pq.read_table(earlier))
                kept = dict(writer.rows)
                for batch in collector.collect(day):
                    writer.write(batch.stream, batch.data)
                writer.commit()
            for key, rows in writer.rows.items():
                outcome.rows[key] = outcome.rows.get(key, 0) + rows - kept[key]
            outcome.days += 1
            midnight = day.start.replace(hour=0, minute=0, second=0, microsecond=0)
            done_through = day.end if day.start == midnight and day.end == midnight + DAY else midnight
            if record.complete_through is None or parse_iso(record.complete_through) < done_through:
                record.complete_through = iso(done_through)
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
        record.last_error = f"{iso(datetime.now(UTC))} {error}"
    else:
        record.last_success = iso(datetime.now(UTC))
        record.last_error = None
        record.rows = outcome.rows
    state.save()
    return outcome


def window_for(state: SourceState, start: datetime | None, end: datetime | None, now: datetime) -> Window | None:
    """The window to collect: the given bounds, else from the watermark (or the default start) to now."""
    if start is None:
        start = parse_iso(state.complete_through) if state.complete_through else default_start(now)
    end = end or now
    return Window(start, end) if end > start else None


# --- billing periods --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodLanding:
    """What landing one billing period did."""

    billing_period: str
    version: str | None  # the delivery's version now (None: nothing delivered yet)
    previous: str | None  # the version landed before (None: none, or unknown)
    landed: bool  # True when this call wrote the partition
    path: Path | None = None
    files: tuple = ()


def _stamped(batches: Iterator[pa.Table], version: str) -> Iterator[pa.Table]:
    for data in batches:
        yield data.replace_schema_metadata({VERSION_KEY: version.encode()})


def land_delivery(data_dir: Path, collector: PeriodCollector, delivery: Delivery) -> Path:
    """Land ``delivery`` whole, replacing its billing period, with its version in the partition's metadata."""
    batches = (batch.data for batch in collector.collect_delivery(delivery))
    return write_partition(data_dir, CUR_LINE_ITEMS, delivery.period, _stamped(batches, delivery.version))


def land_periods(
    data_dir: Path,
    collector: PeriodCollector,
    billing_periods: Iterable[str],
    landed: Mapping[str, str] | None = None,
    *,
    missing_ok: bool = False,
    force: bool = False,
) -> list[PeriodLanding]:
    """Land each period whose current delivery's version differs from the landed one; return what happened.

    ``landed`` maps billing period -> version already landed; by default it is read from the landed
    partitions themselves. ``missing_ok``: a period with nothing delivered yet is reported (version None)
    instead of raising. ``force``: land even an unchanged version (``--refresh``).
    """
    results = []
    for period in billing_periods:
        previous = landed.get(period) if landed is not None else landed_version(data_dir, period)
        try:
            delivery = collector.delivery(period)
        except NotDelivered:
            if not missing_ok:
                raise
            results.append(PeriodLanding(period, None, previous, False))
            continue
        if delivery.version == previous and not force:
            results.append(PeriodLanding(period, delivery.version, previous, False))
        else:
            path = land_delivery(data_dir, collector, delivery)
            results.append(PeriodLanding(period, delivery.version, previous, True, path, delivery.files))
    return results


def collect_periods(
    data_dir: Path,
    collector: PeriodCollector,
    window: Window,
    state: StateStore,
    refresh: bool,
    report: Report | None = None,
) -> Outcome:
    """Land the billing periods ``window`` touches (by default the previous and the current month: periods
    are restated after they close)."""
    record = state.get(collector.source, ACCOUNT)
    outcome = Outcome(collector.source, ACCOUNT, window)
    started = time.perf_counter()
    record.last_attempt = iso(datetime.now(UTC))
    months = periods.between(window.start, window.end)
    try:
        if report:
            report(f"{collector.source} {', '.join(months)}")
        landings = land_periods(data_dir, collector, months, missing_ok=True, force=refresh)
    except ChargebackError as exc:
        return _finish(state, record, outcome, started, exc)
    for landing in landings:  # the landed version itself is kept in the partition's metadata
        outcome.rows[f"{collector.source} {landing.billing_period}"] = int(landing.landed)
    return _finish(state, record, outcome, started)


def land_billing_period(data_dir: Path, export_dir: Path, billing_period: str) -> tuple[CurManifest, Path]:
    """Land a local CUR 2.0 export's current version of ``billing_period``, replacing any earlier version
    (the sample month, tests and benchmarks land their generated CUR this way); returns its manifest."""
    collector = CurCollector(LocalCurSource(Path(export_dir)))
    manifest = collector.manifest(billing_period)
    delivery = Delivery(billing_period, manifest.execution_id, manifest.data_files, manifest)
    return manifest, land_delivery(data_dir, collector, delivery)


# --- a run -----------------------------------------------------------------------------------------------


def run(
    config: Config,
    sources: list[str],
    start: datetime | None = None,
    end: datetime | None = None,
    refresh: bool = False,
    report: Report | None = None,
    now: datetime | None = None,
) -> list[Outcome]:
    """Collect every requested source, for each cluster or account it has; a source, cluster or account that fails
    is recorded and the others still run. Up to ``[collect] parallel`` of them run at once (a fleet's clusters
    side by side); the outcomes come back in the order of the sources and their targets."""
    now = now or datetime.now(UTC)
    if (Path(config.data_dir) / DEMO_MARKER).exists():
        raise ChargebackError(
            f"{config.data_dir} holds the demo month (`chargeback demo`); collect into another --data-dir, "
            f"or delete {config.data_dir} first"
        )
    state = StateStore(config.data_dir)
    planned: list[Outcome | Callable[[], Outcome]] = []
    for source in resolve(sources):
        gap = source.needs(config)
        if gap:
            if "all" not in sources:
                raise ChargebackError(f"cannot collect {source.name}: {gap}")
            planned.append(Outcome(source.name, ACCOUNT, None, skipped=gap))
            continue
        for target, collector in source.make(config, refresh):
            if source.kind == "period":
                window = Window(start or default_start(now), end or now)
                planned.append(partial(collect_periods, config.data_dir, collector, window, state, refresh, report))
                continue
            snapshot = source.kind == "snapshot"
            if snapshot:  # a snapshot of now, landed in today's partition beside the day's earlier ones
                today = now.replace(hour=0, minute=0, second=0, microsecond=0)
                window = Window(today, max(now, today + timedelta(seconds=1)))
            else:
                window = window_for(state.get(collector.source, target), start, end, now)
            if window is None:
                planned.append(Outcome(collector.source, target, None))
                continue
            planned.append(
                partial(
                    collect_days, config.data_dir, collector, target, window, state, report, keep_snapshots=snapshot
                )
            )
    work = [step for step in planned if callable(step)]
    if len(work) <= 1 or config.collect.parallel == 1:
        return [step() if callable(step) else step for step in planned]
    with ThreadPoolExecutor(max_workers=min(config.collect.parallel, len(work)), thread_name_prefix="collect") as pool:
        running = [pool.submit(step) if callable(step) else step for step in planned]
        return [step.result() if isinstance(step, Future) else step for step in running]
