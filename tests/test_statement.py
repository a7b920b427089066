"""`chargeback statement`: a PDF per tenant of the sample month (October 2026), read back as text with pypdf and
compared, amount by amount, with the bill and its breakdowns; tables that add up; errors; the scheduler's
export job writing the statements."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from chargeback import cli
from chargeback.build.warehouse import connect
from chargeback.core import config as config_module
from chargeback.core.money import to_cents
from chargeback.reports import breakdown
from chargeback.reports.bill import COST_PARTS, monthly_bill
from chargeback.reports.statement import Row, Table, statements
from chargeback.scheduler.jobs import RunRequest, export
from tests.sample_support import copy_built

PERIOD = "2026-10"
TENANTS = ["data-eng", "ml", "payments", "risk"]  # the sample's tenants, by name
AMOUNT = re.compile(r"(-?\d{1,3}(?:,\d{3})*\.\d\d)$")


@pytest.fixture(scope="module")
def month(built_sample, tmp_path_factory) -> config_module.Config:
    return copy_built(built_sample, tmp_path_factory.mktemp("statement") / "data")


@pytest.fixture(scope="module")
def pdf_text(month) -> dict[str, list[str]]:
    """Each tenant's statement, written by the command as a user runs it, read back: its text lines."""
    result = CliRunner().invoke(cli.app, ["statement", "--period", PERIOD, "--data-dir", str(month.data_dir)])
    assert result.exit_code == 0, result.output
    folder = Path(month.data_dir) / "statements" / PERIOD
    for tenant in TENANTS:
        assert f"{tenant}: " in result.stdout and str(folder / f"{tenant}-{PERIOD}.pdf") in result.stdout
    assert sorted(p.name for p in folder.iterdir()) == [f"{t}-{PERIOD}.pdf" for t in TENANTS]
    return {tenant: read_lines(folder / f"{tenant}-{PERIOD}.pdf") for tenant in TENANTS}


def read_lines(path: Path) -> list[str]:
    return [line.strip() for page in PdfReader(path).pages for line in page.extract_text().splitlines()]


def money(amount: Decimal) -> str:
    """An amount as `chargeback bill` prints it, written out here rather than imported."""
    return f"{amount:,.2f}"


def amount(text: str) -> Decimal:
    return Decimal(AMOUNT.search(text).group(1).replace(",", ""))


def table(lines: list[str], heading: str, total_label: str = "total") -> tuple[list[tuple[str, Decimal]], Decimal]:
    """A table of the PDF's text: the rows under the line ``heading`` (label, amount) up to its total row."""
    start = lines.index(heading) + 1
    rows = []
    for line in lines[start:]:
        if line.startswith(total_label + " ") and AMOUNT.search(line):
            return rows, amount(line)
        if AMOUNT.search(line):
            rows.append((AMOUNT.sub("", line).strip(), amount(line)))
    raise AssertionError(f"no {total_label} row under {heading!r}")


def exact_sql(config, sql: str, params: dict) -> pl.DataFrame:
    with connect(config) as con:
        return con.sql(sql, params=params).pl()


# --- the figures are the bill's --------------------------------------------------------------------------


def test_summary_and_total_of_each_statement_are_the_bill(month, pdf_text):
    bill = monthly_bill(month, PERIOD)
    lines = {line.tenant: line for line in bill.lines}
    assert sorted(t for t in lines if not t.startswith("__")) == TENANTS  # sentinels get no statement
    for tenant in TENANTS:
        text, line = pdf_text[tenant], lines[tenant]
        assert f"Total {money(line.total)} USD" in text
        rows, total = table(text, "part amount (USD)")
        assert rows == [(part, line.parts[part]) for part in COST_PARTS]
        assert total == line.total == sum(amount for _, amount in rows)
        assert f"Tenant {tenant}" in text and f"Period {PERIOD}" in text and "Cluster(s) prod-analytics" in text
        assert f"Method {bill.method_line()}" in text  # the method line the bill prints, with its fingerprint


def test_totals_against_an_independent_sum_of_the_bill(month, pdf_text):
    """Each printed total is the tenant's exact cost rounded (a cent at most moved by largest remainder), and the
    statements plus the sentinel lines are the in-scope source cost rounded half-up, summed here in SQL."""
    exact = exact_sql(
        month,
        "select tenant, sum(total_cost) as cost from marts.fct_tenant_costs_daily where period = $p group by tenant",
        {"p": PERIOD},
    )
    costs = dict(zip(exact["tenant"], exact["cost"], strict=True))
    printed = {t: amount(next(x for x in pdf_text[t] if x.startswith("Total ")).removesuffix(" USD")) for t in TENANTS}
    for tenant in TENANTS:
        assert abs(printed[tenant] - to_cents(costs[tenant])) <= Decimal("0.01"), tenant
    source = exact_sql(
        month, "select sum(cost) as c from marts.fct_source_costs_daily where period = $p", {"p": PERIOD}
    )
    sentinels = sum((line.total for line in monthly_bill(month, PERIOD).lines if line.is_sentinel), Decimal(0))
    assert sum(printed.values()) + sentinels == to_cents(source["c"][0])


def test_namespaces_are_the_breakdown_and_add_up_to_the_total(month, pdf_text):
    bill = monthly_bill(month, PERIOD)
    leaves = exact_sql(
        month,
        """select tenant, namespace, workload_kind, workload_name, emr_job_run_id, sum(compute_cost) as compute,
            sum(idle_cost) as idle, sum(storage_cost) as storage, sum(network_cost) as network
        from marts.fct_workload_costs_monthly where period = $p group by all""",
        {"p": PERIOD},
    )
    tenants_leaves = leaves.filter(pl.col("tenant").is_in(TENANTS))
    cents = breakdown.workload_cents(tenants_leaves, bill)  # the dashboard's drill-down
    for tenant in TENANTS:
        line = next(line for line in bill.lines if line.tenant == tenant)
        rows, total = table(pdf_text[tenant], "namespace amount (USD)")
        assert total == line.total == sum(a for _, a in rows)
        mine = cents.filter((pl.col("tenant") == tenant) & ~pl.col("rest"))
        by_namespace = mine.group_by("namespace").agg(pl.sum_horizontal(*breakdown.WORKLOAD_PARTS).sum().alias("c"))
        expected = {r["namespace"]: Decimal(r["c"]) / 100 for r in by_namespace.iter_rows(named=True) if r["c"]}
        printed = dict(rows)
        for namespace, value in expected.items():
            assert printed[namespace] == value, (tenant, namespace)
        # and each is its exact cost in the mart, rounded: within a cent per workload of it
        for namespace in expected:
            of = tenants_leaves.filter((pl.col("tenant") == tenant) & (pl.col("namespace") == namespace))
            exact_sum = sum(sum(r[p] for p in breakdown.WORKLOAD_PARTS) for r in of.iter_rows(named=True))
            assert abs(printed[namespace] - exact_sum) <= Decimal("0.01") * max(of.height, 1), (tenant, namespace)
        for part, label in (("shared", "shared costs"), ("emr", "EMR on EKS charges"), ("tagged", "tagged resources")):
            found = [a for name, a in rows if name.startswith(label)]
            assert found == ([line.parts[part]] if line.parts[part] else []), (tenant, part)


def test_workloads_and_spark_jobs_add_up(month, pdf_text):
    bill = monthly_bill(month, PERIOD)
    runs = exact_sql(
        month,
        "select tenant, count(distinct job_run_id) as n from marts.fct_emr_job_costs where period = $p group by 1",
        {"p": PERIOD},
    )
    counts = dict(zip(runs["tenant"], runs["n"], strict=True))
    for tenant in TENANTS:
        text = pdf_text[tenant]
        line = next(line for line in bill.lines if line.tenant == tenant)
        rows, total = table(text, "workload kind amount (USD)")
        assert total == line.total == sum(a for _, a in rows)
        assert len(rows) <= 12  # ten workloads, the others, what is in no workload
        assert f"EMR on EKS job runs: {counts.get(tenant, 0)}. Their pods' cost and EMR charges, already within" in (
            " ".join(text)
        )
        if counts.get(tenant):
            jobs, jobs_total = table(text, "job job run id amount (USD)", "Spark jobs total")
            assert jobs_total == sum(a for _, a in jobs) > 0
        else:
            assert "No Spark job runs this month." in text


def test_trend_method_and_adjustments(month, pdf_text):
    for tenant in TENANTS:
        text = pdf_text[tenant]
        line = next(line for line in monthly_bill(month, PERIOD, tenant).lines)
        assert f"{PERIOD} {money(line.total)}" in text  # the sample warehouse has one month
        assert "How the amounts were allocated; docs/method.md describes the method in full." in text
        adjustments = text.index("Adjustments from closed months")
        assert text[adjustments + 2] == "None."


def test_statement_figures_equal_the_bill_for_one_tenant(month):
    (found,) = statements(month, PERIOD, "ml")
    line = monthly_bill(month, PERIOD, "ml").lines[0]
    assert found.total == line.total and found.summary.total == line.total
    assert [r.amount for r in found.summary.rows] == [line.parts[p] for p in COST_PARTS]
    assert found.namespaces.total == found.workloads.total == line.total


def test_a_table_that_does_not_add_up_is_refused():
    with pytest.raises(AssertionError, match="sum to 1.00, not 1.01"):
        Table((Row("a", Decimal("0.50")), Row("b", Decimal("0.50"))), Decimal("1.01"))


# --- the command's errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nobody"], "error: tenant 'nobody' has no costs in 2026-10; tenants of 2026-10: data-eng, ml,"),
        (["--tenant", "__idle__"], "error: '__idle__' is a line of the bill, not a tenant; tenants of 2026-10:"),
        (["--period", "2026-09"], "error: no costs for period 2026-09 (periods built: 2026-10)"),
    ],
)
def test_errors_are_one_line(month, monkeypatch, capsys, args, message):
    argv = ["chargeback", "statement", "--period", PERIOD, *args, "--data-dir", str(month.data_dir)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_an_unbuilt_warehouse_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["chargeback", "statement", "--period", PERIOD, "--data-dir", str(tmp_path)])
    with pytest.raises(SystemExit):
        cli.main()
    assert "no warehouse yet; run `chargeback build`" in capsys.readouterr().err


def test_one_tenant_to_a_chosen_directory(month, tmp_path):
    out = tmp_path / "for-finance"
    args = ["statement", "-p", PERIOD, "-t", "risk", "-o", str(out), "--data-dir", str(month.data_dir)]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == ["risk-2026-10.pdf"]
    assert f"risk: 389.50 USD -> {out / 'risk-2026-10.pdf'}" in result.stdout


# --- with the monthly exports ----------------------------------------------------------------------------


def test_the_schedulers_export_job_writes_the_statements(month, tmp_path):
    job = config_module.ScheduleJob.model_validate(
        {"name": "export", "cron": "0 6 1 * *", "run": "export", "to": ["finance", "statement"], "out": str(tmp_path)}
    )
    first = export(RunRequest(month, job, datetime(2026, 11, 3, 6, 15, tzinfo=UTC), PERIOD))
    assert first == "exported 2026-10 as finance, statement"
    version = tmp_path / "statement" / PERIOD / "v1"
    manifest = json.loads((version / "manifest.json").read_text())
    assert [f["name"] for f in manifest["files"]] == [f"{t}-{PERIOD}.pdf" for t in TENANTS]
    bill = {line.tenant: line.total for line in monthly_bill(month, PERIOD).lines}
    assert manifest["totals"]["by_tenant"] == {t: str(bill[t]) for t in TENANTS}
    text = read_lines(version / f"ml-{PERIOD}.pdf")
    assert "Generated 2026-11-03 06:15 UTC" in text and f"Total {money(bill['ml'])} USD" in text
    # a month that says the same, a day later: no new version, although each PDF would say another time
    export(RunRequest(month, job, datetime(2026, 11, 4, 6, 15, tzinfo=UTC), PERIOD))
    assert sorted(p.name for p in (tmp_path / "statement" / PERIOD).iterdir()) == ["v1"]


def test_export_jobs_accept_statement_in_to():
    parsed = config_module.parse(
        {"schedule": {"jobs": [{"name": "e", "cron": "0 6 1 * *", "run": "export", "to": ["focus", "statement"]}]}}
    )
    assert parsed.schedule.jobs[0].to == ("focus", "statement")


def test_digest_changes_with_an_amount(month):
    (found,) = statements(month, PERIOD, "payments")
    rows = (dataclasses.replace(found.summary.rows[0], label="other"), *found.summary.rows[1:])
    assert dataclasses.replace(found, summary=Table(rows, found.total)).digest() != found.digest()
