"""Where a CUR delivery is: a local directory laid out as S3, or an S3 prefix (see ``collectors.cur``)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from chargeback.core import aws


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
