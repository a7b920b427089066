"""The dashboard's pages under Streamlit's AppTest, over the sample month, against the CLI and the marts.

Every number a page shows is checked against something computed without the dashboard: the output of
`chargeback bill` (run as a subprocess) or a plain SQL sum over the mart.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import streamlit as st
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

from chargeback.build.demo import SAMPLE_PERIOD
from chargeback.core import config as config_module
from chargeback.reports.bill import Bill, BillLine
from dashboards import data, runtime, state
from dashboards.charts import bills, jobs, nodes, quality
from dashboards.charts.common import money as format_money
from dashboards.charts.common import with_total
from dashboards.identity import Viewer
from tests.dashboard_support import cli, mart, metric, table
from tests.dashboard_support import open_app as open_page
from tests.sample_support import copy_built

PERIOD = SAMPLE_PERIOD
CLUSTER = "prod-analytics"
TENANTS = ("data-eng", "ml", "payments", "risk")
PAGES = {
    "overview": "views/overview.py",
    "tenant_bill": "views/tenant_bill.py",
    "emr_jobs": "views/emr_jobs.py",
    "nodes": "views/nodes.py",
    "data_quality": "views/data_quality.py",
}


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, built_sample) -> Path:
    where = tmp_path_factory.mktemp("dashboard") / "data"
    copy_built(built_sample, where)
    return where


@pytest.fixture(scope="module")
def cli_bill(data_dir) -> dict:
    """`chargeback bill --period 2026-10 --format json`: every line."""
    return json.loads(cli(data_dir, "bill", "--period", PERIOD, "--format", "json"))


@pytest.fixture(scope="module")
def cli_ml(data_dir) -> dict:
    return json.loads(cli(data_dir, "bill", "--period", PERIOD, "--tenant", "ml", "--format", "json"))


@pytest.fixture
def restricted(env):
    """A viewer from team-ml: sees only the ml tenant."""
    env.setattr(runtime, "viewer", lambda: Viewer("ann@example.com", frozenset({"ml"})))


def open_app(page: str | None = None, **query: str) -> AppTest:
    """The app at one of ``PAGES`` (None: the default page)."""
    return open_page(PAGES[page] if page else None, **query)


def plotly_charts(at: AppTest) -> list:
    return [el for el in at.get("plotly_chart")]


def page_text(at: AppTest) -> str:
    """Everything a person could read on the page: text, metrics, tables, choices and chart data."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error"):
        parts += [str(el.value) for el in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [f.value.to_csv() for f in at.dataframe]
    parts += [" ".join(map(str, s.options)) + f" {s.value}" for s in at.selectbox]
    parts += [b.label for b in at.download_button]
    parts += [el.proto.spec for el in plotly_charts(at)]
    parts += [el.value for el in at.get("json")]
    return "\n".join(parts)


def money(amount: str | Decimal | float) -> str:
    return f"${Decimal(str(amount)):,.2f}"


# --- every page renders, with charts --------------------------------------------------------------


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_with_charts(env, page):
    at = open_app(page, tenant="ml")
    assert at.title, "no title"
    assert plotly_charts(at), "no chart"
    assert at.dataframe, "no table"
    assert not at.error


# --- overview -------------------------------------------------------------------------------------


def test_overview_total_equals_the_bill_and_the_source(env, cli_bill):
    at = open_app()
    lines = {line["tenant"]: Decimal(line["total"]) for line in cli_bill["lines"]}
    assert metric(at, "Total billed") == money(cli_bill["total"]) == "$2,928.07"
    assert metric(at, "Source bill (in-scope CUR)") == money(cli_bill["source_total"])
    assert metric(at, "Billed minus source") == "$0.00"
    assert metric(at, "Tenants") == money(sum(v for t, v in lines.items() if not t.startswith("__")))
    assert metric(at, "Idle (unshared)") == money(lines.get("__idle__", 0))
    assert metric(at, "Unallocated") == money(lines.get("__unallocated__", 0))
    assert metric(at, "Shared (kept)") == money(lines.get("__shared__", 0))

    bill_lines = table(at, "line").set_index("line")
    for tenant in TENANTS:
        assert Decimal(str(bill_lines.loc[tenant, "total"])).quantize(Decimal("0.01")) == lines[tenant]
        for part in ("compute", "idle", "shared", "storage", "network", "emr", "tagged"):
            cli_part = next(line[part] for line in cli_bill["lines"] if line["tenant"] == tenant)
            assert f"{bill_lines.loc[tenant, part]:.2f}" == cli_part
    assert f"{bill_lines.loc['Total', 'total']:.2f}" == cli_bill["total"]


def test_overview_invariants_trend_and_month_over_month(env, data_dir, cli_bill):
    at = open_app()
    (checks_total,) = mart(data_dir, "select count(*) from marts.checks where period = ?", [PERIOD])[0]
    assert [s.value for s in at.success] == [
        f"{checks_total} checks over 1 cluster × 1 period ({PERIOD}): all pass (8 invariants and 7 informational "
        "counts)."
    ]
    assert len(table(at, "passed")) == checks_total
    keys = {el.proto.id for el in plotly_charts(at)}
    assert len(keys) == 3  # where the money went, by day, month over month
    mom = next(f.value for f in at.dataframe if "this_month" in f.value.columns)
    ml = next(line for line in cli_bill["lines"] if line["tenant"] == "ml")
    assert f"{mom.set_index('line').loc['ml', 'this_month']:.2f}" == ml["total"] == "1211.06"
    assert "previous_month" not in mom.columns  # 2026-09 has no bill: no data, not $0


def test_open_demo_says_everyone_sees_every_tenant(env):
    at = open_app()
    assert [w.value for w in at.sidebar.warning] == ["No identity configured: everyone sees every tenant."]


# --- tenant bill ----------------------------------------------------------------------------------


def test_tenant_bill_for_ml_matches_chargeback_bill(env, cli_ml):
    at = open_app("tenant_bill", period=PERIOD, tenant="ml")
    assert [t.value for t in at.title] == [f"Bill · ml · {PERIOD}"]
    assert metric(at, "ml total") == money(cli_ml["total"]) == "$1,211.06"
    (line,) = cli_ml["lines"]
    parts = table(at, "item").set_index("item")["amount"]
    assert {k: f"{v:.2f}" for k, v in parts.items()} == {
        "Compute": line["compute"],
        "Idle share": line["idle"],
        "Shared share": line["shared"],
        "Storage": line["storage"],
        "Network": line["network"],
        "EMR charges": line["emr"],
        "Tagged resources": line["tagged"],
        "Adjustment": line["adjustment"],
        "Total": line["total"],
    }


def test_tenant_bill_csv_download_is_exactly_chargeback_bill(env, data_dir, downloads, cli_ml):
    content = downloads(open_app("tenant_bill", tenant="ml"))
    expected = cli(data_dir, "bill", "--period", PERIOD, "--tenant", "ml", "--format", "csv")
    assert content.strip("\n") == expected.strip("\n")
    method = cli_ml["method"]["fingerprint"]
    line = "2026-10,USD,ml,594.45,260.58,189.57,52.25,70.14,4.07,40.00,0.00,1211.06"
    assert content.splitlines()[1:] == [f"{line},{method}"]


def test_tenant_bill_drills_down_to_namespace_workload_and_job_run(env, data_dir):
    at = open_app("tenant_bill", tenant="ml")
    namespaces = table(at, "namespace", having="total").set_index("namespace")  # not the efficiency table
    expected = dict(
        mart(
            data_dir,
            "select namespace, sum(cost) from ("
            " select namespace, total_cost as cost from marts.fct_workload_costs_daily"
            " where period = ? and tenant = 'ml'"
            " union all select namespace, storage_cost + network_cost from marts.fct_workload_storage_network_daily"
            " where period = ? and tenant = 'ml') group by namespace",
            [PERIOD, PERIOD],
        )
    )
    # Billed cents: each namespace within a cent of its exact cost (largest remainder gives the floor or one cent
    # more), and all of them the bill's compute + idle share + storage + network, 594.45 + 260.58 + 52.25 + 70.14
    # (tests/test_dashboard_figures.py).
    for namespace, total in expected.items():
        assert abs(namespaces.loc[namespace, "total"] - float(total)) < 0.01
    assert f"{namespaces.loc['Total', 'total']:.2f}" == "977.42"

    namespace_box = next(s for s in at.main.selectbox if s.label == "Namespace")
    namespace_box.select("emr-ml").run()
    workloads = table(at, "workload_kind")
    assert set(workloads["workload_name"]) == {"feature-build", "weekly-train", "Total"}
    spark_box = next(s for s in at.main.selectbox if s.label == "Spark application")
    spark_box.select("feature-build").run()
    assert not at.exception
    runs = table(at, "job_run_id")
    count, total = mart(
        data_dir,
        "select count(*), sum(total_cost) from marts.fct_emr_job_costs"
        " where period = ? and tenant = 'ml' and job_name = 'feature-build'",
        [PERIOD],
    )[0]
    assert len(runs) - 1 == count  # a row per run, then the total
    assert abs(runs.iloc[-1]["total"] - float(total)) < 0.01 * count  # each run billed within a cent of its cost


def test_tenant_bill_without_a_tenant_offers_the_whole_bill(env, cli_bill):
    at = open_app("tenant_bill")
    assert metric(at, "Total billed") == money(cli_bill["total"])
    assert "Choose a tenant" in at.info[0].value


# --- EMR jobs, nodes, data quality ----------------------------------------------------------------


def test_emr_jobs_page_matches_the_mart(env, data_dir):
    at = open_app("emr_jobs")
    count, total, emr = mart(
        data_dir,
        "select count(*), sum(total_cost), sum(emr_cost) from marts.fct_emr_job_costs where period = ?",
        [PERIOD],
    )[0]
    assert metric(at, "Job runs") == f"{count:,}"
    # Billed cents, each run within a cent of its exact cost (tests/test_dashboard_figures.py adds them up to the
    # bill); the EMR lines are all the runs', so their cents are the bill's EMR parts, which round their sum.
    assert abs(Decimal(metric(at, "Total cost").strip("$").replace(",", "")) - total) < Decimal("0.01") * count
    assert metric(at, "EMR charges") == money(round(emr, 2))
    assert len(plotly_charts(at)) == 5
    by_cluster = table(at, "virtual_cluster").set_index("virtual_cluster")
    assert by_cluster.loc["Total", "job_runs"] == count


def test_emr_jobs_for_one_tenant(env, data_dir):
    at = open_app("emr_jobs", tenant="data-eng")
    (count,) = mart(
        data_dir, "select count(*) from marts.fct_emr_job_costs where period = ? and tenant = 'data-eng'", [PERIOD]
    )[0]
    assert metric(at, "Job runs") == f"{count:,}"
    assert set(table(at, "job_run_id")["tenant"]) == {"data-eng"}


def test_nodes_page_matches_the_mart(env, data_dir):
    at = open_app("nodes")
    cost, idle, ghosts = mart(
        data_dir,
        "select sum(cost), sum(idle_cost), count(case when is_ghost_hour then 1 end)"
        " from marts.fct_node_costs_hourly where period = ?",
        [PERIOD],
    )[0]
    groups = table(at, "node_group").set_index("node_group")
    assert groups.loc["Total", "cost"] == pytest.approx(float(cost))
    assert groups.loc["Total", "idle"] == pytest.approx(float(idle))
    assert set(groups["purchase_option"]) >= {"On-Demand", "Spot", "Savings Plan"}
    dedicated = table(at, "tenant").set_index("node")
    assert dedicated["ghost_hours"].iloc[-1] == ghosts == 168
    cross = table(at, "node_tenant")
    assert list(cross.iloc[0][["node_tenant", "pod_tenant"]]) == ["risk", "payments"]
    assert len(plotly_charts(at)) == 3


def test_data_quality_page_matches_the_mart(env, data_dir):
    at = open_app("data_quality")
    cur, ce = mart(
        data_dir, "select sum(cur_cost), sum(ce_cost) from marts.fct_reconciliation_daily where period = ?", [PERIOD]
    )[0]
    assert metric(at, "CUR") == money(round(cur, 2))
    assert metric(at, "Cost Explorer") == money(round(ce, 2))
    (tables,) = mart(data_dir, "select count(*) from bookkeeping.raw_coverage")[0]
    assert len(table(at, "source")) == tables
    checks = table(at, "passed")
    assert set(checks["severity"]) == {"error", "info"}
    assert checks.set_index("check_name").loc["ghost_node_hours", "actual"] == 168
    assert any("None: the CUR covers every node-day" in s.value for s in at.success)
    assert len(plotly_charts(at)) == 4  # the waterfall and what it is made of, the CUR against CE, coverage


# --- the address keeps the filters ----------------------------------------------------------------


def filters(at: AppTest) -> dict:
    return {s.key.removeprefix("filter_"): s.value for s in at.selectbox if s.key and s.key.startswith("filter_")}


def test_query_params_select_period_cluster_and_tenant(env):
    at = open_app("tenant_bill", period=PERIOD, cluster=CLUSTER, tenant="payments")
    assert filters(at) == {"period": PERIOD, "cluster": CLUSTER, "tenant": "payments"}
    assert at.title[0].value == f"Bill · payments · {PERIOD}"
    assert at.query_params == {"period": PERIOD, "cluster": CLUSTER, "tenant": "payments"}
    at.switch_page(PAGES["emr_jobs"]).run()
    assert filters(at)["tenant"] == "payments"
    assert at.query_params["tenant"] == "payments"


def test_choosing_a_filter_writes_the_address(env):
    at = open_app()
    assert at.query_params == {"period": PERIOD}
    at.selectbox(key="filter_tenant").select("risk").run()
    assert at.query_params == {"period": PERIOD, "tenant": "risk"}
    at.selectbox(key="filter_tenant").select(state.ALL).run()
    assert at.query_params == {"period": PERIOD}


def test_an_address_naming_an_unknown_tenant_says_so(env):
    at = open_app("tenant_bill", tenant="nobody-here", period=PERIOD)
    assert filters(at) == {"period": PERIOD, "cluster": state.ALL, "tenant": None}
    assert "'nobody-here'" in at.error[0].value and not at.metric  # tests/test_dashboard_figures.py: the wording


# --- who may see what -----------------------------------------------------------------------------


def test_restricted_viewer_is_offered_only_their_tenant(restricted, cli_ml):
    at = open_app()
    assert at.selectbox(key="filter_tenant").options == ["ml"]
    assert filters(at)["tenant"] == "ml"
    assert metric(at, "Total billed") == money(cli_ml["total"])
    assert "Source bill (in-scope CUR)" not in [m.label for m in at.metric]
    assert [w.value for w in at.sidebar.warning] == []


def test_a_viewer_of_two_tenants_can_also_see_both_together(env, cli_bill):
    env.setattr(runtime, "viewer", lambda: Viewer("bob@example.com", frozenset({"ml", "risk"})))
    at = open_app("tenant_bill")
    assert at.selectbox(key="filter_tenant").options == ["ml", "risk", "All my tenants"]
    assert filters(at)["tenant"] == "ml"
    at.selectbox(key="filter_tenant").select(state.ALL).run()
    lines = {line["tenant"]: Decimal(line["total"]) for line in cli_bill["lines"]}
    assert metric(at, "Total billed") == money(lines["ml"] + lines["risk"])
    assert list(table(at, "line")["line"]) == ["ml", "risk", "Total"]


@pytest.mark.parametrize("page", list(PAGES))
def test_restricted_viewer_sees_no_other_tenant_anywhere(restricted, page):
    at = open_app(page)
    text = page_text(at)
    for other in ("data-eng", "payments", "risk"):
        assert other not in text, f"{other!r} on the {page} page of an ml viewer"
    if page in {"overview", "tenant_bill"}:
        assert "$1,211.06" in text


def test_restricted_viewer_gets_no_idle_shared_or_unallocated_lines(restricted):
    at = open_app()
    assert list(table(at, "line")["line"]) == ["ml", "Total"]
    assert [m.label for m in at.metric] == ["Total billed", "Tenants"]


def test_restricted_viewer_gets_notes_instead_of_all_access_sections(restricted):
    at = open_app("data_quality")
    assert any("visible to finance and the platform team" in i.value for i in at.info)
    assert "CUR" not in [m.label for m in at.metric]
    at.switch_page(PAGES["nodes"]).run()
    assert any("Node groups of shared nodes: visible to finance" in i.value for i in at.info)
    assert "risk" not in page_text(at)


def test_nobody_is_denied_and_sees_no_data(env, tmp_path):
    config = tmp_path / "identity.toml"
    config.write_text('[dashboard]\nidentity = "headers"\nall_access_groups = ["finance"]\n')
    env.setenv("CHARGEBACK_CONFIG", str(config))
    at = open_app()
    assert [t.value for t in at.title] == ["Access denied"]
    assert not at.metric and not at.dataframe and not at.selectbox and not plotly_charts(at)
    assert "$" not in page_text(at)


# --- the method -----------------------------------------------------------------------------------


def test_every_page_states_the_method_of_the_bill(env, cli_bill):
    """Under its title each page names the published build's method, as `chargeback bill` states it, with its
    settings in an expander; the tenant bill in both its forms (all lines, one tenant)."""
    caption = f"Method: {cli_bill['method']['summary']}"
    fingerprint = cli_bill["method"]["fingerprint"]
    at = open_app()
    for path in [*PAGES.values(), "views/capacity.py", "views/tenant_bill.py?ml"]:
        if path.endswith("?ml"):
            at.selectbox(key="filter_tenant").select("ml").run()
            path = path.removesuffix("?ml")
        at.switch_page(path).run()
        assert not at.exception, path
        assert [c.value for c in at.caption].count(caption) == 1, path
        assert [e.label for e in at.expander if e.label.startswith("Method ")] == [f"Method {fingerprint}: settings"]
        (settings,) = at.get("json")
        assert json.loads(settings.value) == cli_bill["method"]["settings"]
        assert not [w for w in at.main.warning if "method" in w.value], path
    assert [t.value for t in at.title] == [f"Bill · ml · {PERIOD}"], "the last page was one tenant's bill"


def test_restricted_viewer_gets_the_method_without_other_tenants_rules(restricted, cli_bill):
    at = open_app()
    assert f"Method: {cli_bill['method']['summary']}" in [c.value for c in at.caption]
    (settings,) = at.get("json")
    expected = {k: v for k, v in cli_bill["method"]["settings"].items() if k != "tenancy"}
    assert json.loads(settings.value) == expected


def test_a_dashboard_configured_with_another_method_says_whose_figures_it_shows(env, data_dir, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('[allocation]\nidle = "separate"\n')
    env.setenv("CHARGEBACK_CONFIG", str(other))
    at = open_app("nodes")
    (warning,) = at.main.warning
    assert 'idle: "node" -> "separate"' in warning.value and "the published build's" in warning.value


# --- empty states ---------------------------------------------------------------------------------


def test_no_warehouse_says_what_to_run(env, tmp_path):
    env.setenv("CHARGEBACK_DATA_DIR", str(tmp_path / "empty"))
    at = open_app()
    (info,) = at.info
    assert "chargeback demo" in info.value and "chargeback build" in info.value
    assert not at.metric


def test_an_estimated_period_says_to_collect_the_cur():
    def page():
        from decimal import Decimal

        from chargeback.reports.bill import Bill
        from dashboards import state

        state.cur_notice(Bill("2026-11", "USD", None, Decimal("12.00"), Decimal("12"), Decimal("12"), ()), "USD")

    at = AppTest.from_function(page).run()
    (warning,) = at.warning
    assert "Run `chargeback collect --source cur`" in warning.value and "$12.00" in warning.value


# --- charts and table shapes (pure functions) -----------------------------------------------------


def test_money_formats_like_finance():
    assert format_money(Decimal("2402.317")) == "$2,402.32"
    assert format_money(-3.1) == "-$3.10"
    assert format_money(5, "EUR") == "5.00 EUR"
    assert format_money(None) == "–"
    assert format_money(float("nan")) == "–"


def test_with_total_sums_numbers_and_labels_the_row():
    frame = pl.DataFrame({"name": ["a", "b"], "kind": ["x", "y"], "runs": [2, 3], "cost": [1.25, 2.5]})
    frame = frame.with_columns(day=pl.date(2026, 10, 1), ok=pl.lit(True))
    table = with_total(frame, "name")
    assert table.row(-1, named=True) == {"name": "Total", "kind": "", "runs": 5, "cost": 3.75, "day": None, "ok": None}
    assert table.schema == frame.schema  # counts stay whole numbers, days stay days
    assert with_total(frame.clear(), "name").is_empty()


def test_bill_split_adds_up_to_the_bill():
    line = lambda name, amount: BillLine(name, Decimal(amount), {}, Decimal(amount))  # noqa: E731
    bill = Bill(
        PERIOD,
        "USD",
        None,
        Decimal("10.00"),
        Decimal("10"),
        Decimal("0"),
        (line("__idle__", "1.00"), line("__unallocated__", "2.00"), line("a", "3.00"), line("b", "4.00")),
    )
    split = bills.bill_split_totals(bill)
    assert split == {
        "tenants": Decimal("7.00"),
        "idle": Decimal("1.00"),
        "shared": Decimal("0"),
        "unallocated": Decimal("2.00"),
    }
    assert sum(split.values()) == bill.total


def test_figures_have_empty_states():
    empty = pl.DataFrame()
    for figure in (
        bills.bill_split(empty),
        bills.daily_trend(empty),
        bills.month_over_month(empty),
        jobs.virtual_cluster_costs(empty),
        jobs.top_jobs(empty),
        jobs.emr_against_compute(empty),
        jobs.requested_vs_used(empty),
        nodes.node_hours_by_group(empty),
        nodes.idle_by_group(empty),
        nodes.ghost_hours(empty),
        quality.reconciliation(empty),
        quality.coverage(empty),
    ):
        assert figure.layout.annotations and figure.layout.annotations[0].text.startswith("no")


# --- polars frames through Streamlit's cache ------------------------------------------------------


def test_query_results_are_polars_frames_read_once_per_warehouse_version(env, data_dir):
    wh = data.Warehouse(config_module.load(None).model_copy(update={"data_dir": data_dir}))
    everyone = Viewer("fin@example.com", None)
    calls = []
    real = data.daily_trend

    def counted(wh, viewer, period, cluster=None):
        calls.append(viewer)
        return real(wh, viewer, period, cluster)

    env.setattr(data, "daily_trend", counted)
    first = state.read(wh, everyone, "daily_trend", PERIOD, None)
    again = state.read(wh, everyone, "daily_trend", PERIOD, None)
    assert isinstance(first, pl.DataFrame) and first.height > 0
    assert len(calls) == 1, "the second read comes from st.cache_data"
    assert_frame_equal(first, again)  # the pickled copy is the same frame, dtypes included
    state.read(wh, Viewer("ann@example.com", frozenset({"ml"})), "daily_trend", PERIOD, None)
    assert len(calls) == 2, "another viewer's tenants are another cache key"


def test_streamlit_hashes_polars_frames_by_content(env):
    """A polars frame passed to a cached function is hashed by its values, as pandas frames are."""
    seen = []

    @st.cache_data
    def total(frame: pl.DataFrame) -> float:
        seen.append(frame.height)
        return frame["cost"].sum()

    assert total(pl.DataFrame({"cost": [1.0, 2.0]})) == total(pl.DataFrame({"cost": [1.0, 2.0]})) == 3.0
    assert total(pl.DataFrame({"cost": [1.0, 2.5]})) == 3.5
    assert seen == [2, 2]
