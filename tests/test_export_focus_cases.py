"""The FOCUS export on small hand-made months: invoice ids, corrections of a closed month, names that must survive
as written, and the service of every bill part (tests/focus_rules.py; docs/focus.md lists the rules).

The cluster is the one of test_closed_periods.py: one node at $1.00 an hour, 2026-10-01 and 02 (48 hours) and
2026-11-01 (24 hours), tenants alpha ($2/3 an hour) and beta ($1/3). October's CUR is final: its lines carry
invoice 3810224156, and an S3 line outside the cluster ($5.00, on a second invoice, 3810224157, as a
Marketplace or another invoicing entity's line would be) is out of scope. November's lines have no invoice
id yet.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from chargeback.build.engines import build
from chargeback.core import config as config_module
from chargeback.exports import focus_schema, run_export
from chargeback.exports.focus import Methods
from chargeback.reports.bill import PARTS
from chargeback.reports.close import close_period
from collectors import streams
from tests import focus_rules
from tests.factory import Scenario, hour
from tests.focus_rules import covers
from tests.test_closed_periods import ARN, NOVEMBER, OCTOBER, cluster, reland

NOW = datetime(2026, 12, 6, tzinfo=UTC)
OCTOBER_INVOICE, OTHER_INVOICE = "3810224156", "3810224157"


def invoiced(scenario: Scenario, restated_cost: float = 1.0) -> list[dict]:
    """The scenario's CUR lines with October invoiced (and the out-of-scope S3 line on the other invoice)."""
    lines = []
    for line in scenario.cur:
        october = line["line_item_usage_start_date"] < hour(744)
        lines.append({**line, "bill_invoice_id": OCTOBER_INVOICE if october else ""})
    s3 = dict(lines[0])
    s3.update(
        line_item_product_code="AmazonS3",
        line_item_resource_id="backups-bucket",
        line_item_usage_type="TimedStorage-ByteHrs",
        line_item_unblended_cost=5.0,
        line_item_net_unblended_cost=5.0,
        pricing_public_on_demand_cost=5.0,
        product_instance_type=None,
        product=[],
        bill_invoice_id=OTHER_INVOICE,
    )
    return [*lines, s3]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """October and November built (nothing closed): the data directory."""
    data_dir = tmp_path_factory.mktemp("focus-cases") / "data"
    scenario = cluster()
    scenario.cur = invoiced(scenario)
    scenario.write(data_dir)
    build(settings(data_dir))
    return data_dir


def settings(data_dir: Path, **focus) -> config_module.Config:
    export = {"billing_conductor": {"billing_group_arn": ARN}, **({"focus": focus} if focus else {})}
    return config_module.parse({"data_dir": str(data_dir), "export": export})


def copy(built: Path, tmp_path: Path) -> Path:
    """A copy of the built months, for a test that changes them."""
    shutil.copytree(built, tmp_path / "data")
    return tmp_path / "data"


def export(config: config_module.Config, period: str, out: Path) -> focus_rules.FocusFiles:
    result = run_export(config, period, "focus", out)
    return focus_rules.read_focus(Path(result.location), period, result)


@covers("InvoiceId-C-004-C", "InvoiceId-C-005-C", "InvoiceId-C-007-C")
def test_invoice_id_once_the_month_is_invoiced_and_null_before(built, tmp_path):
    config = settings(built)
    october, november = export(config, OCTOBER, tmp_path), export(config, NOVEMBER, tmp_path)
    # October: the invoice of its cluster lines (48 × $1.00), not the S3 line's ($5.00), on every row.
    assert {(r["BillingAccountId"], r["InvoiceId"]) for r in october.rows} == {("111122223333", OCTOBER_INVOICE)}
    assert {r["InvoiceId"] for r in october.text} == {OCTOBER_INVOICE}
    assert sum(r["BilledCost"] for r in october.rows) == Decimal("48.00")
    # November is not invoiced yet: null, an empty field in the CSV.
    assert november.table.column("InvoiceId").null_count == november.table.num_rows > 0
    assert {r["InvoiceId"] for r in november.text} == {""}


@covers("StringHandling-A-006-M")
def test_identifiers_stay_the_same_across_billing_periods(built, tmp_path):
    config = settings(built)
    october, november = export(config, OCTOBER, tmp_path), export(config, NOVEMBER, tmp_path)
    for name in ("BillingAccountId", "x_ClusterName", "ProviderName", "InvoiceIssuerName"):
        assert {r[name] for r in october.rows} == {r[name] for r in november.rows}, name
    assert {r["x_TenantName"] for r in october.rows} == {r["x_TenantName"] for r in november.rows}


@covers("BillingAccountId-C-002-M", "BillingAccountName-C-003-C")
def test_a_configured_account_keeps_its_leading_zero_and_its_name(built, tmp_path):
    # An AWS account id may start with 0: read as a number it would lose it.
    config = settings(built, billing_account_id="012345678901", billing_account_name="Example Corp payer")
    files = export(config, OCTOBER, tmp_path)
    assert files.table.schema.field("BillingAccountId").type == pa.string()
    assert {(r["BillingAccountId"], r["BillingAccountName"]) for r in files.rows} == {
        ("012345678901", "Example Corp payer")
    }
    assert {r["BillingAccountId"] for r in files.text} == {"012345678901"}


@covers("ChargeClass-C-003-C", "ChargeClass-C-004-C", "ChargeClass-C-005-C", "NumericFormat-A-011-M")
def test_a_correction_of_a_closed_month_is_the_only_row_with_a_charge_class(built, tmp_path):
    data_dir = copy(built, tmp_path)
    config = settings(data_dir)
    before = export(config, OCTOBER, tmp_path / "before")
    close_period(config, OCTOBER, now=NOW)
    # October's hour 5 restated from $1.00 to $0.70: October now bills alpha $0.20 and beta $0.10 less, booked
    # in November as corrections of October.
    scenario = cluster(restated_cost=0.70)
    october_lines = [line for line in invoiced(scenario) if line["line_item_usage_start_date"] < hour(744)]
    reland(data_dir, streams.CUR_LINE_ITEMS, october_lines)
    build(config)
    november = export(config, NOVEMBER, tmp_path / "after")
    corrections = [r for r in november.rows if r["ChargeClass"] is not None]
    assert {r["ChargeClass"] for r in corrections} == {"Correction"}
    # One row per corrected part: of the hour's -$0.30, alpha's compute -0.30 × 0.50 = -0.15 and idle
    # -0.30 × 1/6 = -0.05; beta's compute -0.30 × 0.25 = -0.075 and idle -0.30 × 1/12 = -0.025, in cents
    # -0.08 and -0.02 (largest remainder, the tie to the first).
    assert sorted((r["x_TenantName"], r["EffectiveCost"]) for r in corrections) == [
        ("alpha", Decimal("-0.15")),
        ("alpha", Decimal("-0.05")),
        ("beta", Decimal("-0.08")),
        ("beta", Decimal("-0.02")),
    ]
    for row in corrections:
        # Booked in November, charged over the month it corrects: October's 31 days.
        assert row["BillingPeriodStart"] == datetime(2026, 11, 1, tzinfo=UTC)
        assert (row["ChargePeriodStart"], row["ChargePeriodEnd"]) == (
            datetime(2026, 10, 1, tzinfo=UTC),
            datetime(2026, 11, 1, tzinfo=UTC),
        )
        assert (row["PricingQuantity"], row["PricingUnit"]) == (Decimal(31), "Days")
    # Every other row (November's own charges) has no charge class.
    assert all(r["ChargeClass"] is None for r in november.rows if r not in corrections)
    assert sorted(r["EffectiveCost"] for r in november.text if r["ChargeClass"]) == ["-0.02", "-0.05", "-0.08", "-0.15"]
    # Closed October's own export is what it was, invoice id included.
    again = export(config, OCTOBER, tmp_path / "before")
    assert not again.result.changed and again.rows == before.rows


def test_an_invoice_issued_after_the_close_reaches_the_closed_months_export(built, tmp_path):
    data_dir = copy(built, tmp_path)
    config = settings(data_dir)
    close_period(config, OCTOBER, now=NOW)
    close_period(config, NOVEMBER, now=NOW)  # before AWS invoiced November
    first = export(config, NOVEMBER, tmp_path / "out")
    assert first.table.column("InvoiceId").null_count == first.table.num_rows
    november = [
        {**line, "bill_invoice_id": "3810230001"}
        for line in cluster().cur
        if line["line_item_usage_start_date"] >= hour(744)
    ]
    reland(data_dir, streams.CUR_LINE_ITEMS, november)
    build(config)
    second = export(config, NOVEMBER, tmp_path / "out")
    assert second.result.changed and second.result.version == 2
    assert {r["InvoiceId"] for r in second.rows} == {"3810230001"}
    # Only the invoice id changed: the closed month's amounts are the frozen ones.
    assert second.result.changes["by_tenant"] == {} and second.result.changes["total"]["after"] == "24.00"
    strip = [{k: v for k, v in r.items() if k != "InvoiceId"} for r in second.rows]
    assert strip == [{k: v for k, v in r.items() if k != "InvoiceId"} for r in first.rows]


# --- the service of every bill part --------------------------------------------------------------------------


@covers("ServiceName-C-006-C", "ServiceName-C-009-C")
def test_every_bill_part_has_a_service_category_and_subcategory():
    expected = {
        "compute": ("Amazon Elastic Kubernetes Service", "Compute", "Containers"),
        "idle": ("Amazon Elastic Kubernetes Service", "Compute", "Containers"),
        "shared": ("Amazon Elastic Kubernetes Service", "Compute", "Containers"),
        "storage": ("Amazon Elastic Block Store", "Storage", "Block Storage"),
        "network": ("AWS Data Transfer", "Networking", "Network Connectivity"),
        "emr": ("Amazon EMR", "Analytics", "Data Processing"),
    }
    for part, service in expected.items():
        assert focus_schema.service(part, None) == service, part
    load_balancers = ("Elastic Load Balancing", "Networking", "Application Networking")
    assert focus_schema.service("network", "AWSELB") == load_balancers
    # A tagged line is the service of its product; a product FOCUS has no category for is Other.
    assert focus_schema.service("tagged", "AmazonS3") == ("Amazon Simple Storage Service", "Storage", "Object Storage")
    assert focus_schema.service("tagged", "AmazonRoute53") == ("AmazonRoute53", "Other", "Other (Other)")
    # Every part a bill has (the adjustment takes the part it corrects), and each service one classification.
    assert set(PARTS) - {"adjustment", "tagged"} <= set(expected)
    methods = Methods("amortized", "scad", "node", "weighted", "tenant")
    assert {methods.of(part) for part in (*expected, "tagged", "adjustment")}
    for name, (category, subcategory) in focus_schema.SERVICES.items():
        assert focus_rules.SUBCATEGORIES[subcategory] == category, name
