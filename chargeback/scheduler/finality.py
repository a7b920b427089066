"""When a month may be exported: its landed CUR is final, and the warehouse was built from it.

**Final** means what AWS means by it: the CUR column ``bill_invoice_id`` (legacy ``bill/InvoiceId``) "is
blank until the report is final", when the month's invoice is issued (a few days into the next month).
So the landed version of a billing period is final when every line of it carries a non-empty invoice id.
The landed partition keeps only the version (the manifest's ``executionId``, in its Parquet metadata,
see ``collectors.cur``), not the invoice ids, so the check reads that version's own data files from the
CUR delivery (``[cur] location``; only the one column): the very files the partition was landed from.
When the delivery has moved on to a newer version, the landed one is not final by definition (the next
collect lands the newer one). A version never changes, so the scheduler asks once per version.

An export also waits until the published warehouse is newer than the landed CUR, so a month is never
exported from a warehouse built before its final CUR arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chargeback.core import periods
from chargeback.core.config import Config
from chargeback.raw.landing import partition_path
from chargeback.raw.status import landed_version
from chargeback.raw.tables import CUR_LINE_ITEMS
from collectors.cur import CurCollector
from collectors.cur_columns import athena_name

INVOICE_COLUMN = "bill_invoice_id"


@dataclass(frozen=True)
class Verdict:
    final: bool
    reason: str


@dataclass(frozen=True)
class Readiness:
    ready: bool
    version: str | None  # the CUR version an export now would come from
    reason: str


def landed(config: Config, period: str) -> tuple[Path, str | None] | None:
    """The landed CUR partition of ``period`` and its recorded version (None: nothing landed)."""
    path = partition_path(config.data_dir, CUR_LINE_ITEMS, period)
    if not path.is_file():
        return None
    return path, landed_version(config.data_dir, period)


def fingerprint(config: Config, period: str) -> str | None:
    """What identifies the landed CUR of ``period``: its version, else (landed without one) its file's time."""
    found = landed(config, period)
    if found is None:
        return None
    path, version = found
    return version or f"unversioned@{path.stat().st_mtime_ns}"


def final_verdict(config: Config, period: str, version: str) -> Verdict:
    """Whether landed ``version`` of ``period`` is final: every line of its data files has an invoice id.

    Raises what reading the delivery raises (``ChargebackError``, ``OSError``, botocore errors)."""
    if config.cur is None:
        return Verdict(
            False,
            "no [cur] location to read bill_invoice_id from, so whether the CUR is final is unknown"
            " (set [cur], or require_final_cur = false on the job)",
        )
    collector = CurCollector.from_config(config)
    manifest = collector.manifest(period)
    if manifest.execution_id != version:
        return Verdict(
            False, f"landed version {version} is superseded by {manifest.execution_id}; the next collect lands it"
        )
    lines = blank = 0
    for handle in manifest.data_files:
        with collector.cur_source.local_copy(handle) as local:
            parquet = pq.ParquetFile(local)
            column = next((n for n in parquet.schema_arrow.names if athena_name(n) == INVOICE_COLUMN), None)
            if column is None:
                return Verdict(
                    False,
                    f"{handle} has no {INVOICE_COLUMN} column, so whether the CUR is final is unknown (add it to"
                    " the export, or set require_final_cur = false on the job)",
                )
            for batch in parquet.iter_batches(columns=[column]):
                ids = pc.cast(batch.column(0), pa.string())
                lines += len(ids)
                blank += ids.null_count + (pc.sum(pc.equal(pc.utf8_trim_whitespace(ids), "")).as_py() or 0)
    if lines == 0:
        return Verdict(False, f"version {version} has no lines")
    if blank:
        return Verdict(False, f"version {version}: {blank:,} of {lines:,} lines have no invoice id yet")
    return Verdict(True, f"version {version}: all {lines:,} lines have an invoice id")


def readiness(
    config: Config,
    period: str,
    now: datetime,
    require_final: bool,
    verdict_for,  # (period, version) -> Verdict; the scheduler caches final_verdict per version
) -> Readiness:
    """Whether ``period`` can be exported now, from which CUR version, or why not yet."""
    if now < periods.end(period):
        return Readiness(False, None, f"{period} has not ended")
    found = landed(config, period)
    if found is None:
        return Readiness(False, None, f"no CUR landed for {period} yet (the collect job lands it)")
    path, version = found
    if require_final:
        if version is None:
            return Readiness(
                False,
                None,
                f"the CUR of {period} was landed without a version record; land it again"
                " (`chargeback collect --source cur --refresh`)",
            )
        verdict = verdict_for(period, version)
        if not verdict.final:
            return Readiness(False, version, f"the CUR of {period} is not final: {verdict.reason}")
    version = fingerprint(config, period)
    warehouse = config.warehouse_path
    if not warehouse.is_file() or warehouse.stat().st_mtime_ns <= path.stat().st_mtime_ns:
        return Readiness(False, version, f"the warehouse predates the CUR landed for {period}; waiting for a build")
    return Readiness(True, version, "ready")
