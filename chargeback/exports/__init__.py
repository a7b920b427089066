"""Exports: a period's bill as files finance's tools read, versioned, with a manifest saying where they came from.

``run_export(config, period, target)`` renders one format from the published warehouse, compares it with the
latest version already exported for that period, and writes a new version only when something changed:

- ``finance``: the bill exactly as ``chargeback bill --format csv`` prints it (:mod:`.finance`).
- ``focus``: FOCUS 1.2 cost-and-usage rows per tenant and day (:mod:`.focus`), as Parquet with FOCUS's column
  types and as CSV for spreadsheets: the same rows, two files of one version.
- ``billing-conductor``: one AWS Billing Conductor custom line item per bill line (:mod:`.billing_conductor`);
  with ``apply`` they are also created or updated through the API.
- ``statement``: a PDF statement per tenant (:mod:`.statement`), as `chargeback statement` writes them. A PDF
  says when it was generated, so its manifest entry also holds ``content_sha256``, the digest of what it says:
  an export whose statements say the same as the latest version's writes nothing.

Files go to ``<out>/<format>/<period>/v<N>/`` with a ``manifest.json`` (period, format, rows, totals,
SHA-256 checksums, the CUR version, allocation settings and method, with its fingerprint, the warehouse was
built from). Every format states the method too: the finance CSV's ``method`` column, FOCUS rows'
``x_MethodFingerprint`` and descriptions, Billing Conductor descriptions (the fingerprint). Nothing in them
depends on when the export ran, so exporting an unchanged period again writes nothing and a fresh export
of it is byte-identical; a period whose numbers or CUR version changed (a restatement) becomes ``v<N+1>``,
whose manifest lists what changed against ``v<N>`` (totals per tenant before and after). See
:mod:`.writer` for how a version is published atomically, locally and on S3.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chargeback.build.closed import ClosedMonth, closed_month
from chargeback.build.warehouse import connect
from chargeback.core import aws
from chargeback.core.config import Config
from chargeback.core.errors import ChargebackError
from chargeback.core.money import to_cents
from chargeback.core.periods import parse_period
from chargeback.exports import billing_conductor, finance, focus, focus_schema, statement
from chargeback.exports.billing_conductor import ApplyResult, LeftOut
from chargeback.exports.writer import (
    MANIFEST,
    Destination,
    ExportFile,
    LocalDestination,
    S3Destination,
    manifest_bytes,
)
from chargeback.reports import queries
from chargeback.reports.bill import Bill, monthly_bill
from chargeback.reports.period import invoice_id as invoice_id_of

TARGETS = ("billing-conductor", "focus", "finance", "statement")
DEFAULT_DIR = "exports"  # under the data directory

__all__ = ["TARGETS", "ApplyResult", "ExportResult", "LeftOut", "run_export"]


@dataclass(frozen=True)
class ExportResult:
    target: str
    period: str
    version: int
    location: str  # the version's directory (or s3:// prefix)
    paths: tuple[str, ...]  # its data files, then its manifest
    manifest: dict[str, Any]
    changed: bool  # True when this run wrote a new version
    left_out: tuple[LeftOut, ...] = ()  # billing-conductor: bill lines without a custom line item
    applied: ApplyResult | None = None  # billing-conductor with apply

    @property
    def changes(self) -> dict[str, Any] | None:
        """What this version changed against the previous one (None for a first version)."""
        return self.manifest.get("changes")


@dataclass(frozen=True)
class _Snapshot:
    bill: Bill
    source: dict[str, Any]
    methods: focus.Methods
    rows: list[focus.Row]
    invoice_id: str | None = None  # FOCUS: the period's invoice, once AWS issued it


# --- reading one consistent warehouse -------------------------------------------------------------------


def _built_at(config: Config) -> Any:
    with connect(config) as con:
        return con.execute(queries.BUILD_INFO).fetchall()[0][0]


def _frozen(config: Config, month: ClosedMonth, with_rows: bool) -> _Snapshot:
    """A closed month's snapshot, all from what ``chargeback close`` froze: whatever later builds hold."""
    bill = monthly_bill(config, month.period)
    frozen = month.record["export_source"]
    methods = focus.Methods(
        frozen["cost_basis"],
        frozen["weights"],
        frozen["idle"],
        frozen["shared"],
        frozen["tagged_tag"],
        bill.method_fingerprint,
    )
    source = {key: frozen[key] for key in ("cur_version", "cost_basis", "weights", "idle", "shared")}
    source["estimated"] = str(to_cents(bill.estimated))
    source["method_fingerprint"] = bill.method_fingerprint  # the method the month was closed with
    source["method"] = bill.method
    if not with_rows:
        return _Snapshot(bill, source, methods, [])
    # Frozen with the month if it was invoiced by then, else the invoice AWS issued since (amounts never change).
    invoice_id = frozen.get("invoice_id")
    if invoice_id is None and config.warehouse_path.is_file():
        with connect(config) as con:
            invoice_id = invoice_id_of(con, month.period)
    return _Snapshot(bill, source, methods, focus.frozen_rows(month), invoice_id)


def _read(config: Config, period: str, with_rows: bool) -> _Snapshot:
    """The bill, the allocation settings, the CUR version and (for FOCUS) the rows, from one published build
    (a closed month: from what was frozen when it was closed).

    ``monthly_bill`` opens the warehouse itself; a build may publish between two opens, so the build time is
    read before and after, and the reads are repeated if it changed.
    """
    month = closed_month(config.data_dir, period)
    if month is not None:
        return _frozen(config, month, with_rows)
    for _ in range(3):
        with connect(config) as con:
            built_at, config_json = con.execute(queries.BUILD_INFO).fetchall()[0]
            basis, idle, shared, tagged_tag = con.execute(queries.BUILD_SETTINGS).fetchall()[0]
            found = con.execute(queries.CUR_VERSION, [period]).fetchall()
            version = found[0][0] if found else None
            rows = focus.read_rows(con, period) if with_rows else []
            invoice_id = invoice_id_of(con, period) if with_rows else None
        bill = monthly_bill(config, period)
        if _built_at(config) != built_at:
            continue
        weights = json.loads(config_json).get("allocation", {}).get("weights", "scad")
        methods = focus.Methods(basis, weights, idle, shared, tagged_tag, bill.method_fingerprint)
        source = {
            "cur_version": version,
            "cost_basis": basis,
            "weights": weights,
            "idle": idle,
            "shared": shared,
            "estimated": str(to_cents(bill.estimated)),
            # The whole method (chargeback.build.method); null for a warehouse built before it was recorded.
            "method_fingerprint": bill.method_fingerprint,
            "method": bill.method,
        }
        return _Snapshot(bill, source, methods, rows, invoice_id)
    raise ChargebackError("the warehouse was rebuilt during the export three times in a row; run the export again")


# --- rendering --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rendered:
    files: tuple[ExportFile, ...]
    totals: dict[str, Any]
    extra: dict[str, Any]
    items: billing_conductor.Items | None = None

    @property
    def rows(self) -> int:
        """The export's rows: every file of a format holds the same rows (FOCUS: as CSV and as Parquet)."""
        return self.files[0].rows


def _line_totals(bill: Bill) -> dict[str, Any]:
    return {"total": str(bill.total), "by_tenant": {line.tenant: str(line.total) for line in bill.lines}}


def _render(config: Config, target: str, snapshot: _Snapshot, now: datetime | None = None) -> _Rendered:
    bill = snapshot.bill
    if target == "finance":
        return _Rendered((finance.render(bill),), _line_totals(bill), {})
    if target == "statement":
        rendered = statement.render_files(config, bill.period, now=now)
        totals = {
            "total": str(sum((s.total for s, _ in rendered), to_cents(0))),
            "by_tenant": {s.tenant: str(s.total) for s, _ in rendered},
        }
        return _Rendered(tuple(file for _, file in rendered), totals, {})
    if target == "focus":
        files = focus.render(config, bill, snapshot.rows, snapshot.methods, snapshot.invoice_id)
        return _Rendered(files, _line_totals(bill), {"focus_version": focus_schema.FOCUS_VERSION})
    source = f"CUR {snapshot.source['cur_version'] or 'version unknown'}, {snapshot.source['cost_basis']}"
    items = billing_conductor.line_items(config, bill, source)  # the description ends with the method's fingerprint
    signed: dict[str, Any] = {}  # a line's item and its corrections (FEE or CREDIT) add up to the line
    for i in items.items:
        signed[i.tenant] = signed.get(i.tenant, 0) + (i.charge_value if i.charge_type == "FEE" else -i.charge_value)
    totals = {
        "total": str(sum(signed.values(), start=to_cents(0))),
        "bill_total": str(bill.total),
        "by_tenant": {tenant: str(amount) for tenant, amount in signed.items()},
    }
    extra = {
        "items": [
            {"tenant": i.tenant, "name": i.name, "billing_group_arn": i.billing_group_arn, "account_id": i.account_id}
            | ({"corrects": i.corrects} if i.corrects else {})
            for i in items.items
        ],
        "left_out": [left.to_json() for left in items.left_out],
    }
    return _Rendered((billing_conductor.render(items, bill.period),), totals, extra, items)


# --- versions ---------------------------------------------------------------------------------------------


def destination(config: Config, out: str | Path | None = None) -> Destination:
    """``out`` (a directory, or s3://bucket/prefix), else ``[export] out`` (relative to the data directory),
    else ``<data_dir>/exports``."""
    if out is None:
        configured = config.export.out
        if configured and not configured.startswith("s3://"):
            return LocalDestination(Path(config.data_dir) / configured)
        out = configured or Path(config.data_dir) / DEFAULT_DIR
    if str(out).startswith("s3://"):
        return S3Destination(aws.client(config.aws, "s3"), str(out))
    return LocalDestination(Path(out))


def _identity(manifest: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two exports the same: their files' bytes and what they were made from."""
    return (
        [(f["name"], f.get("content_sha256", f["sha256"])) for f in manifest.get("files", [])],
        manifest.get("source"),
        manifest.get("left_out"),
        manifest.get("items"),
    )


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    old, new = before.get("totals", {}), after["totals"]
    tenants = sorted(set(old.get("by_tenant", {})) | set(new["by_tenant"]))
    by_tenant = {
        t: {"before": old.get("by_tenant", {}).get(t), "after": new["by_tenant"].get(t)}
        for t in tenants
        if old.get("by_tenant", {}).get(t) != new["by_tenant"].get(t)
    }
    source = {
        key: {"before": before.get("source", {}).get(key), "after": value}
        for key, value in after["source"].items()
        if before.get("source", {}).get(key) != value
    }
    old_files = {f["name"]: f.get("content_sha256", f["sha256"]) for f in before.get("files", [])}
    return {
        "total": {"before": old.get("total"), "after": new["total"]},
        "by_tenant": by_tenant,
        "source": source,
        "files": sorted(
            f["name"] for f in after["files"] if old_files.get(f["name"]) != f.get("content_sha256", f["sha256"])
        ),
    }


def run_export(
    config: Config,
    period: str,
    target: str,
    out: str | Path | None = None,
    apply: bool = False,
    now: datetime | None = None,
    *,
    client: Any = None,
    on_progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export ``period`` as ``target`` to ``out``; a new version only when it changed. With ``apply``
    (billing-conductor only) also create or update the custom line items (``client``: a billingconductor
    client, default one from ``[aws]``; ``now``: the clock that decides which periods the API accepts, and the
    time statements say they were generated)."""
    parse_period(period)
    if target not in TARGETS:
        raise ChargebackError(f"unknown export format {target!r}; use one of: {', '.join(TARGETS)}")
    if apply and target != "billing-conductor":
        raise ChargebackError(f"--apply only applies to --to billing-conductor, not {target}")
    if apply:
        billing_conductor.check_period(period, now or datetime.now(UTC))
    say = on_progress or (lambda _text: None)
    say(f"reading the warehouse for {period}")
    snapshot = _read(config, period, with_rows=target == "focus")
    rendered = _render(config, target, snapshot, now)
    where = destination(config, out)
    manifest: dict[str, Any] = {
        "format": target,
        "period": period,
        "version": None,
        "currency": snapshot.bill.currency,
        "source": snapshot.source,
        "files": [f.describe() for f in rendered.files],
        "rows": rendered.rows,
        "totals": rendered.totals,
        **rendered.extra,
        "previous_version": None,
        "changes": None,
    }
    if snapshot.bill.closed_at:  # not part of what makes two exports the same (their files are)
        manifest["closed_at"] = snapshot.bill.closed_at
    latest = where.latest(target, period)
    if latest is not None and _identity(latest[1]) == _identity(manifest):
        version, manifest, changed = latest[0], latest[1], False
    else:
        version = (latest[0] if latest else 0) + 1
        manifest["version"] = version
        if latest is not None:
            manifest["previous_version"] = latest[0]
            manifest["changes"] = _changes(latest[1], manifest)
        say(f"writing version {version} to {where}")
        where.publish(target, period, version, rendered.files, manifest_bytes(manifest))
        changed = True
    names = [f.name for f in rendered.files] + [MANIFEST]
    paths = tuple(where.location(target, period, version, name) for name in names)
    applied = None
    if apply:
        assert rendered.items is not None
        if client is None:
            client = aws.client(config.aws, "billingconductor")
        say("applying custom line items")
        prefix = config.export.billing_conductor.name_prefix
        applied = billing_conductor.apply(rendered.items, period, client, prefix)
    left_out = rendered.items.left_out if rendered.items else ()
    location = paths[-1].rsplit("/", 1)[0]
    return ExportResult(target, period, version, location, paths, manifest, changed, left_out, applied)
