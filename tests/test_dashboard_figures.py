"""One set of figures: every figure the dashboard presents as billed money equals `chargeback bill --format json`
(run as a subprocess) or adds up to it, to the cent; "no data" where a comparison month is missing; an address
naming a period or tenant that is not a choice says so instead of showing another.

Over the sample month (no month before it) and a small two-month cluster from tests/factory.py whose bills are
worked out by hand below.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from chargeback.build.demo import SAMPLE_PERIOD
from chargeback.build.engines import build
from chargeback.core import config as config_module
from chargeback.reports.bill import Bill, BillLine
from dashboards import runtime
from dashboards.charts import bills
from dashboards.identity import Viewer
from tests.dashboard_support import cli, metric, open_app, table, values
from tests.factory import Scenario
from tests.sample_support import copy_built
from tests.services.dashboard import clear_streamlit_caches

D = Decimal
CENT = D("0.01")
PERIOD = SAMPLE_PERIOD
TENANTS = ("data-eng", "ml", "payments", "risk")
LABELS = {"__idle__": "Idle (unshared)", "__shared__": "Shared (kept)", "__unallocated__": "Unallocated"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, built_sample) -> Path:
    where = tmp_path_factory.mktemp("figures") / "data"
    copy_built(built_sample, where)
    return where


def cli_bill(data_dir: Path, period: str = PERIOD, *more: str) -> dict:
    return json.loads(cli(data_dir, "bill", "--period", period, "--format", "json", *more))


@pytest.fixture(scope="module")
def billed(data_dir) -> dict:
    """`chargeback bill --period 2026-10 --format json`, lines by tenant, amounts as Decimal."""
    out = cli_bill(data_dir)
    lines = {line.pop("tenant"): {k: D(v) for k, v in line.items() if k != "adjustments"} for line in out["lines"]}
    return {"total": D(out["total"]), "lines": lines}


def cents(value) -> Decimal:
    """A figure as the page shows it (a float or a formatted "$1,211.06"), in cents."""
    if isinstance(value, str):
        return D(value.replace("$", "").replace(",", ""))
    return D(repr(float(value))).quantize(CENT)


def chart(at: AppTest, key: str) -> dict:
    (spec,) = [json.loads(el.proto.spec) for el in at.get("plotly_chart") if el.proto.id.endswith(f"-{key}")]
    return spec


# --- the sample month: no month before it ---------------------------------------------------------


def test_overview_month_over_month_and_days_add_up_to_the_bill(env, billed):
    at = open_app()
    # Month over month, this month, line by line: the bill's cents (ml $1,211.06, risk $389.50), the total the
    # bill's $2,928.07, and the rows add up to it.
    mom = next(f.value for f in at.dataframe if "this_month" in f.value.columns)
    rows = {line: cents(v) for line, v in zip(mom["line"], mom["this_month"], strict=True)}
    assert rows.pop("Total") == billed["total"] == D("2928.07")
    assert rows == {LABELS.get(t, t): line["total"] for t, line in billed["lines"].items()}
    assert rows["ml"] == D("1211.06") and rows["risk"] == D("389.50")
    assert sum(rows.values()) == billed["total"]
    # Cost by day: each line's days add up to its bill line.
    days = {trace["name"]: sum(values(trace["y"])) for trace in chart(at, "daily_trend")["data"]}
    assert {name: cents(v) for name, v in days.items()} == {
        LABELS.get(t, t): line["total"] for t, line in billed["lines"].items()
    }


def test_month_over_month_without_a_previous_month_says_no_data(env):
    at = open_app()
    assert any(i.value.startswith("No data for 2026-09: the warehouse holds no bill for it") for i in at.info)
    spec = chart(at, "month_over_month")
    assert spec["data"] == []  # no bars: not every tenant as a red +100%
    assert [a["text"] for a in spec["layout"]["annotations"]] == ["no data for 2026-09: nothing to compare with"]
    mom = next(f.value for f in at.dataframe if "this_month" in f.value.columns)
    assert list(mom.columns) == ["line", "this_month"]  # no "last month" of $0, no change, no percent


def test_the_check_list_says_what_it_counts(env, data_dir):
    at = open_app()
    # marts.checks for 2026-10: 15 rows, 13 of cluster prod-analytics and 2 of the whole CUR (the reconciliation's
    # dollars and lines); 8 of severity error, 7 info.
    assert [s.value for s in at.success] == [
        "15 checks over 1 cluster × 1 period (2026-10): all pass (8 invariants and 7 informational counts)."
    ]
    checks = table(at, "passed")
    assert len(checks) == 15
    # shared_cost_kept counted -0.000000000001: a difference of nothing reads 0.00, not -0.00
    kept = checks.set_index("check_name").loc["shared_cost_kept", "actual"]
    assert kept == 0 and math.copysign(1, kept) == 1
    assert all(math.copysign(1, v) == 1 for v in [*checks["expected"], *checks["actual"]] if v == 0)


@pytest.mark.parametrize("tenant", TENANTS)
def test_tenant_bill_parts_and_namespaces_add_up_to_the_bill(env, billed, tenant):
    line = billed["lines"][tenant]
    at = open_app("views/tenant_bill.py", tenant=tenant)
    assert metric(at, f"{tenant} total") == f"${line['total']:,.2f}"
    parts = table(at, "item").set_index("item")["amount"]
    assert cents(parts["Total"]) == line["total"] == sum(cents(v) for k, v in parts.items() if k != "Total")
    namespaces = table(at, "namespace", having="total").set_index("namespace")
    total = namespaces.loc["Total"]
    body = namespaces.drop("Total")
    # The namespaces break down the tenant's compute, idle share, storage and network: each column adds up to the
    # bill's part.
    drilled = ("compute", "idle", "storage", "network")
    for part in drilled:
        assert cents(total[part]) == line[part] == sum(cents(v) for v in body[part])
    assert cents(total["total"]) == sum(line[p] for p in drilled) == sum(cents(v) for v in body["total"])


def test_workloads_and_job_runs_add_up_to_their_namespace(env, data_dir):
    at = open_app("views/tenant_bill.py", tenant="ml")
    namespace_row = table(at, "namespace", having="total").set_index("namespace").loc["emr-ml"]
    next(s for s in at.main.selectbox if s.label == "Namespace").select("emr-ml").run()
    workloads = table(at, "workload_kind").set_index("workload_name")
    for part in ("compute", "idle", "storage", "network", "total"):
        body = workloads.drop("Total")[part]
        assert cents(workloads.loc["Total", part]) == cents(namespace_row[part]) == sum(cents(v) for v in body)
    next(s for s in at.main.selectbox if s.label == "Spark application").select("feature-build").run()
    runs = table(at, "job_run_id")
    body = runs.iloc[:-1]
    # The runs' compute and idle share, storage and network are the feature-build workload's, cent for cent.
    for part in ("compute", "idle", "storage", "network"):
        assert sum(cents(v) for v in body[part]) == cents(workloads.loc["feature-build", part])


def test_emr_job_runs_add_up_to_the_bill(env, data_dir, billed):
    at = open_app("views/emr_jobs.py")
    lines = billed["lines"]
    in_bill = table(at, "tenant").set_index("tenant")
    # Per tenant with runs: runs + other workloads = the bill's compute + idle share; runs' EMR charges + other
    # EMR lines = the bill's EMR charges (data-eng: 203.85 + 379.55 = 583.40 and 3.00; ml: 594.45 + 260.58 =
    # 855.03 and 4.07; the unknown run's EMR line is Unallocated's 0.10).
    assert set(in_bill.index) == {"data-eng", "ml", "Unallocated", "Total"}
    for tenant in ("data-eng", "ml", "__unallocated__"):
        row, line = in_bill.loc[LABELS.get(tenant, tenant)], lines[tenant]
        assert cents(row["bill_compute_idle"]) == line["compute"] + line["idle"]
        assert cents(row["runs_compute_idle"]) + cents(row["other_compute_idle"]) == line["compute"] + line["idle"]
        assert cents(row["bill_emr"]) == cents(row["runs_emr"]) + cents(row["other_emr"]) == line["emr"]
        on_bill = line["storage"] + line["network"]
        assert cents(row["bill_storage_network"]) == on_bill
        assert cents(row["runs_storage_network"]) + cents(row["other_storage_network"]) == on_bill
    assert cents(in_bill.loc["ml", "bill_compute_idle"]) == D("855.03")
    runs = table(at, "job_run_id")
    for tenant in ("data-eng", "ml"):
        mine = runs[runs["tenant"] == tenant]
        compute_idle = sum(cents(v) for v in mine["compute"]) + sum(cents(v) for v in mine["idle"])
        assert compute_idle == cents(in_bill.loc[tenant, "runs_compute_idle"])
        assert sum(cents(v) for v in mine["emr"]) == cents(in_bill.loc[tenant, "runs_emr"])
        storage_network = sum(cents(v) for v in [*mine["storage"], *mine["network"]])
        assert storage_network == cents(in_bill.loc[tenant, "runs_storage_network"]) > 0
    # The headline figures are the runs' own sums; EMR charges are the bill's EMR parts, 3.00 + 4.07 + 0.10.
    assert cents(metric(at, "Total cost")) == sum(cents(v) for v in runs["total"])
    assert cents(metric(at, "EMR charges")) == D("7.17") == sum(line["emr"] for line in lines.values())
    assert cents(metric(at, "Compute and idle")) == sum(cents(v) for v in [*runs["compute"], *runs["idle"]])


def test_whatif_cost_now_is_the_billed_compute_and_idle_share(env, data_dir, billed):
    at = open_app("views/capacity.py")
    whatif = next(f.value for f in at.dataframe if "current_cost" in f.value.columns).set_index("tenant")
    for tenant in ("data-eng", "ml", "payments"):  # soft tenants; risk is sole (its nodes' cost)
        line = billed["lines"][tenant]
        assert cents(whatif.loc[tenant, "current_cost"]) == line["compute"] + line["idle"]
    assert cents(whatif.loc["data-eng", "current_cost"]) == D("583.40")  # 203.85 + 379.55 (exactly 583.404759)
    report = json.loads(cli(data_dir, "capacity", "--period", PERIOD, "--format", "json"))
    assert {w["tenant"]: w["current_cost"] for w in report["tenancy_whatif"] if w["tenancy"] == "soft"} == {
        t: str(billed["lines"][t]["compute"] + billed["lines"][t]["idle"]) for t in ("data-eng", "ml", "payments")
    }  # `chargeback capacity` says the same


def test_csv_downloads_add_up(env, data_dir, downloads, billed):
    whole = downloads(open_app("views/tenant_bill.py"))
    assert whole == cli(data_dir, "bill", "--period", PERIOD, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(whole)))
    parts = [c for c in rows[0] if c not in ("period", "currency", "tenant", "total", "method")]  # method: its id
    for row in rows:
        assert sum(D(row[p]) for p in parts) == D(row["total"])
    assert sum(D(row["total"]) for row in rows) == billed["total"]
    (ml,) = csv.DictReader(io.StringIO(downloads(open_app("views/tenant_bill.py", tenant="ml"))))
    assert sum(D(ml[p]) for p in parts) == D(ml["total"]) == billed["lines"]["ml"]["total"]


# --- an address naming what is not a choice --------------------------------------------------------


def filters(at: AppTest) -> dict:
    return {s.key.removeprefix("filter_"): s.value for s in at.selectbox if s.key and s.key.startswith("filter_")}


def shows_nothing(at: AppTest) -> bool:
    return not at.metric and not at.dataframe and not at.get("plotly_chart") and not at.title


def test_an_unknown_period_in_the_address_says_so(env):
    at = open_app("views/tenant_bill.py", period="1999-01", tenant="ml")
    assert [e.value for e in at.error] == [
        "The address asks for period '1999-01': the warehouse has no bill for it. Choose one in the sidebar (2026-10)."
    ]
    assert shows_nothing(at) and filters(at) == {"period": None}
    assert at.query_params["period"] == "1999-01"  # the link is left as it came
    at.selectbox(key="filter_period").select(PERIOD).run()
    assert not at.error and at.title[0].value == f"Bill · ml · {PERIOD}"
    assert at.query_params == {"period": PERIOD, "tenant": "ml"}


def test_an_unknown_tenant_in_the_address_says_so(env):
    at = open_app("views/tenant_bill.py", tenant="nobody-here")
    assert [e.value for e in at.error] == [
        "The address asks for tenant 'nobody-here': no tenant of that name has costs in 2026-10. "
        "Choose one in the sidebar (data-eng, ml, payments, risk)."
    ]
    assert shows_nothing(at) and filters(at)["tenant"] is None


def test_someone_elses_tenant_in_the_address_says_so_and_shows_nothing(env):
    env.setattr(runtime, "viewer", lambda: Viewer("ann@example.com", frozenset({"ml"})))
    at = open_app(tenant="payments")
    assert [e.value for e in at.error] == [
        "The address asks for tenant 'payments': no tenant of yours of that name has costs in 2026-10. "
        "Choose one in the sidebar (ml)."
    ]
    assert shows_nothing(at) and at.selectbox(key="filter_tenant").options == ["ml"]
    at.selectbox(key="filter_tenant").select("ml").run()
    assert not at.error and metric(at, "Total billed") == "$1,211.06"


# --- parts come from the bill -----------------------------------------------------------------------


def test_a_part_the_bill_gains_shows_up_on_the_pages_unedited():
    parts = {"compute": D("1.00"), "idle": D("0.50"), "adjustment": D("-0.25")}
    bill = Bill("2026-11", "USD", None, D("1.25"), D("1.25"), D("0"), (BillLine("ml", D("1.25"), parts, D("1.25")),))
    assert bills.bill_frame(bill).columns == ["line", "compute", "idle", "adjustment", "total"]
    assert bills.bill_columns(bill) == {"total": "Total", "compute": "Compute", "idle": "Idle share",
                                        "adjustment": "Adjustment"}  # fmt: skip
    table_rows = bills.bill_parts_table(parts, D("1.25")).rows()
    assert table_rows == [("Compute", 1.0), ("Idle share", 0.5), ("Adjustment", -0.25), ("Total", 1.25)]
    assert {t.name for t in bills.bill_split(bills.bill_frame(bill)).data} == {"Compute", "Idle share", "Adjustment"}


# --- two months of a small cluster ------------------------------------------------------------------

NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)


def two_months() -> Scenario:
    """October's last two hours and November's first three, on a node of 3 vCPU / 12 GiB (scad weights: 9 per
    vCPU, 1 per GiB, so 39 weight units) and, for one November hour, a second node."""
    s = Scenario(cluster="two-months")
    pod = {"cpu_request": 1, "cpu_usage": 0.5, "memory_request_gib": 4, "memory_usage_gib": 2}
    s.node("n1", "m5.xlarge", [742, 743], 1.00, vcpu=3, memory_gib=12)
    s.node("n1", "m5.xlarge", [744, 745, 746], 1.01, vcpu=3, memory_gib=12)
    s.node("n2", "m5.xlarge", [744], 0.10, vcpu=3, memory_gib=12)
    for tenant in ("alpha", "beta", "gamma"):
        s.label_namespace(tenant, range(742, 747), {"tenant": tenant})
    s.label_namespace("delta", [744], {"tenant": "delta"})
    s.pod("alpha", "a-1", "n1", range(742, 747), **pod)
    s.pod("beta", "b-1", "n1", range(742, 747), **pod)
    s.pod("gamma", "g-1", "n1", [742, 743], **pod)
    s.pod("delta", "d-1", "n2", [744], cpu_request=3, cpu_usage=1, memory_request_gib=12, memory_usage_gib=4)
    for row in s.cur:  # November's lines belong to November's billing period
        if row["line_item_usage_start_date"] >= NOVEMBER:
            row["bill_billing_period_start_date"] = NOVEMBER
            row["bill_billing_period_end_date"] = datetime(2026, 12, 1, tzinfo=UTC)
    return s


@pytest.fixture
def two_month_dir(tmp_path, env) -> Path:
    where = tmp_path / "two" / "data"
    two_months().write(where)
    build(config_module.parse({"data_dir": str(where)}))
    env.setenv("CHARGEBACK_DATA_DIR", str(where))
    clear_streamlit_caches()
    return where


def test_month_over_month_compares_two_bills_to_the_cent(two_month_dir):
    # October (2 hours at $1.00): alpha, beta and gamma each allocate 1 vCPU + 4 GiB = 13 of 39 units, a third of
    # the node: 2/3 = 0.666… each. The bill's $2.00 by largest remainder: floors 0.66 × 3 = 1.98, two cents to
    # the equal remainders in name order: alpha 0.67, beta 0.67, gamma 0.66.
    # November: n1 at $1.01 for 3 hours with alpha and beta: each a third as compute (0.336667/h) plus half of the
    # unused third as idle share (0.168333/h): 0.505/h, 1.515 each; floors 1.51 + 1.51 = 3.02 of 3.03, the cent to
    # alpha (name order): alpha 1.52, beta 1.51. delta fills n2 for an hour: 0.10. Total 3.13.
    october, november = (cli_bill(two_month_dir, p) for p in ("2026-10", "2026-11"))
    assert {line["tenant"]: line["total"] for line in october["lines"]} == {
        "alpha": "0.67", "beta": "0.67", "gamma": "0.66"
    }  # fmt: skip
    assert {line["tenant"]: line["total"] for line in november["lines"]} == {
        "alpha": "1.52", "beta": "1.51", "delta": "0.10"
    }  # fmt: skip
    at = open_app(period="2026-11")
    mom = next(f.value for f in at.dataframe if "previous_month" in f.value.columns).set_index("line")
    got = {line: (cents(r["this_month"]), cents(r["previous_month"]), cents(r["change"])) for line, r in mom.iterrows()}
    assert got == {
        "alpha": (D("1.52"), D("0.67"), D("0.85")),
        "beta": (D("1.51"), D("0.67"), D("0.84")),
        "delta": (D("0.10"), D("0.00"), D("0.10")),  # new this month: up from $0, no percent
        "gamma": (D("0.00"), D("0.66"), D("-0.66")),
        "Total": (D("3.13"), D("2.00"), D("1.13")),
    }
    pct = mom["change_pct"]
    assert pct["alpha"] == pytest.approx(0.85 / 0.67) and pct["gamma"] == pytest.approx(-1.0)
    assert pd_null(pct["delta"]) and pd_null(pct["Total"])
    bars = chart(at, "month_over_month")["data"]
    changes = {y: x for trace in bars for y, x in zip(values(trace["y"]), values(trace["x"]), strict=True)}
    assert {k: cents(v) for k, v in changes.items()} == {
        "alpha": D("0.85"), "beta": D("0.84"), "delta": D("0.10"), "gamma": D("-0.66")
    }  # fmt: skip
    assert not any("No data" in i.value for i in at.info)


def pd_null(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def test_month_over_month_frame_unit():
    """``has_previous`` tells no data (nulls) from $0 (a line new this month)."""
    frame = pl.DataFrame(
        {"tenant": ["a"], "this_month": [1.0], "previous_month": [None], "change": [None]},
        schema={"tenant": pl.String, "this_month": pl.Float64, "previous_month": pl.Float64, "change": pl.Float64},
    )
    assert not bills.has_previous(frame)
    assert bills.has_previous(frame.with_columns(previous_month=pl.lit(0.0), change=pl.lit(1.0)))


def test_money_rounds_half_up_as_the_bill_does():
    # A source total of $2,402.125 is billed $2,402.13 (half-up): the "Source bill" card must say the same, not
    # $2,402.12 (Decimal's default, half-even).
    from dashboards.charts.common import money

    assert money(D("2402.125")) == "$2,402.13"
    assert money(D("-0.125")) == "-$0.13"


def test_a_job_run_is_the_same_cents_on_every_page(data_dir):
    """The EMR jobs page (every tenant), the same page for one tenant and the tenant's drill-down give each run
    the same cents: one breakdown, not three roundings."""
    from dashboards import data

    wh = data.Warehouse(config_module.load(None).model_copy(update={"data_dir": data_dir}))
    everyone = Viewer("fin@example.com", None)
    every = data.emr_jobs(wh, everyone, PERIOD).filter(pl.col("tenant") == "ml").sort("job_run_id")
    mine = data.emr_jobs(wh, everyone, PERIOD, None, "ml").sort("job_run_id")
    assert every.select("job_run_id", "compute", "idle", "emr").equals(
        mine.select("job_run_id", "compute", "idle", "emr")
    )
    drill = (
        data.workloads(wh, everyone, PERIOD, "ml")
        .filter(pl.col("emr_job_run_id").is_not_null())
        .group_by("emr_job_run_id")
        .agg(pl.col("compute", "idle").sum())
        .sort("emr_job_run_id")
    )
    assert drill["emr_job_run_id"].to_list() == mine["job_run_id"].to_list()  # ml's 35 runs
    assert [cents(v) for v in drill["compute"]] == [cents(v) for v in mine["compute"]]
    assert [cents(v) for v in drill["idle"]] == [cents(v) for v in mine["idle"]]
