"""Cost Explorer: daily cost by service, by EC2 instance type and by tag, asked as rarely as possible.

Used for the days the CUR has not reached yet (flagged as estimated) and to reconcile against the CUR.
Every GetCostAndUsage request costs money ($0.01 per page), so:

- One request per grouping covers all the window's days at once (``Granularity=DAILY``), following
  ``NextPageToken`` (boto3 has no paginator for it). Groupings: ``SERVICE``; ``INSTANCE_TYPE`` filtered to
  ``SERVICE = Amazon Elastic Compute Cloud - Compute`` with ``UsageQuantity`` (instance hours) as well;
  and ``TAG:<key>`` for each ``cost_explorer.tag_keys``. Each asks for ``cost_explorer.metric``.
- Answers are cached per grouping and day as JSON under ``cache_dir`` (by default
  ``<data_dir>/cache/cost_explorer/<metric>/<grouping>/<YYYY-MM-DD>.json``, written atomically). A day
  AWS reports as final (``Estimated: false``) is *closed*: it is served from the cache and never asked again
  unless the collector is built with ``refresh=True`` (the CLI's ``--refresh``). Estimated days, and days
  not cached yet, are asked again; a grouping whose days are all closed makes no request at all. When a
  grouping must ask, it asks one contiguous range from its first to its last open day (closed days inside
  that range come back for free and refresh the cache).
- ``requests_made`` counts the GetCostAndUsage calls made (pages), not botocore's automatic retries of
  throttled or failed attempts.
- Days after the clock's current UTC day are never asked: Cost Explorer has no costs for them yet.

Every row of the window is yielded on every collection, from the cache or from AWS, so a re-collected day
is replaced by a complete day, never by an empty one.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from chargeback.core import aws
from chargeback.core.config import Config, CostExplorerSettings
from collectors.base import Batch, Window
from collectors.streams import COST_EXPLORER_DAILY, Stream

SERVICE = "ce"
EC2_COMPUTE = "Amazon Elastic Compute Cloud - Compute"
USAGE_QUANTITY = "UsageQuantity"
ONE_DAY = timedelta(days=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Grouping:
    """One GetCostAndUsage grouping: its name in ``group_by``, the GroupBy and the optional filter."""

    name: str  # "SERVICE", "INSTANCE_TYPE" or "TAG:<key>"
    group_by: dict[str, str]
    with_usage: bool = False  # also ask UsageQuantity (instance hours for EC2)
    filter: dict[str, Any] | None = None

    @property
    def folder(self) -> str:
        return quote(self.name, safe="")


def groupings(tag_keys: tuple[str, ...]) -> tuple[Grouping, ...]:
    return (
        Grouping("SERVICE", {"Type": "DIMENSION", "Key": "SERVICE"}),
        Grouping(
            "INSTANCE_TYPE",
            {"Type": "DIMENSION", "Key": "INSTANCE_TYPE"},
            with_usage=True,
            filter={"Dimensions": {"Key": "SERVICE", "Values": [EC2_COMPUTE]}},
        ),
        *(Grouping(f"TAG:{key}", {"Type": "TAG", "Key": key}) for key in tag_keys),
    )


@dataclass
class _Day:
    """One grouping's answer for one day, as cached."""

    asked_at: datetime
    estimated: bool
    groups: list[dict[str, Any]]  # {"key", "amount", "unit", "usage_quantity"}

    def to_json(self) -> dict[str, Any]:
        return {"asked_at": self.asked_at.isoformat(), "estimated": self.estimated, "groups": self.groups}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> _Day:
        return cls(datetime.fromisoformat(body["asked_at"]), bool(body["estimated"]), list(body["groups"]))


class CostExplorerCollector:
    """Daily Cost Explorer costs for a window, with a per-day cache of closed days."""

    source = "cost_explorer"

    def __init__(
        self,
        client: Any,
        settings: CostExplorerSettings,
        cache_dir: Path,
        clock: Callable[[], datetime] = utc_now,
        refresh: bool = False,
    ):
        self.client = client
        self.settings = settings
        self.cache_dir = Path(cache_dir)
        self.clock = clock
        self.refresh = refresh
        self.requests_made = 0

    @classmethod
    def from_config(
        cls, config: Config, refresh: bool = False, clock: Callable[[], datetime] = utc_now
    ) -> CostExplorerCollector:
        cache_dir = config.data_dir / "cache" / "cost_explorer"
        return cls(aws.client(config.aws, SERVICE), config.cost_explorer, cache_dir, clock, refresh)

    def streams(self) -> tuple[Stream, ...]:
        return (COST_EXPLORER_DAILY,)

    def collect(self, window: Window) -> Iterator[Batch]:
        now = self.clock().astimezone(UTC)
        first = window.start.astimezone(UTC).date()
        last = min((window.end.astimezone(UTC) - timedelta(microseconds=1)).date(), now.date())
        days = [first + ONE_DAY * i for i in range((last - first).days + 1)]
        for grouping in groupings(self.settings.tag_keys):
            cached = {day: self._read_cache(grouping, day) for day in days}
            open_days = [day for day in days if self.refresh or not self._closed(cached[day], day, now)]
            if open_days:
                start, end = open_days[0], open_days[-1] + ONE_DAY
                # Cached days outside the range asked are served from the cache.
                served = {day: answer for day, answer in cached.items() if not start <= day < end}
            else:
                served = cached
            yield from self._cached_rows(grouping, served, window)
            if open_days:
                answered = yield from self._ask(window, grouping, start, end, now)
                # A day AWS left out of its answer keeps what the cache knows of it.
                unanswered = {day: cached[day] for day in days if start <= day < end and day not in answered}
                yield from self._cached_rows(grouping, unanswered, window)

    def _cached_rows(self, grouping: Grouping, answers: dict[date, _Day | None], window: Window) -> Iterator[Batch]:
        rows = [
            self._row(grouping, day, answer, group)
            for day, answer in sorted(answers.items())
            if answer is not None
            for group in answer.groups
        ]
        if rows:
            yield self._batch(rows, window)

    # -- asking AWS --

    def _request(self, grouping: Grouping, start: date, end: date) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": [self.settings.metric, *([USAGE_QUANTITY] if grouping.with_usage else [])],
            "GroupBy": [grouping.group_by],
        }
        if grouping.filter:
            request["Filter"] = grouping.filter
        return request

    def _ask(
        self, window: Window, grouping: Grouping, start: date, end: date, now: datetime
    ) -> Generator[Batch, None, set[date]]:
        """Yield every page of one grouping's request; cache the days once the last page has come, and
        return the days AWS answered for."""
        request = self._request(grouping, start, end)
        answers: dict[date, _Day] = {}
        token: str | None = None
        while True:
            try:
                self.requests_made += 1
                page = self.client.get_cost_and_usage(**request, **({"NextPageToken": token} if token else {}))
            except aws.AWS_ERRORS as exc:
                what = f"by {grouping.name} for {start}..{end - ONE_DAY}"
                raise aws.collect_error(self.source, window, exc, SERVICE, what) from exc
            rows = []
            for result in page.get("ResultsByTime", ()):
                day = date.fromisoformat(result["TimePeriod"]["Start"][:10])
                answer = answers.setdefault(day, _Day(now, False, []))
                answer.estimated = answer.estimated or bool(result.get("Estimated", True))
                for group in result.get("Groups", ()):
                    entry = self._group(grouping, group)
                    answer.groups.append(entry)
                    rows.append(self._row(grouping, day, answer, entry))
            if rows:
                yield self._batch(rows, window)
            token = page.get("NextPageToken")
            if not token:
                break
        for day, answer in answers.items():
            self._write_cache(grouping, day, answer)
        return set(answers)

    def _group(self, grouping: Grouping, group: dict[str, Any]) -> dict[str, Any]:
        metrics = group.get("Metrics", {})
        cost = metrics.get(self.settings.metric, {})
        usage = metrics.get(USAGE_QUANTITY) if grouping.with_usage else None
        return {
            "key": "|".join(group.get("Keys", ())),
            "amount": float(cost.get("Amount", 0) or 0),
            "unit": cost.get("Unit"),
            "usage_quantity": float(usage["Amount"]) if usage and usage.get("Amount") is not None else None,
        }

    # -- rows --

    def _row(self, grouping: Grouping, day: date, answer: _Day, group: dict[str, Any]) -> dict[str, Any]:
        return {
            "collected_at": answer.asked_at,
            "date": day,
            "group_by": grouping.name,
            "group_key": group["key"],
            "metric": self.settings.metric,
            "amount": group["amount"],
            "unit": group["unit"],
            "usage_quantity": group["usage_quantity"],
            "estimated": answer.estimated,
        }

    def _batch(self, rows: list[dict[str, Any]], window: Window) -> Batch:
        data = pa.Table.from_pylist(rows, schema=COST_EXPLORER_DAILY.schema)
        return Batch(COST_EXPLORER_DAILY, COST_EXPLORER_DAILY.conform(data, f"{self.source} {window}"))

    # -- the cache --

    @staticmethod
    def _closed(answer: _Day | None, day: date, now: datetime) -> bool:
        return answer is not None and not answer.estimated and day < now.date()

    def _cache_path(self, grouping: Grouping, day: date) -> Path:
        return self.cache_dir / self.settings.metric / grouping.folder / f"{day.isoformat()}.json"

    def _read_cache(self, grouping: Grouping, day: date) -> _Day | None:
        path = self._cache_path(grouping, day)
        try:
            return _Day.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # an unreadable cache entry is asked again, which rewrites it

    def _write_cache(self, grouping: Grouping, day: date, answer: _Day) -> None:
        path = self._cache_path(grouping, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_text(json.dumps(answer.to_json(), sort_keys=True))
        os.replace(temporary, path)
