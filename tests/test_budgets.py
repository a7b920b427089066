"""Budgets and forecasts: the cost to date is the bill, the forecast is checked by hand and against a plain
re-computation from the marts, budgets are compared as configured."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from chargeback.build.demo import SAMPLE_PERIOD
from chargeback.build.warehouse import connect
from chargeback.cli import app
from chargeback.core import config as config_module
from chargeback.core.errors import ConfigError
from chargeback.core.money import to_cents
from chargeback.reports.bill import monthly_bill
from chargeback.reports.budgets import projection, tenant_months
from tests.dashboard_support import open_app
from tests.services.dashboard import clear_streamlit_caches

CLUSTER = "prod-analytics"


def test_the_rest_of_the_month_is_forecast_from_the_same_weekdays_by_hand():
    # Two weeks before Thursday 2026-10-29: Thursdays cost 30, Fridays 50, Saturdays 5, other days 10; the data
    # ends at noon on the Thursday, so the rest is half a Thursday, a Friday and a Saturday (31st).
    daily = {}
    for d in range(1, 15):
        day = date(2026, 10, 29) - timedelta(days=d)
        daily[day] = {3: Decimal(30), 4: Decimal(50), 5: Decimal(5)}.get(day.weekday(), Decimal(10))  # Thu, Fri, Sat
    through = datetime(2026, 10, 29, 12, tzinfo=UTC)
    rest = projection(daily, date(2026, 9, 1), through, "2026-10", weeks=2)
    assert rest == Decimal(30) / 2 + Decimal(50) + Decimal(5)
    # A tenant new on 2026-10-22 has one Thursday and one Friday of history (days before it are not zeros).
    assert projection(daily, date(2026, 10, 22), through, "2026-10", weeks=2) == Decimal(15) + 50 + 5
    # A Saturday with no cost after the first day counts as zero in its mean.
    del daily[date(2026, 10, 24)]
    assert projection(daily, date(2026, 9, 1), through, "2026-10", weeks=2) == Decimal(15) + 50 + Decimal("2.5")
    # Data to the end of the month: nothing left to forecast.
    assert projection(daily, None, datetime(2026, 11, 1, tzinfo=UTC), "2026-10", weeks=2) == 0


@pytest.fixture(scope="module")
def sample(built_sample):
    return config_module.load(built_sample / config_module.CONFIG_FILE)


def test_the_cost_to_date_of_a_whole_month_is_the_bill_and_its_forecast_too(sample):
    months = {(m.tenant, m.cluster): m for m in tenant_months(sample)}
    bill = {line.tenant: line.total for line in monthly_bill(sample, SAMPLE_PERIOD).lines}
    on_cluster = {line.tenant: line.total for line in monthly_bill(sample, SAMPLE_PERIOD, cluster=CLUSTER).lines}
    for tenant in ("data-eng", "ml", "payments", "risk"):
        whole, part = months[(tenant, None)], months[(tenant, CLUSTER)]
        assert whole.cost_to_date == whole.forecast == bill[tenant]
        assert part.cost_to_date == part.forecast == on_cluster[tenant]
        assert whole.through == datetime(2026, 11, 1, tzinfo=UTC)
    assert not any(tenant.startswith("__") for tenant, _ in months)


def test_a_forecast_as_of_a_day_is_the_days_before_plus_a_plain_weekday_mean(sample):
    as_of = date(2026, 10, 20)
    with connect(sample) as con:
        rows = con.execute(
            "select tenant, date, sum(total_cost) from marts.fct_tenant_costs_daily where not is_sentinel group by all"
        ).fetchall()
    daily: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for tenant, day, cost in rows:
        daily[tenant][day] = cost
    months = {m.tenant: m for m in tenant_months(sample, as_of=as_of) if m.cluster is None}
    for tenant, days in daily.items():
        first = min(days)
        so_far = sum((c for d, c in days.items() if d < as_of), Decimal(0))
        ahead = Decimal(0)
        for d in range(as_of.day, 32):  # 20 .. 31 October
            day = date(2026, 10, d)
            # the same weekday in the four weeks before the data's end (a Monday 27th looks at Mondays 19th, 12th,
            # 5th): the weeks before ``as_of``, not before the day forecast
            same = [days.get(x, Decimal(0)) for x in _weekdays_before(as_of, day.weekday(), first)]
            ahead += sum(same, Decimal(0)) / len(same) if same else Decimal(0)
        assert months[tenant].cost_to_date == to_cents(so_far)
        assert months[tenant].forecast == to_cents(to_cents(so_far) + ahead), tenant


def _weekdays_before(as_of: date, weekday: int, first: date) -> list[date]:
    """The days of ``weekday`` in the four weeks before ``as_of``, from ``first`` on."""
    days = [as_of - timedelta(days=d) for d in range(1, 29)]
    return [d for d in days if d.weekday() == weekday and d >= first]


def test_budgets_are_compared_as_configured_and_printed(tmp_path, built_sample):
    settings = config_module.load(built_sample / config_module.CONFIG_FILE)
    settings = settings.model_copy(
        update={
            "budgets": config_module.parse(
                {"budgets": [{"tenant": "ml", "monthly": 1000}, {"tenant": "risk", "cluster": CLUSTER, "monthly": 500}]}
            ).budgets
        }
    )
    months = {(m.tenant, m.cluster): m for m in tenant_months(settings, as_of=date(2026, 10, 20))}
    ml, risk = months[("ml", None)], months[("risk", CLUSTER)]
    assert ml.budget == 1000 and ml.forecast > 1000 and ml.forecast_over_budget and not ml.over_budget
    assert risk.budget == 500 and not risk.forecast_over_budget and months[("risk", None)].budget is None
    toml = (built_sample / config_module.CONFIG_FILE).read_text()
    toml = re.sub(r"\[\[budgets\]\]\n(?:\w+ = [^\n]*\n?)+", "", toml)  # the sample's own budgets, replaced
    toml += '\n[[budgets]]\ntenant = "ml"\nmonthly = 1000\n'
    (tmp_path / "chargeback.toml").write_text(toml.replace('data_dir = "."', f'data_dir = "{built_sample}"'))
    out = CliRunner().invoke(
        app, ["budgets", "--as-of", "2026-10-20", "-f", "json", "-c", str(tmp_path / "chargeback.toml")]
    )
    assert out.exit_code == 0, out.output
    rows = {(r["tenant"], r["cluster"]): r for r in json.loads(out.stdout)["tenants"]}
    assert rows[("ml", None)]["forecast"] == str(ml.forecast) and rows[("ml", None)]["forecast_over_budget"]


@pytest.mark.parametrize(
    ("budgets", "message"),
    [
        ([{"tenant": "ml", "monthly": 1}, {"tenant": "ml", "monthly": 2}], "more than one budget for ml"),
        ([{"tenant": "__idle__", "monthly": 1}], "__idle__ is not a tenant"),
        ([{"tenant": "ml", "monthly": 0}], "budgets.0.monthly"),
    ],
)
def test_a_wrong_budget_is_refused_naming_it(budgets, message):
    with pytest.raises(ConfigError, match=message):
        config_module.parse({"budgets": budgets})


def test_the_overview_shows_each_tenants_cost_to_date_and_forecast_as_the_cli(built_sample, monkeypatch, tmp_path):
    monkeypatch.setenv("CHARGEBACK_DATA_DIR", str(built_sample))
    monkeypatch.delenv("CHARGEBACK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    clear_streamlit_caches()
    page = open_app("views/overview.py")
    shown = next(t.value for t in page.dataframe if t.value.columns[0] == "tenant")
    out = CliRunner().invoke(app, ["budgets", "-f", "json", "--data-dir", str(built_sample)])
    rows = [r for r in json.loads(out.stdout)["tenants"] if r["cluster"] is None]
    assert [(r.tenant, f"{r.cost_to_date:.2f}", f"{r.forecast:.2f}") for r in shown.itertuples()] == [
        (r["tenant"], r["cost_to_date"], r["forecast"]) for r in rows
    ]
    clear_streamlit_caches()
