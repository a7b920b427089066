"""A real Alertmanager (Debian's ``prometheus-alertmanager``, 0.25) on a free loopback port, for the alert
delivery tests: alerts are POSTed to its v2 API and read back from it, and it notifies a local webhook
receiver (``tests.services.receiver``) so the tests also see what it would send on.

It runs without gossip (``--cluster.listen-address=``, else it binds 0.0.0.0:9094), with its silences and
notification log in a temporary directory, grouping by alert key and notifying at once (``group_wait: 0s``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from benchmarks.local_server import LocalServer
from tests.services.receiver import Receiver

MISSING = (
    "prometheus-alertmanager is not installed: run .ci/run or `apt-get install -y prometheus-alertmanager`"
    " (Debian's package, 0.25; the Makefile's APT_PACKAGES) to run the alert delivery tests"
)
CONFIG = """\
route:
  receiver: hook
  group_by: [alertname, tenant, cluster, namespace, period]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {receiver}/alertmanager
        send_resolved: true
"""


def binary() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found is None:
        pytest.fail(MISSING)
    return found


class AlertmanagerServer(LocalServer):
    name = "alertmanager"
    ready_path = "/-/ready"

    def __init__(self, directory: Path, receiver_url: str):
        super().__init__(directory / "alertmanager.log")
        self.directory = directory
        self.config = directory / "alertmanager.yml"
        self.config.write_text(CONFIG.format(receiver=receiver_url))

    def command(self, port: int) -> list[str]:
        return [
            binary(),
            f"--config.file={self.config}",
            f"--storage.path={self.directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ]

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts it holds (active, silenced and inhibited; not resolved ones),
        filtered by label equality."""
        query = [("filter", f'{name}="{value}"') for name, value in filters.items()]
        response = requests.get(f"{self.url}/api/v2/alerts", params=query, timeout=5)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AlertmanagerServer, Receiver]]:
    """A running Alertmanager and the receiver it notifies."""
    directory = tmp_path_factory.mktemp("alertmanager")
    with Receiver() as receiver:
        server = AlertmanagerServer(directory, receiver.url)
        try:
            server.start()
        except RuntimeError as exc:
            pytest.fail(f"Alertmanager did not start: {exc}")
        try:
            yield server, receiver
        finally:
            server.stop()


def wait_for(condition: Any, timeout: float = 10.0) -> Any:
    """Poll ``condition()`` until it returns something truthy (Alertmanager notifies asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    return condition()
