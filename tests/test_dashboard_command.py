"""`chargeback dashboard` starts the app on the configured loopback port over the published warehouse."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import requests

from chargeback.demo import run_demo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dashboard_command_serves_the_app(tmp_path):
    run_demo(tmp_path / "data")
    port = free_port()
    (tmp_path / "chargeback.toml").write_text(f'[dashboard]\naddress = "127.0.0.1"\nport = {port}\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "chargeback", "dashboard"], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline, health = time.monotonic() + 60, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert health is not None and health.status_code == 200 and health.text == "ok"
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert f"dashboard on http://127.0.0.1:{port}" in stderr
    assert "no identity configured" in stderr


def test_dashboard_without_a_warehouse_says_what_to_run(tmp_path):
    result = subprocess.run([sys.executable, "-m", "chargeback", "dashboard"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "no warehouse yet; run `chargeback build` or `chargeback demo`" in result.stderr
