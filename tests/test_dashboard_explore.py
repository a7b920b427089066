"""The Explore page (costs over any days by any dimension) and the drill-down kept in the address, under Streamlit's
AppTest over the sample month: every figure against `chargeback costs` run as a subprocess, and the bill."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from chargeback.build.demo import SAMPLE_PERIOD
from dashboards import runtime
from dashboards.charts.common import SENTINEL_LABELS, money
from dashboards.identity import Viewer
from tests.dashboard_support import cli, mart, metric, open_app
from tests.sample_support import copy_built

EXPLORE = "views/explore.py"
BILL = "views/tenant_bill.py"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, built_sample) -> Path:
    where = tmp_path_factory.mktemp("explore") / "data"
    copy_built(built_sample, where)
    return where


def cli_costs(data_dir: Path, *args: str) -> dict:
    return json.loads(cli(data_dir, "costs", *args, "--format", "json"))


def shown(at) -> dict[tuple, float]:
    """The page's table: (group, tenant, namespace where shown) -> total."""
    (frame,) = [f.value for f in at.dataframe if "group" in f.value.columns]
    keys = [c for c in ("group", "tenant", "namespace") if c in frame.columns]

    def value(v):
        return None if v is None or v != v else v  # pandas reads a missing namespace as NaN

    return {tuple(value(row[k]) for k in keys): round(row["total"], 2) for _, row in frame.iterrows()}


def printed(body: dict) -> dict[tuple, float]:
    keys = [c for c in ("group", "tenant", "namespace") if c in body["rows"][0]]

    def name(key, value):  # the page names the idle, shared and unallocated lines as every page does
        return SENTINEL_LABELS.get(value, value) if key == "group" else value

    return {tuple(name(k, row[k]) for k in keys): float(row["total"]) for row in body["rows"]}


def test_the_default_is_the_sidebar_s_month_by_tenant_and_equals_the_bill(env, data_dir):
    at = open_app(EXPLORE)
    bill = json.loads(cli(data_dir, "bill", "--period", SAMPLE_PERIOD, "--format", "json"))
    label = "2026-10-01 to 2026-10-31 · all clusters"
    assert metric(at, label) == money(Decimal(bill["total"])) == "$2,928.07"
    # the idle and unallocated lines under the names every page gives them
    lines = {(SENTINEL_LABELS.get(line["tenant"], line["tenant"]),): float(line["total"]) for line in bill["lines"]}
    assert ("Idle (unshared)",) in lines
    assert {k[:1]: v for k, v in shown(at).items()} == lines
    assert at.query_params["days"] == "2026-10-01..2026-10-31"
    assert at.query_params["by"] == "tenant" and at.query_params["every"] == "day"


def test_a_shared_link_opens_the_same_range_and_grouping_as_the_command(env, data_dir):
    at = open_app(EXPLORE, tenant="ml", by="namespace", days="2026-10-05..2026-10-11", every="month")
    expected = cli_costs(data_dir, "--from", "2026-10-05", "--to", "2026-10-11", "--by", "namespace", "-t", "ml")
    assert shown(at) == printed(expected)
    assert metric(at, "2026-10-05 to 2026-10-11 · all clusters, tenant ml") == money(Decimal(expected["total"]))
    assert at.radio(key="page_every").value == "month"
    # a different grouping is written back to the address
    at.selectbox(key="page_by").select("workload").run()
    assert at.query_params["by"] == "workload" and at.query_params["days"] == "2026-10-05..2026-10-11"


def test_grouping_by_a_pod_label(env, data_dir):
    at = open_app(EXPLORE, by="label", label="app.kubernetes.io/name")
    expected = cli_costs(data_dir, "--period", SAMPLE_PERIOD, "--by", "label:app.kubernetes.io/name")
    assert shown(at) == printed(expected)
    assert "spark-role" in at.selectbox(key="page_label").options
    # another grouping leaves the label out of the address; back to labels, the label chosen before
    at.selectbox(key="page_by").select("namespace").run()
    assert "label" not in at.query_params and at.query_params["by"] == "namespace"
    at.selectbox(key="page_by").select("label").run()
    assert at.query_params["label"] == "app.kubernetes.io/name"


def test_an_address_naming_no_choice_falls_back_to_the_defaults(env):
    at = open_app(EXPLORE, by="pods", days="1999-01-01..1999-01-31", every="hour")
    assert at.selectbox(key="page_by").value == "tenant"
    assert at.query_params["days"] == "2026-10-01..2026-10-31" and at.query_params["every"] == "day"


def test_a_restricted_viewer_sees_only_its_tenant_s_lines(env, data_dir):
    env.setattr(runtime, "viewer", lambda: Viewer("ann@example.com", frozenset({"ml"})))
    at = open_app(EXPLORE, by="label", label="app")
    ml = json.loads(cli(data_dir, "bill", "--period", SAMPLE_PERIOD, "--tenant", "ml", "--format", "json"))
    assert metric(at, "2026-10-01 to 2026-10-31 · all clusters, tenant ml") == money(Decimal(ml["total"]))
    expected = cli_costs(data_dir, "--period", SAMPLE_PERIOD, "--by", "label:app", "--tenant", "ml")
    assert shown(at) == printed(expected)
    assert not any("shared namespaces" in key[0] for key in shown(at))


def test_the_drill_down_is_in_the_address(env, data_dir):
    at = open_app(BILL, tenant="ml", namespace="emr-ml", workload="feature-build")
    (runs,) = [f.value for f in at.dataframe if f.value.columns[0] == "job_run_id"]
    ((count,),) = mart(
        data_dir,
        "select count(*) from marts.fct_emr_job_costs"
        " where period = ? and tenant = 'ml' and job_name = 'feature-build'",
        [SAMPLE_PERIOD],
    )
    assert len(runs) - 1 == count > 0  # a row per run of feature-build, then their total
    assert at.query_params["namespace"] == "emr-ml" and at.query_params["workload"] == "feature-build"
    at.selectbox(key="page_namespace").select("ml-serving").run()
    assert at.query_params["namespace"] == "ml-serving" and "workload" not in at.query_params
    # a namespace that is not the tenant's opens no drill-down, and leaves the address
    at = open_app(BILL, tenant="ml", namespace="payments-api")
    assert at.selectbox(key="page_namespace").value is None and "namespace" not in at.query_params
