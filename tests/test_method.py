"""The method is part of the result: recorded with every build, stated by bills and exports, and changed only on
purpose (docs/method.md#the-method-is-part-of-the-result).

The cluster: one m5.xlarge (4 vCPU, 16 GiB) at $1/h for 10 hours, so with the scad weights u = 1/52 per hour
(a vCPU-hour costs 9/52, a GiB-hour 1/52). team-a's pod requests 2 vCPU and 8 GiB, team-b's 1 vCPU and 4 GiB
(each uses half), so per hour team-a allocates 2*9 + 8 = 26/52, team-b 9 + 4 = 13/52, and 1 vCPU + 4 GiB, 13/52,
is unused:
- idle `node`: the unused vCPU (9/52) goes 2:1 by vCPU (6/52, 3/52), the unused 4 GiB (4/52) 8:4 by memory
  (8/3/52, 4/3/52): team-a (26 + 6 + 8/3)/52 = 2/3, team-b (13 + 3 + 4/3)/52 = 1/3 an hour. Over 10 hours
  6.666… and 3.333…: the bill's total is $10.00, floors 6.66 + 3.33 leave one cent, which goes to the larger
  remainder (team-a's 0.0067): team-a $6.67, team-b $3.33.
- idle `separate`: team-a 26/52 * 10 = $5.00, team-b 13/52 * 10 = $2.50, `__idle__` 13/52 * 10 = $2.50.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from chargeback.build import method
from chargeback.build.engines import build
from chargeback.cli import main
from chargeback.core import config as config_module
from chargeback.core.errors import MethodChangeError
from chargeback.exports import run_export
from chargeback.reports.bill import monthly_bill
from chargeback.scheduler.core import Scheduler
from chargeback.scheduler.state import ScheduleState, state_path
from tests.factory import Scenario

PERIOD = "2026-10"
ARN = "arn:aws:billingconductor::111122223333:billinggroup/ABCDEFGHIJ"
TEAMS = [{"pattern": "a-*", "tenant": "team-a"}, {"pattern": "b-*", "tenant": "team-b"}]
NODE_IDLE = {"team-a": Decimal("6.67"), "team-b": Decimal("3.33")}
SEPARATE_IDLE = {"__idle__": Decimal("2.50"), "team-a": Decimal("5.00"), "team-b": Decimal("2.50")}
EFFECT = [  # published (idle node) -> new (idle separate), as the refusal prints it
    "2026-10 __idle__: 0.00 -> 2.50 (+2.50)",  # idle `node` leaves a line of 0.00 (the bill does not print it)
    "2026-10 team-a: 6.67 -> 5.00 (-1.67)",
    "2026-10 team-b: 3.33 -> 2.50 (-0.83)",
]


def two_teams() -> Scenario:
    s = Scenario()
    s.node("n1", "m5.xlarge", range(10), 1.0, vcpu=4, memory_gib=16)
    for namespace, cpu, mem in (("a-api", 2, 8), ("b-api", 1, 4)):
        s.pod(
            namespace,
            f"{namespace}-0",
            "n1",
            range(10),
            cpu_request=cpu,
            cpu_usage=cpu / 2,
            memory_request_gib=mem,
            memory_usage_gib=mem / 2,
        )
    return s


def write_config(path: Path, data_dir: Path, idle: str, tables: str = "") -> Path:
    rules = "".join(f'\n[[tenancy.namespaces]]\npattern = "{r["pattern"]}"\ntenant = "{r["tenant"]}"\n' for r in TEAMS)
    path.write_text(f'data_dir = "{data_dir}"\n\n[allocation]\nidle = "{idle}"\n{rules}\n{tables}')
    return path


@pytest.fixture
def cluster(tmp_path):
    """The two teams' month landed, built and published with idle `node`; the configurations of both modes."""
    data_dir = two_teams().write(tmp_path / "data")
    node = write_config(tmp_path / "node.toml", data_dir, "node")
    separate = write_config(tmp_path / "separate.toml", data_dir, "separate")
    build(config_module.load(node))  # the first build of the data directory: nothing to compare with
    return data_dir, node, separate


def totals(config: config_module.Config) -> dict[str, Decimal]:
    return {line.tenant: line.total for line in monthly_bill(config, PERIOD).lines}


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """``chargeback ARGS`` in this process, as a user runs it: (exit code, stdout, stderr)."""
    argv = sys.argv
    sys.argv = ["chargeback", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    out = capsys.readouterr()
    return code, out.out, out.err


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def work_files(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if ".building." in p.name)


# --- the method as data -----------------------------------------------------------------------------------


def test_the_method_is_every_setting_that_moves_money_with_a_fingerprint_of_it():
    default = method.describe(config_module.Config())
    assert (default["cost_basis"], default["idle"], default["shared"], default["currency"]) == (
        "amortized",
        "node",
        "weighted",
        "USD",
    )
    assert default["weights"]["cpu_node"] == {"cpu": 9.0, "memory": 1.0, "gpu": 0.0}
    canonical = json.dumps(default, sort_keys=True, separators=(",", ":"))
    assert method.fingerprint(default) == hashlib.sha256(canonical.encode()).hexdigest()[:12]
    other = method.describe(config_module.parse({"allocation": {"idle": "separate"}, "dashboard": {"port": 9000}}))
    assert method.changes(default, other) == ['idle: "node" -> "separate"'], "the dashboard's port is no method"
    assert (
        method.summary(other)
        == f"amortized cost, scad weights, idle separate, shared weighted (method {method.fingerprint(other)})"
    )


# --- a changed method is refused, then published on purpose --------------------------------------------------


def test_a_method_change_is_refused_with_its_changes_and_effect_and_leaves_the_warehouse_as_it_was(cluster, capsys):
    data_dir, node, separate = cluster
    warehouse = data_dir / "warehouse.duckdb"
    assert totals(config_module.load(node)) == NODE_IDLE
    before = sha256(warehouse)

    code, _, err = cli(capsys, "build", "--config", str(separate))
    assert code == 2 and "Traceback" not in err
    assert "the allocation method differs from the published build's" in err
    assert 'idle: "node" -> "separate"' in err
    for line in EFFECT:
        assert line in err, err
    assert "chargeback build --accept-method-change" in err
    assert sha256(warehouse) == before, "the published warehouse is byte for byte the same"
    assert work_files(data_dir) == [], "the refused build's work file is removed"
    assert totals(config_module.load(separate)) == NODE_IDLE

    code, _, err = cli(capsys, "build", "--config", str(separate), "--accept-method-change")
    assert code == 0, err
    assert "published a new method" in err and all(line in err for line in EFFECT)
    assert totals(config_module.load(separate)) == SEPARATE_IDLE
    assert method.published_method(warehouse)["idle"] == "separate"
    # The same method again needs no flag.
    assert cli(capsys, "build", "--config", str(separate))[0] == 0


def test_the_effect_is_the_bill_before_and_after_to_the_cent(cluster, tmp_path):
    data_dir, node, separate = cluster
    with pytest.raises(MethodChangeError) as refused:
        build(config_module.load(separate))
    assert str(refused.value).splitlines()[-4:-1] == [f"  {line}" for line in EFFECT]
    copy = tmp_path / "published.duckdb"
    copy.write_bytes((data_dir / "warehouse.duckdb").read_bytes())
    result = build(config_module.load(separate), accept_method_change=True)
    assert result.method_change is not None
    assert result.method_change.changes == ['idle: "node" -> "separate"']
    effects = method.method_effect(copy, data_dir / "warehouse.duckdb")
    assert [(e.tenant, e.before, e.after) for e in effects] == [
        ("__idle__", Decimal("0.00"), Decimal("2.50")),
        ("team-a", Decimal("6.67"), Decimal("5.00")),
        ("team-b", Decimal("3.33"), Decimal("2.50")),
    ]
    assert sum(e.difference for e in effects) == 0, "a method moves money between lines, never creates it"
    assert method.method_effect(copy, data_dir / "warehouse.duckdb", periods=["2026-09"]) == []


def test_a_warehouse_from_before_method_recording_takes_any_method_once(cluster, capsys):
    data_dir, node, separate = cluster
    warehouse = data_dir / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("alter table bookkeeping.build_info drop column method_json")
    con.execute("alter table bookkeeping.build_info drop column method_fingerprint")
    con.close()
    assert method.published_method(warehouse) is None
    old = monthly_bill(config_module.load(node), PERIOD)
    assert old.method is None and json.loads(old.to_json())["method"] is None
    assert {row.split(",")[-1] for row in old.to_csv().splitlines()[1:]} == {""}
    code, out, _ = cli(capsys, "bill", "--config", str(node), "--period", PERIOD)
    assert code == 0 and "method: not recorded" in out
    build(config_module.load(separate))  # no flag needed: nothing recorded to differ from
    assert totals(config_module.load(separate)) == SEPARATE_IDLE


# --- bills and exports state it --------------------------------------------------------------------------


def test_bill_with_another_configuration_says_the_published_method_on_stderr(cluster, capsys):
    data_dir, node, separate = cluster
    published = method.fingerprint(method.describe(config_module.load(node)))
    code, out, err = cli(capsys, "bill", "--config", str(separate), "--period", PERIOD, "--format", "json")
    assert code == 0
    bill = json.loads(out)
    assert {line["tenant"]: Decimal(line["total"]) for line in bill["lines"]} == NODE_IDLE
    assert bill["method"]["fingerprint"] == published and bill["method"]["settings"]["idle"] == "node"
    assert f"other settings than {separate}" in err and 'idle: "node" -> "separate"' in err
    assert f"(method {published})" in err
    code, out, err = cli(capsys, "bill", "--config", str(node), "--period", PERIOD)
    assert code == 0 and err == ""
    assert f"method: amortized cost, scad weights, idle node, shared weighted (method {published})" in out


def test_exports_state_the_method_and_a_new_method_is_a_new_version(cluster, tmp_path):
    data_dir, node, separate = cluster
    config = config_module.load(node)
    export = config_module.ExportSettings.model_validate({"billing_conductor": {"billing_group_arn": ARN}})
    config = config.model_copy(update={"export": export})
    fingerprint = method.fingerprint(method.describe(config))
    out = tmp_path / "exports"
    results = {t: run_export(config, PERIOD, t, out) for t in ("finance", "focus", "billing-conductor")}
    for result in results.values():
        assert result.manifest["source"]["method_fingerprint"] == fingerprint
        assert result.manifest["source"]["method"] == method.describe(config)
    finance = Path(results["finance"].paths[0]).read_text().splitlines()
    assert finance[0].endswith(",total,method") and all(row.endswith(f",{fingerprint}") for row in finance[1:])
    focus = Path(results["focus"].paths[0]).read_text().splitlines()
    header = focus[0].split(",")
    assert "x_MethodFingerprint" in header
    assert all(f"method {fingerprint})" in row and row.endswith(f",{fingerprint}") for row in focus[1:])
    items = list(csv.DictReader(io.StringIO(Path(results["billing-conductor"].paths[0]).read_text())))
    assert len(items) == 2 and all(item["Description"].endswith(f"; method {fingerprint}") for item in items)

    build(config_module.load(separate), accept_method_change=True)
    changed = config.model_copy(update={"allocation": config_module.load(separate).allocation})
    again = run_export(changed, PERIOD, "finance", out)
    assert again.version == 2
    new = method.fingerprint(method.describe(changed))
    assert again.changes["source"]["method_fingerprint"] == {"before": fingerprint, "after": new}
    assert again.changes["by_tenant"]["team-a"] == {"before": "6.67", "after": "5.00"}


# --- the scheduler never changes a method by itself ------------------------------------------------------


def test_the_scheduled_build_fails_on_a_method_change_until_an_operator_accepts_it(cluster, tmp_path):
    data_dir, node, separate = cluster
    hourly = '[[schedule.jobs]]\nname = "build"\ncron = "15 * * * *"\nrun = "build"\n'
    config = config_module.load(write_config(tmp_path / "scheduled.toml", data_dir, "separate", hourly))
    warehouse = data_dir / "warehouse.duckdb"
    before = sha256(warehouse)
    start = datetime(2026, 11, 2, 6, 15, tzinfo=UTC)

    class Clock:
        moment = start

        def now(self) -> datetime:
            return self.moment

    clock = Clock()
    scheduler = Scheduler(config, clock=clock)
    for hour in range(2):
        clock.moment = start + timedelta(hours=hour)
        (run,) = scheduler.tick(clock.moment)
        assert run.outcome == "failed" and 'idle: "node" -> "separate"' in run.error
        assert EFFECT[1] in run.error and "--accept-method-change" in run.error
        state = ScheduleState(state_path(config)).jobs["build"]
        assert state.consecutive_failures == hour + 1 and state.last_error == run.error
        assert sha256(warehouse) == before and work_files(data_dir) == []

    build(config, accept_method_change=True)  # the operator, on purpose
    clock.moment = start + timedelta(hours=2)
    (run,) = scheduler.tick(clock.moment)
    assert run.outcome == "ok"
    assert totals(config) == SEPARATE_IDLE
