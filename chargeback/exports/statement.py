"""Statements: a PDF per tenant of a month (``chargeback.reports.statement`` laid out by
:mod:`.statement_pdf`), written to a directory by `chargeback statement`, or as the ``statement`` export format,
versioned like the others (``run_export``, the scheduler's export jobs)."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chargeback.core.config import Config
from chargeback.core.errors import ChargebackError
from chargeback.exports import statement_pdf
from chargeback.exports.writer import ExportFile
from chargeback.reports.statement import Statement, statements

DEFAULT_DIR = "statements"  # under the data directory: statements/<period>/<tenant>-<period>.pdf
RENDERING = "1"  # the layout's version: part of each file's content digest, so a new layout is a new export
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Written:
    tenant: str
    path: Path
    total: str


def file_name(statement: Statement) -> str:
    """``<tenant>-<period>.pdf`` (a character a file name should not hold becomes ``_``)."""
    return f"{_UNSAFE.sub('_', statement.tenant)}-{statement.period}.pdf"


def render_files(
    config: Config, period: str, tenant: str | None = None, now: datetime | None = None
) -> list[tuple[Statement, ExportFile]]:
    """Each tenant's statement of ``period`` (``tenant``: only that one) and its PDF, generated at ``now``."""
    generated_at = now or datetime.now(UTC)
    found = []
    for statement in statements(config, period, tenant):
        data = statement_pdf.render(statement, generated_at)
        digest = f"{RENDERING}:{statement.digest()}"
        found.append((statement, ExportFile(file_name(statement), data, 1, content_sha256=digest)))
    return found


def write_statements(
    config: Config, period: str, tenant: str | None = None, out: Path | None = None, now: datetime | None = None
) -> list[Written]:
    """Write each statement to ``out`` (default ``<data_dir>/statements/<period>/``), each file atomically
    (a temporary file, then a rename over any earlier one); what was written, by tenant."""
    rendered = render_files(config, period, tenant, now)
    folder = Path(out) if out is not None else Path(config.data_dir) / DEFAULT_DIR / period
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ChargebackError(f"{folder}: cannot create the statements directory ({exc.strerror})") from None
    written = []
    for statement, file in rendered:
        path = folder / file.name
        temporary = folder / f".{file.name}.{uuid.uuid4().hex}.tmp"
        try:
            with temporary.open("xb") as handle:
                handle.write(file.data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError as exc:
            raise ChargebackError(f"{path}: cannot write the statement ({exc.strerror or exc})") from None
        finally:
            temporary.unlink(missing_ok=True)
        written.append(Written(statement.tenant, path, f"{statement.total:,.2f} {statement.currency}"))
    return written
