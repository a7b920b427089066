"""The command line end to end on the bundled sample month, run as a user runs it."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from decimal import Decimal
from fnmatch import fnmatch
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer

from chargeback.cli import app
from chargeback.reports.bill import COST_PARTS
from tests.sample_support import HISTORY_PARTITIONS

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
TENANTS = {"payments", "data-eng", "ml", "risk"}


def chargeback(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "chargeback", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"chargeback {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("demo")
    result = chargeback("demo", "--no-dashboard", cwd=cwd)
    assert "Bill 2026-10" in result.stdout
    return cwd


def raw_rows(table: str) -> list[dict]:
    """The rows of a raw table of the sample's October: its history months' partitions left out (the demo prints
    October's bill)."""
    files = [
        f
        for f in sorted((SAMPLE / "raw" / table).glob("**/*.parquet"))
        if not any(fnmatch(part, pattern) for part in f.parts for pattern in HISTORY_PARTITIONS)
    ]
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default").to_pylist()


def in_scope_source_total() -> Decimal:
    """The sample CUR's in-scope amortized cost, computed straight from the landed Parquet.

    A deliberately plain reading of the scope (docs/method.md#which-rule-claims-a-line): usage lines of the cluster's
    node instances (their ids from Prometheus' provider_id; instance usage, data transfer, anything else of theirs),
    of the EBS volumes that back a PersistentVolume (kube-state-metrics' PV-hours, the API snapshot) or that EC2 saw
    attached to a node, of load balancers whose tags name the cluster (elbv2 snapshots or the CUR's tag), the
    cluster's EKS fee, EMR on EKS job runs, and lines tagged to a tenant or to the cluster; never the Savings Plan
    negation and fee lines, tax, credits, or EKSPod-EC2 rows.
    """
    instances = {r["provider_id"].rsplit("/", 1)[-1] for r in raw_rows("prometheus/node_hours") if r["provider_id"]}
    volumes = {r["volume_handle"] for r in raw_rows("prometheus/persistent_volume_hours")}
    volumes |= {r["volume_handle"] for r in raw_rows("kubernetes/persistent_volumes")}
    volumes |= {r["volume_id"] for r in raw_rows("ec2/volumes") if r["instance_id"] in instances}
    balancers = {
        r["load_balancer_arn"]
        for r in raw_rows("elbv2/load_balancers")
        if dict(r["tags"]).get("elbv2.k8s.aws/cluster") == "prod-analytics"
        or "kubernetes.io/cluster/prod-analytics" in dict(r["tags"])
    }
    total = Decimal(0)
    for row in raw_rows("cur/line_items"):
        if row["line_item_line_item_type"] not in ("Usage", "DiscountedUsage", "SavingsPlanCoveredUsage"):
            continue
        if row["line_item_operation"] == "EKSPod-EC2":
            continue
        rid, product = row["line_item_resource_id"] or "", row["line_item_product_code"]
        tags = dict(row["resource_tags"] or [])
        in_scope = (
            rid in instances
            or rid in volumes
            or rid in balancers
            or (product == "AmazonEKS" and rid.endswith(":cluster/prod-analytics"))
            or (product == "ElasticMapReduce" and "/jobruns/" in rid)
            or "user_tenant" in tags
            or tags.get("user_eks_cluster_name") == "prod-analytics"
        )
        if not in_scope:
            continue
        covered = row["line_item_line_item_type"] == "SavingsPlanCoveredUsage"
        cost = row["savings_plan_savings_plan_effective_cost"] if covered else row["line_item_unblended_cost"]
        total += Decimal(str(cost))
    return total


def test_demo_bill_json_adds_up_to_the_cent_and_to_the_source(demo_dir):
    bill = json.loads(chargeback("bill", "--period", "2026-10", "--format", "json", cwd=demo_dir).stdout)
    assert bill["period"] == "2026-10" and bill["currency"] == "USD"
    total = Decimal(bill["total"])
    assert total == Decimal(bill["source_total"])
    assert total == in_scope_source_total().quantize(Decimal("0.01"))
    assert sum(Decimal(line["total"]) for line in bill["lines"]) == total
    for line in bill["lines"]:
        parts = [Decimal(line[p]) for p in COST_PARTS]
        assert sum(parts) == Decimal(line["total"]), line
        assert all(len(line[p].split(".")[1]) == 2 for p in ("total", *COST_PARTS))
    names = {line["tenant"] for line in bill["lines"]}
    assert names >= TENANTS
    assert "__unallocated__" in names  # the sandbox namespace and the EMR charge of a job nobody collected
    by_name = {line["tenant"]: line for line in bill["lines"]}
    assert Decimal(by_name["ml"]["tagged"]) > 0  # the EBS volume tagged tenant=ml
    assert Decimal(by_name["data-eng"]["emr"]) > 0 and Decimal(by_name["ml"]["emr"]) > 0
    # PersistentVolumes (risk's report archive, ml's training data, ...), data transfer and load balancers
    assert all(Decimal(by_name[t]["network"]) > 0 for t in TENANTS)
    assert all(Decimal(by_name[t]["storage"]) > 0 for t in TENANTS - {"payments"})  # payments has no volume


def test_bill_for_one_tenant_matches_its_line_in_the_full_bill(demo_dir):
    full = json.loads(chargeback("bill", "-p", "2026-10", "-f", "json", cwd=demo_dir).stdout)
    risk = json.loads(chargeback("bill", "-p", "2026-10", "-t", "risk", "-f", "json", cwd=demo_dir).stdout)
    assert risk["lines"] == [line for line in full["lines"] if line["tenant"] == "risk"]
    assert risk["total"] == risk["lines"][0]["total"]


def test_bill_csv_has_the_same_lines(demo_dir):
    csv_text = chargeback("bill", "-p", "2026-10", "-f", "csv", cwd=demo_dir).stdout.splitlines()
    full = json.loads(chargeback("bill", "-p", "2026-10", "-f", "json", cwd=demo_dir).stdout)
    assert csv_text[0] == ",".join(["period", "currency", "tenant", *COST_PARTS, "adjustment", "total", "method"])
    assert [row.split(",")[2] for row in csv_text[1:]] == [line["tenant"] for line in full["lines"]]
    assert [row.split(",")[-2] for row in csv_text[1:]] == [line["total"] for line in full["lines"]]


def test_every_bill_format_states_the_method(demo_dir):
    """The sample's method (sample_data/chargeback.toml), its fingerprint the first 12 hex digits of the SHA-256
    of its settings as compact JSON with sorted keys."""
    bill = json.loads(chargeback("bill", "-p", "2026-10", "-f", "json", cwd=demo_dir).stdout)
    settings = bill["method"]["settings"]
    assert (settings["cost_basis"], settings["idle"], settings["shared"], settings["currency"]) == (
        "amortized",
        "node",
        "weighted",
        "USD",
    )
    assert settings["weights"]["preset"] == "scad"
    assert settings["weights"]["gpu_node"] == {"cpu": 0.9, "memory": 0.1, "gpu": 9.0}
    assert settings["shared_namespaces"] == ["kube-system", "monitoring"]
    assert settings["tenancy"]["namespaces"] == [["payments-*", "payments"], ["data-eng-*", "data-eng"]]
    assert settings["tenancy"]["virtual_clusters"] == {"ml-spark": "ml"}
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    assert bill["method"]["fingerprint"] == fingerprint
    table = chargeback("bill", "-p", "2026-10", cwd=demo_dir).stdout
    assert f"method: amortized cost, scad weights, idle node, shared weighted (method {fingerprint})" in table
    rows = chargeback("bill", "-p", "2026-10", "-f", "csv", cwd=demo_dir).stdout.splitlines()[1:]
    assert rows and all(row.split(",")[-1] == fingerprint for row in rows)


def test_a_plain_build_after_the_demo_reproduces_the_demos_bill(demo_dir):
    """The demo leaves data/chargeback.toml, so a plain build there bills as the demo did (with the built-in
    defaults, payments would vanish and __unallocated__ grow to 788.18)."""
    assert (demo_dir / "data" / "chargeback.toml").is_file()
    before = chargeback("bill", "-p", "2026-10", "-f", "json", cwd=demo_dir).stdout
    chargeback("build", cwd=demo_dir)
    after = chargeback("bill", "-p", "2026-10", "-f", "json", cwd=demo_dir).stdout
    assert after == before
    totals = {line["tenant"]: line["total"] for line in json.loads(after)["lines"]}
    assert (totals["payments"], totals["__unallocated__"], totals["data-eng"]) == ("457.09", "36.81", "794.58")


def test_another_method_is_refused_and_named_by_bill(demo_dir, tmp_path):
    """Built-in defaults (no tenancy rules) over the demo: refused, with each line's effect, the warehouse as
    it was; `bill` with those settings prints the published bill and says so on stderr."""
    other = tmp_path / "other.toml"
    other.write_text(f'data_dir = "{demo_dir / "data"}"\n')
    warehouse = demo_dir / "data" / "warehouse.duckdb"
    published = warehouse.read_bytes()
    bill = json.loads(chargeback("bill", "-p", "2026-10", "-f", "json", cwd=demo_dir).stdout)
    totals = {line["tenant"]: Decimal(line["total"]) for line in bill["lines"]}
    refused = chargeback("build", "--config", str(other), cwd=demo_dir, check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert 'tenancy.virtual_clusters.ml-spark: "ml" -> null' in refused.stderr
    assert "2026-10 payments: 457.09 -> none (-457.09)" in refused.stderr
    effects = dict(re.findall(r"^  2026-10 (\S+): ([0-9,.]+) -> ", refused.stderr, re.M))
    assert {t: Decimal(v.replace(",", "")) for t, v in effects.items()} == {
        t: v for t, v in totals.items() if t in effects
    }, "each line's 'before' is its total on the bill"
    assert "payments" in effects and "data-eng" in effects and "__unallocated__" in effects
    assert warehouse.read_bytes() == published
    assert not list((demo_dir / "data").glob("*.building.*"))
    named = chargeback("bill", "-p", "2026-10", "-f", "json", "--config", str(other), cwd=demo_dir)
    assert json.loads(named.stdout) == bill
    assert f"other settings than {other}" in named.stderr
    assert "this bill is the published build's" in named.stderr and bill["method"]["fingerprint"] in named.stderr


def test_check_passes_on_the_demo(demo_dir):
    result = chargeback("check", cwd=demo_dir)
    assert "conservation" in result.stdout and "all invariants hold" in result.stdout


def test_user_mistakes_get_one_clear_line_and_exit_2(demo_dir, tmp_path):
    bad = chargeback("bill", "--period", "2026-13", cwd=demo_dir, check=False)
    assert bad.returncode == 2 and "is not YYYY-MM" in bad.stderr and "Traceback" not in bad.stderr
    missing = chargeback("bill", "--period", "2026-07", cwd=demo_dir, check=False)
    built = "(periods built: 2026-08, 2026-09, 2026-10)"  # October and its history months
    assert missing.returncode == 2 and f"no costs for period 2026-07 {built}" in missing.stderr
    config = tmp_path / "c.toml"
    config.write_text("[allocation]\nidle = 'nodes'\n")
    broken = chargeback("build", "--config", str(config), cwd=demo_dir, check=False)
    assert broken.returncode == 2 and "allocation.idle: 'nodes' is not allowed" in broken.stderr
    empty = chargeback("build", "--data-dir", str(tmp_path / "nothing"), cwd=demo_dir, check=False)
    assert empty.returncode == 2 and "no raw data" in empty.stderr and "chargeback demo" in empty.stderr
    nowarehouse = chargeback("check", "--data-dir", str(tmp_path / "nothing"), cwd=demo_dir, check=False)
    assert nowarehouse.returncode == 2 and "no warehouse yet" in nowarehouse.stderr


def test_demo_never_overwrites_collected_data(tmp_path):
    (tmp_path / "data" / "raw" / "prometheus").mkdir(parents=True)
    refused = chargeback("demo", "--no-dashboard", cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "already holds collected data" in refused.stderr
    assert (tmp_path / "data" / "raw" / "prometheus").is_dir()


def test_every_command_and_option_is_documented():
    """Each command has help text and every option a help line (the generated CLI reference shows them), and
    the hand-written table of docs/cli.md names the command."""
    reference = (ROOT / "docs" / "cli.md").read_text()
    commands = typer.main.get_command(app).commands
    assert set(commands) == {c.name or c.callback.__name__ for c in app.registered_commands}
    for name, command in commands.items():
        assert f"| `chargeback {name}` |" in reference, f"`chargeback {name}` is not in docs/cli.md's table"
        assert command.help, f"`chargeback {name}` has no help text"
        for param in command.params:
            assert param.help, f"`chargeback {name}` option {param.opts} has no help text"


def test_readme_shows_the_bill_the_demo_prints(demo_dir):
    bill = json.loads(chargeback("bill", "-p", "2026-10", "-f", "json", cwd=demo_dir).stdout)
    readme = (ROOT / "README.md").read_text()
    for line in bill["lines"]:
        cells = [f"{Decimal(line[p]):,.2f}" for p in (*COST_PARTS, "total")]
        assert re.search(
            r"^ " + re.escape(line["tenant"]) + r"\s+" + r"\s+".join(map(re.escape, cells)) + r"$", readme, re.M
        ), f"README's sample bill is out of date for {line['tenant']}"
    assert f"method: {bill['method']['summary']}" in readme, "README's sample bill names another method"
