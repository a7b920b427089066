"""The real dashboard: the sample month built into a directory and ``streamlit run dashboards/app.py`` on a free
loopback port, as `chargeback dashboard` starts it (data directory and config through the environment).

``IdentityProxy`` stands in for oauth2-proxy in front of it: it forwards every request, WebSocket upgrades
included, with the signed-in user's ``X-Forwarded-Email`` / ``X-Forwarded-Groups`` and drops any such headers
the client sent itself. (Streamlit reads identity from the WebSocket handshake, and Chromium does not put a
Playwright context's ``extra_http_headers`` on WebSocket handshakes, so a browser alone cannot play the proxy.)

Run ``python -m tests.services.dashboard [--config FILE]`` to build the sample month into a temporary
directory and serve it until Ctrl-C (handy for looking at the pages by hand).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import streamlit as st

from benchmarks.local_server import LocalServer
from chargeback.build.demo import SAMPLE_PERIOD, run_demo

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
PERIOD = SAMPLE_PERIOD
RESTRICTED_CONFIG = """\
[dashboard]
identity = "headers"
all_access_groups = ["finance"]

[dashboard.tenant_groups]
"team-ml" = "ml"
"""


def clear_streamlit_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


def sample_month(where: Path) -> Path:
    """Build the bundled sample month (2026-10) into ``where/data`` and return that data directory."""
    data_dir = Path(where) / "data"
    run_demo(data_dir)
    return data_dir


class DashboardServer(LocalServer):
    """``streamlit run dashboards/app.py`` over a data directory (and optionally a config file)."""

    name = "streamlit"
    ready_path = "/_stcore/health"

    def __init__(self, data_dir: Path, config: Path | None = None, workdir: Path | None = None):
        self.data_dir = Path(data_dir)
        self.config = config
        self.workdir = Path(workdir or self.data_dir.parent)  # no stray ./chargeback.toml gets read
        super().__init__(self.workdir / f"streamlit-{id(self)}.log")

    def command(self, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ]

    def start(self, timeout: float = 30.0) -> DashboardServer:
        env = {k: v for k, v in os.environ.items() if k != "CHARGEBACK_CONFIG"}
        env["CHARGEBACK_DATA_DIR"] = str(self.data_dir.resolve())
        if self.config is not None:
            env["CHARGEBACK_CONFIG"] = str(Path(self.config).resolve())
        super().start(timeout, env=env, cwd=self.workdir)
        return self


class IdentityProxy:
    """A loopback reverse proxy that sets identity headers on every request it forwards to ``upstream_port``."""

    def __init__(self, upstream_port: int, identity: Mapping[str, str]):
        self.upstream_port = upstream_port
        self.identity = dict(identity)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> IdentityProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closed.set()
        self._listener.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _rewrite(self, head: bytes) -> bytes:
        lines = head.decode("latin-1").split("\r\n")
        drop = {name.lower() for name in self.identity}
        kept = [line for line in lines[1:] if line and line.split(":", 1)[0].strip().lower() not in drop]
        upgrade = any(line.lower().startswith("upgrade:") for line in kept)
        if not upgrade:  # one request per connection, so every request passes through here
            kept = [line for line in kept if not line.lower().startswith("connection:")] + ["Connection: close"]
        kept += [f"{name}: {value}" for name, value in self.identity.items()]
        return "\r\n".join([lines[0], *kept, "", ""]).encode("latin-1")

    def _serve(self, client: socket.socket) -> None:
        with contextlib.ExitStack() as stack:
            stack.enter_context(client)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = client.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, rest = data.split(b"\r\n\r\n", 1)
            upstream = stack.enter_context(socket.create_connection(("127.0.0.1", self.upstream_port)))
            upstream.sendall(self._rewrite(head) + rest)
            pump = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            pump.start()
            _pipe(client, upstream)
            pump.join(timeout=30)


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            target.sendall(chunk)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def behind_proxy(server: DashboardServer, identity: Mapping[str, str]) -> Iterator[IdentityProxy]:
    proxy = IdentityProxy(server.port, identity).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@contextlib.contextmanager
def serving(data_dir: Path, config: Path | None = None) -> Iterator[DashboardServer]:
    server = DashboardServer(data_dir, config).start()
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="a chargeback config (e.g. with a [dashboard] identity)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = sample_month(Path(tmp))
        with serving(data_dir, args.config) as server:
            print(f"the sample month on {server.url} (Ctrl-C to stop)", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                server.process.wait()


if __name__ == "__main__":
    main()
