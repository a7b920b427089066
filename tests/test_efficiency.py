"""Efficiency: used over requested and the cost of unused requests, against a plain sum over the priced pod-hours,
by hand on one pod, and the same figures on the CLI and the dashboard."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

from typer.testing import CliRunner

from chargeback.build.demo import SAMPLE_PERIOD
from chargeback.build.engines import build
from chargeback.build.warehouse import connect
from chargeback.cli import app
from chargeback.core import config as config_module
from chargeback.core.errors import DataError
from chargeback.core.money import to_cents
from chargeback.reports.bill import monthly_bill
from chargeback.reports.efficiency import efficiency
from tests.dashboard_support import open_app
from tests.factory import Scenario
from tests.services.dashboard import clear_streamlit_caches


def test_unused_requests_by_hand_on_one_pod(tmp_path):
    # One pod alone on a node for a day, asking for 2 cores and 4 GiB, using 0.5 cores and 6 GiB: a quarter of its
    # CPU request used (its CPU is priced on 2 cores: three quarters of that paid for nothing), and 150 % of its
    # memory (priced on the 6 GiB it used: nothing unused).
    s = Scenario()
    hours = range(24)
    node = s.node("node-a", "m5.xlarge", hours, None, vcpu=4, memory_gib=16)
    for h in hours:
        s.line(h, product_code="AmazonEC2", usage_type="BoxUsage:m5.xlarge", instance_type="m5.xlarge",
               resource_id=node, cost=1.0, product={"vcpu": "4", "memory": "16 GiB"})  # fmt: skip
    s.pod("alpha", "api-1", "node-a", hours, cpu_request=2, cpu_usage=0.5, memory_request_gib=4, memory_usage_gib=6)
    s.label_namespace("alpha", list(hours), {"tenant": "team-a"})
    s.write(tmp_path / "data")
    config = config_module.parse({"data_dir": str(tmp_path / "data"), "tenancy": {"namespace_label": "tenant"}})
    build(config)
    (found,) = efficiency(config, "2026-10")
    with connect(config) as con:
        cpu_cost, compute = con.execute(
            "select sum(cpu_cost), sum(cpu_cost + memory_cost + gpu_cost) from marts.fct_pod_costs_hourly"
        ).fetchone()
    assert found.key == ("team-a",)
    assert (found.cpu_request_core_hours, found.cpu_usage_core_hours) == (48, 12)
    assert (found.cpu_efficiency, found.memory_efficiency) == (0.25, 1.5)
    assert found.unused_requests == to_cents(cpu_cost * Decimal("0.75")) and found.unused_requests > 0
    assert found.compute == to_cents(compute)


def test_the_sample_months_efficiency_is_a_plain_sum_over_its_pod_hours(built_sample):
    config = config_module.load(built_sample / config_module.CONFIG_FILE)
    with connect(config) as con:
        rows = con.execute(
            "select tenant, cpu_request_core_hours, cpu_usage_core_hours, cpu_allocated_core_hours, cpu_cost,"
            " memory_request_gib_hours, memory_usage_gib_hours, memory_allocated_gib_hours, memory_cost,"
            " cpu_cost + memory_cost + gpu_cost from marts.fct_pod_costs_hourly where period = ?",
            [SAMPLE_PERIOD],
        ).fetchall()
    unused: dict[str, Decimal] = defaultdict(Decimal)
    requested: dict[str, float] = defaultdict(float)
    used: dict[str, float] = defaultdict(float)
    for tenant, c_req, c_use, c_alloc, c_cost, m_req, m_use, m_alloc, m_cost, _ in rows:
        for req, use, alloc, cost in ((c_req, c_use, c_alloc, c_cost), (m_req, m_use, m_alloc, m_cost)):
            if alloc > 0 and req > use:
                unused[tenant] += cost * Decimal(repr((req - use) / alloc))
        requested[tenant] += c_req
        used[tenant] += c_use
    found = {e.key[0]: e for e in efficiency(config, SAMPLE_PERIOD)}
    bill = {line.tenant: line for line in monthly_bill(config, SAMPLE_PERIOD).lines}
    assert set(found) == {"data-eng", "ml", "payments", "risk"}
    for tenant, e in found.items():
        assert abs(e.unused_requests - unused[tenant]) <= Decimal("0.01"), tenant
        assert abs(e.cpu_efficiency - used[tenant] / requested[tenant]) < 1e-9
        assert e.compute == bill[tenant].parts["compute"] and e.idle_share == bill[tenant].parts["idle"]
    # data-eng: its idle share is larger than its compute, and half its requested CPU goes unused
    assert found["data-eng"].idle_share > found["data-eng"].compute and found["data-eng"].cpu_efficiency < 0.6


def test_the_dashboard_shows_the_clis_efficiency(built_sample, monkeypatch, tmp_path):
    out = CliRunner().invoke(app, ["efficiency", "-p", SAMPLE_PERIOD, "--by", "namespace", "-t", "data-eng",
                                   "-f", "json", "--data-dir", str(built_sample)])  # fmt: skip
    assert out.exit_code == 0, out.output
    cli = json.loads(out.stdout)["rows"]
    monkeypatch.setenv("CHARGEBACK_DATA_DIR", str(built_sample))
    monkeypatch.delenv("CHARGEBACK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    clear_streamlit_caches()
    page = open_app("views/tenant_bill.py", tenant="data-eng")
    shown = next(t.value for t in page.dataframe if t.value.columns[0] == "namespace" and "unused_requests" in t.value)
    assert [(r.namespace, f"{r.unused_requests:.2f}", f"{r.cpu_efficiency:.6f}") for r in shown.itertuples()] == [
        (r["namespace"], r["unused_requests"], f"{r['cpu_efficiency']:.6f}") for r in cli
    ]
    clear_streamlit_caches()
    missing = CliRunner().invoke(app, ["efficiency", "-p", "2026-09", "--data-dir", str(built_sample)])
    # a user mistake: a DataError, which `chargeback` prints as one line and exits 2 on (tests/test_cli.py)
    assert isinstance(missing.exception, DataError) and str(missing.exception) == "no pod costs for period 2026-09"
