"""Cost anomalies: measured against a generated history whose anomalies the generator labels, scored by hand on a
small series, and found end to end in a built warehouse."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import polars as pl
from typer.testing import CliRunner

from benchmarks.anomalies import generate, measure
from chargeback.build.engines import build
from chargeback.cli import app
from chargeback.core import config as config_module
from chargeback.core.config import AnomalySettings
from chargeback.reports.anomalies import detect, score_days
from tests.dashboard_support import open_app
from tests.factory import Scenario
from tests.services.dashboard import clear_streamlit_caches

MONDAY = date(2026, 8, 3)


def test_the_detector_finds_most_labelled_anomalies_and_raises_few_false_alarms():
    # Seven months of 30 namespaces (services, batch with a weekly profile, noisy ad hoc Spark), 1.5 % of days
    # made spikes (x2.5-5) or drops (x0-0.3) by the generator. docs/alerts.md states these figures.
    found = measure(generate(days=210, seed=17), AnomalySettings())
    assert found.days > 4_500 and found.injected > 50
    assert found.sensitivity >= 0.85, found
    assert found.false_alarm_rate <= 0.002, found  # at most one normal day in 500
    # the same settings on another history: the figures are not this seed's luck
    other = measure(generate(days=210, seed=4), AnomalySettings())
    assert other.sensitivity >= 0.85 and other.false_alarm_rate <= 0.002, other


def series(weeks: int, changes: dict[date, float]) -> pl.DataFrame:
    """A namespace costing 100 on Mondays and 10 on other days for ``weeks`` weeks, but for ``changes``."""
    rows = []
    for d in range(7 * weeks):
        day = MONDAY + timedelta(days=d)
        cost = changes.get(day, 100.0 if day.weekday() == 0 else 10.0)
        if not math.isnan(cost):
            rows.append({"tenant": "t", "namespace": "n", "date": day, "cost": cost})
    return pl.DataFrame(rows)


def test_a_day_is_scored_against_the_same_weekday_as_a_ratio_by_hand():
    tuesday, wednesday, thursday = (MONDAY + timedelta(weeks=9, days=d) for d in (1, 2, 3))
    monday = MONDAY + timedelta(weeks=9)
    frame = series(10, {monday: math.nan, tuesday: 40.0, wednesday: 15.0, thursday: 10.0})
    scored = score_days(frame, ["tenant", "namespace"], AnomalySettings()).filter(pl.col("date") >= monday)
    by_day = {row["date"]: row for row in scored.iter_rows(named=True)}
    # The four weeks before have no error (the same every week): the spread is its floor, 0.05.
    # Monday had no cost: log((0 + 1) / (100 + 1)) / 0.05, a drop.
    assert by_day[monday]["baseline"] == 100.0 and by_day[monday]["spread"] == 0.05
    assert math.isclose(by_day[monday]["score"], math.log(1 / 101) / 0.05) and by_day[monday]["anomalous"]
    # Tuesday 40 against 10: log(41 / 11) / 0.05 = 26.3, a spike.
    assert math.isclose(by_day[tuesday]["score"], math.log(41 / 11) / 0.05) and by_day[tuesday]["anomalous"]
    # Wednesday 15 against 10: a score of 7.5, but a change of 5 is under min_change (10): not anomalous.
    assert by_day[wednesday]["score"] > 4 and not by_day[wednesday]["anomalous"]
    assert by_day[thursday]["score"] == 0 and not by_day[thursday]["anomalous"]
    # Only days with four weeks of baseline and four more of its errors are scored: from week nine on.
    assert scored["date"].min() == monday
    assert score_days(series(8, {}), ["tenant", "namespace"], AnomalySettings()).is_empty()


def spiky_months(data_dir, days: int, spike: int) -> config_module.Config:
    """Two tenants' namespaces (team-a's alpha, team-b's beta) on one node for ``days`` days from 2026-10-01, the
    node costing 4.00 an hour but four times as much on day ``spike`` (counted from 0); built."""
    s = Scenario()
    hours = range(days * 24)
    node = s.node("node-a", "m5.xlarge", hours, None, vcpu=4, memory_gib=16)
    product = {"vcpu": "4", "memory": "16 GiB"}
    for h in hours:
        cost = 16.0 if h // 24 == spike else 4.0
        s.line(h, product_code="AmazonEC2", usage_type="BoxUsage:m5.xlarge", instance_type="m5.xlarge",
               resource_id=node, cost=cost, product=product)  # fmt: skip
    s.pod("alpha", "api-1", "node-a", hours, cpu_request=1, cpu_usage=0.5, memory_request_gib=2, memory_usage_gib=1)
    s.pod("beta", "web-1", "node-a", hours, cpu_request=2, cpu_usage=1, memory_request_gib=4, memory_usage_gib=3)
    for h in hours:
        s.label_namespace("alpha", [h], {"tenant": "team-a"})
        s.label_namespace("beta", [h], {"tenant": "team-b"})
    s.write(data_dir)
    config = config_module.parse({"data_dir": str(data_dir), "tenancy": {"namespace_label": "tenant"}})
    build(config)
    return config


def test_a_costly_day_in_a_built_warehouse_is_found_for_its_namespace_and_tenant(tmp_path, monkeypatch):
    days, spike = 63, 59  # nine weeks; day 59 (a Sunday) the node costs four times as much
    config = spiky_months(tmp_path / "data", days, spike)
    first = date(2026, 10, 1)
    found = detect(config, since=first, until=first + timedelta(days=days - 1))
    flagged = {(a.date, a.tenant, a.namespace, a.direction) for a in found}
    day = first + timedelta(days=spike)
    assert flagged == {
        (day, tenant, namespace, "spike") for tenant, ns in (("team-a", "alpha"), ("team-b", "beta"))
        for namespace in (None, ns)
    }  # fmt: skip
    alpha = next(a for a in found if a.namespace == "alpha")
    assert alpha.cost == 4 * alpha.baseline  # every part of its cost was the node's, four times as dear
    out = CliRunner().invoke(
        app, ["anomalies", "--since", str(first), "--data-dir", str(config.data_dir), "-f", "json"]
    )
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)["anomalies"]
    assert {(r["date"], r["namespace"]) for r in rows} == {(str(day), n) for n in (None, None, "alpha", "beta")}
    # The tenant's bill page lists the day, as the CLI does.
    monkeypatch.setenv("CHARGEBACK_DATA_DIR", str(config.data_dir))
    monkeypatch.delenv("CHARGEBACK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    clear_streamlit_caches()
    page = open_app("views/tenant_bill.py", period=f"{day:%Y-%m}", tenant="team-a")
    shown = next(t.value for t in page.dataframe if t.value.columns[0] == "date")
    assert [(str(r.date)[:10], r.namespace, f"{r.cost:.2f}") for r in shown.itertuples()] == [
        (str(a.date), a.namespace or "(whole tenant)", str(a.cost)) for a in found if a.tenant == "team-a"
    ]
    clear_streamlit_caches()
