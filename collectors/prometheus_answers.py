"""Reading the Prometheus collector's answers: values per hour, finite numbers, times and empty labels.

The server's answers (``collectors.prometheus_http``) are lists of series as Prometheus's JSON gives them:
``{"metric": {labels}, "values": [[t, "v"], ...]}`` for ``query_range`` and ``{"metric", "value": [t, "v"]}``
for ``query``. The hourly queries (``collectors.prometheus_queries``) are evaluated at each hour's end.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

SeriesValues = list[tuple[dict[str, str], list[tuple[float, float]]]]


def finite(value: float | str) -> float | None:
    """A sample's value as a float, None where it is NaN or infinite."""
    number = float(value)
    return number if math.isfinite(number) else None


def hourly(result: list[dict]) -> SeriesValues:
    """A matrix as (labels, [(hour start, value)]); the value at T is the hour ending at T."""
    return [(s["metric"], [(float(t) - 3600, float(v)) for t, v in s["values"]]) for s in result]


def timestamp(seconds: float | None) -> datetime | None:
    """Unix seconds as an aware UTC datetime (None stays None)."""
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def none_if_empty(value: str | None) -> str | None:
    """A label value, None where kube-state-metrics left it empty or wrote ``<none>``."""
    return None if value in (None, "", "<none>") else value
