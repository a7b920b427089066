"""AWS Billing Conductor: one custom line item per bill line, as a CSV and, with ``apply``, through the API.

A line's adjustments for closed months (docs/method.md#closed-periods-and-adjustments) are items of their own
in the month that books them, one per closed month: a ``FEE`` when the closed month is billed more now, a
``CREDIT`` when less, named ``<prefix>-<period>-<tenant>-correction-<closed month>`` and described as a
correction of that month. The line's item holds the rest of it.

Each CSV column is one ``CreateCustomLineItem`` parameter (nested ones by their dotted path), so the file
is exactly what ``apply`` sends:

- ``Name``: ``<prefix>-<period>-<tenant>`` within the API's pattern ``[a-zA-Z0-9_+=.-@]+`` and 128
  characters. A tenant name with other characters (spaces, accents, other scripts) is spelt in ASCII and
  gets the first 8 hex digits of its name's SHA-256, so two tenants never share a name.
- ``Description``: the line's parts and where it came from, ending with the allocation method's fingerprint
  (``; method <fingerprint>``, kept whole when a long tenant name shortens the rest), at most 255 characters.
- ``BillingGroupArn``/``AccountId``: from ``[export.billing_conductor]``.
- ``BillingPeriodRange``: the period only (AWS documents the end as inclusive).
- ``ChargeDetails``: a flat charge in USD, to the cent: ``FEE`` for a positive line, ``CREDIT`` (of the
  absolute amount) for a negative one.
- ``ClientToken``: SHA-256 of everything above, so the same item is always the same token.

Applying looks the period's items up first (``ListCustomLineItems``, paginated) and matches them by name and
billing group: a missing item is created, one whose amount or description differs is updated (deleted and
created again when it turns from FEE into CREDIT, which the API cannot update), an equal one is left alone,
so a second run changes nothing. The API only accepts the current and the previous billing period.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from chargeback.core import aws, periods
from chargeback.core.config import SENTINELS, Config
from chargeback.core.errors import ChargebackError
from chargeback.core.money import to_cents
from chargeback.exports.writer import ExportFile
from chargeback.reports.bill import COST_PARTS, Bill, BillLine

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_+=.\-@]+$")  # CreateCustomLineItem Name (botocore model)
NAME_MAX = 128
DESCRIPTION_MAX = 255
TOKEN_PATTERN = re.compile(r"^[a-zA-Z0-9-]{1,64}$")
MAX_CHARGE_VALUE = Decimal(1_000_000)  # CustomLineItemChargeValue's maximum
COLUMNS = (
    "ClientToken",
    "Name",
    "Description",
    "BillingGroupArn",
    "AccountId",
    "BillingPeriodRange.InclusiveStartBillingPeriod",
    "BillingPeriodRange.ExclusiveEndBillingPeriod",
    "ChargeDetails.Type",
    "ChargeDetails.Flat.ChargeValue",
)
_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9_+=.\-@]+")

ChargeType = Literal["FEE", "CREDIT"]


@dataclass(frozen=True)
class CustomLineItem:
    tenant: str
    name: str
    description: str
    billing_group_arn: str
    account_id: str | None
    period: str
    charge_type: ChargeType
    charge_value: Decimal  # >= 0, whole cents
    client_token: str
    corrects: str | None = None  # a correction of this closed month

    def create_params(self) -> dict[str, Any]:
        """The CreateCustomLineItem request."""
        params: dict[str, Any] = {
            "ClientToken": self.client_token,
            "Name": self.name,
            "Description": self.description,
            "BillingGroupArn": self.billing_group_arn,
            "BillingPeriodRange": self.billing_period_range(),
            "ChargeDetails": {"Flat": {"ChargeValue": float(self.charge_value)}, "Type": self.charge_type},
        }
        if self.account_id:
            params["AccountId"] = self.account_id
        return params

    def billing_period_range(self) -> dict[str, str]:
        return {"InclusiveStartBillingPeriod": self.period, "ExclusiveEndBillingPeriod": self.period}

    def csv_row(self) -> list[str]:
        """The request flattened onto COLUMNS (the amount as its exact decimal, not a float)."""
        flat = _flatten(self.create_params())
        flat["ChargeDetails.Flat.ChargeValue"] = f"{self.charge_value:.2f}"
        return [str(flat.get(column, "")) for column in COLUMNS]


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            flat.update(_flatten(item, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = item
    return flat


def item_name(prefix: str, period: str, tenant: str, suffix: str = "") -> str:
    """A Name valid under CreateCustomLineItem's pattern, unique per tenant (and ``suffix``: ``-correction-<month>``
    for a correction), stable across runs."""
    ascii_name = unicodedata.normalize("NFKD", tenant).encode("ascii", "ignore").decode()
    slug = _NOT_ALLOWED.sub("-", ascii_name).strip("-") or "tenant"
    if slug != tenant:  # lossy: keep names of different tenants apart
        slug = f"{slug}-{hashlib.sha256(tenant.encode()).hexdigest()[:8]}"
    head = f"{prefix}-{period}-"
    if len(head) + len(slug) + len(suffix) > NAME_MAX:
        digest = hashlib.sha256(tenant.encode()).hexdigest()[:8]
        slug = f"{slug[: NAME_MAX - len(head) - len(suffix) - len(digest) - 1]}-{digest}"
    return head + slug + suffix


def _description(
    line_tenant: str, parts: dict[str, Decimal], total: Decimal, period: str, source: str, method: str | None
) -> str:
    shown = ", ".join(f"{p} {parts[p]:.2f}" for p in COST_PARTS if parts.get(p))
    text = f"Chargeback {period} for {line_tenant}: {total:.2f} USD ({shown or 'no parts'}); {source}"
    tail = f"; method {method}" if method else ""
    room = DESCRIPTION_MAX - len(tail)
    return (text if len(text) <= room else text[: room - 1] + "…") + tail


def _correction_description(
    tenant: str, closed: str, parts: dict[str, Decimal], amount: Decimal, period: str, method: str | None
) -> str:
    shown = ", ".join(f"{p} {parts[p]:.2f}" for p in COST_PARTS if parts.get(p))
    text = (
        f"Correction of closed billing period {closed} for {tenant}, booked in {period}: {amount:.2f} USD"
        f" ({shown or 'no parts'})"
    )
    tail = f"; method {method}" if method else ""
    room = DESCRIPTION_MAX - len(tail)
    return (text if len(text) <= room else text[: room - 1] + "…") + tail


def client_token(*fields: str) -> str:
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()  # 64 hex digits: the API's maximum


@dataclass(frozen=True)
class LeftOut:
    tenant: str
    amount: Decimal
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"tenant": self.tenant, "amount": str(self.amount), "reason": self.reason}


@dataclass(frozen=True)
class Items:
    items: tuple[CustomLineItem, ...]
    left_out: tuple[LeftOut, ...]


def line_items(config: Config, bill: Bill, source: str) -> Items:
    """One custom line item per bill line that ``[export.billing_conductor]`` maps to a billing group."""
    settings = config.export.billing_conductor
    if not settings.billing_group_arn and not settings.tenants:
        raise ChargebackError(
            "export --to billing-conductor needs [export.billing_conductor] billing_group_arn (every tenant) "
            "or a tenants table (see chargeback.example.toml)"
        )
    if bill.currency != "USD":
        raise ChargebackError(
            f"Billing Conductor custom line items are in USD; the bill for {bill.period} is in {bill.currency}"
        )
    items, left_out = [], []
    for line in bill.lines:
        target = settings.tenants.get(line.tenant)
        sentinel = line.tenant in SENTINELS
        arn = (target.billing_group_arn if target else None) or (None if sentinel else settings.billing_group_arn)
        if target is None and sentinel:
            left_out.append(LeftOut(line.tenant, line.total, "sentinel line not mapped in [export.billing_conductor]"))
            continue
        if not arn:
            left_out.append(LeftOut(line.tenant, line.total, "no billing group: set billing_group_arn"))
            continue
        if line.total == 0 and not any(c.amount for c in line.corrections):
            left_out.append(LeftOut(line.tenant, line.total, "nothing to charge"))
            continue
        account = (target.account_id if target else None) or settings.account_id
        items.extend(
            _line_items(line, bill.period, arn, account, settings.name_prefix, source, bill.method_fingerprint)
        )
    return Items(tuple(items), tuple(left_out))


def _item(
    tenant: str,
    name: str,
    description: str,
    arn: str,
    account: str | None,
    period: str,
    amount: Decimal,
    corrects: str | None = None,
) -> CustomLineItem:
    value = to_cents(abs(amount))
    if value > MAX_CHARGE_VALUE:
        raise ChargebackError(
            f"{tenant}'s item {name} is {amount} USD; a custom line item holds at most {MAX_CHARGE_VALUE} USD"
        )
    charge_type: ChargeType = "FEE" if amount > 0 else "CREDIT"
    token = client_token(name, description, arn, account or "", period, charge_type, f"{value:.2f}")
    return CustomLineItem(tenant, name, description, arn, account, period, charge_type, value, token, corrects)


def _line_items(
    line: BillLine, period: str, arn: str, account: str | None, prefix: str, source: str, method: str | None
) -> list[CustomLineItem]:
    """The line's item (all but its adjustments), then one item per closed month it corrects."""
    found = []
    regular = line.total - line.parts["adjustment"]
    if regular:
        description = _description(line.tenant, line.parts, regular, period, source, method)
        found.append(
            _item(line.tenant, item_name(prefix, period, line.tenant), description, arn, account, period, regular)
        )
    for fix in line.corrections:
        if fix.amount:
            name = item_name(prefix, period, line.tenant, f"-correction-{fix.closed_period}")
            description = _correction_description(line.tenant, fix.closed_period, fix.parts, fix.amount, period, method)
            found.append(_item(line.tenant, name, description, arn, account, period, fix.amount, fix.closed_period))
    return found


def render(items: Items, period: str) -> ExportFile:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for item in items.items:
        writer.writerow(item.csv_row())
    return ExportFile(f"custom-line-items-{period}.csv", out.getvalue().encode(), len(items.items))


# --- applying through the API ---------------------------------------------------------------------------


def accepted_periods(now: datetime) -> tuple[str, str]:
    """The billing periods CreateCustomLineItem accepts at ``now``: the current month and the one before."""
    current = periods.of(now)
    return current, periods.previous_period(current)


def check_period(period: str, now: datetime) -> None:
    current, previous = accepted_periods(now)
    if period not in (current, previous):
        raise ChargebackError(
            f"Billing Conductor only takes custom line items for the current billing period ({current}) and the "
            f"previous one ({previous}), not {period}; export without --apply and enter the CSV's items by hand"
        )


@dataclass
class ApplyResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # FEE <-> CREDIT: deleted and created again
    stale: list[str] = field(default_factory=list)  # ours (by name prefix) but no longer exported: left as is

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.replaced)

    def to_json(self) -> dict[str, list[str]]:
        return {
            "created": self.created,
            "updated": self.updated,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "stale": self.stale,
        }


def _existing(client: Any, period: str, arns: Sequence[str]) -> list[dict[str, Any]]:
    found = []
    for start in range(0, len(arns), 100):  # the filter takes at most 100 billing groups
        pages = client.get_paginator("list_custom_line_items").paginate(
            BillingPeriod=period, Filters={"BillingGroups": list(arns[start : start + 100])}
        )
        for page in pages:
            found.extend(page.get("CustomLineItems", []))
    return found


def _same_group(listed: str | None, arn: str) -> bool:
    """The API may answer with the full ARN where the config has the short id, or the other way round."""
    return bool(listed) and (listed == arn or listed.rsplit("/", 1)[-1] == arn.rsplit("/", 1)[-1])


def apply(items: Items, period: str, client: Any, prefix: str) -> ApplyResult:
    """Create or update ``items`` in Billing Conductor so that it holds exactly them; idempotent."""
    result = ApplyResult()
    arns = sorted({item.billing_group_arn for item in items.items})
    try:
        existing = _existing(client, period, arns) if arns else []
        for item in items.items:
            match = next(
                (
                    e
                    for e in existing
                    if e.get("Name") == item.name
                    and _same_group(e.get("BillingGroupArn"), item.billing_group_arn)
                    and (e.get("AccountId") or None) == item.account_id
                ),
                None,
            )
            if match is None:
                client.create_custom_line_item(**item.create_params())
                result.created.append(item.name)
                continue
            details = match.get("ChargeDetails", {})
            value = details.get("Flat", {}).get("ChargeValue")
            same_value = value is not None and to_cents(Decimal(str(value))) == item.charge_value
            if details.get("Type") != item.charge_type:
                client.delete_custom_line_item(Arn=match["Arn"], BillingPeriodRange=item.billing_period_range())
                client.create_custom_line_item(**item.create_params())
                result.replaced.append(item.name)
            elif not same_value or match.get("Description") != item.description:
                client.update_custom_line_item(
                    Arn=match["Arn"],
                    Description=item.description,
                    ChargeDetails={"Flat": {"ChargeValue": float(item.charge_value)}},
                    BillingPeriodRange=item.billing_period_range(),
                )
                result.updated.append(item.name)
            else:
                result.unchanged.append(item.name)
        ours = {item.name for item in items.items}
        result.stale = sorted(
            e["Name"] for e in existing if e.get("Name", "").startswith(f"{prefix}-{period}-") and e["Name"] not in ours
        )
    except aws.AWS_ERRORS as exc:
        done = f" (before the failure: created {len(result.created)}, updated {len(result.updated)})"
        raise ChargebackError(f"billing-conductor {period}: {aws.describe(exc, 'billingconductor')}{done}") from None
    return result
