"""FOCUS 1.2: the period's allocation per tenant, UTC day and traced source, as FOCUS cost-and-usage rows, written
as Parquet with FOCUS's column types and as CSV for spreadsheets (``chargeback.exports.focus_schema``).

Rows come from ``marts.fct_tenant_allocation_daily``: each (cluster, day, bill line, component) broken down
by namespace and EMR job run where the cost can be traced that far. Every FOCUS 1.2 rule that applies to
these rows holds, each checked by a test; docs/focus.md lists the validator's rules one by one:

- Costs: the allocation on the warehouse's cost basis is the ``EffectiveCost``; being an internal
  chargeback, it is also what the tenant is billed (``BilledCost``), and with no unit prices in the data
  ``ListCost`` and ``ContractedCost`` equal ``BilledCost``, as the specification requires when
  ``ListUnitPrice``/``ContractedUnitPrice`` are absent. Amounts are in whole cents, apportioned (largest
  remainder) so that each tenant's rows of each part add up to that part of its bill line, and all rows
  to the bill's total, exactly as ``chargeback bill`` prints them.
- Times: ``ChargePeriodStart``/``End`` are the UTC day, ``BillingPeriodStart``/``End`` the month, end
  exclusive.
- Every row is ``ChargeCategory`` Usage, ``PricingCategory`` Other (an allocation, not a price; EMR on EKS
  charges, passed through at AWS's rates: Standard), one ``Days`` of it, ``ChargeClass`` null (a restated open
  period is a new export version), except the adjustments booked for closed months
  (docs/method.md#closed-periods-and-adjustments): ``ChargeClass`` ``Correction`` (FOCUS 1.2: a correction to a
  previously invoiced billing period), one row per (cluster, bill line, closed month, corrected part), in this
  billing period, its charge period the closed month, which its description names.
- ``InvoiceId``: the billing period's invoice once AWS has issued it (the CUR's ``bill_invoice_id``,
  ``marts.dim_billing_periods``), else null. ``ServiceName``, ``ServiceCategory`` and ``ServiceSubcategory``
  follow the row's bill part (``focus_schema.service``).
- A closed month's rows are those frozen when it was closed (``frozen_rows``), so its amounts never change.
- ``x_`` columns carry what FOCUS has no column for: tenant, cluster, namespace, EMR job run, the cost
  component and how it was allocated, the cost basis, and the fingerprint of the whole allocation method
  (``x_MethodFingerprint``, also at the end of ``ChargeDescription``; ``chargeback.build.method``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import duckdb

from chargeback.build.closed import BOOKED, ROWS, ClosedMonth
from chargeback.core import periods
from chargeback.core.config import Config
from chargeback.core.errors import ChargebackError, DataError
from chargeback.core.money import CENT, apportion
from chargeback.exports import focus_schema
from chargeback.exports.writer import ExportFile
from chargeback.reports import queries
from chargeback.reports.bill import PARTS, Bill

MART = "marts.fct_tenant_allocation_daily"
CORRECTION = "Correction"


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
            "storage": "volume-claim",
            "network": "pod-bytes-or-load-balancer-tag",
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


def _timestamp(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


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


def records(
    config: Config, bill: Bill, rows: list[Row], methods: Methods, invoice_id: str | None = None
) -> list[dict[str, Any]]:
    """The FOCUS rows of ``bill``, one dict per row with every column (``focus_schema.COLUMNS``), typed: money
    and quantities ``Decimal``, times UTC ``datetime``, the rest ``str`` or None (null)."""
    settings = config.export.focus
    start, end = periods.first_day(bill.period), periods.first_day(periods.next_period(bill.period))
    out = []
    for row, amount in _cents(rows, bill):
        account = settings.billing_account_id or row.payer_account_id
        if not account:
            raise ChargebackError(
                f"FOCUS needs a BillingAccountId and the CUR of {bill.period} names no payer account: "
                "set [export.focus] billing_account_id"
            )
        service, category, subcategory = focus_schema.service(row.corrected_part or row.component, row.product_code)
        cost = amount.quantize(CENT)
        charged = (row.day, row.day + timedelta(days=1), Decimal(1))
        if row.is_correction:  # charged over the month it corrects
            first = periods.first_day(row.closed_period)
            charged = (
                first,
                periods.first_day(periods.next_period(row.closed_period)),
                Decimal(periods.days_in(row.closed_period)),
            )
        out.append(
            {
                "BilledCost": cost,
                "BillingAccountId": account,
                # The CUR names no account: an unnamed account is shown by its id, as AWS's console does.
                "BillingAccountName": settings.billing_account_name or account,
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
                "InvoiceId": invoice_id,
                "InvoiceIssuerName": settings.invoice_issuer_name,
                "ListCost": cost,
                # EMR on EKS charges are AWS's at its standard rates; an allocated row's price is the method.
                "PricingCategory": "Standard" if row.component == "emr" else "Other",
                "PricingQuantity": charged[2],
                "PricingUnit": "Days",
                "ProviderName": settings.provider_name,
                "PublisherName": settings.publisher_name,
                "ServiceCategory": category,
                "ServiceName": service,
                "ServiceSubcategory": subcategory,
                "x_TenantName": row.tenant,
                "x_ClusterName": row.cluster,
                "x_NamespaceName": row.namespace,
                "x_EmrJobRunId": row.emr_job_run_id,
                "x_CostComponent": row.component,
                "x_AllocationMethod": methods.of(row.component),
                "x_CostBasis": methods.cost_basis,
                "x_MethodFingerprint": methods.fingerprint,
            }
        )
    return out


def render(
    config: Config, bill: Bill, rows: list[Row], methods: Methods, invoice_id: str | None = None
) -> tuple[ExportFile, ExportFile]:
    """The period's FOCUS rows as ``focus-<period>.parquet`` (FOCUS's column types) and ``focus-<period>.csv``."""
    found = records(config, bill, rows, methods, invoice_id)
    return (
        ExportFile(f"focus-{bill.period}.csv", focus_schema.to_csv(found), len(found)),
        ExportFile(f"focus-{bill.period}.parquet", focus_schema.to_parquet(found), len(found)),
    )


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
        "storage": "volumes of its persistent volume claims",
        "network": "data transfer and load balancers",
    }[row.component]
    method = f", method {methods.fingerprint}" if methods.fingerprint else ""
    return (
        f"{row.component} of {row.tenant} on cluster {row.cluster}: {where or untraced} "
        f"({methods.of(row.component)}, {methods.cost_basis}{method})"
    )
