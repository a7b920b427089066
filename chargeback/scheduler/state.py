"""What the scheduler remembers between runs: per job its last run, per export job the months it exports.

One JSON file (``[schedule] state_file``, by default ``<data_dir>/state/schedule.json``), rewritten
atomically (temporary file, then ``os.replace``) after every change, so a crash leaves the last whole
state. ``last_fire`` is the scheduled time of the last fire a job handled: after a restart, the fire
times after it are the ones missed.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from chargeback.core.config import Config
from chargeback.core.errors import ChargebackError

FORMAT = 1


@dataclass
class PeriodState:
    """One billing month an export job is responsible for."""

    due_since: str | None = None  # the fire time that asked for it
    exported_version: str | None = None  # the CUR version its last successful export came from
    exported_at: str | None = None
    waiting: str | None = None  # why it is not exported yet (logged when it changes)
    retry_after: str | None = None  # after a failed export: not tried again before this


@dataclass
class JobState:
    last_fire: str | None = None
    last_start: str | None = None
    last_end: str | None = None
    last_outcome: str | None = None  # ok, failed or skipped
    last_error: str | None = None
    last_success: str | None = None
    last_seconds: float | None = None
    consecutive_failures: int = 0
    periods: dict[str, PeriodState] = field(default_factory=dict)  # export jobs: "YYYY-MM" -> state


@dataclass
class CurVerdict:
    """Whether one landed CUR version of a month is final, and why (cached: a version never changes)."""

    version: str
    final: bool
    reason: str
    checked_at: str
    error: bool = False  # the check itself failed (S3 unreachable ...): asked again later


class ScheduleState:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.jobs: dict[str, JobState] = {}
        self.cur: dict[str, CurVerdict] = {}
        if not self.path.is_file():
            return
        try:
            raw = json.loads(self.path.read_text())
            self.jobs = {
                name: JobState(**{**job, "periods": {p: PeriodState(**s) for p, s in job.get("periods", {}).items()}})
                for name, job in raw.get("jobs", {}).items()
            }
            self.cur = {period: CurVerdict(**verdict) for period, verdict in raw.get("cur", {}).items()}
        except (json.JSONDecodeError, TypeError, AttributeError) as exc:
            raise ChargebackError(
                f"{self.path}: unreadable schedule state ({type(exc).__name__}: {exc}); move it aside to start over"
                " (every job then runs once at start)"
            ) from None

    def job(self, name: str) -> JobState:
        return self.jobs.setdefault(name, JobState())

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "format": FORMAT,
            "jobs": {name: asdict(job) for name, job in sorted(self.jobs.items())},
            "cur": {period: asdict(verdict) for period, verdict in sorted(self.cur.items())},
        }
        temporary = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        try:
            temporary.write_text(json.dumps(body, indent=2) + "\n")
            os.replace(temporary, self.path)
        finally:
            if temporary.exists():  # not unlink(missing_ok): on a read-only file system that fails too
                temporary.unlink()


def state_path(config: Config) -> Path:
    """``[schedule] state_file``, relative to the data directory unless absolute."""
    path = config.schedule.state_file
    return path if path.is_absolute() else Path(config.data_dir) / path
