"""The "Capacity and quotas" page under AppTest, over the sample month, against chargeback.reports.quotas,
chargeback.reports.rightsize and plain SQL over the marts."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from chargeback.build.demo import SAMPLE_PERIOD
from chargeback.core import config as config_module
from chargeback.reports.capacity import capacity
from chargeback.reports.quotas import quota_report
from chargeback.reports.rightsize import job_quota_fits, limit_violations, rightsize
from dashboards import data, data_capacity, runtime
from dashboards.identity import Viewer
from tests.dashboard_support import mart, metric, open_app
from tests.sample_support import copy_built

PAGE = "views/capacity.py"
PERIOD = SAMPLE_PERIOD
ANN = Viewer("ann", frozenset({"ml"}))
EVERYONE = Viewer("platform", None)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, built_sample) -> Path:
    where = tmp_path_factory.mktemp("capacity") / "data"
    copy_built(built_sample, where)
    return where


@pytest.fixture(scope="module")
def config(data_dir) -> config_module.Config:
    return config_module.load(None).model_copy(update={"data_dir": data_dir})


def open_page(**query: str) -> AppTest:
    return open_app(PAGE, **query)


def table(at: AppTest, *columns: str):
    for frame in at.dataframe:
        if set(columns) <= set(frame.value.columns):
            return frame.value
    raise AssertionError(f"no table with {columns}")


def test_page_renders_with_every_section(env):
    at = open_page()
    assert [t.value for t in at.title] == [f"Capacity and quotas · {PERIOD}"]
    assert [h.value for h in at.header] == [
        "Quota use per namespace",
        "Quota recommendations",
        "Cluster capacity",
        "Right-sizing",
        "LimitRange violations",
        "Spark jobs against their quota",
    ]
    assert len(at.get("plotly_chart")) == 2
    assert not at.error


def test_total_saving_equals_chargeback_rightsize(env, config):
    at = open_page(period=PERIOD)
    expected = rightsize(config, PERIOD)
    assert metric(at, "Monthly saving (lower requests)") == f"${expected.total_saving.quantize(Decimal('0.01')):,.2f}"
    assert metric(at, "Cost of raising requests") == f"${expected.total_raise_cost.quantize(Decimal('0.01')):,.2f}"
    sizing = table(at, "workload_name", "monthly_saving")
    assert len(sizing) == len(expected.recommendations)
    lowered = sizing[sizing["verdict"] == "lower request"]["monthly_saving"].sum()
    assert lowered == pytest.approx(float(expected.total_saving))


def test_capacity_and_tenancy_what_if_equal_chargeback_capacity(env, config):
    at = open_page(period=PERIOD)
    expected = capacity(config, PERIOD)
    groups = table(at, "node_group", "spot_share")
    assert len(groups) == len(expected.node_groups)
    assert groups["cost"].sum() == pytest.approx(float(sum(g.cost for g in expected.node_groups)))
    whatif = table(at, "tenant", "alternative_cost").set_index("tenant")
    for w in expected.whatifs:
        assert whatif.loc[w.tenant, "current_cost"] == pytest.approx(float(w.current_cost))
        assert whatif.loc[w.tenant, "alternative_cost"] == pytest.approx(float(w.alternative_cost))
    # ml's GPU pods (sample_data/generate.py: the ml-training trainer on the g4dn.xlarge) are sized on a GPU type
    assert "gpu: peak" in whatif.loc["ml", "basis"] and "g4dn.xlarge" in whatif.loc["ml", "basis"]
    assert "gpu:" not in whatif.loc["payments", "basis"]


def test_spark_job_that_outgrew_its_quota_is_shown(env):
    # sample_data/generate.py: daily-sales-etl asks a 1-core driver and 5 executors of 2 cores; emr-data-eng's
    # quota was cut to 10 cores: 11 > 10, and floor((10 - 1) / 2) = 4 executors are admitted
    at = open_page(period=PERIOD)
    fits = table(at, "job_name", "executors_fitting").set_index(["job_name", "resource"])
    sales = fits.loc[("daily-sales-etl", "requests.cpu")]
    assert (sales["footprint"], sales["hard"], bool(sales["fits"])) == (11, 10, False)
    assert (sales["executors_fitting"], sales["executors"]) == (4, 5)
    assert fits["fits"].astype(bool).sum() == len(fits) - 1
    assert any("would not fit their quota" in w.value for w in at.warning)


def test_hours_near_limit_equal_a_count_over_the_mart(env, config, data_dir):
    at = open_page(period=PERIOD)
    quotas = table(at, "namespace", "hours_near_limit").set_index(["namespace", "resource"])
    (count,) = mart(
        data_dir,
        "select count(*) from marts.fct_quota_use_hourly where period = ? and namespace = 'payments-api'"
        " and resource = 'requests.cpu' and requested >= ? * hard",
        [PERIOD, config.capacity.near_limit_ratio],
    )[0]
    assert count > 0
    assert quotas.loc[("payments-api", "requests.cpu"), "hours_near_limit"] == count


def test_quota_chart_follows_the_chosen_namespace_and_resource(env):
    at = open_page(period=PERIOD)
    namespace = next(s for s in at.main.selectbox if s.label == "Namespace")
    namespace.select("payments-api").run()
    resource = next(s for s in at.main.selectbox if s.label == "Resource")
    resource.select("requests.cpu").run()
    assert not at.exception
    # Compare parsed specs: plotly writes "·" raw with orjson installed and as \u00b7 without it.
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    (chart,) = [s for s in specs if s["layout"]["title"]["text"].startswith("payments-api · requests.cpu")]
    assert "Hard limit" in {trace.get("name") for trace in chart["data"]}


def test_yaml_download_is_the_library_yaml(env, config, downloads):
    content = downloads(open_page(period=PERIOD))
    expected = quota_report(config, PERIOD).to_yaml()
    assert content == expected
    manifests = list(yaml.safe_load_all(content))
    assert manifests == list(yaml.safe_load_all(expected))
    assert {m["metadata"]["namespace"] for m in manifests} >= {"payments-api", "ml-serving"}
    assert all(m["kind"] == "ResourceQuota" for m in manifests)


def test_restricted_viewer_gets_only_their_tenants_rows(config):
    wh = data.Warehouse(config)
    mine = data_capacity.rightsizing(wh, ANN, PERIOD)
    assert mine.recommendations
    assert {r.tenant for r in mine.recommendations} == {"ml"}
    everyone = data_capacity.rightsizing(wh, EVERYONE, PERIOD)
    assert everyone.total_saving == rightsize(config, PERIOD).total_saving
    assert len(mine.recommendations) == sum(r.tenant == "ml" for r in everyone.recommendations)
    violations = data_capacity.limit_violations(wh, ANN)
    assert set(violations["tenant"]) <= {"ml"}
    assert len(data_capacity.limit_violations(wh, Viewer("bob", frozenset({"risk"})))) == 0
    assert len(data_capacity.limit_violations(wh, EVERYONE)) == len(limit_violations(config))
    assert set(data_capacity.job_quota_fits(wh, ANN)["tenant"]) == {"ml"}
    assert len(data_capacity.job_quota_fits(wh, EVERYONE)) == len(job_quota_fits(config))
    with pytest.raises(PermissionError):
        data_capacity.quota_report(wh, ANN, PERIOD)
    with pytest.raises(PermissionError):
        data_capacity.capacity_report(wh, ANN, PERIOD)
    with pytest.raises(PermissionError):
        data_capacity.quota_use_hourly(wh, ANN, PERIOD, None, "ml-serving", "requests.cpu")


def test_restricted_viewer_sees_the_note_instead_of_quotas(env):
    env.setattr(runtime, "viewer", lambda: Viewer("ann@example.com", frozenset({"ml"})))
    at = open_page()
    notes = [i.value for i in at.info]
    assert any("Quota use and recommendations" in n and "finance and the platform team" in n for n in notes)
    assert any("Cluster capacity and the tenancy what-if" in n for n in notes)
    assert not [f for f in at.dataframe if "alternative_cost" in f.value.columns]
    assert not at.download_button
    sizing = table(at, "workload_name", "tenant")
    assert set(sizing["tenant"]) == {"ml"}
    for frame in at.dataframe:
        if "tenant" in frame.value.columns:
            assert set(frame.value["tenant"]) == {"ml"}
        if "namespace" in frame.value.columns:
            assert all(ns.startswith(("ml-", "emr-ml")) for ns in frame.value["namespace"])
