"""The FOCUS 1.2 export of the sample month, checked rule by rule against the specification (tests/focus_rules.py).

Both files of the export are read back: the Parquet, whose column types are FOCUS's, and the CSV, which must
say the same in text. Every rule of the FinOps Foundation validator's 1.2 model is listed in docs/focus.md with
the test here (or in test_export_focus_cases.py) that checks it, or why it does not apply.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tests.test_cli as cli_tests
import tests.test_export_focus_cases as cases
from chargeback.exports import run_export
from tests import focus_rules
from tests.export_support import PERIOD, ROOT, sample  # noqa: F401 - sample is a fixture
from tests.focus_rules import covers

CUR = ROOT / "sample_data" / "raw" / "cur" / "line_items" / "billing_period=2026-10"  # the month the tests export


@pytest.fixture(scope="module")
def focus(sample, tmp_path_factory) -> focus_rules.FocusFiles:  # noqa: F811
    out = tmp_path_factory.mktemp("focus-out")
    result = run_export(sample.config, PERIOD, "focus", out)
    return focus_rules.read_focus(out / "focus" / PERIOD / "v1", PERIOD, result)


@pytest.fixture(scope="module")
def cur() -> list[dict]:
    """The sample month's landed CUR lines."""
    return pq.read_table(CUR).to_pylist()


# --- the failures the validator found on the CSV (issue 15) ------------------------------------------------


@covers("BillingAccountId-C-002-M")
def test_billing_account_id_is_a_string_in_parquet(focus):
    # The CSV's 444455556666 reads back as a number; the Parquet column is a string, the CUR's payer as is.
    assert focus.table.schema.field("BillingAccountId").type == pa.string()
    assert {row["BillingAccountId"] for row in focus.rows} == {"444455556666"}


@covers("PricingQuantity-C-001-M")
def test_pricing_quantity_is_a_decimal_in_parquet(focus):
    kind = focus.table.schema.field("PricingQuantity").type
    assert pa.types.is_decimal(kind), kind
    # One day of allocation per row: 1, as a decimal.
    assert {row["PricingQuantity"] for row in focus.rows} == {Decimal(1)}


@covers("CostAndUsage-D-033-O", "InvoiceId-C-005-C", "InvoiceId-C-007-C")
def test_invoice_id_is_the_months_invoice(focus, cur):
    # The sample month's CUR is final (v2): every line carries the October invoice of payer 444455556666.
    invoices = {(line["bill_payer_account_id"], line["bill_invoice_id"]) for line in cur}
    assert invoices == {("444455556666", "2691847305")}
    assert "InvoiceId" in focus.header and "InvoiceId" in focus.table.column_names
    assert {(row["BillingAccountId"], row["InvoiceId"]) for row in focus.rows} == invoices
    assert {row["InvoiceId"] for row in focus.text} == {"2691847305"}


@covers("CostAndUsage-D-042-O", "ServiceSubcategory-C-002-M", "ServiceSubcategory-C-003-M")
def test_every_row_has_a_service_subcategory(focus):
    assert "ServiceSubcategory" in focus.header and "ServiceSubcategory" in focus.table.column_names
    found = {row["ServiceSubcategory"] for row in focus.rows}
    assert None not in found and found <= set(focus_rules.SUBCATEGORIES), found


@covers(
    "ServiceName-C-004-C", "ServiceName-C-005-C", "ServiceName-C-007-C", "ServiceName-C-008-C",
    "ServiceSubcategory-C-004-M",
)  # fmt: skip
def test_each_service_name_has_one_category_and_one_subcategory(focus):
    by_name: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for row in focus.rows:
        by_name[row["ServiceName"]].add((row["ServiceCategory"], row["ServiceSubcategory"]))
    assert {name: len(pairs) for name, pairs in by_name.items() if len(pairs) != 1} == {}
    for pairs in by_name.values():
        ((category, subcategory),) = pairs
        assert focus_rules.SUBCATEGORIES[subcategory] == category, (category, subcategory)
    # The sample month's pods and shared costs (EKS), its EMR charges, its tagged gp3 volume (an EC2 line), its
    # PersistentVolumes (EBS), its pods' cross-AZ transfer and its load balancers.
    assert {name: pair for name, (pair,) in by_name.items()} == {
        "Amazon Elastic Kubernetes Service": ("Compute", "Containers"),
        "Amazon EMR": ("Analytics", "Data Processing"),
        "Amazon Elastic Compute Cloud": ("Compute", "Virtual Machines"),
        "Amazon Elastic Block Store": ("Storage", "Block Storage"),
        "AWS Data Transfer": ("Networking", "Network Connectivity"),
        "Elastic Load Balancing": ("Networking", "Application Networking"),
    }


# --- presence, types, nullability ------------------------------------------------------------------------


@covers(
    "CostAndUsage-D-005-M", "CostAndUsage-D-006-M", "CostAndUsage-D-008-M", "CostAndUsage-D-009-M",
    "CostAndUsage-D-010-M", "CostAndUsage-D-021-M", "CostAndUsage-D-022-C", "CostAndUsage-D-023-M",
    "CostAndUsage-D-024-M", "CostAndUsage-D-025-M", "CostAndUsage-D-026-M", "CostAndUsage-D-027-O",
    "CostAndUsage-D-028-M", "CostAndUsage-D-030-M", "CostAndUsage-D-031-M", "CostAndUsage-D-032-M",
    "CostAndUsage-D-035-M", "CostAndUsage-D-036-M", "CostAndUsage-D-037-M", "CostAndUsage-D-038-M",
    "CostAndUsage-D-040-M", "CostAndUsage-D-041-M", "CostAndUsage-D-068-M",
)  # fmt: skip
def test_every_focus_column_is_in_both_files(focus):
    assert focus.rows, "the sample month has FOCUS rows"
    for columns in (focus.header, focus.table.column_names):
        assert set(columns) >= focus_rules.FOCUS_COLUMNS, sorted(focus_rules.FOCUS_COLUMNS - set(columns))
        assert len(columns) == len(set(columns))
    assert focus.header == focus.table.column_names


@covers(
    "BilledCost-C-001-M", "BillingAccountName-C-001-M", "BillingCurrency-C-001-M", "BillingPeriodEnd-C-001-M",
    "BillingPeriodStart-C-001-M", "ChargeCategory-C-001-M", "ChargeClass-C-001-M", "ChargeDescription-C-001-M",
    "ChargeFrequency-C-001-M", "ChargePeriodEnd-C-001-M", "ChargePeriodStart-C-001-M", "ContractedCost-C-001-M",
    "EffectiveCost-C-001-M", "InvoiceId-C-001-M", "InvoiceIssuerName-C-001-M", "ListCost-C-001-M",
    "PricingCategory-C-001-M", "PricingUnit-C-001-M", "ProviderName-C-001-M", "PublisherName-C-001-M",
    "ServiceCategory-C-001-M", "ServiceName-C-001-M", "ServiceSubcategory-C-001-M", "NumericFormat-A-012-M",
    "NumericFormat-A-013-O",
)  # fmt: skip
def test_column_types_as_written_to_parquet(focus):
    schema = focus.table.schema
    for name in focus_rules.STRING:
        assert schema.field(name).type == pa.string(), name
    for name in focus_rules.DECIMAL:
        kind = schema.field(name).type
        # Decimal, "Extended" precision (128 bits, 36+ significant digits); money in whole cents.
        assert pa.types.is_decimal128(kind) and kind.precision >= 36, (name, kind)
        assert kind.scale == (6 if name == "PricingQuantity" else 2), (name, kind)
    for name in focus_rules.DATETIME:
        assert schema.field(name).type == pa.timestamp("us", tz="UTC"), name
    for name in schema.names:
        if name.startswith("x_"):
            assert schema.field(name).type == pa.string(), name
    assert schema.metadata[b"FocusVersion"] == b"1.2"


@covers(
    "BilledCost-C-003-M", "BillingAccountId-C-001-M", "BillingAccountName-C-003-C", "BillingCurrency-C-004-M",
    "BillingPeriodEnd-C-003-M", "BillingPeriodStart-C-003-M", "ChargeCategory-C-002-M", "ChargeDescription-C-003-O",
    "ChargeFrequency-C-002-M", "ChargePeriodEnd-C-003-M", "ChargePeriodStart-C-003-M", "ContractedCost-C-003-M",
    "EffectiveCost-C-003-M", "InvoiceIssuerName-C-003-M", "ListCost-C-003-M", "ProviderName-C-003-M",
    "PublisherName-C-003-M", "ServiceCategory-C-002-M", "ServiceName-C-003-M",
)  # fmt: skip
def test_columns_that_are_never_null(focus):
    schema = focus.table.schema
    for name in focus_rules.NOT_NULL:
        assert not schema.field(name).nullable, f"{name} is declared nullable"
        assert focus.table.column(name).null_count == 0, name
        assert all(row[name] != "" for row in focus.text), name
    # AWS names accounts, and the CUR carries no name: an unnamed account is shown by its id.
    assert {row["BillingAccountName"] for row in focus.rows} == {"444455556666"}


@covers("NullHandling-A-001-C", "NullHandling-A-002-M")
def test_nulls_are_nulls_not_placeholders(focus):
    for name in focus.table.column_names:
        values = focus.table.column(name).to_pylist()
        assert not {v for v in values if isinstance(v, str)} & focus_rules.PLACEHOLDERS, name
    # The nullable columns hold real nulls: no correction, namespace-less rows, rows of no EMR job.
    for name in ("ChargeClass", "x_NamespaceName", "x_EmrJobRunId"):
        assert focus.table.column(name).null_count > 0, name
    assert focus.table.column("ChargeClass").null_count == focus.table.num_rows
    # A CSV has no null: an empty field, exactly where the Parquet holds one.
    for text, typed in zip(focus.text, focus.rows, strict=True):
        assert {c for c, v in text.items() if v == ""} == {c for c, v in typed.items() if v is None}


# --- formats ---------------------------------------------------------------------------------------------


@covers(
    "BilledCost-C-002-M", "BilledCost-C-004-M", "ContractedCost-C-002-M", "ContractedCost-C-004-M",
    "EffectiveCost-C-002-M", "EffectiveCost-C-004-M", "ListCost-C-002-M", "ListCost-C-004-M",
    "PricingQuantity-C-002-M", "PricingQuantity-C-008-M", "NumericFormat-A-002-M", "NumericFormat-A-003-M",
    "NumericFormat-A-004-M", "NumericFormat-A-005-M", "NumericFormat-A-006-M", "NumericFormat-A-007-M",
    "NumericFormat-A-008-M", "NumericFormat-A-009-M", "NumericFormat-A-010-M", "NumericFormat-A-011-M",
)  # fmt: skip
def test_numbers_are_single_decimals_in_numeric_format(focus):
    negative = 0
    for text, typed in zip(focus.text, focus.rows, strict=True):
        for name in focus_rules.DECIMAL:
            value = typed[name]
            assert isinstance(value, Decimal) and value.is_finite(), (name, value)
            assert focus_rules.NUMERIC.match(text[name]), f"{name}={text[name]!r} is not in FOCUS's numeric format"
            assert Decimal(text[name]) == value, (name, text[name], value)
            negative += value < 0
    assert negative == 0, "the sample month books no correction: no negative amounts"


@covers(
    "BillingPeriodEnd-C-002-M", "BillingPeriodStart-C-002-M", "ChargePeriodEnd-C-002-M", "ChargePeriodStart-C-002-M",
    "DateTimeFormat-A-001-M", "DateTimeFormat-A-002-M", "DateTimeFormat-A-003-M", "DateTimeFormat-A-004-M",
    "DateTimeFormat-A-005-M", "DateTimeFormat-A-006-M",
)  # fmt: skip
def test_times_are_utc_in_iso_8601(focus):
    for name in focus_rules.DATETIME:
        assert focus.table.schema.field(name).type.tz == "UTC"
    for text, typed in zip(focus.text, focus.rows, strict=True):
        for name in focus_rules.DATETIME:
            assert focus_rules.DATETIME_TEXT.match(text[name]), (name, text[name])
            assert typed[name].utcoffset().total_seconds() == 0
            assert datetime.fromisoformat(text[name].replace("Z", "+00:00")) == typed[name], name


@covers(
    "BillingPeriodStart-C-004-M", "BillingPeriodEnd-C-004-M", "ChargePeriodStart-C-004-M", "ChargePeriodEnd-C-004-M"
)
def test_billing_period_is_the_month_and_charge_periods_its_days(focus):
    days = set()
    for row in focus.rows:
        # Inclusive start, exclusive end: October 2026, and one of its UTC days.
        assert (row["BillingPeriodStart"], row["BillingPeriodEnd"]) == (
            datetime(2026, 10, 1, tzinfo=UTC),
            datetime(2026, 11, 1, tzinfo=UTC),
        )
        start, end = row["ChargePeriodStart"], row["ChargePeriodEnd"]
        assert row["BillingPeriodStart"] <= start < end <= row["BillingPeriodEnd"]
        assert (end - start).days == 1 and start.hour == 0
        days.add(start.date())
    assert len(days) == 31


@covers(
    "BillingAccountId-C-003-M", "BillingAccountName-C-002-M", "BillingCurrency-C-002-M", "ChargeDescription-C-002-M",
    "InvoiceId-C-002-M", "InvoiceIssuerName-C-002-M", "PricingUnit-C-002-M", "ProviderName-C-002-M",
    "PublisherName-C-002-M", "ServiceName-C-002-M", "StringHandling-A-001-M", "StringHandling-A-002-O",
    "StringHandling-A-003-M", "StringHandling-A-007-M",
)  # fmt: skip
def test_strings_follow_string_handling(focus, sample):  # noqa: F811
    strings = [n for n in focus.table.column_names if focus.table.schema.field(n).type == pa.string()]
    for row in focus.rows:
        for name in strings:
            value = row[name]
            if value is None:
                continue
            value.encode("utf-8")  # valid Unicode (a lone surrogate would raise)
            assert value.strip() == value and value, f"{name}={value!r}: empty, or padded with spaces"
    # Names keep their casing and spelling: the bill's tenants, the cluster as collected.
    bill = sample.bill_json()
    assert {row["x_TenantName"] for row in focus.rows} == {line["tenant"] for line in bill["lines"]}
    assert {row["x_ClusterName"] for row in focus.rows} == {"prod-analytics"}
    assert {"AWS"} == {row["ProviderName"] for row in focus.rows} == {row["PublisherName"] for row in focus.rows}


@covers("StringHandling-A-004-M", "StringHandling-A-005-M")
def test_a_relabelled_namespace_bills_its_new_tenant_from_the_change_on(focus):
    # feature-store is labelled tenant=ml until 2026-10-15 12:40, then tenant=data-eng: days before the
    # relabel name ml, days after it data-eng, and the 15th both.
    tenants: dict[date, set[str]] = defaultdict(set)
    for row in focus.rows:
        if row["x_NamespaceName"] == "feature-store":
            tenants[row["ChargePeriodStart"].date()].add(row["x_TenantName"])
    assert all(found == {"ml"} for day, found in tenants.items() if day < date(2026, 10, 15))
    assert tenants[date(2026, 10, 15)] == {"ml", "data-eng"}
    assert all(found == {"data-eng"} for day, found in tenants.items() if day > date(2026, 10, 15))


@covers(
    "ChargeCategory-C-003-M", "ChargeFrequency-C-003-M", "PricingCategory-C-007-M", "PricingCategory-C-008-C",
    "PricingCategory-C-011-C",
    "ServiceCategory-C-003-M", "ChargeClass-C-005-C", "ColumnHandling-A-008-M",
)  # fmt: skip
def test_values_are_among_the_allowed_ones(focus):
    for row in focus.rows:
        assert row["ChargeCategory"] in focus_rules.CHARGE_CATEGORIES
        assert row["ChargeFrequency"] in focus_rules.CHARGE_FREQUENCIES
        assert row["PricingCategory"] in focus_rules.PRICING_CATEGORIES
        assert row["ServiceCategory"] in focus_rules.SERVICE_CATEGORIES
        assert row["ChargeClass"] in (None, "Correction")
    # An allocation's price is the method, which none of Standard, Dynamic, Committed describes: Other. EMR on
    # EKS charges pass through at AWS's standard rates: Standard.
    assert {(r["ChargeCategory"], r["ChargeFrequency"]) for r in focus.rows} == {("Usage", "Usage-Based")}
    for row in focus.rows:
        assert row["PricingCategory"] == ("Standard" if row["x_CostComponent"] == "emr" else "Other"), row
    assert any(row["x_CostComponent"] == "emr" for row in focus.rows)


@covers(
    "BillingCurrency-C-003-M", "BillingCurrency-C-005-M", "BillingCurrency-C-006-M", "CurrencyFormat-A-001-C",
    "BilledCost-C-006-M", "EffectiveCost-C-006-M", "ContractedCost-C-005-M", "ListCost-C-005-M",
)  # fmt: skip
def test_currency_is_the_invoices(focus, cur):
    # Every amount comes from CUR lines in the invoice's (national, ISO 4217) currency.
    currencies = {line["line_item_currency_code"] for line in cur}
    assert currencies == {"USD"}
    assert {row["BillingCurrency"] for row in focus.rows} == currencies
    assert all(focus_rules.CURRENCY.match(row["BillingCurrency"]) for row in focus.text)


@covers("BillingAccountId-C-004-M", "BillingAccountId-C-005-O")
def test_billing_account_is_the_curs_payer(focus, cur):
    # AWS's own identifier of the paying account: unique within AWS, and fully qualified (12 digits).
    assert {row["BillingAccountId"] for row in focus.rows} == {line["bill_payer_account_id"] for line in cur}
    assert all(re.fullmatch(r"[0-9]{12}", row["BillingAccountId"]) for row in focus.rows)


# --- costs -----------------------------------------------------------------------------------------------


def test_effective_cost_adds_up_to_the_bill_and_to_the_cur(focus, sample):  # noqa: F811
    bill = sample.bill_json()
    for rows in (focus.rows, focus.text):
        effective = sum((Decimal(r["EffectiveCost"]) for r in rows), Decimal(0))
        assert effective == Decimal(bill["total"]) == Decimal("2928.07")
        assert effective == cli_tests.in_scope_source_total().quantize(Decimal("0.01"))
        assert sum(Decimal(r["BilledCost"]) for r in rows) == effective
    per_part: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in focus.rows:
        per_part[(row["x_TenantName"], row["x_CostComponent"])] += row["EffectiveCost"]
    for line in bill["lines"]:
        for part in ("compute", "idle", "shared", "storage", "network", "emr", "tagged", "adjustment"):
            assert per_part.get((line["tenant"], part), Decimal(0)) == Decimal(line[part]), (line["tenant"], part)
    assert focus.result.manifest["totals"]["total"] == bill["total"]
    assert focus.result.manifest["rows"] == len(focus.rows) == 2199


@covers(
    "ListCost-C-007-C", "ListCost-C-008-C", "ListCost-C-009-C", "ContractedCost-C-007-C", "ContractedCost-C-008-C",
    "ContractedCost-C-009-C", "PricingQuantity-C-009-C",
)  # fmt: skip
def test_without_unit_prices_list_and_contracted_cost_are_the_billed_cost(focus):
    assert not {"ListUnitPrice", "ContractedUnitPrice"} & set(focus.table.column_names)
    for row in focus.rows:
        assert row["ListCost"] == row["ContractedCost"] == row["BilledCost"] == row["EffectiveCost"]
        assert row["BilledCost"] == row["BilledCost"].quantize(Decimal("0.01"))


@covers("BilledCost-C-005-C")
def test_no_row_is_paid_to_a_third_party(focus):
    # BilledCost must be 0 where a third party is paid (the validator: ProviderName differs from
    # InvoiceIssuerName). Every row is AWS's charge, invoiced by AWS, so billed as allocated.
    assert all(row["ProviderName"] == row["InvoiceIssuerName"] == "AWS" for row in focus.rows)
    assert sum(row["BilledCost"] for row in focus.rows) == Decimal("2928.07")


@covers(
    "PricingQuantity-C-004-C", "PricingQuantity-C-005-C", "PricingCategory-C-003-C", "PricingCategory-C-004-C",
    "PricingUnit-C-005-C", "PricingUnit-C-006-C", "ChargeFrequency-C-004-C", "EffectiveCost-C-005-C",
    "EffectiveCost-C-009-C", "EffectiveCost-C-010-C",
)  # fmt: skip
def test_conditional_rules(focus):
    for row in focus.rows:
        category, correction = row["ChargeCategory"], row["ChargeClass"] == "Correction"
        if category == "Tax":
            assert row["PricingQuantity"] is None and row["PricingCategory"] is None
        if category in ("Usage", "Purchase") and not correction:
            assert row["PricingQuantity"] is not None and row["PricingCategory"] is not None
        assert (row["PricingUnit"] is None) == (row["PricingQuantity"] is None)
        if category == "Purchase":
            assert row["ChargeFrequency"] != "Usage-Based" and row["EffectiveCost"] == 0
        if category not in ("Usage", "Purchase"):  # no charge depends on others: EffectiveCost is BilledCost
            assert row["EffectiveCost"] == row["BilledCost"]
    assert {row["ChargeCategory"] for row in focus.rows} == {"Usage"}, "no tax, purchase or credit rows"


@covers("PricingUnit-C-003-O", "UnitFormat-A-001-M", "UnitFormat-A-002-O", "UnitFormat-A-003-M", "UnitFormat-A-004-C")
def test_pricing_unit_is_a_focus_time_unit(focus):
    # A single unit in its plural form, capitalised as UnitFormat lists it, no quantity: "Days".
    units = {row["PricingUnit"] for row in focus.rows}
    assert units == {"Days"}
    assert all(unit.removesuffix("s") in focus_rules.TIME_UNITS for unit in units)


@covers(
    "ColumnHandling-A-001-M", "ColumnHandling-A-002-M", "ColumnHandling-A-003-M", "ColumnHandling-A-004-O",
    "ColumnHandling-A-005-O", "ColumnHandling-A-006-M", "ColumnHandling-A-010-M", "ColumnHandling-A-011-O",
    "ColumnHandling-A-012-O", "ColumnHandling-A-013-O", "ColumnHandling-A-014-O",
)  # fmt: skip
def test_column_names_follow_column_handling(focus):
    columns = focus.table.column_names
    standard = [c for c in columns if not c.startswith("x_")]
    custom = [c for c in columns if c.startswith("x_")]
    # FOCUS's own columns (Pascal case, alphanumeric, spelt as the specification spells them), first and sorted;
    # then the custom ones, all prefixed x_, never intermixed.
    assert set(standard) == focus_rules.FOCUS_COLUMNS
    assert columns == standard + custom and standard == sorted(standard)
    for name in columns:
        bare = name.removeprefix("x_")
        assert focus_rules.PASCAL.match(bare) and len(name) <= 50, name
    # Custom columns naming an entity end in Name or Id; EMR is the service's own name, kept as a word.
    assert {c for c in custom if c.endswith(("Name", "Id"))} == {
        "x_TenantName", "x_ClusterName", "x_NamespaceName", "x_EmrJobRunId"
    }  # fmt: skip


# --- every rule, listed --------------------------------------------------------------------------------------


def test_docs_list_every_focus_rule_with_its_test_or_why_it_does_not_apply():
    """docs/focus.md names each of the model's rules once: with the tests that check it (which must say so with
    ``covers``), or with the reason it holds by its parts or does not apply."""
    assert cases.__name__  # its tests are registered too
    page = (ROOT / "docs" / "focus.md").read_text()
    listed: dict[str, str] = {}
    for line in page.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for rule_id in focus_rules.RULE_ID.findall(cells[0]):
            assert rule_id not in listed, f"{rule_id} is listed twice"
            listed[rule_id] = cells[-1]
    assert len(listed) == focus_rules.MODEL_RULES
    for rule_id, tests in focus_rules.RULES.items():
        assert rule_id in listed, f"{rule_id} is checked by {sorted(tests)} but not listed"
        named = set(re.findall(r"`(test_[a-z0-9_]+)`", listed[rule_id]))
        assert named == {t.split("::")[1] for t in tests}, (rule_id, named, sorted(tests))
    for rule_id, check in listed.items():
        if rule_id not in focus_rules.RULES:
            assert not re.search(r"`test_", check), f"{rule_id} names a test that does not check it"
            assert check, f"{rule_id}: neither a test nor a reason"
