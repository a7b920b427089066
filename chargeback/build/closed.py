"""Closed months: frozen bills kept outside the warehouse, under ``<data_dir>/closed/<period>/``.

Every build replaces the warehouse; a closed month must outlive them all
(docs/method.md#closed-periods-and-adjustments). ``chargeback close`` (``chargeback.reports.close``) writes a
month's directory once, whole (files into a hidden temporary directory, then one ``os.rename``), and nothing
ever rewrites it:

- ``bill.json``: the bill to the cent as ``chargeback bill`` printed it at close, with its exact amounts, the
  method and models it was built with, the CUR version, the build it came from and what the exports need
  (``RECORD``);
- ``inputs.json``: the raw files it was made from (path, bytes, SHA-256) and their fingerprint (``INPUTS``);
- ``amounts.parquet``: the exact amount of every (cluster, bill line, part) of the month, which later builds
  compare with (``AMOUNTS``);
- ``adjustments.parquet``: the adjustments booked in the month, naming the closed months they correct
  (``BOOKED``);
- ``focus_rows.parquet``: the month's traced allocation rows, from which its FOCUS export is rendered
  (``ROWS``).

Asking to restate a closed month under another method adds ``restate-<method>-<models>.json`` beside them
(once per method; see ``chargeback.build.adjustments``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from chargeback.core import periods
from chargeback.core.errors import ChargebackError, DataError

CLOSED_DIR = "closed"
RECORD = "bill.json"
INPUTS = "inputs.json"
AMOUNTS = "amounts.parquet"
BOOKED = "adjustments.parquet"
ROWS = "focus_rows.parquet"
FORMAT = 1  # of bill.json; bump when its meaning changes
_PERIOD_DIR = re.compile(r"^\d{4}-\d{2}$")
_RESTATE = re.compile(r"^restate-([0-9a-f]+)-([0-9a-f]+)\.json$")

# The Parquet files' columns (amounts exact, as the warehouse holds them).
AMOUNT = pa.decimal128(38, 12)
AMOUNTS_SCHEMA = pa.schema(
    [("cluster", pa.string()), ("tenant", pa.string()), ("part", pa.string()), ("amount", AMOUNT)]
)
BOOKED_SCHEMA = pa.schema(
    [
        ("closed_period", pa.string()),
        ("cluster", pa.string()),
        ("tenant", pa.string()),
        ("part", pa.string()),
        ("payer_account_id", pa.string()),  # of the month corrected, for its FOCUS rows
        ("amount", AMOUNT),
    ]
)


@dataclass(frozen=True)
class ClosedMonth:
    """One closed month's directory and its ``bill.json``."""

    period: str
    path: Path
    record: dict[str, Any]

    @property
    def closed_at(self) -> str:
        return self.record["closed_at"]

    @property
    def method_fingerprint(self) -> str:
        return self.record["method_fingerprint"]

    @property
    def models_fingerprint(self) -> str:
        return self.record["models_fingerprint"]

    @property
    def inputs_fingerprint(self) -> str:
        return self.record["inputs_fingerprint"]

    def file(self, name: str) -> Path:
        return self.path / name

    def table(self, name: str) -> pa.Table:
        """One of the month's Parquet files."""
        path = self.file(name)
        try:
            return pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(f"{path}: unreadable file of closed month {self.period} ({exc}); restore it") from None

    def restated_under(self) -> set[tuple[str, str]]:
        """The (method, models) fingerprints the operator asked to restate this month under."""
        found = set()
        for path in self.path.iterdir():
            match = _RESTATE.match(path.name)
            if match:
                found.add((match.group(1), match.group(2)))
        return found

    def request_restatement(self, method_fingerprint: str, models_fingerprint: str, now: datetime) -> bool:
        """Record that this month is to be restated under the given method and models; False when it already was."""
        path = self.path / f"restate-{method_fingerprint}-{models_fingerprint}.json"
        if path.exists():
            return False
        body = {
            "period": self.period,
            "requested_at": now.isoformat(),
            "method_fingerprint": method_fingerprint,
            "models_fingerprint": models_fingerprint,
        }
        temporary = self.path / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            temporary.write_text(json.dumps(body, indent=2) + "\n")
            os.replace(temporary, path)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise ChargebackError(f"{path}: cannot record the restatement ({exc.strerror or exc})") from None
        return True


def closed_root(data_dir: Path) -> Path:
    return Path(data_dir) / CLOSED_DIR


def _load(path: Path) -> ClosedMonth:
    record_path = path / RECORD
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{record_path}: unreadable closed bill ({exc}); restore it from a backup") from None
    if record.get("format") != FORMAT or record.get("period") != path.name:
        raise DataError(f"{record_path}: not a closed bill of {path.name} in format {FORMAT}; restore it")
    return ClosedMonth(path.name, path, record)


def closed_months(data_dir: Path) -> list[ClosedMonth]:
    """Every closed month of the data directory, oldest first."""
    root = closed_root(data_dir)
    if not root.is_dir():
        return []
    return [_load(p) for p in sorted(root.iterdir()) if p.is_dir() and _PERIOD_DIR.match(p.name)]


def closed_month(data_dir: Path, period: str) -> ClosedMonth | None:
    """Month ``period`` if it is closed."""
    path = closed_root(data_dir) / periods.parse_period(period)
    return _load(path) if path.is_dir() else None


def first_open_period(months: list[ClosedMonth]) -> str | None:
    """Where adjustments are booked: the month after the latest closed one (None: nothing is closed)."""
    return periods.next_period(months[-1].period) if months else None


def write_month(data_dir: Path, period: str, documents: dict[str, dict], tables: dict[str, pa.Table]) -> Path:
    """Write closed month ``period`` whole (JSON documents and Parquet tables), or raise if it is closed."""
    root = closed_root(data_dir)
    target = root / period
    if target.exists():
        raise ChargebackError(
            f"{period} is already closed (on {_load(target).closed_at}); a closed month never changes"
        )
    staging = root / f".{period}.{uuid.uuid4().hex}.tmp"
    try:
        staging.mkdir(parents=True)
        for name, table in tables.items():
            pq.write_table(table, staging / name, compression="zstd")
        for name, document in documents.items():
            (staging / name).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        for path in staging.iterdir():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        os.rename(staging, target)  # the whole month at once; fails if another close won the race
    except OSError as exc:
        if target.exists():
            raise ChargebackError(f"{period} was closed by another process while closing it") from None
        raise ChargebackError(f"{target}: cannot write the closed month ({exc.strerror or exc})") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
