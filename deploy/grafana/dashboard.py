"""The Grafana dashboard of chargeback's budget, forecast and anomaly gauges (the scheduler's /metrics), built with
Grafana's own SDK (grafana-foundation-sdk) and written to ``deploy/grafana/chargeback.json``:

    python -m deploy.grafana.dashboard            # rewrites deploy/grafana/chargeback.json
    python -m deploy.grafana.dashboard --check    # fails if the committed file differs from what this builds

The JSON is generated, never edited by hand: tests/test_grafana_dashboard.py fails when it differs from what this
module builds, and runs every query below against a real Prometheus. Import it in Grafana (Dashboards > New >
Import) and pick the Prometheus data source that scrapes the scheduler (docs/alerts.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, common, dashboard, prometheus, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import prometheus as prometheus_models

OUTPUT = Path(__file__).resolve().parent / "chargeback.json"
UID = "chargeback-budgets"
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="${datasource}")
# The anomaly threshold's default ([anomalies] threshold): drawn on the score panel as a guide; the flag
# (chargeback_cost_anomalous) is what uses the configured value.
ANOMALY_THRESHOLD = 4.0

# --- template variables ------------------------------------------------------------------------------------

# Tenants that have a cost this month: every tenant on a bill has a cost_to_date series (a budget is optional).
TENANTS = "label_values(chargeback_tenant_cost_to_date, tenant)"
# Clusters of the chosen tenants. The whole bill's series have cluster="" (no label), which label_values leaves
# out; "All" is ".+", so the per-cluster panels never mix the whole bill in with its clusters.
CLUSTERS = 'label_values(chargeback_tenant_cost_to_date{tenant=~"$tenant"}, cluster)'
ALL_TENANTS = ".*"
ALL_CLUSTERS = ".+"

# --- queries -------------------------------------------------------------------------------------------------

# The whole bill (cluster="") per tenant: the figures a budget for the whole bill is compared with.
COST_WHOLE_BILL = 'chargeback_tenant_cost_to_date{tenant=~"$tenant", cluster=""}'
FORECAST_WHOLE_BILL = 'chargeback_tenant_forecast{tenant=~"$tenant", cluster=""}'
BUDGET_WHOLE_BILL = 'chargeback_tenant_budget{tenant=~"$tenant", cluster=""}'
# The same per cluster; a tenant's clusters add up to its whole bill, so they are a panel of their own.
COST_BY_CLUSTER = 'chargeback_tenant_cost_to_date{tenant=~"$tenant", cluster=~"$cluster"}'
FORECAST_BY_CLUSTER = 'chargeback_tenant_forecast{tenant=~"$tenant", cluster=~"$cluster"}'
BUDGET_BY_CLUSTER = 'chargeback_tenant_budget{tenant=~"$tenant", cluster=~"$cluster"}'
# Forecast over budget wherever there is a budget: the whole bill (cluster="", matched by the empty alternative)
# and budgeted clusters. Both sides carry the same labels, so the division matches them one to one and a series
# without a budget drops out.
FORECAST_RATIO = (
    'chargeback_tenant_forecast{tenant=~"$tenant", cluster=~"$cluster|"}'
    ' / chargeback_tenant_budget{tenant=~"$tenant", cluster=~"$cluster|"}'
)
# The robust z-score of each namespace's last complete day (0 when not computable).
ANOMALY_SCORE = 'chargeback_cost_anomaly_score{tenant=~"$tenant", cluster=~"$cluster"}'
# Only the flagged namespaces, with their score as the value (the flag alone says 1).
ANOMALOUS = (
    'chargeback_cost_anomaly_score{tenant=~"$tenant", cluster=~"$cluster"}'
    ' and chargeback_cost_anomalous{tenant=~"$tenant", cluster=~"$cluster"} == 1'
)


def query(expr: str, legend: str, ref: str, *, instant: bool = False) -> prometheus.Dataquery:
    built = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)
    if instant:
        built = built.instant().format(prometheus_models.PromQueryFormat.TABLE)
    return built


def money(builder: timeseries.Panel | table.Panel) -> timeseries.Panel | table.Panel:
    """Amounts in chargeback's configured currency: plain numbers with two decimals (the currency is not in the
    metrics; the panel's description names it)."""
    return builder.unit("none").decimals(2)


def figures_over_time(title: str, exprs: tuple[str, str, str], where: str) -> timeseries.Panel:
    cost, forecast, budget = exprs
    return (
        money(timeseries.Panel())
        .title(title)
        .description(
            f"Cost so far this month, the month-end forecast and the budget ({where}), in chargeback's configured"
            " currency. A tenant without a budget has no budget line."
        )
        .datasource(DATASOURCE)
        .with_target(query(cost, "{{tenant}} {{cluster}} cost to date", "A"))
        .with_target(query(forecast, "{{tenant}} {{cluster}} forecast", "B"))
        .with_target(query(budget, "{{tenant}} {{cluster}} budget", "C"))
        .legend(common.VizLegendOptions().show_legend(True).display_mode(common_models.LegendDisplayMode.TABLE))
        .height(9)
        .span(12)
    )


def figures_table() -> table.Panel:
    return (
        money(table.Panel())
        .title("This month per tenant (whole bill)")
        .description("Cost to date, forecast and budget of each tenant's whole bill, now.")
        .datasource(DATASOURCE)
        .with_target(query(COST_WHOLE_BILL, "cost to date", "cost", instant=True))
        .with_target(query(FORECAST_WHOLE_BILL, "forecast", "forecast", instant=True))
        .with_target(query(BUDGET_WHOLE_BILL, "budget", "budget", instant=True))
        # One row per tenant: the three instant queries joined on their labels.
        .with_transformation(models.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            models.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True, "__name__": True, "job": True, "instance": True, "cluster": True},
                    "renameByName": {
                        "Value #cost": "cost to date",
                        "Value #forecast": "forecast",
                        "Value #budget": "budget",
                    },
                },
            )
        )
        .height(9)
        .span(12)
    )


def forecast_ratio() -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title("Forecast / budget")
        .description(
            "The month-end forecast as a share of the budget, for each budget (a tenant's whole bill, or one of its"
            " clusters). Red from 100%: ChargebackBudgetForecastExceeded fires after an hour over."
        )
        .datasource(DATASOURCE)
        .with_target(query(FORECAST_RATIO, "{{tenant}} {{cluster}}", "A", instant=True))
        .unit("percentunit")
        .min(0)
        .thresholds(
            dashboard.ThresholdsConfig()
            .mode(models.ThresholdsMode.ABSOLUTE)
            .steps(
                [
                    models.Threshold(value=None, color="green"),
                    models.Threshold(value=0.9, color="orange"),
                    models.Threshold(value=1.0, color="red"),
                ]
            )
        )
        .display_mode(common_models.BarGaugeDisplayMode.GRADIENT)
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .height(9)
        .span(12)
    )


def anomaly_scores() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Anomaly score per namespace")
        .description(
            "Robust z-score of each namespace's last complete day against the same weekday of the weeks before"
            f" (0 when not computable). The dashed line is the default threshold ({ANOMALY_THRESHOLD:g}); a day is"
            " flagged at the configured threshold and only when it also differs by [anomalies] min_change."
        )
        .datasource(DATASOURCE)
        .with_target(query(ANOMALY_SCORE, "{{tenant}}/{{namespace}} on {{cluster}}", "A"))
        .decimals(1)
        .thresholds(
            dashboard.ThresholdsConfig()
            .mode(models.ThresholdsMode.ABSOLUTE)
            .steps(
                [models.Threshold(value=None, color="green"), models.Threshold(value=ANOMALY_THRESHOLD, color="red")]
            )
        )
        .thresholds_style(common.GraphThresholdsStyleConfig().mode(common_models.GraphTresholdsStyleMode.DASHED))
        .height(9)
        .span(12)
    )


def anomalous_now() -> table.Panel:
    return (
        table.Panel()
        .title("Flagged namespaces")
        .description("Namespaces whose last complete day was flagged as anomalous, with their score.")
        .datasource(DATASOURCE)
        .with_target(query(ANOMALOUS, "{{tenant}}/{{namespace}}", "A", instant=True))
        .with_transformation(
            models.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True, "__name__": True, "job": True, "instance": True},
                    "renameByName": {"Value": "score"},
                },
            )
        )
        .decimals(1)
        .height(9)
        .span(12)
    )


def build() -> models.Dashboard:
    variable = models.VariableOption(selected=True, text="All", value="$__all")
    return (
        dashboard.Dashboard("Chargeback: budgets, forecasts and anomalies")
        .uid(UID)
        .description(
            "Tenant cost to date, month-end forecast and budget, and cost anomalies, from chargeback's /metrics."
        )
        .tags(["chargeback", "finops"])
        .editable()
        .timezone("utc")
        .time("now-30d", "now")
        .refresh("1h")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            dashboard.QueryVariable("tenant")
            .label("Tenant")
            .datasource(DATASOURCE)
            .query(TENANTS)
            .multi(True)
            .include_all(True)
            .all_value(ALL_TENANTS)
            .current(variable)
            .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(models.VariableSort.ALPHABETICAL_ASC)
        )
        .with_variable(
            dashboard.QueryVariable("cluster")
            .label("Cluster")
            .datasource(DATASOURCE)
            .query(CLUSTERS)
            .multi(True)
            .include_all(True)
            .all_value(ALL_CLUSTERS)
            .current(variable)
            .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(models.VariableSort.ALPHABETICAL_ASC)
        )
        .with_row(dashboard.Row("Budgets"))
        .with_panel(
            figures_over_time(
                "Whole bill: cost to date, forecast, budget",
                (COST_WHOLE_BILL, FORECAST_WHOLE_BILL, BUDGET_WHOLE_BILL),
                "each tenant's whole bill",
            )
        )
        .with_panel(figures_table())
        .with_panel(
            figures_over_time(
                "By cluster: cost to date, forecast, budget",
                (COST_BY_CLUSTER, FORECAST_BY_CLUSTER, BUDGET_BY_CLUSTER),
                "each tenant's part of each cluster",
            )
        )
        .with_panel(forecast_ratio())
        .with_row(dashboard.Row("Anomalies"))
        .with_panel(anomaly_scores())
        .with_panel(anomalous_now())
        .build()
    )


def render() -> str:
    """The dashboard as the committed JSON: stable key order, so the same dashboard is the same bytes."""
    return json.dumps(build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON is not what this builds")
    args = parser.parse_args(argv)
    rendered = render()
    if args.check:
        if not OUTPUT.is_file() or OUTPUT.read_text() != rendered:
            print(f"{OUTPUT} is out of date: run python -m deploy.grafana.dashboard", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(rendered)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
