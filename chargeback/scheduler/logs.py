"""Run logs: one JSON object per line on stderr (``ts``, ``level``, ``event``, ``msg`` and the event's fields)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

LOG = logging.getLogger("chargeback.scheduler")


def emit(event: str, message: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``event``; ``fields`` become keys of the line (``None`` values are left out)."""
    LOG.log(level, message, extra={"event": event, "fields": {k: v for k, v in fields.items() if v is not None}})


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        body = {
            "ts": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", "log"),
            "msg": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            body["traceback"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, ensure_ascii=False)


def log_to(stream: TextIO | None = None) -> logging.Handler:
    """Send the scheduler's log to ``stream`` (stderr) as JSON lines; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines())
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    return handler
