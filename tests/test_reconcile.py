"""The reconciliation from the CUR's total to the bill (docs/reconciliation.md), on a small month whose every
line is stated here and every figure worked out by hand: one CUR line of each in-scope kind the models claim
today and an out-of-scope line of every reason, two clusters, an estimated node-day and AWS's split rows
computed by AWS's published formulas. `chargeback reconcile` runs as a subprocess.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from chargeback.build import engines
from chargeback.build.engines import duckdb as duckdb_engine
from chargeback.cli import app
from chargeback.core import config as config_module
from chargeback.core.errors import DataError, InvariantError
from chargeback.reports.close import close_period
from chargeback.reports.reconcile import reconcile
from collectors import streams
from tests.dashboard_support import cli
from tests.factory import ACCOUNT, Scenario
from tests.test_closed_periods import NOW, cluster, october_cur, reland

D = Decimal
SETTINGS = {"tenancy": {"namespaces": [{"pattern": "team-a", "tenant": "team-a"}]}}
# AWS's split of n1's instance line ($0.90 amortized; 4 vCPU, 16 GiB, weights cpu 9 : memory 1, so a vCPU-hour
# costs 9/52 x 0.90 and a GiB-hour 1/52 x 0.90): team-a/api allocates 2 vCPU and 8 GiB, kube-system/proxy 1 vCPU
# and 4 GiB; the unused 1 vCPU and 4 GiB go to the pods by allocation (2:1 of the vCPU, 8:4 of the memory).
AWS_SPLIT = {
    # (namespace, resource): (split cost, unused cost)
    ("team-a", "vCPU"): (2 * 9 / 52 * 0.90, 1 * 9 / 52 * 0.90 * 2 / 3),  # 0.311538, 0.103846
    ("team-a", "GB"): (8 / 52 * 0.90, 4 / 52 * 0.90 * 8 / 12),  # 0.138462, 0.046154
    ("kube-system", "vCPU"): (1 * 9 / 52 * 0.90, 1 * 9 / 52 * 0.90 * 1 / 3),  # 0.155769, 0.051923
    ("kube-system", "GB"): (4 / 52 * 0.90, 4 / 52 * 0.90 * 4 / 12),  # 0.069231, 0.023077
}


def month() -> Scenario:
    """October 2026, hour 0 unless said. test-cluster:
    - n1 (m5.xlarge, 4 vCPU, 16 GiB): instance line $0.90, an EBS-optimized line on its instance id $0.06 (node
      extra) and its root volume vol-1 $0.04: node cost $1.00. Pods team-a/api (2 vCPU, 8 GiB) and
      kube-system/proxy (1 vCPU, 4 GiB);
    - n2 (m5.xlarge): Savings Plan covered, unblended $2.00, effective $1.40; no pods;
    - n4 (m5.xlarge) on 2 October, hour 24: no CUR line; Cost Explorer prices m5.xlarge at $2.40 / 24 h = $0.10;
    - the EKS fee $0.10; an EMR on EKS job run of team-a's virtual cluster $0.07; an S3 bucket tagged team-b $0.30.
    other-cluster: n3 $0.50, no pods.
    Out of scope: tax $0.33; a credit -$0.25; the Savings Plan's negation of n2 -$2.00 and its recurring fee $1.50;
    AWS's four split rows of n1's pods ($0.01 each as lines); an untagged S3 bucket $0.12 and a bastion instance of
    no cluster $0.08.
    """
    s = Scenario()
    n1 = s.node("n1", "m5.xlarge", [0], 0.90, vcpu=4, memory_gib=16)
    s.line(0, product_code="AmazonEC2", resource_id=n1, cost=0.06, usage_type="USE1-EBSOptimized:m5.xlarge")
    s.ec2_volume("vol-1", 0, n1)
    s.line(0, product_code="AmazonEC2", resource_id="vol-1", cost=0.04, usage_type="USE1-EBS:VolumeUsage.gp3")
    s.pod("team-a", "api", "n1", [0], cpu_request=2, cpu_usage=1, memory_request_gib=8, memory_usage_gib=4)
    s.pod("kube-system", "proxy", "n1", [0], cpu_request=1, cpu_usage=0.5, memory_request_gib=4, memory_usage_gib=1)
    n2 = s.node("n2", "m5.xlarge", [0], 2.00, vcpu=4, memory_gib=16, line_item_type="SavingsPlanCoveredUsage",
                effective_cost_per_hour=1.40)  # fmt: skip
    s.node("n4", "m5.xlarge", [24], None, vcpu=4, memory_gib=16)
    s.cost_explorer_day(1, "INSTANCE_TYPE", "m5.xlarge", 2.40, usage_hours=24)
    s.line(0, product_code="AmazonEKS", resource_id=f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/test-cluster", cost=0.10)
    s.virtual_cluster("vc1", "team-a-spark", "emr-team-a", tags={"tenant": "team-a"})
    job = s.job_run("job1", "vc1", "etl", 0)
    s.line(0, product_code="ElasticMapReduce", resource_id=job, cost=0.07, usage_type="USE1-EMR-EKS-EC2-vCPUHours")
    s.line(0, product_code="AmazonS3", resource_id="team-b-bucket", cost=0.30,
           tags={"user_tenant": "team-b", "user_eks_cluster_name": "test-cluster"})  # fmt: skip
    s.tax(0, 0.33)
    s.credit(0, -0.25)
    s.savings_plan(0, n2, negation=-2.00, recurring_fee=1.50)
    for (namespace, resource), (split, unused) in AWS_SPLIT.items():
        pod = "api" if namespace == "team-a" else "proxy"
        s.split_row(0, namespace, pod, n1, resource, split, unused, cost=0.01)
    s.line(0, product_code="AmazonS3", resource_id="untagged-bucket", cost=0.12)
    s.line(0, product_code="AmazonEC2", resource_id="i-0bastion", cost=0.08, usage_type="USE1-BoxUsage:t3.micro")
    s.cluster = "other-cluster"
    s.node("n3", "m5.xlarge", [0], 0.50, vcpu=4, memory_gib=16)
    s.cluster = "test-cluster"
    return s


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> config_module.Config:
    data_dir = tmp_path_factory.mktemp("reconcile") / "data"
    month().write(data_dir)
    built = config_module.parse({"data_dir": str(data_dir), **SETTINGS})
    engines.build(built)
    return built


def amounts(rec) -> dict[tuple[str, str], str]:
    return {(row.section, row.name): str(row.amount) for row in rec.rows}


def test_every_cur_dollar_is_in_one_row_from_the_total_to_the_bill(config):
    rec = reconcile(config, "2026-10")
    # The CUR: in scope 0.90 + 0.06 + 0.04 + 2.00 + 0.10 + 0.07 + 0.30 + 0.50 = 3.97 unblended; out of scope
    # 0.33 - 0.25 + (-2.00 + 1.50) + 4 x 0.01 + 0.12 + 0.08 = -0.18; total 3.79.
    # In scope on the amortized basis: n2 counts 1.40, not 2.00 (cost basis -0.60): 3.37. Estimated: n4's $0.10.
    # Categories: nodes = 0.90 + 0.06 + 1.40 + 0.50 = 2.86; node volumes 0.04; fee 0.10; EMR 0.07; tagged 0.30.
    # Bill (idle mode node, shared mode weighted): on n1 ($1.00 over 52 units: cpu 9/52, memory 1/52 per unit),
    # team-a's pod splits 2x9 + 8 = 26 units = 0.50 and takes 2/3 of the unused vCPU and 8/12 of the unused GiB:
    # (6 + 8/3)/52 = 1/6; kube-system's pod 13 units = 0.25 plus (3 + 4/3)/52 = 1/12, to __shared__ with the fee:
    # 0.25 + 1/12 + 0.10 = 0.4333, all to team-a (the only tenant with direct cost: team-b's is tagged).
    # team-a = 0.50 + 1/6 + 0.07 + 0.4333 = 1.17; team-b = 0.30; __idle__ = n2 1.40 + n3 0.50 + n4 0.10 = 2.00.
    assert amounts(rec) == {
        ("cur", "total"): "3.79",
        ("out_of_scope", "tax"): "-0.33",
        ("out_of_scope", "credits_refunds"): "0.25",
        ("out_of_scope", "commitments"): "0.50",
        ("out_of_scope", "aws_split_rows"): "-0.04",
        ("out_of_scope", "no_cluster"): "-0.20",
        ("basis", "cost_basis"): "-0.60",
        ("in_scope", "total"): "3.37",
        ("in_scope", "nodes"): "2.86",
        ("in_scope", "node_volumes"): "0.04",
        ("in_scope", "pv_volumes"): "0.00",
        ("in_scope", "data_transfer"): "0.00",
        ("in_scope", "load_balancers"): "0.00",
        ("in_scope", "overhead"): "0.00",
        ("in_scope", "cluster_fee"): "0.10",
        ("in_scope", "emr"): "0.07",
        ("in_scope", "tagged"): "0.30",
        ("estimated", "nodes"): "0.10",
        ("source", "total"): "3.47",
        ("adjustments", "closed_months"): "0.00",
        ("billed", "total"): "3.47",
        ("bill", "__idle__"): "2.00",
        ("bill", "team-a"): "1.17",
        ("bill", "team-b"): "0.30",
    }
    lines = {(row.section, row.name): row.line_items for row in rec.rows if row.line_items is not None}
    # 9 lines in scope (n1, its extra line and volume, n2, n3, fee, EMR, tagged) and 10 out (tax, credit, two
    # commitment lines, four split rows, two of no cluster): the CUR's 18.
    assert lines[("out_of_scope", "commitments")] == 2 and lines[("out_of_scope", "aws_split_rows")] == 4
    assert lines[("in_scope", "nodes")] == 4
    assert sum(lines.values()) == 18


def test_a_cluster_starts_from_the_whole_cur(config):
    rec = reconcile(config, "2026-10", "test-cluster")
    # other-cluster's in-scope line (n3, $0.50 unblended) is one more step out; test-cluster's in scope is
    # 3.37 - 0.50 = 2.87, with n4's estimate 2.97; its bill lines: team-a 1.17, team-b 0.30, __idle__ 1.40 + 0.10.
    found = amounts(rec)
    assert found[("cur", "total")] == "3.79"
    assert found[("other_clusters", "in_scope")] == "-0.50"
    assert found[("in_scope", "total")] == "2.87" and found[("in_scope", "nodes")] == "2.36"
    assert found[("source", "total")] == "2.97"
    assert {k[1]: v for k, v in found.items() if k[0] == "bill"} == {
        "__idle__": "1.50",
        "team-a": "1.17",
        "team-b": "0.30",
    }
    steps = [row.amount for row in rec.rows if row.kind == "step" and row.section not in ("estimated", "adjustments")]
    assert rec.row("cur").amount + sum(steps) == rec.row("in_scope").amount


def test_coverage_is_the_tenants_share_of_what_the_bill_distributes(config):
    everything = reconcile(config, "2026-10").coverage
    # team-a 1.17 + team-b 0.30 = 1.47 of 3.47 reached a tenant; 2.00 stayed on __idle__.
    assert (everything.tenants, everything.idle, everything.attributable) == (D("1.47"), D("2.00"), D("3.47"))
    assert everything.share == D("0.4236")  # 1.47 / 3.47 = 0.42363...
    assert reconcile(config, "2026-10", "test-cluster").coverage.share == D("0.4949")  # 1.47 / 2.97


def test_the_nodes_pages_figures_are_explained_by_rows(config):
    rec = reconcile(config, "2026-10", "test-cluster")
    cost, idle = rec.figure("node_cost"), rec.figure("node_idle")
    # Node cost: n1 1.00 + n2 1.40 + n4 0.10 = 2.50 = rows Nodes 2.36 + Node volumes 0.04 + Estimated 0.10.
    assert cost.amount == D("2.50")
    assert [value for _, value in cost.terms] == [D("2.36"), D("0.04"), D("0.10"), D("0.00")]
    # Idle before sharing: n1's unused 0.25 + n2 1.40 + n4 0.10 = 1.75 = the bill's idle part (team-a's 1/6,
    # billed 0.17, + __idle__ 1.50) + kube-system's idle share 1/12 = 0.08, moved to __shared__.
    assert idle.amount == D("1.75")
    assert [value for _, value in idle.terms] == [D("1.67"), D("0.08"), D("0.00")]


def test_aws_split_rows_are_compared_per_namespace_and_day(config):
    rec = reconcile(config, "2026-10", "test-cluster")
    by_namespace = {row["namespace"]: row for row in rec.split}
    assert set(by_namespace) == {"team-a", "kube-system"}  # only the day AWS's split rows cover (not n4's)
    team_a, system = by_namespace["team-a"], by_namespace["kube-system"]
    # AWS: team-a split 0.45 + unused 0.15 = 0.60 of n1's $0.90 instance line; here 0.50 + 1/6 of its $1.00 node
    # cost (the instance, its EBS-optimized line and root volume): 0.67, 0.07 more.
    assert (team_a["aws_split_cost"], team_a["aws_unused_cost"], team_a["aws_cost"]) == (
        D("0.45"),
        D("0.15"),
        D("0.60"),
    )
    assert (team_a["split_cost"], team_a["idle_cost"], team_a["cost"]) == (D("0.50"), D("0.17"), D("0.67"))
    assert team_a["difference"] == D("0.07") and team_a["billed_to"] == "team-a" and team_a["aws_pod_hours"] == 1
    # kube-system: AWS 0.225 + 0.075 = 0.30; here 0.25 + 1/12 = 0.33, billed to __shared__ (spread to team-a).
    assert (system["aws_cost"], system["cost"], system["billed_to"]) == (D("0.30"), D("0.33"), "__shared__")


def run(config, *args: str) -> str:
    """``chargeback ARGS`` in this process (typer's runner): its stdout, exit 0 asserted."""
    result = CliRunner().invoke(app, [*args, "--data-dir", str(config.data_dir)])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_cli_prints_the_same_rows_in_every_format(config):
    body = json.loads(cli(config.data_dir, "reconcile", "--period", "2026-10", "--format", "json"))  # the real script
    assert {(r["section"], r["name"]): r["amount"] for r in body["rows"]} == amounts(reconcile(config, "2026-10"))
    assert body["coverage"]["share"] == "0.4236" and body["cost_basis"] == "amortized"
    bill = json.loads(run(config, "bill", "--period", "2026-10", "--format", "json"))
    lines = {r["name"]: r["amount"] for r in body["rows"] if r["section"] == "bill"}
    assert lines == {line["tenant"]: line["total"] for line in bill["lines"]}, "the bill lines are `chargeback bill`'s"
    out = run(config, "reconcile", "-p", "2026-10", "-f", "csv", "--cluster", "test-cluster")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["name"], r["amount"]) for r in rows if r["section"] == "other_clusters"] == [("in_scope", "-0.50")]
    assert {r["cluster"] for r in rows} == {"test-cluster"}
    table = run(config, "reconcile", "--period", "2026-10")
    for text in ("CUR total", "3.79", "Out of scope: Tax", "-0.33", "In scope (amortized)", "3.37", "Billed", "team-a",
                 "coverage: 42.36%", "kube-system", "__shared__", "idle handling"):  # fmt: skip
        assert text in table, text


def test_a_period_or_cluster_without_data_is_a_clear_error(config):
    expected = r"no CUR lines and no costs for period 2026-09 \(periods with CUR lines or costs: 2026-10\)"
    with pytest.raises(DataError, match=expected):
        reconcile(config, "2026-09")
    done = subprocess.run(
        [sys.executable, "-m", "chargeback", "reconcile", "-p", "2026-10", "--cluster", "nope", "--data-dir",
         str(config.data_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "error: no costs for period 2026-10 in cluster nope (clusters with costs in 2026-10: other-cluster,"
        " test-cluster)\n"
    )


@pytest.mark.parametrize(
    ("model", "bug", "expected", "actual"),
    [
        # a volume listed twice: its line is claimed twice, in the node cost and in the bill alike, so
        # conservation holds; the reconciliation sees 3.79 + 0.04 and 18 + 1 lines
        ("intermediate.int_volumes", ("select * from final", "select * from final union all select * from final"),
         "3.79", "3.83"),
        # a line lost on the way: the tax line
        ("intermediate.int_cur__scoped", ("select * from final", "select * from final where line_item_type <> 'Tax'"),
         "3.79", "3.46"),
    ],
)  # fmt: skip
def test_a_line_counted_twice_or_lost_fails_the_build(tmp_path, monkeypatch, model, bug, expected, actual):
    config = config_module.parse({"data_dir": str(tmp_path), **SETTINGS})
    month().write(tmp_path)
    real = duckdb_engine.discover_models

    def buggy():
        return [dataclasses.replace(m, sql=m.sql.replace(*bug)) if m.relation == model else m for m in real()]

    monkeypatch.setattr(duckdb_engine, "discover_models", buggy)
    pattern = rf"waterfall_holds_every_cur_dollar_once \(whole CUR\) 2026-10: expected {expected}0+, got {actual}0+"
    with pytest.raises(InvariantError, match=pattern):
        engines.build(config)


def test_a_closed_month_keeps_its_frozen_lines_and_the_next_month_its_adjustments(tmp_path):
    """tests/test_closed_periods.py's cluster: a $1.00 node-hour for hours 0-47 of October (alpha $32.00, beta
    $16.00) and 744-767 of November (alpha $16.00, beta $8.00). October is closed, then AWS restates hour 5 at
    $1.30."""
    data_dir = tmp_path / "data"
    cluster().write(data_dir)
    config = config_module.parse({"data_dir": str(data_dir)})
    engines.build(config)
    close_period(config, "2026-10", now=NOW)
    reland(data_dir, streams.CUR_LINE_ITEMS, october_cur(cluster(restated_cost=1.30)))
    engines.build(config)
    october = reconcile(config, "2026-10")
    # The CUR now holds 47 x 1.00 + 1.30 = 48.30, all in scope; the frozen bill distributed 48.00: -0.30 changed
    # since October closed, and the lines are the frozen ones.
    found = amounts(october)
    assert (found[("cur", "total")], found[("in_scope", "total")]) == ("48.30", "48.30")
    assert (found[("restated", "since_closed")], found[("source", "total")]) == ("-0.30", "48.00")
    assert {k[1]: v for k, v in found.items() if k[0] == "bill"} == {"alpha": "32.00", "beta": "16.00"}
    assert october.closed_at == "2026-12-06T00:00:00Z"
    # November: its own 24.00 in scope, and the 0.30 booked as adjustments (alpha 0.20, beta 0.10) on top.
    november = amounts(reconcile(config, "2026-11"))
    assert (november[("source", "total")], november[("adjustments", "closed_months")]) == ("24.00", "0.30")
    assert november[("billed", "total")] == "24.30"
    assert {k[1]: v for k, v in november.items() if k[0] == "bill"} == {"alpha": "16.20", "beta": "8.10"}
    assert ("restated", "since_closed") not in november


def whole_cluster() -> Scenario:
    """October 2026, hour 0: n1 ($1.00, team-a's pod) and a line of each kind beyond the nodes: a gp3 volume of
    team-a's claim (its PV gone, the EBS CSI driver's tags name namespace and cluster) $0.24 for the day, n1's
    regional data transfer $0.02, team-a's load balancer (AWS Load Balancer Controller tags) $0.03 and a NAT
    gateway tagged for the cluster $0.04."""
    s = Scenario()
    n1 = s.node("n1", "m5.xlarge", [0], 1.00, vcpu=4, memory_gib=16)
    s.pod("team-a", "api", "n1", [0], cpu_request=2, cpu_usage=2, memory_request_gib=8, memory_usage_gib=8)
    s.ec2_volume(
        "vol-0pv", 0, None, {"kubernetes.io/created-for/pvc/namespace": "team-a", "eks_cluster_name": "test-cluster"}
    )
    s.line(
        0, product_code="AmazonEC2", resource_id="vol-0pv", cost=0.24, usage_type="USE1-EBS:VolumeUsage.gp3", hours=24
    )
    s.line(0, product_code="AWSDataTransfer", resource_id=n1, cost=0.02, usage_type="USE1-DataTransfer-Regional-Bytes")
    lb = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/k8s-teama-web/0123456789abcdef"
    s.line(0, product_code="AWSELB", resource_id=lb, cost=0.03, usage_type="USE1-LoadBalancerUsage",
           tags={"user_elbv2.k8s.aws/cluster": "test-cluster", "user_service.k8s.aws/stack": "team-a/web"})  # fmt: skip
    nat = f"arn:aws:ec2:us-east-1:{ACCOUNT}:natgateway/nat-0123456789abcdef0"
    s.line(0, product_code="AmazonEC2", resource_id=nat, cost=0.04, usage_type="USE1-NatGateway-Hours",
           tags={"user_kubernetes.io/cluster/test-cluster": "owned"})  # fmt: skip
    return s


def test_the_whole_cluster_bill_has_a_row_per_kind(tmp_path):
    config = config_module.parse({"data_dir": str(tmp_path), **SETTINGS})
    whole_cluster().write(tmp_path)
    engines.build(config)
    rec = reconcile(config, "2026-10")
    found = amounts(rec)
    # in scope 1.00 + 0.24 + 0.02 + 0.03 + 0.04 = 1.33, each kind in its row; every line in scope, all billed
    assert found[("cur", "total")] == found[("in_scope", "total")] == found[("billed", "total")] == "1.33"
    assert [found[("in_scope", k)] for k in ("nodes", "pv_volumes", "data_transfer", "load_balancers", "overhead")] == [
        "1.00", "0.24", "0.02", "0.03", "0.04"
    ]  # fmt: skip
    # team-a's pod is n1's only pod (its split and all the unused cost), the claim's, the transfer's and the load
    # balancer's namespace, and the only tenant to spread the NAT gateway's overhead over: every dollar, 100%.
    assert {k[1]: v for k, v in found.items() if k[0] == "bill"} == {"team-a": "1.33"}
    assert rec.coverage.share == D("1.0000")
