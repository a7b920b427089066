"""UTC instants as the state files, logs and lock files write them: ``2026-10-28T06:15:00Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """``moment`` in UTC, to the second, with a ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """What ``iso`` wrote (any ISO 8601 time with an offset or ``Z``), as an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
