"""Closed periods: a closed month's bill never changes; what later builds would change in it is booked as
adjustments in the first open month (docs/method.md#closed-periods-and-adjustments).

The cluster: one node, 4 vCPU and 16 GiB at $1.00 an hour, running all of 2026-10-01 and 02 (hours 0-47) and
2026-11-01 (hours 744-767). On it, every hour, namespace team-a (label tenant=alpha) runs a pod requesting and
using 2 vCPU and 8 GiB, team-b (tenant=beta) one of 1 vCPU and 4 GiB. With the scad weights (cpu 9, memory 1)
a node-hour's unit price is $1 / (9*4 + 1*16) = $1/52, so per hour:

- alpha: split 2*9/52 + 8/52 = 26/52 = $0.50; idle share (node mode) of the unused 1 vCPU (9/52, by cpu
  allocation 2:1) and 4 GiB (4/52, by memory 8:4): 6/52 + (8/3)/52 = $1/6. Total $2/3.
- beta: split 13/52 = $0.25, idle 3/52 + (4/3)/52 = $1/12. Total $1/3.

So October bills alpha 48 * 2/3 = $32.00 and beta $16.00; November alpha $16.00 and beta $8.00.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from chargeback.build.engines import build
from chargeback.build.warehouse import connect
from chargeback.core import config as config_module
from chargeback.core.errors import ChargebackError, MethodChangeError
from chargeback.exports import run_export
from chargeback.raw.landing import land
from chargeback.reports.bill import monthly_bill
from chargeback.reports.close import close_period
from collectors import streams
from tests.factory import Scenario, hour

ARN = "arn:aws:billingconductor::111122223333:billinggroup/ABCDEFGHIJ"
NOW = datetime(2026, 12, 6, tzinfo=UTC)
OCTOBER, NOVEMBER, DECEMBER = "2026-10", "2026-11", "2026-12"
FORMATS = ("finance", "focus", "billing-conductor")
OCTOBER_HOURS, NOVEMBER_HOURS = range(0, 48), range(744, 768)
RESTATED_HOUR = 5  # the node-hour whose CUR line a restatement changes


def cluster(restated_cost: float = 1.0, labels: dict[str, dict[str, str]] | None = None) -> Scenario:
    """The module's cluster; ``labels``: the pods' Kubernetes labels by namespace (tests/test_costs.py groups by
    them)."""
    scenario = Scenario()
    hours = [*OCTOBER_HOURS, *NOVEMBER_HOURS]
    scenario.node("n1", "m5.xlarge", hours, 1.0, vcpu=4, memory_gib=16)
    scenario.cur = [
        {**line, "line_item_unblended_cost": restated_cost, "pricing_public_on_demand_cost": restated_cost}
        if line["line_item_usage_start_date"] == hour(RESTATED_HOUR)
        else line
        for line in scenario.cur
    ]
    for namespace, tenant, cpu, memory in (("team-a", "alpha", 2, 8), ("team-b", "beta", 1, 4)):
        scenario.pod(
            namespace, f"{namespace}-pod", "n1", hours, labels=(labels or {}).get(namespace),
            cpu_request=cpu, cpu_usage=cpu, memory_request_gib=memory, memory_usage_gib=memory,
        )  # fmt: skip
        scenario.label_namespace(namespace, hours, {"tenant": tenant})
    return scenario


def october_cur(scenario: Scenario) -> list[dict]:
    return [line for line in scenario.cur if line["line_item_usage_start_date"] < hour(744)]


def reland(data_dir: Path, stream, rows: list[dict]) -> None:
    """Land ``rows`` again, as a later collection would: their partitions are replaced whole."""
    land(data_dir, stream, pa.Table.from_pylist(rows, schema=stream.schema), origin="test restatement")


@pytest.fixture
def month(tmp_path):
    """October and November built, October closed."""
    data_dir = tmp_path / "data"
    cluster().write(data_dir)
    config = config_module.parse(
        {"data_dir": str(data_dir), "export": {"billing_conductor": {"billing_group_arn": ARN}}}
    )
    build(config)
    return config


def exact_adjustments(config, period: str) -> dict[tuple[str, str, str], Decimal]:
    """(closed month, bill line, part) -> the exact adjustment booked in ``period``."""
    with connect(config) as con:
        rows = con.execute(
            "select closed_period, tenant, part, sum(amount) from marts.fct_adjustments where period = ? group by all",
            [period],
        ).fetchall()
    return {(c, t, p): a for c, t, p, a in rows}


def assert_close(found: dict, expected: dict) -> None:
    assert set(found) == set(expected), (found, expected)
    for key, value in expected.items():
        assert found[key] == pytest.approx(Decimal(value), abs=Decimal("0.000001")), key


def totals(bill) -> dict[str, Decimal]:
    return {line.tenant: line.total for line in bill.lines}


def exports(config, out: Path, period: str) -> dict[str, bytes]:
    """Every format of ``period`` exported, as {file name: bytes} (the version each run points at)."""
    found = {}
    for target in FORMATS:
        result = run_export(config, period, target, out)
        for path in result.paths[:-1]:
            found[Path(path).name] = Path(path).read_bytes()
    return found


def frozen_outputs(config, out: Path) -> dict[str, bytes]:
    """What must never change about closed October: its bill in every format and its export files."""
    bill = monthly_bill(config, OCTOBER)
    return {"bill.csv": bill.to_csv().encode(), "bill.json": bill.to_json().encode(), **exports(config, out, OCTOBER)}


# --- closing -------------------------------------------------------------------------------------------------


def test_closing_freezes_the_month_and_refuses_to_close_it_twice(month, tmp_path):
    before = monthly_bill(month, OCTOBER)
    assert totals(before) == {"alpha": Decimal("32.00"), "beta": Decimal("16.00")}
    out = tmp_path / "exports"
    exported = exports(month, out, OCTOBER)
    closed = close_period(month, OCTOBER, now=NOW)
    assert closed.path == Path(month.data_dir) / "closed" / OCTOBER
    record = json.loads((closed.path / "bill.json").read_text())
    assert record["bill"]["total"] == "48.00"
    assert record["method_fingerprint"] and record["inputs_fingerprint"] == closed.inputs_fingerprint
    listing = json.loads((closed.path / "inputs.json").read_text())
    assert {f["path"].split("/")[2] for f in listing["files"]} >= {"pod_hours", "node_hours", "line_items"}
    assert all(len(f["sha256"]) == 64 for f in listing["files"])
    after = monthly_bill(month, OCTOBER)
    assert after.closed_at == "2026-12-06T00:00:00Z" and after.to_csv() == before.to_csv()
    # Rendered from what was frozen, the exports are those of the open month: no new version.
    assert exports(month, out, OCTOBER) == exported
    assert all(not run_export(month, OCTOBER, target, out).changed for target in FORMATS)

    with pytest.raises(ChargebackError, match=r"2026-10 is already closed \(on 2026-12-06T00:00:00Z\)"):
        close_period(month, OCTOBER, now=NOW)
    with pytest.raises(ChargebackError, match=r"2026-12 is not over until 2027-01-01T00:00:00Z"):
        close_period(month, DECEMBER, now=NOW)
    with pytest.raises(ChargebackError, match=r"2026-09 is before 2026-10, which is closed"):
        close_period(month, "2026-09", now=NOW)


def test_months_close_in_order_from_a_build_of_the_data_as_it_is(month):
    with pytest.raises(ChargebackError, match=r"close 2026-10 first: months close in order"):
        close_period(month, NOVEMBER, now=NOW)
    scenario = cluster(restated_cost=1.30)
    reland(Path(month.data_dir), streams.CUR_LINE_ITEMS, october_cur(scenario))
    with pytest.raises(ChargebackError, match=r"changed after the published build.*run `chargeback build`"):
        close_period(month, OCTOBER, now=NOW)
    assert not (Path(month.data_dir) / "closed" / OCTOBER).exists()


# --- adjustments ------------------------------------------------------------------------------------------


def test_a_restated_cur_is_booked_in_the_first_open_month_and_the_closed_bill_stays_byte_identical(month, tmp_path):
    out = tmp_path / "exports"
    close_period(month, OCTOBER, now=NOW)
    frozen = frozen_outputs(month, out)
    data_dir = Path(month.data_dir)

    # AWS restates October: node-hour 5 cost $1.30 instead of $1.00. The extra $0.30 splits like the hour:
    # alpha 2/3 * 0.30 = 0.20 (compute 0.50 * 0.30 = 0.15, idle 1/6 * 0.30 = 0.05), beta 1/3 * 0.30 = 0.10
    # (compute 0.075, idle 0.025), booked in November, naming October.
    reland(data_dir, streams.CUR_LINE_ITEMS, october_cur(cluster(restated_cost=1.30)))
    build(month)
    assert_close(
        exact_adjustments(month, NOVEMBER),
        {
            (OCTOBER, "alpha", "compute"): "0.15",
            (OCTOBER, "alpha", "idle"): "0.05",
            (OCTOBER, "beta", "compute"): "0.075",
            (OCTOBER, "beta", "idle"): "0.025",
        },
    )
    november = monthly_bill(month, NOVEMBER)
    # November's own node-day: alpha 24 * 2/3 = 16.00, beta 8.00; plus the adjustments.
    assert totals(november) == {"alpha": Decimal("16.20"), "beta": Decimal("8.10")}
    assert november.total == Decimal("24.30")
    by_tenant = {line.tenant: line for line in november.lines}
    assert by_tenant["alpha"].parts["adjustment"] == Decimal("0.20")
    assert [(c.closed_period, c.amount) for c in by_tenant["beta"].corrections] == [(OCTOBER, Decimal("0.10"))]
    lines = {line["tenant"]: line for line in json.loads(november.to_json())["lines"]}
    assert lines["alpha"]["adjustment"] == "0.20"
    assert lines["alpha"]["adjustments"][0]["closed_period"] == OCTOBER
    header = november.to_csv().splitlines()[0]
    assert header == "period,currency,tenant,compute,idle,shared,storage,network,emr,tagged,adjustment,total,method"
    assert frozen_outputs(month, out) == frozen, "the closed bill and its exports changed"

    # Restated again before November closes: November's adjustment is the whole difference once ($1.60: +0.60).
    reland(data_dir, streams.CUR_LINE_ITEMS, october_cur(cluster(restated_cost=1.60)))
    build(month)
    assert totals(monthly_bill(month, NOVEMBER)) == {"alpha": Decimal("16.40"), "beta": Decimal("8.20")}
    assert frozen_outputs(month, out) == frozen


def test_a_second_restatement_after_the_open_month_closed_books_only_the_new_difference(month, tmp_path):
    data_dir = Path(month.data_dir)
    close_period(month, OCTOBER, now=NOW)
    reland(data_dir, streams.CUR_LINE_ITEMS, october_cur(cluster(restated_cost=1.30)))
    build(month)
    close_period(month, NOVEMBER, now=NOW)  # freezes November with its +0.20 / +0.10 for October
    out = tmp_path / "exports"
    frozen = frozen_outputs(month, out)
    november = exports(month, out, NOVEMBER)

    # The second restatement: $1.60, i.e. $0.30 more than when November closed. October is billed 0.60 more
    # than its closed bill now, November booked 0.30 of it: December books the other 0.30, split as before.
    reland(data_dir, streams.CUR_LINE_ITEMS, october_cur(cluster(restated_cost=1.60)))
    build(month)
    assert_close(
        exact_adjustments(month, DECEMBER),
        {
            (OCTOBER, "alpha", "compute"): "0.15",
            (OCTOBER, "alpha", "idle"): "0.05",
            (OCTOBER, "beta", "compute"): "0.075",
            (OCTOBER, "beta", "idle"): "0.025",
        },
    )
    # December has no costs of its own: a month with only adjustments still gets a bill.
    december = monthly_bill(month, DECEMBER)
    assert totals(december) == {"alpha": Decimal("0.20"), "beta": Decimal("0.10")}
    assert all(line.parts["adjustment"] == line.total for line in december.lines)
    assert totals(monthly_bill(month, NOVEMBER)) == {"alpha": Decimal("16.20"), "beta": Decimal("8.10")}
    assert frozen_outputs(month, out) == frozen
    assert exports(month, out, NOVEMBER) == november, "closed November's exports changed"


def test_a_relabel_after_close_moves_a_day_between_tenants_as_opposite_adjustments(month, tmp_path):
    out = tmp_path / "exports"
    close_period(month, OCTOBER, now=NOW)
    frozen = frozen_outputs(month, out)
    # team-b is relabelled alpha for 2026-10-02 (hours 24-47): beta's day (24 * 1/3 = 8.00: compute 24 * 0.25 =
    # 6.00, idle 24 * 1/12 = 2.00) moves to alpha: +8.00 for alpha, -8.00 for beta.
    scenario = cluster()
    relabelled = [
        {**row, "labels": [("tenant", "alpha")]} if row["namespace"] == "team-b" else row
        for row in scenario.namespace_labels
        if hour(24) <= row["hour"] < hour(48)
    ]
    reland(Path(month.data_dir), streams.NAMESPACE_LABELS, relabelled)
    build(month)
    assert_close(
        exact_adjustments(month, NOVEMBER),
        {
            (OCTOBER, "alpha", "compute"): "6.00",
            (OCTOBER, "alpha", "idle"): "2.00",
            (OCTOBER, "beta", "compute"): "-6.00",
            (OCTOBER, "beta", "idle"): "-2.00",
        },
    )
    assert totals(monthly_bill(month, NOVEMBER)) == {"alpha": Decimal("24.00"), "beta": Decimal("0.00")}
    assert frozen_outputs(month, out) == frozen


def test_a_method_change_applies_from_the_first_open_month_unless_a_closed_month_is_restated(month, tmp_path):
    out = tmp_path / "exports"
    close_period(month, OCTOBER, now=NOW)
    frozen = frozen_outputs(month, out)
    separate = month.model_copy(update={"allocation": month.allocation.model_copy(update={"idle": "separate"})})
    # Idle kept on __idle__: per hour alpha 0.50, beta 0.25, __idle__ 0.25. Refused until accepted, naming what
    # it does to the open month only: alpha 24 * (2/3 - 1/2) = 4.00 less, beta 24 * (1/3 - 1/4) = 2.00 less.
    with pytest.raises(MethodChangeError) as refused:
        build(separate)
    assert "2026-11 alpha: 16.00 -> 12.00 (-4.00)" in str(refused.value)
    assert "2026-11 beta: 8.00 -> 6.00 (-2.00)" in str(refused.value)
    assert "2026-10" not in str(refused.value), "a closed month does not move"
    build(separate, accept_method_change=True)  # November (open) follows it at once
    assert exact_adjustments(separate, NOVEMBER) == {}
    assert totals(monthly_bill(separate, NOVEMBER)) == {
        "__idle__": Decimal("6.00"),
        "alpha": Decimal("12.00"),
        "beta": Decimal("6.00"),
    }
    assert frozen_outputs(separate, out) == frozen

    # Data changes too (the CUR restated): October is held, not adjusted, since the difference would carry
    # the method change; the build says so.
    reland(Path(month.data_dir), streams.CUR_LINE_ITEMS, october_cur(cluster(restated_cost=1.30)))
    result = build(separate)
    assert exact_adjustments(separate, NOVEMBER) == {}
    assert any("2026-10" in note and "--restate 2026-10" in note for note in result.notes)

    # Restated under the new method: the method effect on October (alpha's idle share 48 * 1/6 = 8.00 and
    # beta's 48 * 1/12 = 4.00 go to __idle__, +12.00) plus the restated hour under it (+0.30: alpha compute
    # 0.15, beta 0.075, __idle__ 0.075), booked in November; recorded, so the next build books it too.
    expected = {
        (OCTOBER, "alpha", "compute"): "0.15",
        (OCTOBER, "alpha", "idle"): "-8.00",
        (OCTOBER, "beta", "compute"): "0.075",
        (OCTOBER, "beta", "idle"): "-4.00",
        (OCTOBER, "__idle__", "idle"): "12.075",
    }
    build(separate, restate=[OCTOBER])
    assert_close(exact_adjustments(separate, NOVEMBER), expected)
    build(separate)
    assert_close(exact_adjustments(separate, NOVEMBER), expected)
    assert frozen_outputs(separate, out) == frozen
    with pytest.raises(ChargebackError, match=r"--restate 2026-11: 2026-11 is not closed \(closed months: 2026-10\)"):
        build(separate, restate=[NOVEMBER])


def test_conservation_counts_adjustments(month):
    close_period(month, OCTOBER, now=NOW)
    reland(Path(month.data_dir), streams.CUR_LINE_ITEMS, october_cur(cluster(restated_cost=1.30)))
    build(month)  # publishing at all means every check passed, conservation included
    with connect(month) as con:

        def total(sql: str) -> Decimal:
            return con.execute(sql, [NOVEMBER]).fetchall()[0][0]

        lines = total("select sum(total_cost) from marts.fct_tenant_costs_daily where period = ?")
        adjustments = total("select sum(amount) from marts.fct_adjustments where period = ?")
        source = total("select sum(cost) from marts.fct_source_costs_daily where period = ?")
        check = con.execute(
            "select expected, actual, passed from marts.checks where check_name = 'conservation' and period = ?",
            [NOVEMBER],
        ).fetchall()[0]
    # November's 24 node-hours at $1.00, plus October's restated hour's extra $0.30.
    assert source == Decimal("24")
    assert lines + adjustments == pytest.approx(Decimal("24.30"), abs=Decimal("0.000001"))
    assert check[0] == pytest.approx(Decimal("24.30"), abs=Decimal("0.000001")) and check[2]


def test_exports_carry_adjustments_as_corrections(month, tmp_path):
    close_period(month, OCTOBER, now=NOW)
    reland(Path(month.data_dir), streams.CUR_LINE_ITEMS, october_cur(cluster(restated_cost=0.70)))
    build(month)  # October billed $0.30 less now: alpha -0.20, beta -0.10
    out = tmp_path / "exports"
    files = exports(month, out, NOVEMBER)

    rows = list(csv.DictReader(io.StringIO(files[f"focus-{NOVEMBER}.csv"].decode())))
    corrections = [r for r in rows if r["ChargeClass"] == "Correction"]
    assert {(r["x_TenantName"], r["x_CostComponent"]) for r in corrections} == {
        ("alpha", "adjustment"),
        ("beta", "adjustment"),
    }
    assert all(r["ChargeClass"] == "" for r in rows if r not in corrections)
    assert all("billing period 2026-10" in r["ChargeDescription"] for r in corrections)
    assert all(r["BillingPeriodStart"] == "2026-11-01T00:00:00Z" for r in corrections)
    assert all(r["ChargePeriodStart"] == "2026-10-01T00:00:00Z" for r in corrections)
    by_tenant = {}
    for r in corrections:
        by_tenant[r["x_TenantName"]] = by_tenant.get(r["x_TenantName"], Decimal(0)) + Decimal(r["BilledCost"])
    assert by_tenant == {"alpha": Decimal("-0.20"), "beta": Decimal("-0.10")}

    items = list(csv.DictReader(io.StringIO(files[f"custom-line-items-{NOVEMBER}.csv"].decode())))
    by_name = {i["Name"]: i for i in items}
    alpha_fix = by_name[f"chargeback-{NOVEMBER}-alpha-correction-{OCTOBER}"]
    assert (alpha_fix["ChargeDetails.Type"], alpha_fix["ChargeDetails.Flat.ChargeValue"]) == ("CREDIT", "0.20")
    assert "Correction of closed billing period 2026-10" in alpha_fix["Description"]
    alpha = by_name[f"chargeback-{NOVEMBER}-alpha"]
    assert (alpha["ChargeDetails.Type"], alpha["ChargeDetails.Flat.ChargeValue"]) == ("FEE", "16.00")

    finance = files[f"bill-{NOVEMBER}.csv"].decode().splitlines()
    assert finance[0].endswith(",adjustment,total,method")
    assert any(row.startswith("2026-11,USD,alpha,12.00,4.00,0.00,0.00,0.00,0.00,0.00,-0.20,15.80,") for row in finance)


def test_close_restate_and_bill_on_the_command_line(month, tmp_path):
    def chargeback(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "chargeback", *args, "--data-dir", str(month.data_dir)]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)

    closed = chargeback("close", "--period", OCTOBER)
    assert closed.returncode == 0, closed.stderr
    assert closed.stdout.startswith("closed 2026-10 on ") and "48.00 USD over 2 lines" in closed.stdout
    assert "booked as adjustments in 2026-11" in closed.stdout
    again = chargeback("close", "--period", OCTOBER)
    assert again.returncode == 2 and again.stdout == ""
    assert re.fullmatch(
        r"error: 2026-10 is already closed \(on \d{4}-\d\d-\d\dT[\d:]+Z\); a closed month never changes",
        again.stderr.strip(),
    )
    table = chargeback("bill", "--period", OCTOBER)
    assert "closed on " in table.stdout and "this is the frozen bill" in table.stdout
    wrong = chargeback("build", "--restate", NOVEMBER)
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == "error: --restate 2026-11: 2026-11 is not closed (closed months: 2026-10)"
    bad = chargeback("build", "--restate", "october")
    assert bad.returncode == 2 and "--restate 'october' is not YYYY-MM" in bad.stderr


@pytest.fixture
def data_dir(month) -> Path:
    """For the ``env`` fixture: the dashboard reads this data directory."""
    return Path(month.data_dir)


def test_the_dashboard_shows_the_frozen_bill_and_the_corrections(month, env):
    from tests.dashboard_support import open_app

    close_period(month, OCTOBER, now=NOW)
    reland(Path(month.data_dir), streams.CUR_LINE_ITEMS, october_cur(cluster(restated_cost=1.30)))
    build(month)

    october = open_app(period=OCTOBER)
    assert "2026-10 is closed (since 2026-12-06T00:00:00Z)" in " ".join(i.value for i in october.info)
    lines = next(f.value for f in october.dataframe if f.value.columns[0] == "line").set_index("line")
    assert f"{lines.loc['alpha', 'total']:.2f}" == "32.00"  # frozen: not the 32.20 a build computes now
    assert f"{lines.loc['beta', 'total']:.2f}" == "16.00"

    november = open_app(period=NOVEMBER)
    assert "correct closed month(s) 2026-10" in " ".join(i.value for i in november.info)
    lines = next(f.value for f in november.dataframe if f.value.columns[0] == "line").set_index("line")
    assert [f"{lines.loc[t, 'adjustment']:.2f}" for t in ("alpha", "beta")] == ["0.20", "0.10"]
    assert f"{lines.loc['Total', 'total']:.2f}" == "24.30"
    assert [m.value for m in november.metric if m.label == "Billed minus source"] == ["$0.00"]
