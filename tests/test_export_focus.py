"""The FOCUS 1.2 export, checked against the specification's column rules directly.

The rules below are written out from the FOCUS 1.2 specification (and the FinOps Foundation validator's
1.2 model, which needs Python 3.12 to run), not taken from the code under test.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

import tests.test_cli as cli_tests
from chargeback.exports import run_export
from tests.export_support import PERIOD, ROOT, sample  # noqa: F401 - sample is a fixture

# FOCUS 1.2: columns that MUST be present in every FOCUS dataset.
MANDATORY = {
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingCategory",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
}  # fmt: skip
# Columns that MUST NOT be null (PricingCategory/Quantity/Unit: not null for Usage rows that are no correction).
NOT_NULL = {
    "BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
    "ChargeCategory", "ChargePeriodEnd", "ChargePeriodStart", "ContractedCost", "EffectiveCost",
    "InvoiceIssuerName", "ListCost", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
}  # fmt: skip
DECIMALS = {"BilledCost", "ContractedCost", "EffectiveCost", "ListCost", "PricingQuantity"}
DATETIMES = {"BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart"}
OPTIONAL_KNOWN = {"ChargeFrequency"}  # recommended in 1.2
CHARGE_CATEGORIES = {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}
PRICING_CATEGORIES = {"Standard", "Dynamic", "Committed", "Other"}
CHARGE_FREQUENCIES = {"One-Time", "Recurring", "Usage-Based"}
SERVICE_CATEGORIES = {
    "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases", "Developer Tools",
    "Multicloud", "Identity", "Integration", "Internet of Things", "Management and Governance", "Media",
    "Migration", "Mobile", "Networking", "Security", "Storage", "Web", "Other",
}  # fmt: skip
NUMERIC = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")  # NumericFormat: no sign for positives, exponents or commas
DATETIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")  # DateTimeFormat, UTC
CURRENCY = re.compile(r"^[A-Z]{3}$")  # ISO 4217
TIME_UNITS = {"Years", "Months", "Days", "Hours", "Minutes", "Seconds"}


@pytest.fixture(scope="module")
def focus(sample, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("focus-out")
    result = run_export(sample.config, PERIOD, "focus", out)
    text = (out / "focus" / PERIOD / "v1" / f"focus-{PERIOD}.csv").read_text()
    header = next(csv.reader(io.StringIO(text)))
    rows = list(csv.DictReader(io.StringIO(text)))
    return result, header, rows


def test_every_mandatory_column_is_present_and_custom_columns_are_prefixed(focus):
    _, header, rows = focus
    assert rows, "the sample month has FOCUS rows"
    assert set(header) >= MANDATORY, f"missing: {sorted(MANDATORY - set(header))}"
    assert len(header) == len(set(header))
    custom = set(header) - MANDATORY - OPTIONAL_KNOWN
    assert custom and all(name.startswith("x_") for name in custom), sorted(custom)
    assert {"x_TenantName", "x_NamespaceName", "x_ClusterName", "x_AllocationMethod", "x_EmrJobRunId"} <= custom


def test_nullability_types_and_allowed_values(focus):
    _, _, rows = focus
    for number, row in enumerate(rows, start=2):
        where = f"row {number}"
        for column in NOT_NULL:
            assert row[column] != "", f"{where}: {column} is null"
        for column in DECIMALS:
            assert NUMERIC.match(row[column]), f"{where}: {column}={row[column]!r} is not a FOCUS decimal"
        assert row["ChargeCategory"] in CHARGE_CATEGORIES, where
        assert row["ChargeClass"] in ("", "Correction"), where
        assert row["ChargeFrequency"] in CHARGE_FREQUENCIES, where
        assert row["ServiceCategory"] in SERVICE_CATEGORIES, where
        assert CURRENCY.match(row["BillingCurrency"]) and row["BillingCurrency"] == "USD", where
        if row["ChargeCategory"] in ("Usage", "Purchase") and row["ChargeClass"] != "Correction":
            assert row["PricingCategory"] in PRICING_CATEGORIES, where
            assert row["PricingQuantity"] != "" and row["PricingUnit"] != "", where
        assert row["PricingUnit"] in TIME_UNITS, f"{where}: PricingUnit {row['PricingUnit']!r} is no UnitFormat unit"
        # Without ListUnitPrice / ContractedUnitPrice, a charge's ListCost and ContractedCost match BilledCost.
        assert row["ListCost"] == row["BilledCost"] == row["ContractedCost"], where
        assert len(row["EffectiveCost"].split(".")[1]) == 2, f"{where}: not in whole cents"


def test_timestamps_are_utc_iso_and_charge_periods_lie_in_the_billing_period(focus):
    _, _, rows = focus
    days = set()
    for row in rows:
        stamps = {c: row[c] for c in DATETIMES}
        assert all(DATETIME.match(v) for v in stamps.values()), stamps
        parsed = {c: datetime.fromisoformat(v.replace("Z", "+00:00")) for c, v in stamps.items()}
        assert all(p.utcoffset().total_seconds() == 0 for p in parsed.values())
        assert parsed["BillingPeriodStart"] == datetime(2026, 10, 1, tzinfo=UTC)
        assert parsed["BillingPeriodEnd"] == datetime(2026, 11, 1, tzinfo=UTC)
        assert parsed["BillingPeriodStart"] <= parsed["ChargePeriodStart"] < parsed["ChargePeriodEnd"]
        assert parsed["ChargePeriodEnd"] <= parsed["BillingPeriodEnd"]
        assert (parsed["ChargePeriodEnd"] - parsed["ChargePeriodStart"]).days == 1
        days.add(parsed["ChargePeriodStart"])
    assert len(days) == 31


def test_effective_cost_adds_up_to_the_bill_and_to_the_cur(focus, sample):  # noqa: F811
    result, _, rows = focus
    bill = sample.bill_json()
    effective = sum((Decimal(r["EffectiveCost"]) for r in rows), Decimal(0))
    assert effective == Decimal(bill["total"])
    assert effective == cli_tests.in_scope_source_total().quantize(Decimal("0.01"))
    assert sum(Decimal(r["BilledCost"]) for r in rows) == effective
    per_part: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        per_part[(row["x_TenantName"], row["x_CostComponent"])] += Decimal(row["EffectiveCost"])
    for line in bill["lines"]:
        for part in ("compute", "idle", "shared", "emr", "tagged"):
            assert per_part.get((line["tenant"], part), Decimal(0)) == Decimal(line[part]), (line["tenant"], part)
    assert result.manifest["totals"]["total"] == bill["total"]


def test_custom_columns_trace_tenants_namespaces_and_emr_jobs(focus):
    _, _, rows = focus
    assert {r["x_ClusterName"] for r in rows} == {"prod-analytics"}
    assert {"payments", "data-eng", "ml", "risk"} <= {r["x_TenantName"] for r in rows}
    compute = [r for r in rows if r["x_CostComponent"] == "compute" and r["x_TenantName"] == "payments"]
    assert compute and all(r["x_NamespaceName"].startswith("payments-") for r in compute)
    assert {r["x_AllocationMethod"] for r in compute} == {"split-cost:scad"}
    # EMR on EKS charges carry their job run, which is a job-run ARN's id in the sample CUR.
    cur = pq.read_table(ROOT / "sample_data" / "raw" / "cur" / "line_items").to_pylist()
    job_ids = {
        (row["line_item_resource_id"] or "").rsplit("/", 1)[-1]
        for row in cur
        if row["line_item_product_code"] == "ElasticMapReduce" and "/jobruns/" in (row["line_item_resource_id"] or "")
    }
    emr = [r for r in rows if r["x_CostComponent"] == "emr"]
    assert emr and {r["x_EmrJobRunId"] for r in emr} <= job_ids
    assert all(r["ServiceName"] == "Amazon EMR" and r["ServiceCategory"] == "Analytics" for r in emr)
    assert any(r["x_EmrJobRunId"] for r in rows if r["x_CostComponent"] == "compute"), "Spark pods carry their job"
