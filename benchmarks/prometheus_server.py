"""A real Prometheus (Debian's ``prometheus`` 2.42) over TSDB blocks backfilled with ``promtool``.

Shared by the collector tests (``tests/services/prometheus.py``, which backfills a small synthetic cluster
whose truth is known) and the collection benchmark (``benchmarks/collection.py``, one day of size M).

Backfill: OpenMetrics text (timestamps in seconds, each series in time order, ending ``# EOF``) becomes
blocks with ``promtool tsdb create-blocks-from openmetrics --max-block-duration=24h`` (hidden from
``--help``, and 4x faster than the default). The server runs on a free loopback port with a 100-year
retention (retention counts from the newest block: a short one deletes old backfilled blocks at start-up),
always over a copy of the blocks, because Prometheus rewrites its data directory.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

from benchmarks.local_server import LocalServer, free_port  # noqa: F401 - free_port is re-exported

MISSING_BINARIES = (
    "prometheus and promtool are not installed: run .ci/run or `apt-get install -y prometheus`"
    " (Debian's package, 2.42) to run the Prometheus tests"
)
KSM = {"job": "kube-state-metrics", "instance": "10.0.3.5:8080"}  # kube-state-metrics' target labels
KSM_OFFSET = 13.0  # kube-state-metrics is scraped at :13 and :43 (each kubelet at its own offset)


def cgroup_id(uid: str, container: str, systemd: bool = False) -> str:
    """cAdvisor's ``id`` label of a container (``""``: the pod's own cgroup), cgroupfs or systemd style."""
    container_id = uuid.uuid5(uuid.NAMESPACE_OID, f"{uid}/{container}").hex * 2
    if systemd:
        return (
            f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid.replace('-', '_')}.slice"
            f"/cri-containerd-{container_id}.scope"
        )
    return f"/kubepods/burstable/pod{uid}/{container_id}"


def binaries() -> tuple[str, str]:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        raise RuntimeError(MISSING_BINARIES)
    return prometheus, promtool


def backfill(openmetrics: Path, data_dir: Path, timeout: float = 300) -> None:
    """Turn OpenMetrics text into TSDB blocks in ``data_dir`` (one block per day at most)."""
    _, promtool = binaries()
    data_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=24h",
            str(openmetrics),
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"promtool failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")


class PrometheusServer(LocalServer):
    """A ``prometheus`` process serving a TSDB directory on a free loopback port."""

    name = "prometheus"
    ready_path = "/-/ready"

    def __init__(self, data_dir: Path):
        super().__init__(data_dir.parent / f"{data_dir.name}.log")
        self.data_dir = data_dir
        self.config = data_dir.parent / f"{data_dir.name}.yml"

    def command(self, port: int) -> list[str]:
        prometheus, _ = binaries()
        return [
            prometheus,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.data_dir}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{port}",
        ]

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        self.config.write_text("global:\n  scrape_interval: 30s\n")
        super().start(timeout)
        return self
