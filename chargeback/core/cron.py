"""Cron expressions for ``[schedule]``: the five standard fields, evaluated in UTC (cronsim does the maths).

Five fields (minute hour day-of-month month day-of-week), as Kubernetes CronJobs and crontab take them,
plus the macros ``@hourly``, ``@daily``, ``@weekly``, ``@monthly`` and ``@yearly``. A sixth (seconds)
field is refused: nothing here needs to run more than once a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from cronsim import CronSim, CronSimError

MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
FIELDS = "minute hour day-of-month month day-of-week"


def expand(expression: str) -> str:
    """The five-field form of ``expression`` (macros expanded, whitespace normalised)."""
    text = " ".join(expression.split())
    return MACROS.get(text.lower(), text)


def problem(expression: str) -> str | None:
    """Why ``expression`` is not a usable cron expression, or None when it is."""
    text = expand(expression)
    if len(text.split()) != 5:
        return f"it has {len(text.split())} field(s); a cron expression has five ({FIELDS}) or is one of " + (
            ", ".join(sorted(MACROS))
        )
    try:
        CronSim(text, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        return str(exc).lower()
    return None


def _start(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("cron times are aware UTC datetimes")
    return moment.astimezone(UTC)


def next_after(expression: str, moment: datetime) -> datetime | None:
    """The first fire time strictly after ``moment`` (None: it never fires again)."""
    return next(CronSim(expand(expression), _start(moment)), None)


def last_at_or_before(expression: str, moment: datetime) -> datetime | None:
    """The latest fire time at or before ``moment`` (None: it never fired)."""
    # Fire times fall on whole minutes: start one second past ``moment`` and step back.
    start = _start(moment).replace(microsecond=0) + timedelta(seconds=1)
    return next(CronSim(expand(expression), start, reverse=True), None)


def between(expression: str, after: datetime, until: datetime, limit: int = 10_000) -> tuple[list[datetime], bool]:
    """Fire times in ``(after, until]``, oldest first, and whether older ones were left out to stay
    within ``limit`` (a schedule stopped for a year with a once-a-minute job)."""
    after = _start(after)
    newest_first: list[datetime] = []
    for fire in CronSim(expand(expression), _start(until).replace(microsecond=0) + timedelta(seconds=1), reverse=True):
        if fire <= after:
            return newest_first[::-1], False
        if len(newest_first) == limit:
            return newest_first[::-1], True
        newest_first.append(fire)
    return newest_first[::-1], False


def upcoming(expression: str, moment: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times after ``moment``."""
    fires: Iterator[datetime] = CronSim(expand(expression), _start(moment))
    return [fire for _, fire in zip(range(count), fires, strict=False)]


def explain(expression: str) -> str:
    """Plain English for the expression ("At minute 15 of every hour")."""
    return CronSim(expand(expression), datetime(2000, 1, 1, tzinfo=UTC)).explain()
