"""Costs over any days, grouped by any dimension (chargeback/reports/costs.py, `chargeback costs`).

By hand on a two-month cluster: one node, 4 vCPU and 16 GiB at $1.00 an hour, running 2026-10-01 and 02 (hours
0-47) and 2026-11-01 (hours 744-767). Namespace team-a (tenant alpha) runs a pod requesting and using 2 vCPU and
8 GiB every hour, labelled app=web and team=a; team-b (tenant beta) one of 1 vCPU and 4 GiB, labelled team=b only.
With the scad weights (cpu 9, memory 1) the unit price is $1/52 an hour: alpha's split 26/52 = $0.50, its idle share
(unused 1 vCPU and 4 GiB, by allocation) 6/52 + (8/3)/52 = $1/6, so $2/3 an hour, $16.00 a day; beta $1/3 an hour,
$8.00 a day. Every cost of either is compute or idle share (no shared namespace, no EMR, no tagged resource).

And on the sample month: whole-month figures equal the bill and the Tenant bill's drill-down to the cent, each
group within a cent of a plain sum over the marts (by label: over the priced pod-hours and the pods' first records),
and cutting a month into ranges never moves a cent between groups.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from decimal import Decimal

import polars as pl
import pyarrow as pa
import pytest

from chargeback.build.engines import build
from chargeback.build.warehouse import connect
from chargeback.core import config as config_module
from chargeback.core.errors import ChargebackError, DataError
from chargeback.raw.landing import land
from chargeback.reports import breakdown
from chargeback.reports.bill import PARTS, monthly_bill
from chargeback.reports.close import close_period
from chargeback.reports.costs import NOT_BY_DAY, REST_GROUP, costs, label_keys, parse_dimension
from collectors import streams
from tests.factory import Scenario, hour
from tests.sample_support import copy_built
from tests.test_closed_periods import cluster

OCT_1, OCT_2, OCT_31 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 31)
NOV_1, NOV_30 = date(2026, 11, 1), date(2026, 11, 30)
CENT = Decimal("0.01")
CLUSTER = "test-cluster"  # tests/factory.py's


def dollars(cents) -> Decimal:
    return Decimal(int(cents)) / 100


def by_group(found) -> dict[str, Decimal]:
    return {row["group"]: dollars(row["total"]) for row in found.table().iter_rows(named=True)}


def two_months(restated_cost: float = 1.0) -> Scenario:
    """tests/test_closed_periods.py's cluster (the module docstring's), its pods labelled."""
    return cluster(restated_cost, labels={"team-a": {"app": "web", "team": "a"}, "team-b": {"team": "b"}})


@pytest.fixture
def fleet(tmp_path):
    data_dir = tmp_path / "data"
    two_months().write(data_dir)
    config = config_module.parse({"data_dir": str(data_dir)})
    build(config)
    return config


def test_a_range_across_two_months_by_hand(fleet):
    found = costs(fleet, OCT_2, NOV_1, "tenant")
    assert found.periods == ("2026-10", "2026-11")
    assert found.whole == ()  # October is cut to its day 2, November to its day 1
    assert by_group(found) == {"alpha": Decimal("32.00"), "beta": Decimal("16.00")}
    monthly = {(r["when"], r["group"]): dollars(r["total"]) for r in found.series("month").iter_rows(named=True)}
    assert monthly == {
        ("2026-10", "alpha"): Decimal("16.00"), ("2026-10", "beta"): Decimal("8.00"),
        ("2026-11", "alpha"): Decimal("16.00"), ("2026-11", "beta"): Decimal("8.00"),
    }  # fmt: skip
    daily = {(r["when"], r["group"]): dollars(r["total"]) for r in found.series("day").iter_rows(named=True)}
    assert daily[("2026-10-02", "alpha")] == Decimal("16.00")
    assert ("2026-10-01", "alpha") not in daily  # outside the range
    # the whole of both months: their bills
    whole = costs(fleet, OCT_1, NOV_30, "tenant")
    assert by_group(whole) == {"alpha": Decimal("48.00"), "beta": Decimal("24.00")}
    assert whole.total() == monthly_bill(fleet, "2026-10").total + monthly_bill(fleet, "2026-11").total


def test_by_label_namespace_and_cluster_by_hand(fleet):
    # app=web is alpha's pod; beta's has no app label, so its costs are beta's rest
    assert by_group(costs(fleet, OCT_2, NOV_1, "label:app")) == {"web": Decimal("32.00"), REST_GROUP: Decimal("16.00")}
    assert by_group(costs(fleet, OCT_2, NOV_1, "label:team")) == {"a": Decimal("32.00"), "b": Decimal("16.00")}
    assert by_group(costs(fleet, OCT_2, NOV_1, "namespace")) == {"team-a": Decimal("32.00"), "team-b": Decimal("16.00")}
    # each pod's ReplicaSet (team-a, team-b) read as a Deployment's with its last "-suffix" cut off (no
    # kube_replicaset_owner data here): a workload "team" in each namespace
    workloads = costs(fleet, OCT_2, NOV_1, "workload").table()
    found = {(r["namespace"], r["group"]): dollars(r["total"]) for r in workloads.iter_rows(named=True)}
    assert found == {("team-a", "Deployment/team"): Decimal("32.00"), ("team-b", "Deployment/team"): Decimal("16.00")}
    assert by_group(costs(fleet, OCT_2, NOV_1, "cluster")) == {CLUSTER: Decimal("48.00")}
    only_beta = costs(fleet, OCT_2, NOV_1, "label:team", tenant="beta")
    assert by_group(only_beta) == {"b": Decimal("16.00")}
    assert [key for key, _ in label_keys(fleet, OCT_1, NOV_30)] == ["app", "team"]


def test_adjustments_count_only_with_their_whole_month(fleet):
    """October closed, then its CUR restated (hour 5 costs $2.00, not $1.00): November's bill carries the $1.00 as
    adjustments, alpha 2/3 and beta 1/3 of it (they split that node-hour 2:1). A range holding all of November
    counts them (not by day); a range of November's first day does not."""
    close_period(fleet, "2026-10")
    restated = two_months(restated_cost=2.0)
    rows = [line for line in restated.cur if line["line_item_usage_start_date"] < hour(744)]
    land(fleet.data_dir, streams.CUR_LINE_ITEMS, pa.Table.from_pylist(rows, schema=streams.CUR_LINE_ITEMS.schema))
    build(fleet)
    november = costs(fleet, NOV_1, NOV_30, "tenant")
    assert by_group(november) == {"alpha": Decimal("16.67"), "beta": Decimal("8.33")}
    assert november.total() == monthly_bill(fleet, "2026-11").total
    assert by_group(costs(fleet, NOV_1, NOV_1, "tenant")) == {"alpha": Decimal("16.00"), "beta": Decimal("8.00")}
    by_label = by_group(costs(fleet, NOV_1, NOV_30, "label:team"))
    assert by_label == {"a": Decimal("16.00"), "b": Decimal("8.00"), NOT_BY_DAY: Decimal("1.00")}
    # October stays its closed bill
    assert by_group(costs(fleet, OCT_1, OCT_31, "tenant")) == {"alpha": Decimal("32.00"), "beta": Decimal("16.00")}


def test_bad_ranges_and_dimensions_are_refused(fleet):
    with pytest.raises(ChargebackError, match="ends before it starts"):
        costs(fleet, NOV_1, OCT_2, "tenant")
    with pytest.raises(DataError, match="no costs between 2025-01-01 and 2025-01-31"):
        costs(fleet, date(2025, 1, 1), date(2025, 1, 31), "tenant")
    with pytest.raises(ChargebackError, match="cannot group costs by 'pods'"):
        parse_dimension("pods")
    with pytest.raises(ChargebackError, match="cannot group costs by 'label:'"):
        parse_dimension("label:")


# --- the sample month ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory, built_sample):
    return copy_built(built_sample, tmp_path_factory.mktemp("costs") / "data")


@pytest.mark.parametrize("by", ["tenant", "cluster", "namespace", "workload", "label:app", "label:spark-role"])
def test_a_whole_month_adds_up_to_each_bill_line(sample, by):
    found = costs(sample, OCT_1, OCT_31, by)
    bill = monthly_bill(sample, "2026-10")
    assert found.total() == bill.total == Decimal("2928.07")
    lines = found.rows.group_by("tenant").agg(pl.col(p).sum() for p in PARTS)
    for row in lines.iter_rows(named=True):
        line = (
            next(line for line in bill.lines if line.tenant == row["tenant"]) if row["tenant"] != "__shared__" else None
        )
        for part in PARTS:
            assert dollars(row[part]) == (line.parts[part] if line else 0), (row["tenant"], part)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, built_demo):
    return copy_built(built_demo, tmp_path_factory.mktemp("costs-demo") / "data")


def test_the_three_months_of_the_sample_are_their_bills(demo):
    """August to October by tenant, per month: each month whole, each tenant's month its bill line to the cent (the
    history months, generated by sample_data/history.py, and October)."""
    found = costs(demo, date(2026, 8, 1), OCT_31, "tenant")
    assert found.periods == found.whole == ("2026-08", "2026-09", "2026-10")
    months = found.series("month")
    for period in found.periods:
        bill = monthly_bill(demo, period)
        mine = {r["group"]: dollars(r["total"]) for r in months.filter(pl.col("when") == period).iter_rows(named=True)}
        assert mine == {line.tenant: line.total for line in bill.lines}, period
    assert found.total() == Decimal("2573.81") + Decimal("2612.81") + Decimal("2928.07")


def test_namespaces_are_the_drill_down_s_cents(sample):
    """A whole month by namespace gives each namespace the cents the Tenant bill page's drill-down gives it."""
    found = costs(sample, OCT_1, OCT_31, "namespace").table().filter(~pl.col("group").str.starts_with("("))
    bill = monthly_bill(sample, "2026-10")
    with connect(sample) as con:
        leaves = con.sql(
            "select tenant, namespace, workload_kind, workload_name, emr_job_run_id, sum(compute_cost) as compute,"
            " sum(idle_cost) as idle, sum(storage_cost) as storage, sum(network_cost) as network"
            " from marts.fct_workload_costs_monthly where period = '2026-10' group by all"
        ).pl()
    drill = breakdown.workload_cents(leaves, bill).filter(~pl.col(breakdown.REST) & (pl.col("tenant") != "__shared__"))
    expected = drill.group_by("tenant", "namespace").agg(pl.sum_horizontal(*breakdown.WORKLOAD_PARTS).sum().alias("c"))
    mine = {(r["tenant"], r["group"]): r["total"] for r in found.iter_rows(named=True)}
    assert {(r["tenant"], r["namespace"]): r["c"] for r in expected.iter_rows(named=True)}.items() <= mine.items()


def test_each_label_value_within_a_cent_of_its_pods_exact_cost(sample):
    """The reference: every priced pod-hour's compute and idle share, grouped by the app label of the pod's first
    record (read from the validated pod records, not from the label mart)."""
    with connect(sample) as con:
        reference = dict(
            con.execute(
                """with firsts as (
                    select cluster, pod_uid, min(date) as first_date from validated.prometheus__pods group by all
                ), apps as (
                    select distinct p.cluster, p.pod_uid, f.first_date, p.labels['app'] as app
                    from validated.prometheus__pods p join firsts f
                        on f.cluster = p.cluster and f.pod_uid = p.pod_uid and f.first_date = p.date
                )
                select app, sum(cpu_cost + memory_cost + gpu_cost + idle_cost)
                from intermediate.int_pod_hours_priced h join apps a
                    on a.cluster = h.cluster and a.pod_uid = h.pod_uid and a.first_date <= cast(h.hour as date)
                where app is not null and h.tenant <> '__shared__'
                group by app"""
            ).fetchall()
        )
    found = costs(sample, OCT_1, OCT_31, "label:app")
    mine = found.rows.filter(pl.col("tenant") != "__shared__").group_by("label_value").agg(pl.col("total").sum())
    mine = {r["label_value"]: dollars(r["total"]) for r in mine.iter_rows(named=True) if r["label_value"]}
    assert set(mine) == set(reference)
    tenants = found.rows.filter(pl.col("tenant") != "__shared__")["tenant"].n_unique()
    for app, exact in reference.items():
        # each (tenant, value) is within a cent of its exact sum; a value is in at most every tenant's lines
        assert abs(mine[app] - exact) <= CENT * tenants, app


def test_cutting_a_month_into_ranges_moves_no_cent_between_groups(sample):
    for by in ("tenant", "namespace", "label:app"):
        whole = costs(sample, OCT_1, OCT_31, by).table()
        pieces = [
            costs(sample, a, b, by).table() for a, b in ((OCT_1, date(2026, 10, 9)), (date(2026, 10, 10), OCT_31))
        ]
        keys = [c for c in whole.columns if c not in (*PARTS, "total")]
        summed = pl.concat(pieces).group_by(keys).agg(pl.col(p).sum() for p in (*PARTS, "total"))
        joined = whole.join(summed, on=keys, how="full", nulls_equal=True, suffix="_pieces")
        moved = joined.filter(pl.col("total").fill_null(0) != pl.col("total_pieces").fill_null(0))
        assert moved.is_empty(), (by, moved)


def test_a_partial_range_is_within_a_cent_a_day_of_the_exact_daily_costs(sample):
    first, last = date(2026, 10, 5), date(2026, 10, 11)
    with connect(sample) as con:
        exact = dict(
            con.execute(
                "select tenant, sum(total_cost) from marts.fct_tenant_costs_daily where date between ? and ?"
                " group by tenant",
                [first, last],
            ).fetchall()
        )
    found = by_group(costs(sample, first, last, "tenant"))
    assert set(found) == {t for t, v in exact.items() if abs(v) >= CENT / 2}
    for tenant, amount in found.items():
        assert abs(amount - exact[tenant]) <= CENT * 7, tenant


def test_the_command_prints_the_report(sample):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "chargeback", "costs", *args, "--data-dir", str(sample.data_dir)],
            capture_output=True, text=True, timeout=60, cwd=sample.data_dir.parent,
        )  # fmt: skip

    done = run("--period", "2026-10", "--by", "namespace", "--tenant", "ml", "--format", "json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    bill = monthly_bill(sample, "2026-10", tenant="ml")
    assert Decimal(body["total"]) == bill.total == Decimal("1211.06")
    assert sum(Decimal(r["total"]) for r in body["rows"]) == bill.total
    assert {r["group"] for r in body["rows"]} >= {"ml-serving", "ml-training", "feature-store", "emr-ml", REST_GROUP}
    shared = sum(Decimal(r["shared"]) for r in body["rows"])
    assert shared == bill.lines[0].parts["shared"] == Decimal("189.57")
    csv = run("--from", "2026-10-05", "--to", "2026-10-06", "--by", "label:app", "--every", "day", "--format", "csv")
    assert csv.returncode == 0 and csv.stdout.startswith("when,group,total\n2026-10-05,")
    listed = run("--labels", "--period", "2026-10")
    assert "label:app.kubernetes.io/name" in listed.stdout and "label:spark-role  (2 values)" in listed.stdout
    for args, message in (
        (("--period", "2026-10", "--by", "pods"), "cannot group costs by 'pods'"),
        (("--from", "2026-10-09", "--to", "2026-10-02"), "ends before it starts"),
        (("--from", "2026-10-09"), "give a range"),
        (("--from", "2026-10-9x", "--to", "2026-10-10"), "--from '2026-10-9x' is not a day YYYY-MM-DD"),
        (("--period", "2025-01"), "no costs between 2025-01-01 and 2025-01-31"),
    ):
        failed = run(*args)
        assert failed.returncode == 2 and message in failed.stderr and "Traceback" not in failed.stderr, failed.stderr
