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
A billing period is landed as a whole, from exactly the files its manifest lists, into one partition
``raw/cur/line_items/billing_period=YYYY-MM`` that replaces the previous one atomically (see
``chargeback.landing.write_partition``): a restated period replaces the first version, never adds to it.
:meth:`CurCollector.land_periods` lands a period only when the manifest's version (CUR 2.0 ``executionId``,
legacy ``assemblyId``) differs from the one landed; an unchanged manifest costs one small GET and nothing
else. The landed version is stored in the partition file's own Parquet metadata (key
``chargeback.cur.version``), written in the same atomic rename as the rows, so it can never disagree with
the data; callers may pass their own record instead. Before anything is downloaded every listed file must
exist, and any failure (a missing or corrupt file, a missing column) leaves the landed version in place.

Columns and schema drift
------------------------
Only the columns of ``collectors.schemas.CUR_LINE_ITEMS`` are read (Parquet column projection), and each
file is streamed batch by batch (S3 objects are downloaded to a temporary file first and deleted after).

- Legacy names are matched by AWS's Athena spelling of them: ``lineItem/UsageStartDate`` and
  ``line_item_usage_start_date`` both land as ``line_item_usage_start_date``; ``product/region`` stands in
  for ``product_region_code`` when the latter is absent.
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
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chargeback.config import Config
from chargeback.errors import CollectError, DataError
from chargeback.landing import conform, partition_path, write_partition
from collectors import aws
from collectors.base import Batch, Window
from collectors.schemas import CUR_LINE_ITEMS, RawTable

CurFormat = Literal["cur2", "legacy"]
VERSION_KEY = b"chargeback.cur.version"
BATCH_ROWS = 65_536
PRODUCT_KEYS = ("vcpu", "memory", "gpu", "instance_family", "operating_system")
_ALIASES = {"product_region_code": ("product_region",)}
_MAP_COLUMNS = ("product", "resource_tags")
_TAG_PREFIX = "resource_tags_"
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class CurManifest:
    path: Path | str  # where the manifest was read: a local path or an s3:// URI
    export_name: str
    billing_period: str  # YYYY-MM
    execution_id: str  # CUR 2.0 executionId, legacy assemblyId: the version
    data_files: tuple[Path | str, ...]  # local paths or s3:// URIs
    format: CurFormat = "cur2"


@dataclass(frozen=True)
class PeriodLanding:
    """What :meth:`CurCollector.land_periods` did for one billing period."""

    billing_period: str
    version: str | None  # the manifest's version now (None: no manifest yet, with missing_ok)
    previous: str | None  # the version landed before this call (None: none, or unknown)
    landed: bool  # True when this call wrote the partition
    path: Path | None = None
    files: tuple[Path | str, ...] = field(default=())


# --- where the files are ------------------------------------------------------------------------------


class CurSource(Protocol):
    """A CUR delivery root: a local directory or an S3 prefix. Handles are local paths or s3:// URIs."""

    name: str  # the export (or legacy report) name: the root's last path component

    def locate(self, relative: str) -> Path | str: ...

    def resolve(self, entry: str) -> Path | str:
        """A manifest entry (s3:// URI or bucket-relative key) as a handle under this root."""
        ...

    def read_text(self, handle: Path | str) -> str | None:
        """The object's text, or None when it does not exist."""
        ...

    def exists(self, handle: Path | str) -> bool: ...

    def local_copy(self, handle: Path | str) -> Any:
        """A context manager giving a local path to read (a temporary download for S3)."""
        ...


def _below(entry: str, name: str) -> str | None:
    """The part of a manifest entry after the root folder ``/<name>/``, if it has one."""
    path = entry.split("://", 1)[1].split("/", 1)[1] if "://" in entry else entry
    path = "/" + path.lstrip("/")
    marker = f"/{name}/"
    return path.split(marker, 1)[1] if marker in path else None


class LocalCurSource:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.name = self.root.name

    def __str__(self) -> str:
        return str(self.root)

    def locate(self, relative: str) -> Path:
        return self.root / relative

    def resolve(self, entry: str) -> Path:
        relative = _below(entry, self.name)
        return self.root / (relative if relative is not None else entry.lstrip("/"))

    def read_text(self, handle: Path | str) -> str | None:
        path = Path(handle)
        return path.read_text() if path.is_file() else None

    def exists(self, handle: Path | str) -> bool:
        return Path(handle).is_file()

    @contextmanager
    def local_copy(self, handle: Path | str) -> Iterator[Path]:
        yield Path(handle)


class S3CurSource:
    """``s3://bucket/prefix``: reads manifests with GetObject, downloads data files to a temporary file."""

    def __init__(self, client: Any, location: str, tmp_dir: Path | None = None):
        if not location.startswith("s3://"):
            raise ValueError(f"not an s3:// location: {location}")
        bucket, _, prefix = location[5:].partition("/")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.name = self.prefix.rsplit("/", 1)[-1] if self.prefix else bucket
        self.tmp_dir = tmp_dir
        self.downloads = 0

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def locate(self, relative: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}/{relative}" if self.prefix else f"s3://{self.bucket}/{relative}"

    def resolve(self, entry: str) -> str:
        bucket, key = (entry[5:].split("/", 1) + [""])[:2] if entry.startswith("s3://") else (self.bucket, entry)
        key = key.lstrip("/")
        if bucket == self.bucket and (not self.prefix or key.startswith(self.prefix + "/")):
            return f"s3://{bucket}/{key}"
        relative = _below(entry, self.name)  # a replicated copy: same layout below the export's folder
        return self.locate(relative) if relative is not None else f"s3://{bucket}/{key}"

    @staticmethod
    def _split(handle: Path | str) -> tuple[str, str]:
        bucket, _, key = str(handle)[5:].partition("/")
        return bucket, key

    def read_text(self, handle: Path | str) -> str | None:
        bucket, key = self._split(handle)
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
            return body.read().decode("utf-8")
        except self.client.exceptions.NoSuchKey:
            return None

    def exists(self, handle: Path | str) -> bool:
        bucket, key = self._split(handle)
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except aws.AWS_ERRORS as exc:
            if aws.error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    @contextmanager
    def local_copy(self, handle: Path | str) -> Iterator[Path]:
        bucket, key = self._split(handle)
        with tempfile.TemporaryDirectory(prefix="chargeback-cur-", dir=self.tmp_dir) as folder:
            target = Path(folder) / key.rsplit("/", 1)[-1]
            self.client.download_file(bucket, key, str(target))
            self.downloads += 1
            yield target


def open_source(location: str, s3_client: Any = None, tmp_dir: Path | None = None) -> CurSource:
    """A source for ``location``: ``s3://...`` (needs ``s3_client``) or a local directory."""
    if location.startswith("s3://"):
        if s3_client is None:
            raise ValueError("an s3:// CUR location needs an S3 client")
        return S3CurSource(s3_client, location, tmp_dir)
    return LocalCurSource(Path(location))


# --- manifests ----------------------------------------------------------------------------------------


def _check_period(billing_period: str) -> None:
    if not _PERIOD.match(billing_period):
        raise ValueError(f"billing period {billing_period!r} is not YYYY-MM")


def _period_bounds(billing_period: str) -> tuple[date, date]:
    year, month = map(int, billing_period.split("-"))
    return date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)


def manifest_relative(name: str, billing_period: str, fmt: CurFormat = "cur2") -> str:
    """Where a billing period's current manifest lives below the export's root."""
    _check_period(billing_period)
    if fmt == "legacy":
        start, end = _period_bounds(billing_period)
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
        raise DataError(f"{path}: no CUR manifest for billing period {billing_period}")
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


# --- columns: what to read, and how legacy and drifted files map onto CUR_LINE_ITEMS ----------------------


def athena_name(column: str) -> str:
    """AWS's Athena/Parquet spelling of a legacy CUR column: ``lineItem/UsageStartDate`` ->
    ``line_item_usage_start_date``, ``resourceTags/user:CostCenter`` -> ``resource_tags_user_cost_center``.
    CUR 2.0 names are already in this form and map to themselves."""
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column)
    return re.sub(r"[^A-Za-z0-9]+", "_", snake).strip("_").lower()


@dataclass(frozen=True)
class ColumnPlan:
    """Which file columns feed which CUR_LINE_ITEMS columns."""

    scalars: dict[str, str]  # target column -> file column
    maps: dict[str, str]  # "product"/"resource_tags" -> file column holding the map (or struct / JSON)
    entries: dict[str, dict[str, str]]  # "product"/"resource_tags" -> {entry key -> file column}

    @property
    def read(self) -> list[str]:
        columns = [*self.scalars.values(), *self.maps.values()]
        columns += [column for entries in self.entries.values() for column in entries.values()]
        return list(dict.fromkeys(columns))


def plan_columns(schema: pa.Schema, origin: str) -> ColumnPlan:
    """Match a file's columns to CUR_LINE_ITEMS; raise DataError naming required columns it lacks."""
    by_name: dict[str, str] = {}
    for name in schema.names:
        by_name.setdefault(name, name)
    for name in schema.names:
        by_name.setdefault(athena_name(name), name)
    scalars: dict[str, str] = {}
    maps: dict[str, str] = {}
    entries: dict[str, dict[str, str]] = {}
    for target in CUR_LINE_ITEMS.schema:
        if target.name in _MAP_COLUMNS:
            continue
        for candidate in (target.name, *_ALIASES.get(target.name, ())):
            if candidate in by_name:
                scalars[target.name] = by_name[candidate]
                break
    missing = [f.name for f in CUR_LINE_ITEMS.schema if not f.nullable and f.name not in scalars]
    if missing:
        raise DataError(
            f"{origin}: CUR file lacks required column(s) {', '.join(missing)}"
            f" (looked for the CUR 2.0 names and their legacy spellings, e.g. lineItem/UsageStartDate)"
        )
    for column in _MAP_COLUMNS:
        if column in by_name:
            maps[column] = by_name[column]
    if "product" not in maps:
        entries["product"] = {key: by_name[f"product_{key}"] for key in PRODUCT_KEYS if f"product_{key}" in by_name}
    if "resource_tags" not in maps:
        entries["resource_tags"] = {
            normal[len(_TAG_PREFIX) :]: original
            for normal, original in by_name.items()
            if normal.startswith(_TAG_PREFIX) and len(normal) > len(_TAG_PREFIX)
        }
    return ColumnPlan(scalars, maps, entries)


MAP_TYPE = pa.map_(pa.string(), pa.string())


def _map_from_columns(keys: list[str], columns: list[pa.Array], rows: int) -> pa.MapArray:
    """One map per row from same-length columns (one entry key each), leaving out nulls and empty strings."""
    if not keys or rows == 0:
        return pa.MapArray.from_arrays(
            pa.array(np.zeros(rows + 1, dtype=np.int32)), pa.array([], pa.string()), pa.array([], pa.string())
        )
    width = len(keys)
    values = pa.concat_arrays([pc.cast(column, pa.string()) for column in columns])  # column after column
    names = pa.array(keys, pa.string()).take(pa.array(np.repeat(np.arange(width), rows)))
    # reorder to row after row: row i takes entries i, rows + i, 2*rows + i, ...
    order = pa.array((np.arange(rows)[:, None] + np.arange(width)[None, :] * rows).ravel())
    values, names = values.take(order), names.take(order)
    keep = pc.fill_null(pc.and_(pc.is_valid(values), pc.not_equal(values, "")), False)
    counts = keep.to_numpy(zero_copy_only=False).reshape(rows, width).sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.MapArray.from_arrays(pa.array(offsets), names.filter(keep), values.filter(keep))


def _normalise_tag_keys(array: pa.MapArray) -> pa.MapArray:
    """Rewrite tag keys spelt ``user:tenant`` (legacy) as ``user_tenant`` (CUR 2.0)."""
    first, last = array.offsets[0].as_py(), array.offsets[-1].as_py()
    keys = array.keys.slice(first, last - first)
    if not pc.any(pc.match_substring(keys, ":")).as_py():
        return array
    offsets = pc.subtract(array.offsets, first)
    keys = pc.replace_substring_regex(keys, pattern=r"^(user|aws):", replacement=r"\1_")
    items = array.items.slice(first, last - first)
    mask = array.is_null() if array.null_count else None
    return pa.MapArray.from_arrays(offsets, keys, items, mask=mask)


def _as_map(array: pa.Array, name: str, origin: str) -> pa.Array:
    """A map<string, string> from a map, struct or JSON-string column (see the module docstring)."""
    kind = array.type
    if pa.types.is_map(kind):
        first, last = array.offsets[0].as_py(), array.offsets[-1].as_py()
        keys = pc.cast(array.keys.slice(first, last - first), pa.string())
        items = pc.cast(array.items.slice(first, last - first), pa.string())
        mask = array.is_null() if array.null_count else None
        result = pa.MapArray.from_arrays(pc.subtract(array.offsets, first), keys, items, mask=mask)
    elif pa.types.is_struct(kind):
        fields = [kind.field(i).name for i in range(kind.num_fields)]
        children = [array.field(i) for i in range(kind.num_fields)]
        result = _map_from_columns(fields, children, len(array))
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        parsed = []
        for text in array.to_pylist():  # fallback for a map flattened to JSON text: row by row
            try:
                value = json.loads(text) if text else {}
            except json.JSONDecodeError as exc:
                raise DataError(f"{origin}: column {name!r} holds text that is not a JSON object: {exc}") from exc
            if not isinstance(value, dict):
                raise DataError(f"{origin}: column {name!r} holds JSON that is not an object: {text[:80]!r}")
            parsed.append([(str(k), None if v is None else str(v)) for k, v in value.items()])
        result = pa.array(parsed, MAP_TYPE)
    else:
        raise DataError(f"{origin}: column {name!r} is {kind}, expected a map<string, string> (or struct, or JSON)")
    return _normalise_tag_keys(result) if name == "resource_tags" else result


def _transform(batch: pa.RecordBatch, plan: ColumnPlan, origin: str) -> pa.Table:
    columns: dict[str, pa.Array] = {target: batch.column(source) for target, source in plan.scalars.items()}
    for name in _MAP_COLUMNS:
        if name in plan.maps:
            columns[name] = _as_map(batch.column(plan.maps[name]), name, origin)
        else:
            entries = plan.entries.get(name, {})
            columns[name] = _map_from_columns(
                list(entries), [batch.column(column) for column in entries.values()], batch.num_rows
            )
    return pa.table(columns)


def _check_rows_period(data: pa.Table, billing_period: str, origin: str) -> None:
    if data.num_rows == 0:
        return
    bounds = pc.min_max(data.column("bill_billing_period_start_date"))
    found = {bounds[end].as_py().astimezone(UTC).strftime("%Y-%m") for end in ("min", "max")}
    if found != {billing_period}:
        raise DataError(
            f"{origin}: holds rows of billing period(s) {', '.join(sorted(found))}, but the manifest is for"
            f" {billing_period}"
        )


def read_batches(
    source: CurSource, manifest: CurManifest, metadata: Mapping[bytes, bytes] | None = None
) -> Iterator[pa.Table]:
    """The manifest's rows as CUR_LINE_ITEMS tables, file by file and batch by batch."""
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
                    data = conform(CUR_LINE_ITEMS, _transform(batch, plan, origin), origin)
                    _check_rows_period(data, manifest.billing_period, origin)
                    yield data.replace_schema_metadata(metadata) if metadata else data
            except (OSError, pa.ArrowInvalid) as exc:
                raise DataError(f"{origin}: cannot read CUR Parquet ({exc})") from exc


def land_billing_period(data_dir: Path, export_dir: Path, billing_period: str) -> tuple[CurManifest, Path]:
    """Land a local CUR 2.0 export's current version of ``billing_period``, replacing any earlier version."""
    collector = CurCollector(LocalCurSource(Path(export_dir)))
    manifest = collector.manifest(billing_period)
    metadata = {VERSION_KEY: manifest.execution_id.encode()}  # as land_periods records it
    target = write_partition(data_dir, CUR_LINE_ITEMS, billing_period, collector.batches(manifest, metadata))
    return manifest, target


def landed_version(data_dir: Path, billing_period: str) -> str | None:
    """The version recorded in a landed partition by :meth:`CurCollector.land_periods` (None: unknown)."""
    path = partition_path(data_dir, CUR_LINE_ITEMS, billing_period)
    if not path.is_file():
        return None
    metadata = pq.read_schema(path).metadata or {}
    value = metadata.get(VERSION_KEY)
    return value.decode() if value else None


def billing_periods(window: Window) -> list[str]:
    """The billing periods (UTC months) a window touches."""
    periods = []
    year, month = window.start.astimezone(UTC).year, window.start.astimezone(UTC).month
    while datetime(year, month, 1, tzinfo=UTC) < window.end:
        periods.append(f"{year:04d}-{month:02d}")
        year, month = year + month // 12, month % 12 + 1
    return periods


# --- the collector ------------------------------------------------------------------------------------


class CurCollector:
    """Lands CUR billing periods from their manifests; ``collect`` serves the Collector protocol."""

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

    def tables(self) -> tuple[RawTable, ...]:
        return (CUR_LINE_ITEMS,)

    def manifest(self, billing_period: str) -> CurManifest:
        """The current manifest of ``billing_period`` (its files checked to exist)."""
        try:
            return load_manifest(self.cur_source, billing_period, self.format)
        except aws.AWS_ERRORS as exc:
            where = self.cur_source.locate(manifest_relative(self.cur_source.name, billing_period, self.format))
            raise self._error(billing_period, exc, f"of {where} (or of a file it lists)") from exc

    def batches(self, manifest: CurManifest, metadata: Mapping[bytes, bytes] | None = None) -> Iterator[pa.Table]:
        try:
            yield from read_batches(self.cur_source, manifest, metadata)
        except aws.AWS_ERRORS as exc:
            raise self._error(manifest.billing_period, exc, f"data files of {manifest.path}") from exc

    def collect(self, window: Window) -> Iterator[Batch]:
        """The current version of every billing period the window touches, whole (a period is the unit
        of replacement: land it with :meth:`land_periods`, which skips versions already landed)."""
        for period in billing_periods(window):
            manifest = self.manifest(period)
            for data in self.batches(manifest):
                yield Batch(CUR_LINE_ITEMS, data)

    def land_periods(
        self,
        data_dir: Path,
        billing_periods: Iterable[str],
        landed: Mapping[str, str] | None = None,
        *,
        missing_ok: bool = False,
        force: bool = False,
    ) -> list[PeriodLanding]:
        """Land each period whose manifest version differs from the landed one; return what happened.

        ``landed`` maps billing period -> version already landed; by default it is read from the landed
        partitions themselves. ``missing_ok``: a period with no manifest yet is reported (version None)
        instead of raising. ``force``: land even an unchanged version (e.g. ``--refresh``).
        """
        results = []
        for period in billing_periods:
            previous = landed.get(period) if landed is not None else landed_version(data_dir, period)
            try:
                manifest = self.manifest(period)
            except DataError as exc:
                if missing_ok and "no CUR manifest" in str(exc):
                    results.append(PeriodLanding(period, None, previous, False))
                    continue
                raise
            if manifest.execution_id == previous and not force:
                results.append(PeriodLanding(period, manifest.execution_id, previous, False))
                continue
            metadata = {VERSION_KEY: manifest.execution_id.encode()}
            path = write_partition(data_dir, CUR_LINE_ITEMS, period, self.batches(manifest, metadata))
            results.append(PeriodLanding(period, manifest.execution_id, previous, True, path, manifest.data_files))
        return results

    def _error(self, billing_period: str, exc: BaseException, what: str) -> CollectError:
        return aws.collect_error(self.source, f"billing period {billing_period}", exc, "s3", what)
