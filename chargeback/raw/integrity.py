"""Whether a raw file's bytes are still those landed: Parquet page checksums, written at landing, verified by
the build before it reads a file it has not verified yet.

Landing writes every file with a CRC-32 of each page (``write_page_checksum``, the Parquet format's own page
checksum; data and dictionary pages, so every value) and marks the file as checksummed in its key-value
metadata (``CHECKSUM_KEY``). A build reads each partition file it has not verified as it is now (size and
modification time) in full with ``page_checksum_verification``: a page whose bytes changed after landing (a
flipped bit, a partial overwrite; DuckDB and Spark would read it as values) stops the build, naming the file.
Files verified once are remembered in ``<data_dir>/state/verified-pages.json``, so a build reads only what is
new or rewritten: a day added to a month costs one day's files. Not covered: the footer (the schema check
reads it, and a damaged one does not parse), a change that keeps both size and modification time, and files
landed before checksums were written (reported as unchecked: ``unchecked``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from chargeback.core.errors import DataError

CHECKSUM_KEY = b"chargeback.page_checksums"
CHECKSUM_VALUE = b"crc32"
WRITE_OPTIONS = {"compression": "zstd", "write_page_checksum": True}
STATE = Path("state") / "verified-pages.json"
THREADS = 2  # pyarrow releases the GIL while it reads and checks pages


def marked(schema: pa.Schema) -> pa.Schema:
    """``schema`` with the metadata that says its file carries page checksums (other metadata kept)."""
    return schema.with_metadata({**(schema.metadata or {}), CHECKSUM_KEY: CHECKSUM_VALUE})


def has_checksums(file: Path) -> bool:
    """Whether landing marked ``file`` as written with page checksums (its footer only is read)."""
    metadata = pq.read_schema(file).metadata or {}
    return metadata.get(CHECKSUM_KEY) == CHECKSUM_VALUE


def _mark(file: Path) -> str:
    stat = file.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _verify_one(file: Path) -> None:
    try:
        parquet = pq.ParquetFile(file, page_checksum_verification=True)
        for group in range(parquet.num_row_groups):
            parquet.read_row_group(group)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(
            f"{file}: its bytes changed after landing ({exc}); collect that partition again"
            " (`chargeback collect` for its day or billing period), or restore the file"
        ) from None


def verify(data_dir: Path, files: Iterable[Path]) -> list[Path]:
    """Verify the page checksums of every file of ``files`` not verified before as it is now; raise
    ``DataError`` naming the first that fails. Returns the files that carry no checksums (not verifiable)."""
    data_dir = Path(data_dir)
    state = data_dir / STATE
    try:
        known: dict[str, str] = json.loads(state.read_text()) if state.is_file() else {}
    except (OSError, ValueError):
        known = {}  # unreadable: verify everything again, then write it afresh
    pending, unchecked, marks = [], [], {}
    for file in files:
        key = Path(file).resolve().relative_to(data_dir.resolve()).as_posix()
        marks[key] = _mark(file)
        if known.get(key) == marks[key]:
            continue
        if has_checksums(file):
            pending.append((key, file))
        else:
            unchecked.append(file)
    if pending:
        with ThreadPoolExecutor(THREADS) as pool:
            for _ in pool.map(_verify_one, [file for _, file in pending]):
                pass
        current = {k: v for k, v in known.items() if (data_dir / k).is_file()}
        current.update({key: marks[key] for key, _ in pending})
        state.parent.mkdir(parents=True, exist_ok=True)
        temporary = state.with_name(f".{state.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_text(json.dumps(current, indent=0, sort_keys=True) + "\n")
        os.replace(temporary, state)
    return unchecked


def unchecked(files: Iterable[Path]) -> list[Path]:
    """The files of ``files`` landed without page checksums (before chargeback wrote them)."""
    return [file for file in files if not has_checksums(file)]
