"""What is collected: each source's watermark and last run (``<data_dir>/state/collect.json``), the days each
raw table holds and the gaps between them, and the CUR version each billing period was landed from."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from chargeback.core.errors import ChargebackError
from chargeback.raw.landing import partition_path, partition_target, partitions
from chargeback.raw.tables import CUR_LINE_ITEMS, RAW_TABLES, RawTable
from collectors.registry import ACCOUNT

# The Parquet metadata key of a landed billing period's version (the CUR's executionId or assemblyId),
# written with the rows in the same atomic rename, so it can never disagree with them.
VERSION_KEY = b"chargeback.cur.version"


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
        self._lock = threading.Lock()  # a fleet's collections run side by side and save as they go
        if self.path.is_file():
            try:
                raw = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:
                raise ChargebackError(
                    f"{self.path}: unreadable collection state ({exc}); move it aside to start over"
                ) from None
            self._states = {key: SourceState(**value) for key, value in raw.items()}

    def get(self, source: str, target: str) -> SourceState:
        with self._lock:
            return self._states.setdefault(f"{source}/{target}", SourceState())

    def items(self) -> Iterator[tuple[str, str, SourceState]]:
        for key, state in sorted(self._states.items()):
            source, target = key.split("/", 1)
            yield source, target, state

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        with self._lock:
            try:
                text = json.dumps({k: asdict(v) for k, v in sorted(self._states.items())}, indent=2)
                temporary.write_text(text + "\n")
                os.replace(temporary, self.path)
            finally:
                if temporary.exists():  # a failed write (a full disk) leaves no partial file
                    temporary.unlink()


@dataclass
class Coverage:
    source: str
    table: str
    target: str  # the cluster whose files these are, or "-" for account-wide files
    first_day: date | None
    last_day: date | None
    missing_days: list[date]


def coverage(data_dir: Path, tables: Iterable[RawTable]) -> list[Coverage]:
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


def landed_version(data_dir: Path, billing_period: str) -> str | None:
    """The version a landed CUR billing period records (None: nothing landed, or landed without one)."""
    path = partition_path(data_dir, CUR_LINE_ITEMS, billing_period)
    if not path.is_file():
        return None
    metadata = pq.read_schema(path).metadata or {}
    value = metadata.get(VERSION_KEY)
    return value.decode() if value else None


@dataclass
class Status:
    sources: list[tuple[str, str, SourceState]]
    coverage: list[Coverage]
    cur_periods: dict[str, str | None]  # landed billing period -> version


def status_of(data_dir: Path) -> Status:
    """Per source and target: watermark, last success and failure; per raw table: days held and gaps; per
    landed billing period: its CUR version."""
    state = StateStore(data_dir)
    periods = {}
    for path in partitions(data_dir, CUR_LINE_ITEMS):
        period = path.parent.name.split("=", 1)[1]
        periods[period] = landed_version(data_dir, period)
    tables = [t for t in RAW_TABLES if t.partition == "date"]
    return Status(list(state.items()), coverage(data_dir, tables), periods)
