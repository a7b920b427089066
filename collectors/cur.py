"""CUR 2.0 (Data Exports) from a local export directory: read the manifest, land exactly its files.

An export directory looks like S3 after AWS delivered it::

    <root>/<export>/metadata/BILLING_PERIOD=2026-10/<export>-Manifest.json
    <root>/<export>/data/BILLING_PERIOD=2026-10/<execution-id>/<export>-00001.snappy.parquet

The manifest names the current version's data files; older versions stay on disk beside it and are
never read. Landing replaces the whole billing period atomically (see ``chargeback.landing``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from chargeback.errors import DataError
from chargeback.landing import conform, write_partition
from collectors.schemas import CUR_LINE_ITEMS


@dataclass(frozen=True)
class CurManifest:
    path: Path
    export_name: str
    billing_period: str  # YYYY-MM
    execution_id: str
    data_files: tuple[Path, ...]


def manifest_path(export_dir: Path, billing_period: str) -> Path:
    export_dir = Path(export_dir)
    return export_dir / "metadata" / f"BILLING_PERIOD={billing_period}" / f"{export_dir.name}-Manifest.json"


def read_manifest(export_dir: Path, billing_period: str) -> CurManifest:
    """Read a billing period's manifest and resolve its data files under ``export_dir``."""
    path = manifest_path(export_dir, billing_period)
    if not path.is_file():
        raise DataError(f"{path}: no CUR manifest for billing period {billing_period}")
    try:
        body = json.loads(path.read_text())
        files = body["dataFiles"]
        execution_id = body["executionId"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a Data Exports manifest ({exc})") from exc
    marker = f"/{Path(export_dir).name}/"
    resolved = []
    for uri in files:
        relative = uri.split(marker, 1)[1] if marker in uri else uri
        local = Path(export_dir) / relative
        if not local.is_file():
            raise DataError(f"{path}: lists {uri}, which is not at {local}")
        resolved.append(local)
    return CurManifest(
        path, body.get("exportName", Path(export_dir).name), billing_period, execution_id, tuple(resolved)
    )


def _batches(manifest: CurManifest) -> Iterator[pa.Table]:
    for file in manifest.data_files:
        try:
            parquet = pq.ParquetFile(file)
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(f"{file}: cannot read CUR Parquet ({exc})") from exc
        for batch in parquet.iter_batches(batch_size=65_536):
            yield conform(CUR_LINE_ITEMS, pa.Table.from_batches([batch]), str(file))


def land_billing_period(data_dir: Path, export_dir: Path, billing_period: str) -> tuple[CurManifest, Path]:
    """Land the manifest's current version of ``billing_period``, replacing any earlier version."""
    manifest = read_manifest(export_dir, billing_period)
    target = write_partition(data_dir, CUR_LINE_ITEMS, billing_period, _batches(manifest))
    return manifest, target
