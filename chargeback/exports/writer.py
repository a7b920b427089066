"""Where exports go, versioned and written atomically: a local directory or an S3 prefix.

Layout (the same under a directory and under ``s3://bucket/prefix``)::

    <format>/<period>/v<N>/<data files>
    <format>/<period>/v<N>/manifest.json

A version is complete when its ``manifest.json`` exists; readers take the highest complete version.

- **Local**: every file of a version is written (and fsync-ed) into a hidden temporary directory beside
  the versions, which is then renamed to ``v<N>`` in one ``os.rename``. A crash leaves no ``v<N>`` at
  all, and never touches an earlier version. Two exports racing for the same ``v<N>`` cannot both win
  the rename; the loser says so.
- **S3**: the data objects are put first and ``manifest.json`` last, so a version without its manifest
  is an interrupted export; the next export writes that version number again, over it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from chargeback.core import aws
from chargeback.core.errors import ChargebackError, DataError

MANIFEST = "manifest.json"
_CONTENT_TYPES = {"json": "application/json", "parquet": "application/vnd.apache.parquet"}
_VERSION = re.compile(r"^v([1-9][0-9]*)$")


@dataclass(frozen=True)
class ExportFile:
    """One file of an export, rendered in memory (exports are a month of bill lines, not raw data)."""

    name: str
    data: bytes
    rows: int
    # What the file says, for a file whose bytes also hold when it was made (a statement's generated-at):
    # two exports with the same content digests are the same export.
    content_sha256: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def describe(self) -> dict[str, Any]:
        described = {"name": self.name, "rows": self.rows, "bytes": len(self.data), "sha256": self.sha256}
        if self.content_sha256 is not None:
            described["content_sha256"] = self.content_sha256
        return described


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as written: stable key order, so the same export is the same bytes."""
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()


class Destination(Protocol):
    """A place to publish versioned exports."""

    def latest(self, fmt: str, period: str) -> tuple[int, dict[str, Any]] | None:
        """The highest complete version of ``fmt``/``period`` and its manifest, or None."""
        ...

    def location(self, fmt: str, period: str, version: int, name: str) -> str:
        """Where a file of a version is (a path or an s3:// URI)."""
        ...

    def publish(self, fmt: str, period: str, version: int, files: Sequence[ExportFile], manifest: bytes) -> None:
        """Write ``files`` then ``manifest`` as version ``version``, all or nothing."""
        ...


class LocalDestination:
    def __init__(self, root: Path):
        self.root = Path(root)

    def __str__(self) -> str:
        return str(self.root)

    def _period_dir(self, fmt: str, period: str) -> Path:
        return self.root / fmt / period

    def latest(self, fmt: str, period: str) -> tuple[int, dict[str, Any]] | None:
        base = self._period_dir(fmt, period)
        if not base.is_dir():
            return None
        versions = sorted(
            (int(m.group(1)) for p in base.iterdir() if (m := _VERSION.match(p.name)) and (p / MANIFEST).is_file()),
            reverse=True,
        )
        if not versions:
            return None
        path = base / f"v{versions[0]}" / MANIFEST
        try:
            return versions[0], json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: unreadable export manifest ({exc}); move that version aside") from None

    def location(self, fmt: str, period: str, version: int, name: str) -> str:
        return str(self._period_dir(fmt, period) / f"v{version}" / name)

    def _write(self, path: Path, data: bytes) -> None:
        with path.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def publish(self, fmt: str, period: str, version: int, files: Sequence[ExportFile], manifest: bytes) -> None:
        base = self._period_dir(fmt, period)
        target = base / f"v{version}"
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ChargebackError(f"{base}: cannot create the export directory ({exc.strerror})") from None
        staging = base / f".v{version}.{uuid.uuid4().hex}.tmp"
        try:
            staging.mkdir()
            for file in files:
                self._write(staging / file.name, file.data)
            self._write(staging / MANIFEST, manifest)
            if target.exists():
                raise ChargebackError(f"{target} appeared while exporting (another export of {period} running?)")
            os.rename(staging, target)  # the whole version at once
        except OSError as exc:
            raise ChargebackError(f"{target}: cannot write the export ({exc.strerror or exc})") from None
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


class S3Destination:
    """``s3://bucket/prefix``: data objects first, the manifest last."""

    def __init__(self, client: Any, uri: str):
        if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
            raise ChargebackError(f"{uri!r} is not an s3://bucket/prefix location")
        bucket, _, prefix = uri[5:].partition("/")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _aws_error(self, exc: BaseException, what: str) -> ChargebackError:
        return ChargebackError(f"export to {self}: {aws.describe(exc, 's3', what)}")

    def latest(self, fmt: str, period: str) -> tuple[int, dict[str, Any]] | None:
        base = self._key(fmt, period) + "/"
        try:
            versions = []
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base, Delimiter="/"
            ):
                for common in page.get("CommonPrefixes", []):
                    match = _VERSION.match(common["Prefix"][len(base) :].rstrip("/"))
                    if match:
                        versions.append(int(match.group(1)))
            for version in sorted(versions, reverse=True):
                key = f"{base}v{version}/{MANIFEST}"
                try:
                    body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                except aws.AWS_ERRORS as exc:
                    if aws.error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                        continue  # an interrupted export: no manifest, not a version
                    raise
                try:
                    return version, json.loads(body)
                except ValueError as exc:
                    raise DataError(f"s3://{self.bucket}/{key}: unreadable export manifest ({exc})") from None
        except aws.AWS_ERRORS as exc:
            raise self._aws_error(exc, f"s3://{self.bucket}/{base}") from None
        return None

    def location(self, fmt: str, period: str, version: int, name: str) -> str:
        return f"s3://{self.bucket}/{self._key(fmt, period, f'v{version}', name)}"

    def _put(self, key: str, data: bytes) -> None:
        content_type = _CONTENT_TYPES.get(key.rsplit(".", 1)[-1], "text/csv; charset=utf-8")
        checksum = hashlib.md5(data).digest()  # S3's Content-MD5 integrity check
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            ContentMD5=base64.b64encode(checksum).decode(),
        )

    def publish(self, fmt: str, period: str, version: int, files: Sequence[ExportFile], manifest: bytes) -> None:
        try:
            for file in files:
                self._put(self._key(fmt, period, f"v{version}", file.name), file.data)
            self._put(self._key(fmt, period, f"v{version}", MANIFEST), manifest)
        except aws.AWS_ERRORS as exc:
            raise self._aws_error(exc, f"v{version} of {fmt} {period}") from None
