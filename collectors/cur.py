"""The Cost and Usage Report: CUR 2.0 (Data Exports) or legacy CUR, from S3 or a local directory.

Where it is
-----------
``[cur] location`` is the export's (or legacy report's) own folder: ``s3://bucket/prefix/<export-name>`` or a
local directory laid out as S3 after AWS delivered it::

    CUR 2.0   <root>/metadata/BILLING_PERIOD=2026-10/<export>-Manifest.json           (executionId, dataFiles)
              <root>/data/BILLING_PERIOD=2026-10/<execution-id>/<export>-00001.snappy.parquet
    legacy    <root>/20261001-20261101/<report>-Manifest.json                         (assemblyId, reportKeys)
              <root>/20261001-20261101/<assembly-id>/<report>-1.snappy.parquet        (or <root>/<report>/year=...)

The manifest names the current version's data files; older versions stay beside it and are never read.
Entries are resolved below the root by the export's name (so a replicated bucket or a local mirror works);
an S3 entry under the root's own bucket and prefix is used as is. Legacy reports must be delivered as
Parquet: a CSV/GZIP report is refused with a message saying so.

Versions and restatements
-------------------------
The collector is a ``PeriodCollector`` (``collectors.base``): ``delivery(period)`` reads the period's current
manifest, whose version is CUR 2.0's ``executionId`` or legacy's ``assemblyId`` (every file it lists is
checked to exist first), and ``collect_delivery`` reads exactly those files. The collection
(``chargeback.raw.collect``) lands a period as a whole into one partition ``raw/cur/line_items/
billing_period=YYYY-MM`` that replaces the previous one atomically, and only when the version differs from
the one landed: a restated period replaces the first version, never adds to it, and an unchanged manifest
costs one small GET. Any failure (a missing or corrupt file, a missing column) leaves the landed version in
place.

Columns and schema drift
------------------------
Only the columns of ``collectors.streams.CUR_LINE_ITEMS`` are read (Parquet column projection, planned by
``collectors.cur_columns``), and each file is streamed batch by batch (S3 objects are downloaded to a
temporary file first and deleted after).

- Legacy names are matched by AWS's Athena spelling of them: ``lineItem/UsageStartDate`` and
  ``line_item_usage_start_date`` both land as ``line_item_usage_start_date`` (``bill/InvoiceId`` as
  ``bill_invoice_id``, split cost allocation data's ``splitLineItem/SplitCost`` as
  ``split_line_item_split_cost``, ...); ``product/region`` stands in for ``product_region_code`` when the
  latter is absent.
- ``product`` (a map in CUR 2.0): legacy ``product_vcpu``, ``product_memory``, ``product_gpu``,
  ``product_instance_family`` and ``product_operating_system`` columns become its entries ``vcpu``,
  ``memory``, ... (empty values left out).
- ``resource_tags`` (a map in CUR 2.0, keys ``user_<tag>``): legacy ``resource_tags_user_tenant`` /
  ``resourceTags/user:tenant`` columns become the entry ``user_tenant`` (empty values left out, as AWS does
  in the map); map keys spelt ``user:tenant`` are rewritten ``user_tenant``.
- A map column delivered as a struct is converted entry by entry; one delivered as a JSON string (a CSV
  round trip) is parsed row by row (slow, but correct).
- A required column (``bill_billing_period_*``, ``line_item_line_item_type``, ``line_item_usage_*_date``)
  that is missing stops the load with an error naming the file and the column; optional columns that
  are missing land as nulls; retyped columns are cast (numbers as strings, naive timestamps taken as UTC)
  or refused with an error naming the column and both types.
- Rows of another billing period than the manifest's are refused (they would land in the wrong partition).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chargeback.core import aws, periods
from chargeback.core.config import Config
from chargeback.core.errors import CollectError, DataError
from collectors.base import Batch, Delivery, NotDelivered
from collectors.cur_columns import plan_columns, transform
from collectors.cur_files import CurSource, LocalCurSource, open_source
from collectors.streams import CUR_LINE_ITEMS, Stream

CurFormat = Literal["cur2", "legacy"]
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class CurManifest:
    path: Path | str  # where the manifest was read: a local path or an s3:// URI
    export_name: str
    billing_period: str  # YYYY-MM
    execution_id: str  # CUR 2.0 executionId, legacy assemblyId: the version
    data_files: tuple[Path | str, ...]  # local paths or s3:// URIs
    format: CurFormat = "cur2"


# --- manifests ----------------------------------------------------------------------------------------


def manifest_relative(name: str, billing_period: str, fmt: CurFormat = "cur2") -> str:
    """Where a billing period's current manifest lives below the export's root."""
    periods.parse_period(billing_period, "billing period")
    if fmt == "legacy":
        start, end = periods.first_day(billing_period), periods.first_day(periods.next_period(billing_period))
        return f"{start:%Y%m%d}-{end:%Y%m%d}/{name}-Manifest.json"
    return f"metadata/BILLING_PERIOD={billing_period}/{name}-Manifest.json"


def manifest_path(export_dir: Path, billing_period: str) -> Path:
    """The local path of a CUR 2.0 export's manifest for ``billing_period``."""
    export_dir = Path(export_dir)
    return export_dir / manifest_relative(export_dir.name, billing_period)


def _is_parquet(body: Mapping[str, Any], keys: Iterable[str]) -> bool:
    content = str(body.get("contentType", "")).lower()
    compression = str(body.get("compression", "")).lower()
    if "parquet" in content or compression == "parquet":
        return True
    return bool(keys) and all(str(key).endswith(".parquet") for key in keys) and not content


def load_manifest(source: CurSource, billing_period: str, fmt: CurFormat = "cur2") -> CurManifest:
    """Read a billing period's current manifest and check that every file it lists exists."""
    path = source.locate(manifest_relative(source.name, billing_period, fmt))
    text = source.read_text(path)
    if text is None:
        raise NotDelivered(f"{path}: no CUR manifest for billing period {billing_period}")
    try:
        body = json.loads(text)
        if fmt == "legacy":
            files, version, name = body["reportKeys"], body["assemblyId"], body.get("reportName", source.name)
        else:
            files, version, name = body["dataFiles"], body["executionId"], body.get("exportName", source.name)
        files = [str(entry) for entry in files]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        kind = "legacy CUR" if fmt == "legacy" else "Data Exports"
        raise DataError(f"{path}: not a {kind} manifest ({type(exc).__name__}: {exc})") from exc
    if fmt == "legacy" and not _is_parquet(body, files):
        raise DataError(
            f"{path}: this legacy CUR is delivered as {body.get('contentType') or body.get('compression') or 'CSV'};"
            " only Parquet is supported: set the report's format to Parquet (or create a CUR 2.0 Data Export)"
        )
    resolved = []
    for entry in files:
        handle = source.resolve(entry)
        if not source.exists(handle):
            raise DataError(f"{path}: lists {entry}, which is not at {handle}")
        resolved.append(handle)
    return CurManifest(path, name, billing_period, str(version), tuple(resolved), fmt)


def read_manifest(export_dir: Path, billing_period: str) -> CurManifest:
    """Read a local CUR 2.0 export's manifest for ``billing_period`` and resolve its data files."""
    return load_manifest(LocalCurSource(Path(export_dir)), billing_period, "cur2")


# --- rows ---------------------------------------------------------------------------------------------


def _check_rows_period(data: pa.Table, billing_period: str, origin: str) -> None:
    if data.num_rows == 0:
        return
    bounds = pc.min_max(data.column("bill_billing_period_start_date"))
    found = {periods.of(bounds[end].as_py()) for end in ("min", "max")}
    if found != {billing_period}:
        raise DataError(
            f"{origin}: holds rows of billing period(s) {', '.join(sorted(found))}, but the manifest is for"
            f" {billing_period}"
        )


def read_batches(source: CurSource, manifest: CurManifest) -> Iterator[pa.Table]:
    """The manifest's rows as ``cur/line_items`` tables, file by file and batch by batch."""
    for handle in manifest.data_files:
        origin = str(handle)
        with source.local_copy(handle) as local:
            try:
                parquet = pq.ParquetFile(local)
            except (OSError, pa.ArrowInvalid) as exc:
                raise DataError(f"{origin}: cannot read CUR Parquet ({exc})") from exc
            plan = plan_columns(parquet.schema_arrow, origin)
            try:
                for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=plan.read):
                    data = CUR_LINE_ITEMS.conform(transform(batch, plan, origin), origin)
                    _check_rows_period(data, manifest.billing_period, origin)
                    yield data
            except (OSError, pa.ArrowInvalid) as exc:
                raise DataError(f"{origin}: cannot read CUR Parquet ({exc})") from exc


# --- the collector ------------------------------------------------------------------------------------


class CurCollector:
    """The CUR's billing periods, each as its manifest's current version (a ``PeriodCollector``)."""

    source = "cur"

    def __init__(self, cur_source: CurSource, fmt: CurFormat = "cur2"):
        self.cur_source = cur_source
        self.format: CurFormat = fmt

    @classmethod
    def from_config(cls, config: Config, tmp_dir: Path | None = None) -> CurCollector:
        """The collector for ``[cur]`` (S3 through the ``[aws]`` client factory)."""
        if config.cur is None:
            raise ValueError("no [cur] section in the configuration")
        s3 = aws.client(config.aws, "s3") if config.cur.location.startswith("s3://") else None
        return cls(open_source(config.cur.location, s3, tmp_dir), config.cur.format)

    def streams(self) -> tuple[Stream, ...]:
        return (CUR_LINE_ITEMS,)

    def manifest(self, billing_period: str) -> CurManifest:
        """The current manifest of ``billing_period`` (its files checked to exist); ``NotDelivered`` if none."""
        try:
            return load_manifest(self.cur_source, billing_period, self.format)
        except aws.AWS_ERRORS as exc:
            where = self.cur_source.locate(manifest_relative(self.cur_source.name, billing_period, self.format))
            raise self._error(billing_period, exc, f"of {where} (or of a file it lists)") from exc

    def delivery(self, period: str) -> Delivery:
        manifest = self.manifest(period)
        return Delivery(period, manifest.execution_id, manifest.data_files, manifest)

    def batches(self, manifest: CurManifest) -> Iterator[pa.Table]:
        """The rows of ``manifest``'s files."""
        try:
            yield from read_batches(self.cur_source, manifest)
        except aws.AWS_ERRORS as exc:
            raise self._error(manifest.billing_period, exc, f"data files of {manifest.path}") from exc

    def collect_delivery(self, delivery: Delivery) -> Iterator[Batch]:
        for data in self.batches(delivery.handle):
            yield Batch(CUR_LINE_ITEMS, data)

    def _error(self, billing_period: str, exc: BaseException, what: str) -> CollectError:
        return aws.collect_error(self.source, f"billing period {billing_period}", exc, "s3", what)
