"""The value rules (docs/method.md#validation), each on a hand-sized cluster with its figures worked by hand.

One cluster holds a node per rule, so each node's money can be worked out alone: every node is an
m5.xlarge (4 vCPU, 16 GiB) at $1 for hour 0, so with the scad weights u = 1/52, the node's vCPU cost 36/52 and
its memory 16/52, and in idle mode `node` each pod pays its share of each resource's allocation:
cost = a_cpu / Σa_cpu × 36/52 + a_mem / Σa_mem × 16/52. Unless a test says otherwise a pod requests 1 vCPU and
4 GiB and uses 0.5 vCPU and 2 GiB for the whole hour, so it allocates (1 core-hour, 4 GiB-hours).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chargeback.build.engines import build
from chargeback.build.warehouse import connect
from chargeback.cli import app
from chargeback.core import config as config_module
from chargeback.core.errors import DataError
from chargeback.scheduler.jobs import RunRequest
from chargeback.scheduler.jobs import build as scheduled_build
from tests.factory import GIB, Scenario

NAN, INF = float("nan"), float("inf")
TENANCY = {
    "namespaces": [
        {"pattern": "a-*", "tenant": "team-a"},
        {"pattern": "b-*", "tenant": "team-b"},
        {"pattern": "spark-*", "tenant": "team-c"},
    ]
}
SETTINGS = {"tenancy": TENANCY, "allocation": {"idle": "node", "shared": "separate"}}
POD_HOURS_FILE = "raw/prometheus/pod_hours/day=2026-10-01/data.parquet"


def m5(s: Scenario, name: str, **kwargs) -> str:
    return s.node(name, "m5.xlarge", [0], 1.0, vcpu=4, memory_gib=16, **kwargs)


def pod(s: Scenario, namespace: str, name: str, node: str, **raw: float) -> None:
    """A pod on ``node`` for hour 0 (1/0.5 vCPU, 4/2 GiB); ``raw`` overrides columns of its raw pod-hour."""
    s.pod(namespace, name, node, [0], cpu_request=1, cpu_usage=0.5, memory_request_gib=4, memory_usage_gib=2)
    s.pod_hours[-1].update(raw)


def every_rule() -> Scenario:
    s = Scenario()
    # Negative requests and usage: b-neg's pod-hour allocates (0, 0), a-neg's pays the whole node.
    m5(s, "n-neg")
    pod(s, "a-neg", "api", "n-neg")
    pod(s, "b-neg", "web", "n-neg", cpu_request_core_seconds=-3600.0, cpu_usage_core_seconds=-1800.0,
        memory_request_byte_seconds=-4.0 * GIB * 3600, memory_working_set_byte_seconds=-2.0 * GIB * 3600)  # fmt: skip
    # NaN usage: falls back to the request (1 core), so both pods allocate (1, 4) and pay half each.
    m5(s, "n-nan")
    pod(s, "a-nan", "api", "n-nan", cpu_usage_core_seconds=NAN)
    pod(s, "b-nan", "web", "n-nan")
    # Usage ×10⁶ (500,000 cores): above 4 cores × (3,600 + 60) s × 1.1, so the request (1 core) counts.
    m5(s, "n-big")
    pod(s, "a-big", "api", "n-big", cpu_usage_core_seconds=0.5e6 * 3600)
    pod(s, "b-big", "web", "n-big")
    # An infinite request counts as 0: a-inf allocates max(0, 0.5) = 0.5 cores against b-inf's 1.
    m5(s, "n-inf")
    pod(s, "a-inf", "api", "n-inf", cpu_request_core_seconds=INF)
    pod(s, "b-inf", "web", "n-inf")
    # Running seconds beyond the hour: clamped to 3,600; not money (the integrals are what is priced).
    m5(s, "n-time")
    pod(s, "a-time", "api", "n-time", running_seconds=7200.0)
    # A namespace labelled with a reserved name: the label is ignored, the map's a-* -> team-a applies.
    m5(s, "n-label")
    pod(s, "a-label", "api", "n-label")
    s.label_namespace("a-label", [0], {"tenant": "__shared__"})
    # A node labelled __idle__: not dedicated to anyone; its one pod's tenant pays it.
    m5(s, "n-dedicated", labels={"chargeback.io/tenant": "__idle__"})
    pod(s, "b-ded", "web", "n-dedicated")
    # A virtual cluster tagged __shared__: no tenant from the tag, so its namespace spark-x follows the map
    # (team-c) and its job's $2 EMR line goes to __unallocated__ (a known job of a virtual cluster with no tenant).
    m5(s, "n-vc")
    pod(s, "spark-x", "driver", "n-vc")
    s.virtual_cluster("vc-1", "analytics", "spark-x", tags={"tenant": "__shared__"})
    s.line(0, product_code="ElasticMapReduce", resource_id=s.job_run("job-1", "vc-1", "etl", 0), cost=2.0)
    # A CUR line tagged for tenant __shared__ ($23.45) and no cluster: the tag is ignored and no other rule claims
    # the line (with the cluster's tag it would be the cluster's overhead, docs/method.md#cluster-overhead).
    # Another one tagged team-b ($10): tagged to team-b. A credit (negative, out of scope) is allowed.
    s.line(0, product_code="AmazonS3", resource_id="bucket-x", cost=23.45, tags={"user_tenant": "__shared__"})
    s.line(0, product_code="AmazonS3", resource_id="bucket-b", cost=10.0,
           tags={"user_tenant": "team-b", "user_eks_cluster_name": s.cluster})  # fmt: skip
    s.line(0, product_code="AmazonEC2", resource_id="", cost=-5.0, line_item_type="Credit")
    # Cost Explorer: a day whose amount is not a number (used for estimates and the reconciliation only).
    s.cost_explorer_day(0, "SERVICE", "Amazon Elastic Compute Cloud - Compute", NAN)
    return s


@dataclass
class Built:
    config: config_module.Config
    notes: list[str]


@pytest.fixture(scope="module")
def every_rule_built(tmp_path_factory) -> Built:
    data_dir = tmp_path_factory.mktemp("validation") / "data"
    every_rule().write(data_dir)
    config = config_module.parse({"data_dir": str(data_dir), **SETTINGS})
    return Built(config, build(config).notes)


@pytest.fixture
def built(every_rule_built) -> config_module.Config:
    return every_rule_built.config


def rows(config: config_module.Config, sql: str, params: list | None = None) -> list[tuple]:
    with connect(config) as con:
        return con.execute(sql, params or []).fetchall()


def corrections(config: config_module.Config) -> dict[str, dict]:
    """The data-quality mart keyed by row (namespace/pod, node, namespace, ...) without the hour and uid."""
    found = {}
    for row in rows(config, "select * exclude (period, date, hour) from marts.fct_data_quality"):
        cluster, table, file, key, rules, original, corrected, tenant, raw_tenant, raw_cost, cost = row
        found[key.split(" ")[0]] = {
            "table": table, "file": file, "rules": rules, "original": original, "corrected": corrected,
            "tenant": tenant, "raw_tenant": raw_tenant, "raw_cost": raw_cost, "cost": cost,
        }  # fmt: skip
    return found


def tenant_totals(config: config_module.Config) -> dict[str, Fraction]:
    return {
        tenant: Fraction(total)
        for tenant, total in rows(
            config, "select tenant, sum(total_cost) from marts.fct_tenant_costs_daily group by tenant"
        )
        if abs(total) > Decimal("1e-9")
    }


def close(got, want, tolerance=Fraction(1, 10**9)) -> bool:
    return abs(Fraction(got) - Fraction(want)) <= tolerance


def test_bad_rows_move_no_money_and_every_dollar_is_billed(built):
    totals = tenant_totals(built)
    # team-a: n-neg 1 + n-nan 1/2 + n-big 1/2 + n-inf 20/52 + n-time 1 + n-label 1 = 4 + 20/52
    # team-b: n-nan 1/2 + n-big 1/2 + n-inf 32/52 + n-dedicated 1 + tagged 10 = 12 + 32/52
    # team-c: n-vc 1; __unallocated__: the EMR line of the virtual cluster with no tenant, 2.
    # Total 20 = 8 nodes + $2 EMR + $10 tagged; the $23.45 line tagged __shared__ is out of scope.
    want = {"team-a": 4 + Fraction(20, 52), "team-b": 12 + Fraction(32, 52), "team-c": 1, "__unallocated__": 2}
    assert totals.keys() == want.keys()
    assert all(close(totals[t], want[t]) for t in want), totals
    assert close(sum(totals.values()), 20)
    failed = rows(built, "select check_name from marts.checks where severity = 'error' and not passed")
    assert failed == []


def test_negative_requests_and_usage_count_as_zero_and_record_the_raw_cost(built):
    found = corrections(built)["b-neg/web"]
    assert found["table"] == "prometheus/pod_hours" and found["file"] == POD_HOURS_FILE
    assert found["rules"] == (
        "cpu_request_core_seconds: non_negative; memory_request_byte_seconds: non_negative; "
        "cpu_usage_core_seconds: non_negative; memory_working_set_byte_seconds: non_negative"
    )
    # -4 GiB × 3,600 s = -15,461,882,265,600 byte-seconds
    assert found["original"] == (
        "cpu_request_core_seconds=-3600; memory_request_byte_seconds=-15461882265600; "
        "cpu_usage_core_seconds=-1800; memory_working_set_byte_seconds=-7730941132800"
    )
    assert found["corrected"] == (
        "cpu_request_core_seconds=0; memory_request_byte_seconds=0; cpu_usage_core_seconds=0; "
        "memory_working_set_byte_seconds=0"
    )
    # As corrected it allocates nothing and pays 0 (a-neg pays the node's $1). With its raw values it would
    # allocate max(-1, -0.5) = -0.5 core-hours and max(-4, -2) = -2 GiB-hours; the node's allocation would be
    # 1 - 0.5 = 0.5 cores and 4 - 2 = 2 GiB, and the pod's share of each resource's whole cost
    # (-0.5 / 0.5) × 36/52 + (-2 / 2) × 16/52 = -1: a-neg would have paid $2, the defect.
    assert found["cost"] == 0 and close(found["raw_cost"], -1)
    assert found["tenant"] == found["raw_tenant"] == "team-b"


def test_usage_that_is_not_a_number_falls_back_to_the_request_and_no_longer_blocks_the_build(built):
    found = corrections(built)["a-nan/api"]
    assert (found["rules"], found["original"], found["corrected"]) == (
        "cpu_usage_core_seconds: finite",
        "cpu_usage_core_seconds=NaN",
        "cpu_usage_core_seconds=3600",
    )
    # Both pods allocate (1, 4): half of the node each. The raw cost cannot be computed (NaN).
    assert close(found["cost"], Fraction(1, 2)) and found["raw_cost"] is None


def test_usage_above_the_nodes_capacity_falls_back_to_the_request(built):
    found = corrections(built)["a-big/api"]
    assert (found["rules"], found["original"], found["corrected"]) == (
        "cpu_usage_core_seconds: within_capacity",
        "cpu_usage_core_seconds=1800000000",
        "cpu_usage_core_seconds=3600",
    )
    # Raw: a-big allocates 500,000 core-hours of 500,001 on the node: 500,000/500,001 × 36/52 of the CPU cost;
    # memory 4 of 8 GiB-hours: 16/52 / 2 = 8/52. As corrected half the node: 1/2.
    assert close(found["raw_cost"], (Fraction(36 * 500_000, 500_001) + 8) / 52, Fraction(1, 10**6))
    assert close(found["cost"], Fraction(1, 2))


def test_an_infinite_request_counts_as_zero(built):
    found = corrections(built)["a-inf/api"]
    assert (found["rules"], found["original"], found["corrected"]) == (
        "cpu_request_core_seconds: finite",
        "cpu_request_core_seconds=Infinity",
        "cpu_request_core_seconds=0",
    )
    # a-inf allocates max(0, 0.5) = 0.5 cores of 1.5 and 4 of 8 GiB: 0.5/1.5 × 36/52 + 8/52 = 20/52.
    assert close(found["cost"], Fraction(20, 52)) and found["raw_cost"] is None
    (cpu_request,) = rows(built, "select cpu_request_core_hours from marts.fct_pod_costs_hourly where pod = 'api'"
                                 " and namespace = 'a-inf'")[0]  # fmt: skip
    assert cpu_request == 0


def test_running_seconds_beyond_the_hour_are_clamped_to_it(built):
    found = corrections(built)["a-time/api"]
    assert (found["rules"], found["original"], found["corrected"]) == (
        "running_seconds: within_hour",
        "running_seconds=7200",
        "running_seconds=3600",
    )
    # The integrals are what is priced: the node's $1 either way.
    assert close(found["cost"], 1) and close(found["raw_cost"], 1)


def test_a_reserved_namespace_label_is_ignored_and_the_map_applies(built):
    found = corrections(built)["a-label"]
    assert found["table"] == "prometheus/namespace_labels"
    assert found["file"] == "raw/prometheus/namespace_labels/day=2026-10-01/data.parquet"
    assert (found["rules"], found["original"], found["corrected"]) == (
        "labels[tenant]: reserved_value",
        "labels[tenant]=__shared__",
        "labels[tenant]: ignored",
    )
    # The namespace-hour's $1 goes to team-a (rule a-*), not to __shared__.
    assert (found["tenant"], found["raw_tenant"]) == ("team-a", "__shared__")
    assert close(found["cost"], 1) and close(found["raw_cost"], 1)


def test_a_reserved_node_label_is_ignored_and_the_node_is_not_dedicated(built):
    found = corrections(built)["n-dedicated"]
    assert found["table"] == "prometheus/node_hours"
    assert found["rules"] == "labels[chargeback.io/tenant]: reserved_value"
    assert (found["tenant"], found["raw_tenant"]) == (None, "__idle__")
    assert close(found["cost"], 1) and close(found["raw_cost"], 1)
    assert rows(built, "select tenant from marts.fct_pod_costs_hourly where node = 'n-dedicated'") == [("team-b",)]


def test_a_reserved_virtual_cluster_tag_is_ignored(built):
    found = corrections(built)["vc-1"]
    assert found["table"] == "emr/virtual_clusters" and found["rules"] == "tags[tenant]: reserved_value"
    # What the tag would have routed: its namespace's pods ($1) and its job's EMR line ($2).
    assert found["raw_tenant"] == "__shared__" and close(found["raw_cost"], 3) and close(found["cost"], 3)


def test_a_reserved_cur_tag_is_ignored_and_the_line_leaves_the_scope(built):
    found = corrections(built)["bucket-x"]
    assert found["table"] == "cur/line_items"
    assert found["file"] == "raw/cur/line_items/billing_period=2026-10/data.parquet"
    # The default node tag and tenant tag are the same tag, `tenant`: both rules read it.
    assert found["rules"] == (
        "resource_tags[user_tenant] (node_tenant_tag): reserved_value; "
        "resource_tags[user_tenant] (tenant_tag): reserved_value"
    )
    assert found["original"] == (
        "resource_tags[user_tenant] (node_tenant_tag)=__shared__; resource_tags[user_tenant] (tenant_tag)=__shared__"
    )
    assert found["raw_tenant"] == "__shared__" and close(found["raw_cost"], Fraction("23.45")) and found["cost"] == 0


def test_a_cost_explorer_amount_that_is_not_a_number_is_unknown(built):
    (found,) = [c for c in corrections(built).values() if c["table"] == "cost_explorer/daily_costs"]
    assert (found["rules"], found["original"], found["corrected"]) == ("amount: finite", "amount=NaN", "amount=null")


def test_nothing_else_is_corrected_and_the_checks_count_them(built):
    assert sorted(corrections(built)) == sorted(
        ["b-neg/web", "a-nan/api", "a-big/api", "a-inf/api", "a-time/api", "a-label", "n-dedicated", "vc-1",
         "bucket-x", "SERVICE"]
    )  # fmt: skip
    counted = rows(built, "select cluster, actual from marts.checks where check_name = 'validation_corrections'")
    # 8 rows of the cluster (5 pod-hours, a label, a node-hour, the virtual cluster), the CUR line of no cluster
    # (bucket-x carries no cluster tag: __unknown__), and Cost Explorer's
    assert sorted(counted, key=str) == sorted([("test-cluster", 8), ("__unknown__", 1), (None, 1)], key=str)


def test_the_build_and_check_say_what_was_corrected(every_rule_built):
    built, notes = every_rule_built.config, every_rule_built.notes
    assert notes[0].startswith("10 raw row(s) broke a value rule and were corrected or ignored")
    result = CliRunner().invoke(app, ["check", "--data-dir", str(built.data_dir)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "validation: raw rows corrected or ignored" in result.output
    assert "prometheus/pod_hours" in result.output and "b-neg/web" in result.output
    assert "__shared__" in result.output


# --- in-scope CUR lines that break a rule stop the build -------------------------------------------------------


def two_nodes(currency: str = "USD", cost: float = 1.0) -> Scenario:
    s = Scenario()
    m5(s, "n-1")
    pod(s, "a-api", "api", "n-1")
    s.node("n-2", "m5.xlarge", [0, 1], None, vcpu=4, memory_gib=16)
    instance = s.node_hours[-1]["provider_id"].rsplit("/", 1)[1]
    for h in (0, 1):
        s.line(h, product_code="AmazonEC2", usage_type="BoxUsage:m5.xlarge", resource_id=instance, cost=cost,
               instance_type="m5.xlarge")  # fmt: skip
        s.cur[-1]["line_item_currency_code"] = currency
    s.line(0, product_code="AmazonEC2", resource_id="", cost=-3.0, line_item_type="Tax")  # out of scope
    s.cur[-1]["line_item_currency_code"] = "JPY"
    return s


@pytest.mark.parametrize(
    ("currency", "cost", "message"),
    [
        pytest.param("EUR", 622.345, r"2 line\(s\) breaking line_item_currency_code: currency, amount 1,244\.69 EUR",
                     id="another currency"),
        pytest.param("USD", NAN, r"2 line\(s\) breaking line_item_unblended_cost: finite; "
                     r"line_item_net_unblended_cost: finite; pricing_public_on_demand_cost: finite, "
                     r"amount not a number",
                     id="not a number"),
        pytest.param("USD", -2.5, r"2 line\(s\) breaking line_item_unblended_cost: non_negative; "
                     r"line_item_net_unblended_cost: non_negative; pricing_public_on_demand_cost: non_negative, "
                     r"amount -5\.00 USD", id="negative"),
    ],
)  # fmt: skip
def test_an_in_scope_cur_line_that_breaks_a_rule_stops_the_build_and_keeps_the_published_one(
    tmp_path, currency, cost, message
):
    data_dir = tmp_path / "data"
    two_nodes().write(data_dir)  # a good month first: $1 + 2 × $1
    config = config_module.parse({"data_dir": str(data_dir), **SETTINGS})
    build(config)
    published = config.warehouse_path.read_bytes()

    two_nodes(currency, cost).write(data_dir)  # the CUR again, n-2's two lines broken (the tax line is out of scope)
    with pytest.raises(DataError) as raised:
        build(config)
    text = str(raised.value)
    assert "\n" not in text
    assert text.startswith("2 in-scope CUR line(s) break a value rule; nothing was published, for any cluster: ")
    assert "raw/cur/line_items/billing_period=2026-10/data.parquet: " in text
    assert re.search(message, text), text
    assert config.warehouse_path.read_bytes() == published
    assert not list(data_dir.glob(".warehouse.*"))

    if currency == "EUR":  # as a user sees it: one line, exit 2
        result = subprocess.run(
            [sys.executable, "-m", "chargeback", "build", "--data-dir", str(data_dir)],
            capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "400"},
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        printed = " ".join(result.stderr.split())  # one message, wrapped by the console at its width
        assert printed == f"error: {' '.join(text.split())}"


def test_the_build_names_the_file_row_and_rule_of_a_pod_hour_not_a_model(tmp_path):
    """NaN in a pod-hour used to fail a model ("Could not cast value nan") and so every later build."""
    s = two_nodes()
    pod(s, "b-web", "web", "n-1", memory_working_set_byte_seconds=NAN)
    s.write(tmp_path / "data")
    config = config_module.parse({"data_dir": str(tmp_path / "data"), **SETTINGS})
    result = build(config)
    assert "1 raw row(s) broke a value rule" in result.notes[0]
    (row,) = rows(config, "select file, row_key, rules from marts.fct_data_quality")
    assert row[0] == POD_HOURS_FILE and row[1].startswith("b-web/web (uid-b-web-web) 2026-10-01 00:00")
    assert row[2] == "memory_working_set_byte_seconds: finite"
    assert Path(config.warehouse_path).is_file()
    # The scheduler's build too (it used to fail every night on the same row), and its log line says so.
    job = next(j for j in config.schedule.jobs if j.run == "build")
    summary = scheduled_build(RunRequest(config, job, datetime(2026, 11, 1, tzinfo=UTC)))
    assert summary.startswith("built ") and "; 1 raw row(s) broke a value rule" in summary
