"""The workload a pod belongs to, from the owners of its ReplicaSet or Job (kube-state-metrics'
``kube_replicaset_owner`` and ``kube_job_owner``, landed as ``prometheus/owners``), and the name guess where
there is no owner record; a pod's workload never depends on owner records dated after its first day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chargeback.build.engines import build
from chargeback.build.warehouse import connect
from chargeback.core import config as config_module
from tests.factory import START, Scenario, hour
from tests.test_incremental import assert_same_marts, snapshot

TEAM = {"namespaces": [{"pattern": "shop", "tenant": "shop"}]}
ONE_CPU = {"cpu_request": 1, "cpu_usage": 0.5, "memory_request_gib": 2, "memory_usage_gib": 1}

# pod -> (its owner as kube_pod_info names it, the owner record of that owner (None: it has none; absent: no
# record), the workload expected), all in namespace "shop".
CASES = {
    # a Deployment whose ReplicaSet is not named <deployment>-<hash>: the guess would say "api-canary"
    "api-canary-v2-x7k2p": (("ReplicaSet", "api-canary-v2"), ("Deployment", "api"), ("Deployment", "api")),
    # an Argo Rollout's ReplicaSet: the guess would say Deployment "search"
    "search-5d8f7c9b6-q2w8e": (
        ("ReplicaSet", "search-5d8f7c9b6"),
        ("Rollout", "site-search"),
        ("Rollout", "site-search"),
    ),
    # a bare ReplicaSet: the guess would say Deployment "legacy"
    "legacy-cache-m4n5b": (("ReplicaSet", "legacy-cache"), None, ("ReplicaSet", "legacy-cache")),
    # a CronJob's Job, and a Job of no CronJob
    "report-29345040-z9x8c": (("Job", "report-29345040"), ("CronJob", "report"), ("CronJob", "report")),
    "migrate-db-h6j7k": (("Job", "migrate-db"), None, ("Job", "migrate-db")),
    # no owner record at all (data collected before owners were): the guess from the ReplicaSet's name
    "worker-6c7d8f9b5-r5t6y": (("ReplicaSet", "worker-6c7d8f9b5"), "absent", ("Deployment", "worker")),
    "batch-once-p0o9i": (("Job", "batch-once"), "absent", ("Job", "batch-once")),
    # other controllers and bare pods as before
    "db-0": (("StatefulSet", "db"), "absent", ("StatefulSet", "db")),
    "debug": (None, "absent", ("Pod", "debug")),
}


def shop(owners: bool = True) -> Scenario:
    s = Scenario()
    s.node("n1", "m5.2xlarge", range(24), 0.384, vcpu=8, memory_gib=32)
    for pod, (owner, record, _) in CASES.items():
        s.pod("shop", pod, "n1", range(24), owner=owner, **ONE_CPU)
        if owners and record != "absent":
            s.owner("shop", owner[0], owner[1], record)
    if owners:  # a record dated after the pods' first day is not read for them
        s.owner("shop", "ReplicaSet", "worker-6c7d8f9b5", ("Deployment", "backend"), day=1)
    return s


def workloads(built) -> dict[str, tuple[str, str]]:
    rows = built.rows("select pod, workload_kind, workload_name from intermediate.int_pods")
    return {pod: (kind, name) for pod, kind, name in rows}


def test_each_pod_lands_under_the_owner_of_its_replicaset_or_job(build_scenario):
    built = build_scenario(shop(), tenancy=TEAM)
    assert workloads(built) == {pod: expected for pod, (_, _, expected) in CASES.items()}
    # What the drill-down reads: the month's workloads, each pod's cost under its own workload.
    rows = built.rows(
        "select workload_kind, workload_name, pods, compute_cost + idle_cost"
        " from marts.fct_workload_costs_monthly where namespace = 'shop'"
    )
    assert {(kind, name): pods for kind, name, pods, _ in rows} == {expected: 1 for _, _, expected in CASES.values()}
    # nine equal pods fill the node (9 of 8 vCPUs requested: no idle): each costs a ninth of the day's $9.216
    assert {round(float(cost), 9) for *_, cost in rows} == {round(0.384 * 24 / 9, 9)}


def test_owner_records_move_no_money(build_scenario, tmp_path):
    with_owners = build_scenario(shop(), tenancy=TEAM).tenant_totals()
    config = config_module.parse({"data_dir": str(tmp_path / "without"), "tenancy": TEAM})
    shop(owners=False).write(tmp_path / "without")
    build(config)
    with connect(config) as con:
        rows = con.execute("select tenant, sum(total_cost) from marts.fct_tenant_costs_daily group by tenant")
        without = {t: float(v) for t, v in rows.fetchall() if abs(v) > 1e-9}
    assert with_owners == without
    assert with_owners["shop"] == pytest.approx(0.384 * 24, abs=1e-9)


def test_the_latest_record_on_or_before_the_first_day_names_the_owner(build_scenario):
    """A ReplicaSet adopted by another Deployment: a pod first seen after the change is the new owner's, one seen
    before stays the old one's (its workload was settled on its first day)."""
    s = Scenario()
    s.node("n1", "m5.2xlarge", range(48), 0.384, vcpu=8, memory_gib=32)
    early = s.pod("shop", "app-7c9d8-aaaaa", "n1", range(48), owner=("ReplicaSet", "app-7c9d8"), **ONE_CPU)
    late = s.pod("shop", "app-7c9d8-bbbbb", "n1", range(24, 48), owner=("ReplicaSet", "app-7c9d8"), **ONE_CPU)
    s.pods[late]["date"] = hour(24).date()
    s.owner("shop", "ReplicaSet", "app-7c9d8", ("Deployment", "app-v1"), day=0)
    s.owner("shop", "ReplicaSet", "app-7c9d8", ("Deployment", "app-v2"), day=1)
    rows = build_scenario(s, tenancy=TEAM).rows("select pod_uid, workload_name from intermediate.int_pods")
    assert dict(rows) == {early: "app-v1", late: "app-v2"}


def three_days() -> Scenario:
    """Pods first seen on each of three days, all under ReplicaSet ``api-canary-v2`` (of Deployment ``api``) or
    the Job ``report-1`` (of CronJob ``report``); no owner records yet."""
    s = Scenario()
    s.node("n1", "m5.2xlarge", range(72), 0.384, vcpu=8, memory_gib=32)
    for day in range(3):
        hours = range(24 * day, 72)
        rs = s.pod("shop", f"api-canary-v2-day{day}", "n1", hours, owner=("ReplicaSet", "api-canary-v2"), **ONE_CPU)
        job = s.pod("shop", f"report-1-day{day}", "n1", hours, owner=("Job", "report-1"), **ONE_CPU)
        for uid in (rs, job):
            s.pods[uid]["date"] = (START + timedelta(days=day)).date()
    return s


def test_owners_landed_a_day_later_rebuild_that_day_and_after_and_equal_a_full_build(tmp_path):
    data_dir = tmp_path / "data"
    s = three_days()
    s.write(data_dir)
    config = config_module.parse({"data_dir": str(data_dir), "tenancy": TEAM})
    build(config)
    with connect(config) as con:
        guessed = dict(con.execute("select pod, workload_name from intermediate.int_pods").fetchall())
    assert set(guessed.values()) == {"api-canary", "report-1"}  # no records: the guess, the Job itself

    # kube-state-metrics' owner series are collected from day two on (their files land after the first build).
    s.owners = []
    s.owner("shop", "ReplicaSet", "api-canary-v2", ("Deployment", "api"), day=1)
    s.owner("shop", "Job", "report-1", ("CronJob", "report"), day=1)
    s.owner("shop", "ReplicaSet", "api-canary-v2", ("Deployment", "api"), day=2)
    s.owner("shop", "Job", "report-1", ("CronJob", "report"), day=2)
    Scenario(owners=s.owners).write(data_dir)
    result = build(config)
    refreshed = result.refreshed["intermediate.int_pods"]
    assert (refreshed.whole, refreshed.days, refreshed.rebuilt) == (False, 3, 2)  # days two and three
    with connect(config) as con:
        names = dict(con.execute("select pod, workload_name from intermediate.int_pods").fetchall())
    assert names == {
        "api-canary-v2-day0": "api-canary",  # first seen before any record: settled by the guess
        "report-1-day0": "report-1",
        "api-canary-v2-day1": "api",
        "report-1-day1": "report",
        "api-canary-v2-day2": "api",
        "report-1-day2": "report",
    }
    incremental = snapshot(config)
    build(config, full=True)
    assert_same_marts(incremental, snapshot(config))
