"""What every collector is: constructed with its settings and clients, no I/O at import, and a
generator of typed Arrow batches for one half-open UTC window.

The orchestrator (``chargeback.collect``) asks a collector for one UTC day at a time, lands the
day's batches atomically (``chargeback.landing.DayWriter``) and records the watermark, so a failed
run leaves every earlier day as it was and the next run resumes from the first day not done.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pyarrow as pa

from collectors.schemas import RawTable

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """A half-open UTC interval [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise ValueError(f"empty window: {self}")

    def __str__(self) -> str:
        return f"[{self.start:%Y-%m-%dT%H:%MZ}, {self.end:%Y-%m-%dT%H:%MZ})"

    def days(self) -> Iterator[Window]:
        """The UTC days this window touches, each clipped to the window."""
        day = self.start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        while day < self.end:
            yield Window(max(day, self.start), min(day + DAY, self.end))
            day += DAY

    def hours(self) -> Iterator[datetime]:
        """The start of every whole or partial UTC hour in the window."""
        hour = self.start.replace(minute=0, second=0, microsecond=0)
        while hour < self.end:
            yield hour
            hour += HOUR


@dataclass(frozen=True)
class Batch:
    """Rows of one raw table, conforming to its schema."""

    table: RawTable
    data: pa.Table


class Collector(Protocol):
    """One source. ``source`` names it in the CLI, the state file and error messages."""

    source: str

    def tables(self) -> tuple[RawTable, ...]:
        """The raw tables this collector writes (a day with no rows still replaces their partitions)."""
        ...

    def collect(self, window: Window) -> Iterator[Batch]:
        """Yield the window's rows page by page. Raise ``CollectError`` naming source, window, cause."""
        ...
