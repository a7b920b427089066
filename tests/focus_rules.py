"""FOCUS 1.2's rules as the FOCUS export's tests check them, written out from the specification's text and the
FinOps Foundation validator's rules model (``focus-validator`` 2.2.1, ``model-1.2.0.1.json``), which needs
Python 3.12 to run: the facts carried over, not its code.

``covers(rule_id, ...)`` marks the test that checks each rule; docs/focus.md lists every rule of the model with
the test that checks it, or why it does not apply, and ``test_export_focus.py`` holds the two together.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# The validator's rules model for FOCUS 1.2 holds 621 rules (ModelVersion 1.2.0.1).
MODEL_RULES = 621
RULE_ID = re.compile(r"\b[A-Z][A-Za-z]+-[ACD]-[0-9]{3}-[MOC]\b")

# rule id -> the tests (module::function) that check it
RULES: dict[str, set[str]] = defaultdict(set)


def covers(*rule_ids: str) -> Callable:
    """Record that the decorated test checks ``rule_ids``."""
    for rule_id in rule_ids:
        assert RULE_ID.fullmatch(rule_id), rule_id

    def mark(test: Callable) -> Callable:
        for rule_id in rule_ids:
            RULES[rule_id].add(f"{test.__module__.rsplit('.', 1)[-1]}::{test.__name__}")
        return test

    return mark


# --- the columns, their types and nullability (FOCUS 1.2 column definitions) ------------------------------

STRING = {
    "BillingAccountId", "BillingAccountName", "BillingCurrency", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "InvoiceId", "InvoiceIssuerName", "PricingCategory", "PricingUnit",
    "ProviderName", "PublisherName", "ServiceCategory", "ServiceName", "ServiceSubcategory",
}  # fmt: skip
DECIMAL = {"BilledCost", "ContractedCost", "EffectiveCost", "ListCost", "PricingQuantity"}
DATETIME = {"BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart"}
FOCUS_COLUMNS = STRING | DECIMAL | DATETIME
# Columns FOCUS never allows to be null (BillingAccountName: a provider that names accounts, as AWS does;
# ChargeDescription: SHOULD NOT be null).
NOT_NULL = FOCUS_COLUMNS - {"ChargeClass", "InvoiceId", "PricingCategory", "PricingQuantity", "PricingUnit"}

# --- allowed values -------------------------------------------------------------------------------------

CHARGE_CATEGORIES = {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}
CHARGE_FREQUENCIES = {"One-Time", "Recurring", "Usage-Based"}
PRICING_CATEGORIES = {"Standard", "Dynamic", "Committed", "Other"}
# ServiceSubcategory -> its one ServiceCategory.
SUBCATEGORIES = {
    **dict.fromkeys(
        ["AI Platforms", "Bots", "Generative AI", "Machine Learning", "Natural Language Processing",
         "Other (AI and Machine Learning)"], "AI and Machine Learning"),
    **dict.fromkeys(
        ["Analytics Platforms", "Business Intelligence", "Data Processing", "Search", "Streaming Analytics",
         "Other (Analytics)"], "Analytics"),
    **dict.fromkeys(["Productivity and Collaboration", "Other (Business Applications)"], "Business Applications"),
    **dict.fromkeys(
        ["Containers", "End User Computing", "Quantum Compute", "Serverless Compute", "Virtual Machines",
         "Other (Compute)"], "Compute"),
    **dict.fromkeys(
        ["Caching", "Data Warehouses", "Ledger Databases", "NoSQL Databases", "Relational Databases",
         "Time Series Databases", "Other (Databases)"], "Databases"),
    **dict.fromkeys(
        ["Developer Platforms", "Continuous Integration and Deployment", "Development Environments",
         "Source Code Management", "Quality Assurance", "Other (Developer Tools)"], "Developer Tools"),
    **dict.fromkeys(["Identity and Access Management", "Other (Identity)"], "Identity"),
    **dict.fromkeys(["API Management", "Messaging", "Workflow Orchestration", "Other (Integration)"], "Integration"),
    **dict.fromkeys(["IoT Analytics", "IoT Platforms", "Other (Internet of Things)"], "Internet of Things"),
    **dict.fromkeys(
        ["Architecture", "Compliance", "Cost Management", "Data Governance", "Disaster Recovery",
         "Endpoint Management", "Observability", "Support", "Other (Management and Governance)"],
        "Management and Governance"),
    **dict.fromkeys(
        ["Content Creation", "Gaming", "Media Streaming", "Mixed Reality", "Other (Media)"], "Media"),
    **dict.fromkeys(["Data Migration", "Resource Migration", "Other (Migration)"], "Migration"),
    "Other (Mobile)": "Mobile",
    **dict.fromkeys(["Multicloud Integration", "Other (Multicloud)"], "Multicloud"),
    **dict.fromkeys(
        ["Application Networking", "Content Delivery", "Network Connectivity", "Network Infrastructure",
         "Network Routing", "Network Security", "Other (Networking)"], "Networking"),
    **dict.fromkeys(
        ["Secret Management", "Security Posture Management", "Threat Detection and Response", "Other (Security)"],
        "Security"),
    **dict.fromkeys(
        ["Backup Storage", "Block Storage", "File Storage", "Object Storage", "Storage Platforms",
         "Other (Storage)"], "Storage"),
    **dict.fromkeys(["Application Platforms", "Other (Web)"], "Web"),
    "Other (Other)": "Other",
}  # fmt: skip
SERVICE_CATEGORIES = set(SUBCATEGORIES.values())

# --- formats --------------------------------------------------------------------------------------------

# NumericFormat as text: a single integer or decimal, a leading "-" only for negatives; no "+", commas,
# units, symbols, fractions or operators (scientific notation is allowed by FOCUS; the export writes none).
NUMERIC = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")
# DateTimeFormat: extended ISO 8601, date and time separated by "T", two-digit HH:mm:ss, "Z" for UTC.
DATETIME_TEXT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
CURRENCY = re.compile(r"^[A-Z]{3}$")  # ISO 4217 alphabetic code
PASCAL = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)*$")  # Column IDs: Pascal case, alphanumeric
# UnitFormat's time-based units (a unit on its own is written in its plural form, as "Seconds").
TIME_UNITS = {"Year", "Month", "Day", "Hour", "Minute", "Second"}
PLACEHOLDERS = {"", "null", "NULL", "None", "N/A", "n/a", "NA", "Not Applicable", "-"}


@dataclass(frozen=True)
class FocusFiles:
    """One FOCUS export read back: the CSV as text rows and the Parquet as typed rows."""

    header: list[str]
    text: list[dict[str, str]]  # the CSV, every value a string ("" for null)
    table: pa.Table  # the Parquet, as written
    result: Any = None  # the ExportResult

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.table.to_pylist()


def read_focus(directory: Path, period: str, result: Any = None) -> FocusFiles:
    """The CSV and Parquet files of a FOCUS export version."""
    text = (directory / f"focus-{period}.csv").read_text()
    header = next(csv.reader(io.StringIO(text)))
    table = pq.read_table(directory / f"focus-{period}.parquet")
    return FocusFiles(header, list(csv.DictReader(io.StringIO(text))), table, result)
