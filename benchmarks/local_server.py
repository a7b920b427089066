"""A server process on a free loopback port, started until it answers its readiness URL, stopped cleanly.

Shared by the real local services the tests and benchmarks run: Prometheus (``benchmarks/prometheus_server.py``)
and the Streamlit dashboard (``tests/services/dashboard.py``).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalServer(ABC):
    """Subclasses say what to run on a port (``command``), where it says it is ready (``ready_path``) and
    where its output goes (``log``)."""

    name = "server"
    ready_path = "/"

    def __init__(self, log: Path):
        self.log = log
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @abstractmethod
    def command(self, port: int) -> list[str]:
        """The server's command line, listening on ``port``."""

    def start(
        self, timeout: float = 30.0, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> LocalServer:
        for _attempt in range(3):  # another process may take the free port before the server binds it
            self.port = free_port()
            with self.log.open("w") as log:
                self.process = subprocess.Popen(
                    self.command(self.port), env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                with contextlib.suppress(requests.ConnectionError):
                    if requests.get(f"{self.url}{self.ready_path}", timeout=1).status_code == 200:
                        return self
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"{self.name} did not become ready; its log:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
