"""The Grafana dashboard (deploy/grafana/): the committed JSON is what the generator builds, and every query of
its panels and template variables, with the variables substituted as Grafana would, runs on a real Prometheus
(Debian's, over blocks backfilled with promtool from the metrics the scheduler exposes) and returns the series
it is meant to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from benchmarks.prometheus_server import MISSING_BINARIES, PrometheusServer, backfill, binaries
from deploy.grafana import dashboard

END = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)  # the last sample; queries are evaluated here
STEP = timedelta(minutes=5)
SAMPLES = 25  # two hours
SCRAPE = 'job="chargeback",instance="chargeback:9090"'
PERIOD = "2026-10"
# (tenant, cluster) -> (cost to date, forecast); cluster "" is the tenant's whole bill.
FIGURES = {
    ("ml", ""): (803.40, 1482.17),
    ("ml", "prod-a"): (600.00, 1100.00),
    ("ml", "prod-b"): (203.40, 382.17),
    ("web", ""): (410.00, 760.00),
    ("web", "prod-b"): (410.00, 760.00),
    ("data", ""): (95.50, 180.25),
    ("data", "prod-a"): (95.50, 180.25),
}
BUDGETS = {("ml", ""): 1200.00, ("ml", "prod-a"): 1000.00, ("web", "prod-b"): 900.00}  # data has none
# (tenant, namespace, cluster) -> (score, flagged)
ANOMALIES = {
    ("ml", "etl", "prod-a"): (7.9, 1),
    ("ml", "training", "prod-b"): (1.2, 0),
    ("web", "shop", "prod-b"): (5.1, 0),
    ("data", "ingest", "prod-a"): (0.0, 0),
}


def openmetrics() -> str:
    """The gauges as the scheduler exposes them, one sample every 5 minutes; the cost grows toward END."""
    times = [END - STEP * (SAMPLES - 1 - i) for i in range(SAMPLES)]
    families: dict[str, list[tuple[str, list[float]]]] = {
        "chargeback_tenant_cost_to_date": [],
        "chargeback_tenant_forecast": [],
        "chargeback_tenant_budget": [],
        "chargeback_cost_anomaly_score": [],
        "chargeback_cost_anomalous": [],
    }
    for (tenant, cluster), (cost, forecast) in FIGURES.items():
        labels = f'{SCRAPE},tenant="{tenant}",cluster="{cluster}",period="{PERIOD}"'
        families["chargeback_tenant_cost_to_date"].append(
            (labels, [cost - 0.5 * (SAMPLES - 1 - i) for i in range(SAMPLES)])
        )
        families["chargeback_tenant_forecast"].append((labels, [forecast] * SAMPLES))
        if (tenant, cluster) in BUDGETS:
            families["chargeback_tenant_budget"].append((labels, [BUDGETS[tenant, cluster]] * SAMPLES))
    for (tenant, namespace, cluster), (score, flagged) in ANOMALIES.items():
        labels = f'{SCRAPE},tenant="{tenant}",namespace="{namespace}",cluster="{cluster}"'
        families["chargeback_cost_anomaly_score"].append((labels, [score] * SAMPLES))
        families["chargeback_cost_anomalous"].append((labels, [float(flagged)] * SAMPLES))
    lines = []
    for name, series in families.items():
        lines.append(f"# TYPE {name} gauge")
        for labels, values in series:
            lines += [
                f"{name}{{{labels}}} {value} {int(t.timestamp())}" for t, value in zip(times, values, strict=True)
            ]
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        binaries()
    except RuntimeError:
        pytest.fail(MISSING_BINARIES)
    directory = tmp_path_factory.mktemp("grafana-prometheus")
    source = directory / "chargeback.om"
    source.write_text(openmetrics())
    backfill(source, directory / "data")
    server = PrometheusServer(directory / "data").start()
    try:
        yield server.url
    finally:
        server.stop()


def instant(url: str, expr: str) -> list[dict]:
    response = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": END.timestamp()}, timeout=10)
    assert response.status_code == 200, f"{expr}: HTTP {response.status_code} {response.text}"
    answer = response.json()
    assert answer["status"] == "success", f"{expr}: {answer}"
    return answer["data"]["result"]


def targets() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel target in the committed JSON."""
    panels = json.loads(dashboard.OUTPUT.read_text())["panels"]
    return [(panel["title"], target["expr"]) for panel in panels for target in panel.get("targets", [])]


def substitute(expr: str, tenant: str, cluster: str) -> str:
    return expr.replace("$tenant", tenant).replace("$cluster", cluster)


# Variable values as Grafana substitutes them into a regex matcher: "All" is the variable's allValue, one value
# is itself, several are "(a|b)".
SELECTIONS = [
    ("all tenants, all clusters", dashboard.ALL_TENANTS, dashboard.ALL_CLUSTERS),
    ("one tenant, one cluster", "ml", "prod-a"),
    ("two tenants, two clusters", "(ml|web)", "(prod-a|prod-b)"),
]


def test_the_committed_json_is_what_the_generator_builds():
    assert dashboard.OUTPUT.read_text() == dashboard.render(), "run: python -m deploy.grafana.dashboard"
    assert dashboard.main(["--check"]) == 0


def test_the_dashboard_has_its_panels_and_variables():
    built = json.loads(dashboard.render())
    assert [v["name"] for v in built["templating"]["list"]] == ["datasource", "tenant", "cluster"]
    types = [panel["type"] for panel in built["panels"] if panel["type"] != "row"]
    assert types == ["timeseries", "table", "timeseries", "bargauge", "timeseries", "table"]
    assert len(targets()) == 12


@pytest.mark.parametrize(("selection", "tenant", "cluster"), SELECTIONS, ids=[s[0] for s in SELECTIONS])
def test_every_panel_query_runs_and_returns_series(prometheus, selection, tenant, cluster):
    empty = [title for title, expr in targets() if not instant(prometheus, substitute(expr, tenant, cluster))]
    assert not empty, f"{selection}: no series for the panels {empty}"


def test_the_panels_show_the_figures_they_are_meant_to(prometheus):
    def by(expr: str, *labels: str) -> dict[tuple[str, ...], float]:
        result = instant(prometheus, substitute(expr, dashboard.ALL_TENANTS, dashboard.ALL_CLUSTERS))
        return {tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1]) for r in result}

    # The whole-bill panels show only the whole bills, the per-cluster ones only the clusters.
    assert by(dashboard.COST_WHOLE_BILL, "tenant", "cluster") == {
        key: cost for key, (cost, _) in FIGURES.items() if key[1] == ""
    }
    assert by(dashboard.FORECAST_BY_CLUSTER, "tenant", "cluster") == {
        key: forecast for key, (_, forecast) in FIGURES.items() if key[1] != ""
    }
    assert by(dashboard.BUDGET_BY_CLUSTER, "tenant", "cluster") == {("ml", "prod-a"): 1000.0, ("web", "prod-b"): 900.0}
    # Forecast over budget for every budget, whole bill and clusters; the tenant without one is absent.
    ratios = by(dashboard.FORECAST_RATIO, "tenant", "cluster")
    assert ratios == pytest.approx({key: FIGURES[key][1] / budget for key, budget in BUDGETS.items()})
    # Only the flagged namespace, with its score.
    assert by(dashboard.ANOMALOUS, "tenant", "namespace", "cluster") == {("ml", "etl", "prod-a"): 7.9}


def test_the_template_variables_list_the_tenants_and_clusters(prometheus):
    """Grafana's label_values(metric, label) is Prometheus' label values API with a match[] selector."""

    def label_values(query: str) -> list[str]:
        metric, label = query.removeprefix("label_values(").removesuffix(")").rsplit(", ", 1)
        params = {"match[]": substitute(metric, dashboard.ALL_TENANTS, ""), "start": END.timestamp() - 3600}
        response = requests.get(f"{prometheus}/api/v1/label/{label}/values", params=params | {"end": END.timestamp()})
        response.raise_for_status()
        return response.json()["data"]

    assert label_values(dashboard.TENANTS) == ["data", "ml", "web"]
    assert label_values(dashboard.CLUSTERS) == ["prod-a", "prod-b"]
