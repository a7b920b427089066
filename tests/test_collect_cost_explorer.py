"""Cost Explorer collection against moto's server: paging, the request counter, the cache and retries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from chargeback.core import config as config_module
from chargeback.core.config import CostExplorerSettings
from chargeback.core.errors import CollectError
from collectors.base import Window
from collectors.cost_explorer import EC2_COMPUTE, CostExplorerCollector
from collectors.streams import COST_EXPLORER_DAILY
from tests.services.aws import error_response, inject, moto, record_calls, utc  # noqa: F401 - moto is a fixture

NOW = utc(2026, 11, 4, 10)
WINDOW = Window(utc(2026, 10, 30), utc(2026, 11, 4))
DAYS = [date(2026, 10, 30) + timedelta(days=i) for i in range(5)]
CLOSED = DAYS[:2]  # AWS says Estimated: false for these
SETTINGS = CostExplorerSettings(enabled=True, tag_keys=("tenant",), metric="AmortizedCost")

# What AWS answers, per grouping: day -> {group key: (amount, usage quantity or None)}.
SERVICES_PAGE_1 = {day: {"Amazon Elastic Compute Cloud - Compute": (41.5 + i, None)} for i, day in enumerate(DAYS)}
SERVICES_PAGE_2 = {
    day: {"Amazon Elastic Container Service for Kubernetes": (2.4, None), "Amazon EMR": (3.25 + i / 4, None)}
    for i, day in enumerate(DAYS)
}
INSTANCE_TYPES = {
    day: {"m5.xlarge": (13.824, 72.0), "m5.2xlarge": (27.648 + i, 72.0 + 24 * i)} for i, day in enumerate(DAYS)
}
TAGS = {day: {"tenant$ml": (5.5, None), "tenant$": (38.0 + i, None)} for i, day in enumerate(DAYS)}


def answer(days: dict[date, dict[str, tuple[float, float | None]]], token: str | None = None) -> dict:
    """A GetCostAndUsage response body as AWS shapes it."""
    results = []
    for day, groups in days.items():
        results.append(
            {
                "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                "Total": {},
                "Groups": [
                    {
                        "Keys": [key],
                        "Metrics": {
                            "AmortizedCost": {"Amount": str(amount), "Unit": "USD"},
                            **({"UsageQuantity": {"Amount": str(usage), "Unit": "Hrs"}} if usage is not None else {}),
                        },
                    }
                    for key, (amount, usage) in groups.items()
                ],
                "Estimated": day not in CLOSED,
            }
        )
    return {"ResultsByTime": results, "DimensionValueAttributes": [], **({"NextPageToken": token} if token else {})}


def first_answers() -> tuple[dict, ...]:
    """In the order the collector asks: SERVICE (two pages), INSTANCE_TYPE, TAG:tenant."""
    return (
        answer(SERVICES_PAGE_1, token="page-2"),
        answer(SERVICES_PAGE_2),
        answer(INSTANCE_TYPES),
        answer(TAGS),
    )


def collector(moto, tmp_path, refresh: bool = False, **aws_settings) -> CostExplorerCollector:  # noqa: F811
    client = moto.client("ce", **aws_settings) if aws_settings else moto.client("ce", max_attempts=3)
    return CostExplorerCollector(client, SETTINGS, tmp_path / "cache", lambda: NOW, refresh)


def rows_of(batches) -> list[dict]:
    return [row for batch in batches for row in batch.data.to_pylist()]


def total(days: dict, only: list[date] | None = None) -> float:
    return sum(amount for day, groups in days.items() if only is None or day in only for amount, _ in groups.values())


def test_pages_are_followed_and_every_request_is_counted(moto, tmp_path):  # noqa: F811
    moto.queue_cost_and_usage(*first_answers())
    ce = collector(moto, tmp_path)
    calls = record_calls(ce.client, "GetCostAndUsage")

    batches = list(ce.collect(WINDOW))

    assert ce.requests_made == 4
    assert [call.get("NextPageToken") for call in calls] == [None, "page-2", None, None]
    assert all(call["TimePeriod"] == {"Start": "2026-10-30", "End": "2026-11-04"} for call in calls)
    assert all(call["Granularity"] == "DAILY" for call in calls)
    assert calls[2]["GroupBy"] == [{"Type": "DIMENSION", "Key": "INSTANCE_TYPE"}]
    assert calls[2]["Metrics"] == ["AmortizedCost", "UsageQuantity"]
    assert calls[2]["Filter"] == {"Dimensions": {"Key": "SERVICE", "Values": [EC2_COMPUTE]}}
    assert calls[3]["GroupBy"] == [{"Type": "TAG", "Key": "tenant"}]
    assert [b.data.num_rows for b in batches] == [5, 10, 10, 10], "one batch per page"
    assert all(batch.stream is COST_EXPLORER_DAILY for batch in batches)

    rows = rows_of(batches)
    by_group = {}
    for row in rows:
        by_group[row["group_by"]] = by_group.get(row["group_by"], 0) + row["amount"]
    assert by_group["SERVICE"] == pytest.approx(total(SERVICES_PAGE_1) + total(SERVICES_PAGE_2))
    assert by_group["INSTANCE_TYPE"] == pytest.approx(total(INSTANCE_TYPES))
    assert by_group["TAG:tenant"] == pytest.approx(total(TAGS))
    m5_2xl = {row["date"]: row["usage_quantity"] for row in rows if row["group_key"] == "m5.2xlarge"}
    assert m5_2xl == {day: 72.0 + 24 * i for i, day in enumerate(DAYS)}
    assert all(row["usage_quantity"] is None for row in rows if row["group_by"] != "INSTANCE_TYPE")
    assert {row["group_key"] for row in rows if row["group_by"] == "TAG:tenant"} == {"tenant$ml", "tenant$"}
    assert {row["date"] for row in rows if not row["estimated"]} == set(CLOSED)
    assert all(row["metric"] == "AmortizedCost" and row["unit"] == "USD" for row in rows)
    assert all(row["collected_at"] == NOW for row in rows)


def test_closed_days_are_never_asked_again_without_refresh(moto, tmp_path):  # noqa: F811
    moto.queue_cost_and_usage(*first_answers())
    first = rows_of(collector(moto, tmp_path).collect(WINDOW))

    # Only the estimated days (11-01 .. 11-03) are asked again: one request per grouping.
    moto.queue_cost_and_usage(
        answer({d: SERVICES_PAGE_1[d] | SERVICES_PAGE_2[d] for d in DAYS[2:]}),
        answer({d: INSTANCE_TYPES[d] for d in DAYS[2:]}),
        answer({d: TAGS[d] for d in DAYS[2:]}),
    )
    second = collector(moto, tmp_path)
    calls = record_calls(second.client, "GetCostAndUsage")
    rows = rows_of(second.collect(WINDOW))
    assert second.requests_made == 3
    assert {call["TimePeriod"]["Start"] for call in calls} == {"2026-11-01"}
    assert len(rows) == len(first) == 35, "closed days come from the cache, the others from AWS"
    assert sum(row["amount"] for row in rows) == pytest.approx(sum(row["amount"] for row in first))

    closed_window = Window(utc(2026, 10, 30), utc(2026, 11, 1))
    third = collector(moto, tmp_path)
    cached = rows_of(third.collect(closed_window))
    assert third.requests_made == 0
    key = lambda row: (row["date"], row["group_by"], row["group_key"])  # noqa: E731
    assert sorted(cached, key=key) == sorted((row for row in first if row["date"] in CLOSED), key=key)
    assert sum(row["amount"] for row in cached) == pytest.approx(
        total(SERVICES_PAGE_1, CLOSED)
        + total(SERVICES_PAGE_2, CLOSED)
        + total(INSTANCE_TYPES, CLOSED)
        + total(TAGS, CLOSED)
    )

    refreshed = collector(moto, tmp_path, refresh=True)
    rows = rows_of(refreshed.collect(WINDOW))  # the same requests as the first run: moto answers the same
    assert refreshed.requests_made == 4
    assert len(rows) == 35


def test_days_after_today_are_not_asked(moto, tmp_path):  # noqa: F811
    ce = collector(moto, tmp_path)
    calls = record_calls(ce.client, "GetCostAndUsage")
    list(ce.collect(Window(utc(2026, 11, 3), utc(2026, 11, 10))))
    assert {call["TimePeriod"]["End"] for call in calls} == {"2026-11-05"}, "up to and including today"
    assert list(ce.collect(Window(utc(2026, 11, 5), utc(2026, 11, 10)))) == []


def test_throttling_is_retried_and_succeeds(moto, tmp_path):  # noqa: F811
    moto.queue_cost_and_usage(answer(SERVICES_PAGE_1))
    ce = CostExplorerCollector(
        moto.client("ce", max_attempts=3), SETTINGS.model_copy(update={"tag_keys": ()}), tmp_path, lambda: NOW
    )
    attempts = inject(ce.client, "GetCostAndUsage", [error_response(400, "ThrottlingException", "Rate exceeded")])

    rows = rows_of(ce.collect(WINDOW))

    assert attempts == ["injected", "sent", "sent"], "the throttled attempt was retried, then the next call"
    assert ce.requests_made == 2
    assert sum(row["amount"] for row in rows) == pytest.approx(total(SERVICES_PAGE_1))


def test_throttling_that_persists_is_a_collect_error(moto, tmp_path):  # noqa: F811
    ce = collector(moto, tmp_path, max_attempts=2)
    throttled = error_response(400, "ThrottlingException", "Rate exceeded")
    attempts = inject(ce.client, "GetCostAndUsage", [throttled, throttled])

    with pytest.raises(CollectError) as caught:
        list(ce.collect(WINDOW))

    assert attempts == ["injected", "injected"]
    message = str(caught.value)
    assert message.startswith("cost_explorer [2026-10-30T00:00Z, 2026-11-04T00:00Z): GetCostAndUsage by SERVICE")
    assert "ThrottlingException" in message and "aws.max_attempts" in message
    assert not (tmp_path / "cache").exists(), "nothing is cached from a failed request"


def test_access_denied_names_the_iam_action(moto, tmp_path):  # noqa: F811
    ce = collector(moto, tmp_path, max_attempts=1)
    inject(ce.client, "GetCostAndUsage", [error_response(400, "AccessDeniedException", "not authorized")])
    with pytest.raises(
        CollectError,
        match=r"AccessDeniedException: not authorized \(hint: grant IAM action "
        r"ce:GetCostAndUsage",
    ):
        list(ce.collect(WINDOW))


def test_from_config_caches_under_the_data_dir(moto, tmp_path):  # noqa: F811
    config = config_module.parse(
        {
            "data_dir": str(tmp_path / "data"),
            "aws": moto.settings().model_dump(),
            "cost_explorer": {"enabled": True, "tag_keys": ["tenant"], "metric": "AmortizedCost"},
        }
    )
    moto.queue_cost_and_usage(*first_answers())
    ce = CostExplorerCollector.from_config(config, clock=lambda: NOW)

    list(ce.collect(WINDOW))

    cache = tmp_path / "data" / "cache" / "cost_explorer" / "AmortizedCost"
    assert sorted(p.name for p in cache.iterdir()) == ["INSTANCE_TYPE", "SERVICE", "TAG%3Atenant"]
    assert len(list((cache / "SERVICE").glob("*.json"))) == 5
