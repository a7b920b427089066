"""FOCUS 1.2: the period's allocation per tenant, UTC day and traced source, as a FOCUS cost-and-usage CSV.

Rows come from ``marts.fct_tenant_allocation_daily``: each (cluster, day, bill line, component) broken down
by namespace and EMR job run where the cost can be traced that far. Every FOCUS 1.2 column the
specification makes mandatory is present (verified against the FinOps Foundation validator's 1.2 model):

- Costs: the allocation on the warehouse's cost basis is the ``EffectiveCost``; being an internal
  chargeback, it is also what the tenant is billed (``BilledCost``), and with no unit prices in the data
  ``ListCost`` and ``ContractedCost`` equal ``BilledCost``, as the specification requires when
  ``ListUnitPrice``/``ContractedUnitPrice`` are absent. Amounts are in whole cents, apportioned (largest
  remainder) so that each tenant's rows of each part add up to that part of its bill line, and all rows
  to the bill's total, exactly as ``chargeback bill`` prints them.
- Times: ``ChargePeriodStart``/``End`` are the UTC day, ``BillingPeriodStart``/``End`` the month, both
  ``YYYY-MM-DDTHH:mm:ssZ``, end exclusive.
- Every row is ``ChargeCategory`` Usage, ``PricingCategory`` Other (an allocation, not a price), one ``Days``
  of it, ``ChargeClass`` null (a restated open period is a new export version), except the adjustments booked
  for closed months (docs/method.md#closed-periods-and-adjustments): ``ChargeClass`` ``Correction`` (FOCUS 1.2:
  a correction to a previously invoiced billing period), one row per (cluster, bill line, closed month,
  corrected part), in this billing period, its charge period the closed month, which its description names.
- A closed month's rows are those frozen when it was closed (``frozen_rows``), so its export never changes.
- ``x_`` columns carry what FOCUS has no column for: tenant, cluster, namespace, EMR job run, the cost
  component and how it was allocated, the cost basis, and the fingerprint of the whole allocation method
  (``x_MethodFingerprint``, also at the end of ``ChargeDescription``; ``chargeback.build.method``).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import duckdb

from chargeback.build.closed import BOOKED, ROWS, ClosedMonth
from chargeback.core import periods
from chargeback.core.config import Config
from chargeback.core.errors import ChargebackError, DataError
from chargeback.core.money import apportion
from chargeback.exports.writer import ExportFile
from chargeback.reports import queries
from chargeback.reports.bill import PARTS, Bill

FOCUS_VERSION = "1.2"
MART = "marts.fct_tenant_allocation_daily"

COLUMNS = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
    "x_TenantName",
    "x_ClusterName",
    "x_NamespaceName",
    "x_EmrJobRunId",
    "x_CostComponent",
    "x_AllocationMethod",
    "x_CostBasis",
    "x_MethodFingerprint",
)

# Service of untraced rows by component; traced CUR lines by their product code (unknown codes: as given).
_COMPONENT_SERVICE = {
    "compute": ("Amazon Elastic Kubernetes Service", "Compute"),
    "idle": ("Amazon Elastic Kubernetes Service", "Compute"),
    "shared": ("Amazon Elastic Kubernetes Service", "Compute"),
    "emr": ("Amazon EMR", "Analytics"),
    "tagged": ("AWS", "Other"),
}
CORRECTION = "Correction"
_PRODUCT_SERVICE = {
    "AmazonEC2": ("Amazon Elastic Compute Cloud", "Compute"),
    "AmazonEKS": ("Amazon Elastic Kubernetes Service", "Compute"),
    "ElasticMapReduce": ("Amazon EMR", "Analytics"),
    "AmazonS3": ("Amazon Simple Storage Service", "Storage"),
    "AmazonEFS": ("Amazon Elastic File System", "Storage"),
    "AmazonRDS": ("Amazon Relational Database Service", "Databases"),
    "AmazonDynamoDB": ("Amazon DynamoDB", "Databases"),
    "AmazonElastiCache": ("Amazon ElastiCache", "Databases"),
    "AmazonMSK": ("Amazon Managed Streaming for Apache Kafka", "Analytics"),
    "AmazonSageMaker": ("Amazon SageMaker", "AI and Machine Learning"),
    "AWSELB": ("Elastic Load Balancing", "Networking"),
    "AmazonVPC": ("Amazon Virtual Private Cloud", "Networking"),
    "AWSDataTransfer": ("AWS Data Transfer", "Networking"),
    "AmazonCloudWatch": ("Amazon CloudWatch", "Management and Governance"),
}


@dataclass(frozen=True)
class Row:
    cluster: str
    day: date
    tenant: str
    component: str
    namespace: str | None
    emr_job_run_id: str | None
    product_code: str | None
    payer_account_id: str | None
    amount: Decimal
    closed_period: str | None = None  # an adjustment (component "adjustment"): the closed month it corrects
    corrected_part: str | None = None  # and the part of that month's bill it corrects

    @property
    def is_correction(self) -> bool:
        return self.closed_period is not None


@dataclass(frozen=True)
class Methods:
    """How each component reached its tenant, from the settings the warehouse was built with."""

    cost_basis: str
    weights: str
    idle: str
    shared: str
    tagged_tag: str
    fingerprint: str | None = None  # of the whole method; None: the warehouse recorded none

    def of(self, component: str) -> str:
        return {
            "compute": f"split-cost:{self.weights}",
            "idle": f"idle:{self.idle}",
            "shared": f"shared:{self.shared}",
            "emr": "emr-job-run",
            "tagged": f"tag:{self.tagged_tag}",
            "adjustment": "closed-period-correction",
        }[component]


def _corrections(period: str, records: list[tuple]) -> list[Row]:
    """Adjustment rows (closed_period, cluster, tenant, part, payer_account_id, amount) as FOCUS rows, dated on
    the first day of the month that books them."""
    day = periods.first_day(period)
    return [
        Row(cluster, day, tenant, "adjustment", None, None, None, payer, amount, closed_period, part)
        for closed_period, cluster, tenant, part, payer, amount in records
    ]


def read_rows(con: duckdb.DuckDBPyConnection, period: str) -> list[Row]:
    present = con.execute(queries.TABLE_EXISTS, MART.split(".")).fetchall()[0][0]
    if not present:
        raise DataError(f"the warehouse has no {MART} (built before FOCUS exports); run `chargeback build`")
    rows = [Row(*record) for record in con.execute(queries.FOCUS_ALLOCATION, {"period": period}).fetchall()]
    return rows + _corrections(period, con.execute(queries.ADJUSTMENT_ROWS, {"period": period}).fetchall())


def frozen_rows(month: ClosedMonth) -> list[Row]:
    """A closed month's rows as ``read_rows`` read them when it was closed."""
    rows = [Row(*record.values()) for record in month.table(ROWS).to_pylist()]
    booked = month.table(BOOKED).select(["closed_period", "cluster", "tenant", "part", "payer_account_id", "amount"])
    return rows + _corrections(month.period, [tuple(r.values()) for r in booked.to_pylist()])


def _timestamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _money(amount: Decimal) -> str:
    return "0.00" if amount == 0 else f"{amount:.2f}"  # never "-0.00"


def _cents(rows: list[Row], bill: Bill) -> list[tuple[Row, Decimal]]:
    """Whole cents per row: each tenant's rows of each part add up to that part of its bill line."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        groups[(row.tenant, row.component)].append(index)
    cents: dict[int, Decimal] = {}
    padded = list(rows)
    for line in bill.lines:
        for part in PARTS:
            members = groups.get((line.tenant, part), [])
            if not members and line.parts[part]:
                # Rounding gave a cent to a part with no traced row: carry it on an untraced row.
                base = next((r for r in rows if r.tenant == line.tenant), rows[0] if rows else None)
                if base is None:
                    raise DataError(f"{MART} has no rows for {bill.period}; run `chargeback build`")
                fix = part == "adjustment"
                padded.append(
                    replace(
                        base,
                        tenant=line.tenant,
                        component=part,
                        namespace=None,
                        emr_job_run_id=None,
                        product_code=None,
                        amount=Decimal(0),
                        closed_period=base.closed_period if fix else None,
                        corrected_part=base.corrected_part if fix else None,
                    )
                )
                members = [len(padded) - 1]
            keys = [str(i) for i in members]
            shares = apportion({str(i): padded[i].amount for i in members}, line.parts[part], order=keys)
            cents.update({int(k): v for k, v in shares.items()})
    # Lines the bill does not print (only rounding dust) hold no money: their rows are left out.
    return [(padded[i], cents[i]) for i in sorted(cents)]


def render(config: Config, bill: Bill, rows: list[Row], methods: Methods) -> ExportFile:
    settings = config.export.focus
    start, end = periods.first_day(bill.period), periods.first_day(periods.next_period(bill.period))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for row, amount in _cents(rows, bill):
        account = settings.billing_account_id or row.payer_account_id
        if not account:
            raise ChargebackError(
                f"FOCUS needs a BillingAccountId and the CUR of {bill.period} names no payer account: "
                "set [export.focus] billing_account_id"
            )
        service, category = _PRODUCT_SERVICE.get(
            row.product_code or "", _COMPONENT_SERVICE[row.corrected_part or row.component]
        )
        if row.product_code and row.product_code not in _PRODUCT_SERVICE:
            service = row.product_code
        cost = _money(amount)
        charged = (row.day, row.day + timedelta(days=1), "1")
        if row.is_correction:  # charged over the month it corrects
            first = periods.first_day(row.closed_period)
            charged = (
                first,
                periods.first_day(periods.next_period(row.closed_period)),
                str(periods.days_in(row.closed_period)),
            )
        values: dict[str, Any] = {
            "BilledCost": cost,
            "BillingAccountId": account,
            "BillingAccountName": settings.billing_account_name,
            "BillingCurrency": bill.currency,
            "BillingPeriodEnd": _timestamp(end),
            "BillingPeriodStart": _timestamp(start),
            "ChargeCategory": "Usage",
            "ChargeClass": CORRECTION if row.is_correction else None,
            "ChargeDescription": _description(row, methods, bill.period),
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodEnd": _timestamp(charged[1]),
            "ChargePeriodStart": _timestamp(charged[0]),
            "ContractedCost": cost,
            "EffectiveCost": cost,
            "InvoiceIssuerName": settings.invoice_issuer_name,
            "ListCost": cost,
            "PricingCategory": "Other",
            "PricingQuantity": charged[2],
            "PricingUnit": "Days",
            "ProviderName": settings.provider_name,
            "PublisherName": settings.publisher_name,
            "ServiceCategory": category,
            "ServiceName": service,
            "x_TenantName": row.tenant,
            "x_ClusterName": row.cluster,
            "x_NamespaceName": row.namespace,
            "x_EmrJobRunId": row.emr_job_run_id,
            "x_CostComponent": row.component,
            "x_AllocationMethod": methods.of(row.component),
            "x_CostBasis": methods.cost_basis,
            "x_MethodFingerprint": methods.fingerprint,
        }
        writer.writerow(["" if values[c] is None else values[c] for c in COLUMNS])
        count += 1
    return ExportFile(f"focus-{bill.period}.csv", out.getvalue().encode(), count)


def _description(row: Row, methods: Methods, period: str) -> str:
    if row.is_correction:
        return (
            f"correction of billing period {row.closed_period} ({row.corrected_part}) for {row.tenant} on cluster"
            f" {row.cluster}, booked in {period}: what a later build bills for {row.closed_period} beyond its closed"
            " bill"
        )
    where = f"namespace {row.namespace}" if row.namespace else None
    if row.emr_job_run_id:
        where = f"EMR job run {row.emr_job_run_id}" + (f" in {where}" if where else "")
    if row.product_code and not where:
        where = f"{row.product_code} lines"
    untraced = {
        "compute": "pods",
        "idle": "capacity no pod took",
        "shared": "the cluster's shared costs",
        "emr": "EMR on EKS charges",
        "tagged": "tagged resources",
    }[row.component]
    method = f", method {methods.fingerprint}" if methods.fingerprint else ""
    return (
        f"{row.component} of {row.tenant} on cluster {row.cluster}: {where or untraced} "
        f"({methods.of(row.component)}, {methods.cost_basis}{method})"
    )
