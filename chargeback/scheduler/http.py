"""The scheduler's HTTP endpoint, on a thread beside the loop.

- ``/healthz``: 200 when the loop is alive and no job failed ``unhealthy_after_failures`` times in a row,
  else 503; a JSON body says why, with every job's last run and next fire time.
- ``/livez``: the same, judging the loop only: for a liveness probe (restarting the process does not
  fix a Prometheus that is down, and would cut builds short).
- ``/metrics``: Prometheus text format.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chargeback.core.errors import ChargebackError
from chargeback.scheduler.core import Scheduler


def start(scheduler: Scheduler, address: str, port: int) -> ThreadingHTTPServer:
    """Serve ``scheduler``'s health and metrics on ``address:port`` (0: any free port) until ``shutdown()``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = urlsplit(self.path).path
            if path in ("/healthz", "/livez"):
                healthy, body = scheduler.health(loop_only=path == "/livez")
                self._send(200 if healthy else 503, "application/json", json.dumps(body, indent=2).encode())
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(scheduler.metrics.registry))
            else:
                self._send(404, "application/json", b'{"error": "not found; try /healthz, /livez or /metrics"}')

        def _send(self, status: int, content_type: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - probes every few seconds
            pass

    try:
        server = ThreadingHTTPServer((address, port), Handler)
    except OSError as exc:
        reason = exc.strerror or exc
        raise ChargebackError(f"cannot serve /healthz and /metrics on {address}:{port}: {reason}") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="chargeback-schedule-http", daemon=True).start()
    return server
