"""The demo's three months (August and September 2026 before the sample's October, sample_data/history.py): what the
history adds where a person looks, each figure against `chargeback bill` of its own month run as a subprocess, and
the anomalies against what the generator did (not what the detector says).

The generator's October events the detector should now see against August and September (sample_data/generate.py's
docstring): ml-training's GPU pod is absent 10-20 00:00 -> 10-23 06:30, so that namespace's cost falls those days.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from chargeback.reports.anomalies import detect
from dashboards.charts.common import money
from tests.dashboard_support import cli, metric, open_app, table, values
from tests.sample_support import copy_built

MONTHS = ("2026-08", "2026-09", "2026-10")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, built_demo) -> Path:
    where = tmp_path_factory.mktemp("history") / "data"
    copy_built(built_demo, where)
    return where


@pytest.fixture(scope="module")
def bills(data_dir) -> dict[str, dict]:
    return {m: json.loads(cli(data_dir, "bill", "--period", m, "--format", "json")) for m in MONTHS}


def test_the_demo_bills_three_months(bills):
    assert [bills[m]["total"] for m in MONTHS] == ["2573.81", "2612.81", "2928.07"]
    for month, bill in bills.items():  # each month's lines add up to its in-scope source cost
        assert sum(Decimal(line["total"]) for line in bill["lines"]) == Decimal(bill["source_total"]), month


def test_the_demo_s_budgets_against_october(data_dir, bills):
    """The sample's [[budgets]]: October's cost to date is its bill (data-eng's $794.58 is over its $600, the others
    within theirs); forecast from 10-15 (`--as-of`): each tenant's days so far plus, for each day left, the mean of
    the same weekday in the weeks before, which September supplies."""
    report = json.loads(cli(data_dir, "budgets", "--period", "2026-10", "--format", "json"))
    whole = {r["tenant"]: r for r in report["tenants"] if r["cluster"] is None}
    october = {line["tenant"]: line["total"] for line in bills["2026-10"]["lines"]}
    assert {t: r["cost_to_date"] for t, r in whole.items()} == {t: october[t] for t in whole}
    assert {t for t, r in whole.items() if r["over_budget"]} == {"data-eng"}
    early = json.loads(cli(data_dir, "budgets", "--period", "2026-10", "--as-of", "2026-10-15", "--format", "json"))
    early = {r["tenant"]: r for r in early["tenants"] if r["cluster"] is None}
    for tenant, row in early.items():  # the cost to date is the first 14 days', less than the month's
        assert Decimal(row["cost_to_date"]) < Decimal(october[tenant]), tenant
    assert {t for t, r in early.items() if r["forecast_over_budget"]} == {"ml"}  # $1,407.87 against $1,400


def test_the_overview_compares_october_with_september(env, bills):
    at = open_app("views/overview.py")
    assert metric(at, "Total billed") == money(Decimal(bills["2026-10"]["total"]))
    mom = table(at, "line", having="previous_month").set_index("line")
    september = {line["tenant"]: float(line["total"]) for line in bills["2026-09"]["lines"]}
    for tenant in ("data-eng", "ml", "payments", "risk"):
        assert round(mom.loc[tenant, "previous_month"], 2) == september[tenant], tenant
        assert round(mom.loc[tenant, "this_month"], 2) == next(
            float(line["total"]) for line in bills["2026-10"]["lines"] if line["tenant"] == tenant
        )
    assert round(mom.loc["Total", "previous_month"], 2) == float(bills["2026-09"]["total"])


def test_explore_shows_the_three_month_trend_equal_to_the_bills(env, bills):
    at = open_app("views/explore.py", days="2026-08-01..2026-10-31", every="month")
    total = sum(Decimal(bills[m]["total"]) for m in MONTHS)
    assert metric(at, "2026-08-01 to 2026-10-31 · all clusters") == money(total) == "$8,114.69"
    (chart,) = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    per_month: dict[str, float] = {}
    for trace in chart["data"]:
        for month, amount in zip(values(trace["x"]), values(trace["y"]), strict=True):
            per_month[month] = per_month.get(month, 0.0) + amount
    assert {m: round(v, 2) for m, v in per_month.items()} == {m: float(bills[m]["total"]) for m in MONTHS}


def test_the_gpu_pod_s_absence_is_found_against_the_weeks_before(data_dir):
    from chargeback.core import config as config_module

    config = config_module.load(data_dir / config_module.CONFIG_FILE)
    found = detect(config, date(2026, 10, 1), date(2026, 10, 31))
    drops = {a.date for a in found if a.namespace == "ml-training" and a.score < 0}
    assert {date(2026, 10, 20), date(2026, 10, 21), date(2026, 10, 22)} <= drops
    assert not {d for d in drops if d < date(2026, 10, 20) or d > date(2026, 10, 23)}  # no drop outside it
