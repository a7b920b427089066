"""A local HTTP endpoint that records what is POSTed to it: a Slack-compatible incoming webhook for the alert
tests, and the webhook receiver Alertmanager notifies. It can be told to answer the next requests with an error
status, to test retries."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    body: Any  # the JSON body, parsed


@dataclass
class Receiver:
    posts: list[Posted] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)  # answers for the next POSTs; then 200
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = receiver.statuses.popleft() if receiver.statuses else 200
                    if status == 200:
                        receiver.posts.append(Posted(self.path, dict(self.headers.items()), json.loads(body)))
                answer = b"ok" if status == 200 else b"upstream unavailable"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self) -> list[Posted]:
        """The POSTs received since the last take."""
        with self.lock:
            posts, self.posts = self.posts, []
        return posts

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
