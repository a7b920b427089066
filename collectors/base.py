"""What every source is: constructed with its settings and clients, no I/O at import, and a generator of
typed Arrow batches, each of one stream (``collectors.streams``).

Two kinds, two protocols:

- ``Collector``: a source read by time window (Prometheus, EMR on EKS, Cost Explorer) or as a snapshot of now
  (the Kubernetes API). The collection (``chargeback.raw.collect``) asks it for one UTC day at a time,
  lands the day's batches atomically and records the watermark, so a failed run leaves every earlier day
  as it was and the next run resumes from the first day not done.
- ``PeriodCollector``: a source delivered as versions of whole billing periods (the Cost and Usage Report).
  The collection asks for a period's current delivery and lands it whole, replacing the period, only when
  its version differs from the one landed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pyarrow as pa

from chargeback.core.errors import DataError
from collectors.streams import Stream

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
    """Rows of one stream."""

    stream: Stream
    data: pa.Table


class Collector(Protocol):
    """A source read by window. ``source`` names it in the CLI, the state file and error messages."""

    source: str

    def streams(self) -> tuple[Stream, ...]:
        """The streams this collector emits (a day with no rows still replaces their partitions)."""
        ...

    def collect(self, window: Window) -> Iterator[Batch]:
        """Yield the window's rows page by page. Raise ``CollectError`` naming source, window, cause."""
        ...


class NotDelivered(DataError):
    """Nothing is delivered for the billing period yet; the message says where the source looked."""


@dataclass(frozen=True)
class Delivery:
    """One version of one billing period, as the source delivered it."""

    period: str  # YYYY-MM
    version: str  # the source's own version id (the CUR's executionId or assemblyId)
    files: tuple[Any, ...]  # what it is read from (local paths or s3:// URIs), for messages and records
    handle: Any = None  # the source's own reference to it (a CUR manifest)


class PeriodCollector(Protocol):
    """A source delivered as versions of whole billing periods (a second protocol: the CUR)."""

    source: str

    def streams(self) -> tuple[Stream, ...]:
        """The streams a delivery holds."""
        ...

    def delivery(self, period: str) -> Delivery:
        """The period's current delivery. Raise ``NotDelivered`` when there is none yet, ``CollectError`` when
        the source cannot be read."""
        ...

    def collect_delivery(self, delivery: Delivery) -> Iterator[Batch]:
        """Every row of ``delivery``, file by file and batch by batch."""
        ...
