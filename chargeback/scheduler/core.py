"""The scheduler: ``tick(now)`` decides what is due and runs it; ``serve`` calls it on a clock until stopped.

Each job's fire times come from its cron expression (UTC). A tick runs, in config order, every job with a
fire time in ``(last fire handled, now]``:

- **Catching up.** Fire times more than ``MISFIRE_GRACE`` old were missed (the scheduler was stopped, or
  another job ran long). Missed fire times that would do the same work coalesce into one run (every collect
  or build is the same; an export bills the month before its fire time, so one run per month), and at most
  ``[schedule] max_catch_up`` such missed runs are made up, the most recent; the rest are logged and counted
  as skipped. A job with no recorded run (first start) counts its latest fire time as missed.
- **One build at a time.** A build job takes the data directory's build lock first
  (``chargeback.build.warehouse.build_lock``, ``flock``, so a manual ``chargeback build`` holds it too); if
  another build holds it, the run is skipped, logged and counted, and the action is not called.
- **Exports wait.** An export fire asks for its month; the month is exported once its landed CUR is final
  and the warehouse was built after it landed (``finality.readiness``), checked at every tick until then.
  A month exported from one CUR version is exported again only if a different version lands.
- **No method change by itself.** A build job never accepts a new allocation method: while the configuration's
  method differs from the published build's, each build run fails, saying what changed and each bill line's
  effect, until an operator runs `chargeback build --accept-method-change` (``chargeback.build.method``).
- **Stopping.** ``request_stop`` (SIGTERM, SIGINT) lets the running job finish, starts nothing new, and
  ``serve`` returns; what was not run is caught up at the next start.

Every run is logged as one JSON line (``run_start``, ``run_end`` with duration, outcome and error) and
recorded in the state file and the metrics; a job that raises fails its run, never the scheduler.
"""

from __future__ import annotations

import copy
import logging
import signal
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from prometheus_client import CollectorRegistry

from chargeback.build.warehouse import build_lock
from chargeback.core import cron
from chargeback.core.config import Config, JobKind, ScheduleJob
from chargeback.core.errors import ChargebackError, storage_error
from chargeback.core.locks import LockedError, file_lock
from chargeback.core.periods import of as period_of
from chargeback.core.periods import previous_period, year_month
from chargeback.core.times import iso, parse_iso
from chargeback.scheduler import finality
from chargeback.scheduler.jobs import ACTIONS, Action, RunRequest
from chargeback.scheduler.logs import emit
from chargeback.scheduler.metrics import Metrics
from chargeback.scheduler.state import CurVerdict, PeriodState, ScheduleState, state_path

MISFIRE_GRACE = timedelta(minutes=5)  # a fire time noticed later than this was missed
EXPORT_RETRY = timedelta(hours=1)  # a failed export is tried again after this
VERDICT_RETRY = timedelta(minutes=10)  # a CUR finality check that could not read the delivery: asked again
WATCH_MONTHS = 3  # an exported month is watched for a restated CUR until it is this many months old
Outcome = Literal["ok", "failed", "skipped"]


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class Run:
    """One run of a job, as logged."""

    job: str
    kind: JobKind
    outcome: Outcome
    started: datetime
    seconds: float
    fire: datetime | None = None
    period: str | None = None
    error: str | None = None
    detail: str | None = None


def billed_month(fire: datetime) -> str:
    """The month an export fired at ``fire`` bills: the one before."""
    return previous_period(period_of(fire))


def _month_number(period: str) -> int:
    year, month = year_month(period)
    return year * 12 + month - 1


class Scheduler:
    def __init__(
        self,
        config: Config,
        clock: Clock | None = None,
        actions: Mapping[JobKind, Action] | None = None,
        registry: CollectorRegistry | None = None,
    ):
        self.config = config
        self.settings = config.schedule
        self.clock = clock or SystemClock()
        self.actions: dict[JobKind, Action] = {**ACTIONS, **(actions or {})}
        self.state = ScheduleState(state_path(config))
        self.metrics = Metrics([job.name for job in self.settings.jobs], registry)
        self.heartbeat: datetime | None = None
        self.running: str | None = None
        self.tick_error: str | None = None  # why the last tick raised (serve goes on and reports it)
        self._stop = False  # set from a signal handler: a plain flag, no lock a handler could deadlock on
        self._snapshot_lock = threading.Lock()
        self._snapshot: dict = {}
        self._restore_metrics()
        self._publish()

    # --- the loop step ---------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> list[Run]:
        """Run every job that is due at ``now`` (default: the clock), then the exports that can go."""
        now = (now or self.clock.now()).astimezone(UTC)
        self._beat(now)
        runs: list[Run] = []
        for job in self.settings.jobs:
            if self._stop:
                break
            runs += self._fire(job, now)
        for job in self.settings.jobs:
            if job.run == "export" and not self._stop:
                runs += self._exports(job, now)
        return runs

    def _fire(self, job: ScheduleJob, now: datetime) -> list[Run]:
        state = self.state.job(job.name)
        first_start = state.last_fire is None
        if first_start:
            latest = cron.last_at_or_before(job.cron, now)
            fires, truncated = ([latest] if latest else []), False
        else:
            fires, truncated = cron.between(job.cron, parse_iso(state.last_fire), now)
        if not fires:
            return []
        on_time = now - fires[-1] <= MISFIRE_GRACE
        groups = self._coalesce(job, fires)
        keep = min(len(groups), self.settings.max_catch_up + (1 if on_time else 0))
        dropped, kept = groups[: len(groups) - keep], groups[len(groups) - keep :]
        missed = len(fires) - (1 if on_time else 0)
        if missed:
            emit(
                "catch_up",
                f"{job.name}: {missed}{'+' if truncated else ''} missed fire time(s) from {iso(fires[0])};"
                f" {len(kept)} run(s), {sum(len(g) for _, g in dropped)} skipped",
                job=job.name,
                missed=missed,
                more_missed=truncated or None,
                first_missed=iso(fires[0]),
                last_missed=iso(fires[-2] if on_time else fires[-1]),
                runs=len(kept),
                runs_for=[iso(g[-1]) for _, g in kept],
                skipped=sum(len(g) for _, g in dropped),
                first_start=first_start or None,
            )
        for _, group in dropped:
            self.metrics.skipped.labels(job.name, "catch_up_limit").inc(len(group))
        if dropped:
            state.last_fire = iso(dropped[-1][1][-1])
            self._save()
        runs = []
        for period, group in kept:
            if self._stop:
                break
            self.metrics.skipped.labels(job.name, "coalesced").inc(len(group) - 1)
            fire = group[-1]
            if job.run == "export":
                assert period is not None
                self._export_due(job, period, fire)
            else:
                runs.append(self._run(job, now, fire=fire))
            state.last_fire = iso(fire)
            self._save()
        return runs

    @staticmethod
    def _coalesce(job: ScheduleJob, fires: list[datetime]) -> list[tuple[str | None, list[datetime]]]:
        """Fire times grouped by the work they ask for, oldest first: one group for collect and build,
        one per billed month for export."""
        groups: dict[str | None, list[datetime]] = {}
        for fire in fires:
            groups.setdefault(billed_month(fire) if job.run == "export" else None, []).append(fire)
        return list(groups.items())

    # --- running one job ---------------------------------------------------------------------------------

    def _run(self, job: ScheduleJob, now: datetime, fire: datetime | None = None, period: str | None = None) -> Run:
        """The job-runner seam: take the build lock for builds, call the job's action, record the run."""
        with ExitStack() as stack:
            if job.run == "build":
                try:
                    stack.enter_context(build_lock(self.config.data_dir))
                except LockedError as exc:
                    return self._skip(job, now, fire, exc)
            return self._execute(job, RunRequest(self.config, job, now, period, self.metrics), fire)

    def _skip(self, job: ScheduleJob, now: datetime, fire: datetime | None, exc: LockedError) -> Run:
        state = self.state.job(job.name)
        state.last_outcome, state.last_error = "skipped", str(exc)
        self.metrics.skipped.labels(job.name, "build_running").inc()
        self._save()
        emit(
            "run_skipped",
            f"{job.name}: skipped, {exc}",
            logging.WARNING,
            job=job.name,
            run=job.run,
            fire=iso(fire) if fire else None,
            reason="build_running",
            holder=exc.holder,
        )
        return Run(job.name, job.run, "skipped", now, 0.0, fire, error=str(exc))

    def _execute(self, job: ScheduleJob, request: RunRequest, fire: datetime | None) -> Run:
        state = self.state.job(job.name)
        started = self.clock.now()
        clock_start = time.perf_counter()
        fields = {"job": job.name, "run": job.run, "fire": iso(fire) if fire else None, "period": request.period}
        emit("run_start", f"{job.name}: {job.run}{' ' + request.period if request.period else ''} started", **fields)
        self.running = job.name
        self._publish()
        detail = error = trace = None
        try:
            detail = self.actions[job.run](request)
        except Exception as exc:  # noqa: BLE001 - a job's failure is recorded; the scheduler goes on
            known = exc if isinstance(exc, ChargebackError) else storage_error(exc)  # a full disk is not a bug
            error = str(known) if known else f"{type(exc).__name__}: {exc}"
            trace = None if known else traceback.format_exc()  # a bug: keep where
        finally:
            self.running = None
        seconds = time.perf_counter() - clock_start
        ended = self.clock.now()
        outcome: Outcome = "failed" if error else "ok"
        state.last_start, state.last_end, state.last_seconds = iso(started), iso(ended), round(seconds, 3)
        state.last_outcome, state.last_error = outcome, error
        self.metrics.duration.labels(job.name).observe(seconds)
        self.metrics.runs.labels(job.name, outcome).inc()
        if error:
            state.consecutive_failures += 1
            self.metrics.failures.labels(job.name).inc()
        else:
            state.consecutive_failures = 0
            state.last_success = iso(ended)
            self.metrics.last_success.labels(job.name).set(ended.timestamp())
        self.metrics.consecutive_failures.labels(job.name).set(state.consecutive_failures)
        self._save()  # before the log line: whoever reads it finds the run on /healthz too
        emit(
            "run_end",
            f"{job.name}: {job.run} {outcome} in {seconds:.1f} s" + (f": {error}" if error else ""),
            logging.ERROR if error else logging.INFO,
            **fields,
            outcome=outcome,
            start=iso(started),
            end=iso(ended),
            seconds=round(seconds, 3),
            error=error,
            detail=detail,
            consecutive_failures=state.consecutive_failures or None,
            traceback=trace,
        )
        return Run(job.name, job.run, outcome, started, seconds, fire, request.period, error, detail)

    # --- exports -----------------------------------------------------------------------------------------

    def _export_due(self, job: ScheduleJob, period: str, fire: datetime) -> None:
        periods = self.state.job(job.name).periods
        if period not in periods:
            periods[period] = PeriodState(due_since=iso(fire))
            emit("export_due", f"{job.name}: {period} is due for export", job=job.name, period=period, fire=iso(fire))

    def _exports(self, job: ScheduleJob, now: datetime) -> list[Run]:
        """Export each month the job is responsible for once it is ready; watch exported ones for a new CUR."""
        periods = self.state.job(job.name).periods
        runs = []
        for period in sorted(periods):
            if self._stop:
                break
            record = periods[period]
            try:
                if record.exported_version is not None and self._exported_and_current(periods, period, now):
                    continue
                if record.retry_after and now < parse_iso(record.retry_after):
                    continue
                ready = finality.readiness(self.config, period, now, job.require_final_cur, self._verdict)
            except Exception as exc:  # noqa: BLE001 - an unreadable partition must not stop the other jobs
                ready = finality.Readiness(False, None, f"could not check: {type(exc).__name__}: {exc}")
            if not ready.ready:
                if ready.reason != record.waiting:
                    record.waiting = ready.reason
                    emit(
                        "export_waiting",
                        f"{job.name}: {period} waits: {ready.reason}",
                        job=job.name,
                        period=period,
                        reason=ready.reason,
                        version=ready.version,
                        exported_version=record.exported_version,
                    )
                    self._save()
                continue
            run = self._run(job, now, period=period)
            if run.outcome == "ok":
                record.exported_version, record.exported_at = ready.version, iso(now)
                record.waiting = record.retry_after = None
            else:
                record.retry_after = iso(now + EXPORT_RETRY)
            self._save()
            runs.append(run)
        self.metrics.exports_waiting.labels(job.name).set(sum(1 for p in periods.values() if p.waiting))
        return runs

    def _exported_and_current(self, periods: dict[str, PeriodState], period: str, now: datetime) -> bool:
        """Whether ``period`` was exported from the CUR landed now (then it is dropped once the collector
        no longer re-reads it, as it can no longer be restated)."""
        current = finality.fingerprint(self.config, period)
        if current is not None and current != periods[period].exported_version:
            return False
        if _month_number(period) < _month_number(period_of(now)) - WATCH_MONTHS:
            del periods[period]
            self._save()
        return True

    def _verdict(self, period: str, version: str) -> finality.Verdict:
        """Whether landed ``version`` of ``period`` is final, asked once per version (the answer is kept)."""
        now = self.clock.now()
        cached = self.state.cur.get(period)
        if (
            cached
            and cached.version == version
            and not (cached.error and now - parse_iso(cached.checked_at) >= VERDICT_RETRY)
        ):
            return finality.Verdict(cached.final, cached.reason)
        # Reading a large delivery can outlast the liveness window: it counts as running, not as a stuck loop.
        previous, self.running = self.running, f"CUR finality check of {period}"
        try:
            verdict, error = finality.final_verdict(self.config, period, version), False
        except Exception as exc:  # noqa: BLE001 - an unreadable delivery means "not known final": ask later
            verdict, error = finality.Verdict(False, f"could not read the CUR delivery: {exc}"), True
        finally:
            self.running = previous
        self.state.cur[period] = CurVerdict(version, verdict.final, verdict.reason, iso(now), error)
        self._save()
        return verdict

    # --- state, health, metrics ------------------------------------------------------------------------

    def _save(self) -> None:
        self.state.save()
        self._publish()

    def _publish(self) -> None:
        """A copy of the state for /healthz, which reads it from the HTTP thread."""
        jobs = {name: asdict(job) for name, job in self.state.jobs.items()}
        with self._snapshot_lock:
            self._snapshot = copy.deepcopy(jobs)

    def _beat(self, now: datetime) -> None:
        self.heartbeat = now
        self.metrics.last_tick.set(now.timestamp())

    def _restore_metrics(self) -> None:
        for job in self.settings.jobs:
            state = self.state.jobs.get(job.name)
            if state is None:
                continue
            if state.last_success:
                self.metrics.last_success.labels(job.name).set(parse_iso(state.last_success).timestamp())
            self.metrics.consecutive_failures.labels(job.name).set(state.consecutive_failures)

    def health(self, loop_only: bool = False) -> tuple[bool, dict]:
        """(healthy, body): the loop ticked recently (or is running a job) and no job failed
        ``unhealthy_after_failures`` times in a row (``loop_only``: the loop alone, for a liveness probe,
        which a restart cannot fix a failing source for)."""
        now = self.clock.now()
        with self._snapshot_lock:
            jobs = copy.deepcopy(self._snapshot)
        problems = []
        stale = max(3 * self.settings.tick_seconds, 60.0)
        running, heartbeat = self.running, self.heartbeat
        if running is None:
            if heartbeat is None:
                problems.append("the scheduler loop has not run yet")
            elif (now - heartbeat).total_seconds() > stale:
                problems.append(f"the scheduler loop last ran {(now - heartbeat).total_seconds():.0f} s ago")
        if self.tick_error and not loop_only:
            problems.append(f"the last tick failed: {self.tick_error}")
        body_jobs = {}
        for job in self.settings.jobs:
            state = jobs.get(job.name, {})
            failures = state.get("consecutive_failures", 0)
            if failures >= self.settings.unhealthy_after_failures and not loop_only:
                problems.append(f"job {job.name} failed {failures} times in a row: {state.get('last_error')}")
            next_fire = cron.next_after(job.cron, now)
            body_jobs[job.name] = {
                "run": job.run,
                "cron": job.cron,
                "next_fire": iso(next_fire) if next_fire else None,
                **{k: v for k, v in state.items() if k != "periods"},
                **({"periods": state.get("periods", {})} if job.run == "export" else {}),
            }
        body = {
            "status": "unhealthy" if problems else "ok",
            "problems": problems,
            "now": iso(now),
            "loop": {"last_tick": iso(heartbeat) if heartbeat else None, "running": running},
            "jobs": body_jobs,
        }
        return not problems, body

    # --- running until stopped ---------------------------------------------------------------------------

    def request_stop(self, why: str = "stop requested") -> None:
        """Finish the running job, start nothing new. Safe to call from a signal handler."""
        self._stop = True
        running = self.running
        emit(
            "stopping",
            f"{why}: " + (f"stopping after {running} finishes" if running else "stopping"),
            why=why,
            running=running,
        )

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One scheduler per state file: a second one (another replica, a `--once` beside a running
        scheduler) fails with who holds it."""
        path = state_path(self.config)
        with file_lock(path.with_name(path.name + ".lock"), "a scheduler with this state file"):
            yield

    def seconds_to_next(self, now: datetime) -> float:
        """How long the loop may sleep: to the next fire time of any job, at most ``tick_seconds``."""
        upcoming = [fire for job in self.settings.jobs if (fire := cron.next_after(job.cron, now))]
        wait = float(self.settings.tick_seconds)
        if upcoming:
            wait = min(wait, (min(upcoming) - now).total_seconds() + 0.01)
        return max(wait, 0.05)

    def serve(self) -> None:
        """Tick until ``request_stop``; sleeps until the next fire time or ``tick_seconds``."""
        emit(
            "started",
            f"scheduler started with {len(self.settings.jobs)} job(s)",
            jobs=[job.name for job in self.settings.jobs],
            state_file=str(self.state.path),
        )
        while not self._stop:
            try:
                self.tick()
                self.tick_error = None
            except Exception as exc:  # noqa: BLE001 - logged, shown on /healthz; the loop goes on
                self.tick_error = f"{type(exc).__name__}: {exc}"
                emit("tick_failed", f"tick failed: {self.tick_error}", logging.ERROR, traceback=traceback.format_exc())
            deadline = time.monotonic() + self.seconds_to_next(self.clock.now())
            while not self._stop and (left := deadline - time.monotonic()) > 0:
                time.sleep(min(left, 0.2))
                self._beat(self.clock.now())
        emit("stopped", "scheduler stopped")


def install_signal_handlers(scheduler: Scheduler) -> None:
    """SIGTERM (Kubernetes) and SIGINT (Ctrl-C): finish the running job, then ``serve`` returns."""

    def handle(signum: int, frame: object) -> None:
        scheduler.request_stop(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)
