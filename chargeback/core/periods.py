"""Billing periods: UTC calendar months written ``YYYY-MM``. One parser for every command, page and export."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime

from chargeback.core.errors import ChargebackError

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_period(text: str, what: str = "period") -> str:
    """``text`` if it is a month ``YYYY-MM``, else a ``ChargebackError`` naming it (``what``: how the user
    gave it, e.g. ``--period``)."""
    if not isinstance(text, str) or not _PERIOD.match(text):
        raise ChargebackError(f"{what} {text!r} is not YYYY-MM (for example 2026-10)")
    return text


def year_month(period: str) -> tuple[int, int]:
    year, month = parse_period(period).split("-")
    return int(year), int(month)


def next_period(period: str) -> str:
    year, month = year_month(period)
    return f"{year + month // 12}-{month % 12 + 1:02d}"


def previous_period(period: str) -> str:
    year, month = year_month(period)
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def days_in(period: str) -> int:
    return calendar.monthrange(*year_month(period))[1]


def first_day(period: str) -> date:
    year, month = year_month(period)
    return date(year, month, 1)


def start(period: str) -> datetime:
    """The first instant of the month, UTC."""
    year, month = year_month(period)
    return datetime(year, month, 1, tzinfo=UTC)


def end(period: str) -> datetime:
    """The first instant of the next month, UTC (periods are half-open)."""
    return start(next_period(period))


def of(moment: datetime | date) -> str:
    """The period a UTC time or day falls in."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment.month:02d}"


def between(first: datetime, last: datetime) -> list[str]:
    """The periods that ``[first, last)`` touches, in order."""
    periods = []
    current = of(first)
    while start(current) < last:
        periods.append(current)
        current = next_period(current)
    return periods
