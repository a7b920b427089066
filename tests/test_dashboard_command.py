"""`chargeback dashboard` starts the app on the configured loopback port over the published warehouse; with
`--wait` (as the deployment's dashboard container runs it) it first waits for the first published warehouse."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from streamlit import config as streamlit_config
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from benchmarks.local_server import free_port
from chargeback.build.demo import run_demo
from chargeback.cli import app


def start_dashboard(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    (tmp_path / "chargeback.toml").write_text(f'[dashboard]\naddress = "127.0.0.1"\nport = {port}\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "chargeback", "dashboard", *args], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return process, port


def wait_healthy(process: subprocess.Popen, port: int, timeout: float = 60) -> requests.Response | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
        except requests.ConnectionError:
            time.sleep(0.2)
    return None


def stderr_lines(process: subprocess.Popen) -> queue.Queue[str]:
    """The process's stderr, line by line, as it comes (all of it is kept in the queue)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stderr:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def next_line(lines: queue.Queue[str], timeout: float = 30) -> str:
    return lines.get(timeout=timeout)


def test_dashboard_command_serves_the_app(tmp_path):
    run_demo(tmp_path / "data")
    process, port = start_dashboard(tmp_path)
    try:
        health = wait_healthy(process, port)
        assert health is not None and health.status_code == 200 and health.text == "ok"
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
        # The process became Streamlit (same pid), started without the developer's menu (Deploy, rerun).
        argv = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode().split("\0")
        assert argv[argv.index("--client.toolbarMode") + 1] == "minimal"
        assert argv[argv.index("--client.showErrorDetails") + 1] == "none"  # what a visitor sees: next test
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert f"dashboard on http://127.0.0.1:{port}" in stderr
    assert "no identity configured" in stderr


def test_dashboard_without_a_warehouse_says_what_to_run(tmp_path):
    result = subprocess.run([sys.executable, "-m", "chargeback", "dashboard"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and "no warehouse yet; run `chargeback build` or `chargeback demo`" in result.stderr


def test_dashboard_wait_serves_once_the_first_warehouse_is_published(tmp_path):
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    process, port = start_dashboard(tmp_path, "--wait")
    lines = stderr_lines(process)
    try:
        assert next_line(lines).startswith(f"waiting for the first published warehouse, {warehouse}")
        assert process.poll() is None and wait_healthy(process, port, timeout=1) is None, "not serving yet"
        run_demo(tmp_path / "data")  # a build publishes the warehouse (it polls more than once meanwhile)
        health = wait_healthy(process, port)
        assert health is not None and health.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
    said = []
    while not lines.empty():
        said.append(lines.get())
    assert [line for line in said if line.startswith("waiting")] == [], "it said what it waits for once"
    assert f"found {warehouse}\n" in said
    assert any(line.startswith(f"dashboard on http://127.0.0.1:{port}") for line in said)


def test_dashboard_wait_ends_on_sigterm_with_exit_0(tmp_path):
    process, _ = start_dashboard(tmp_path, "--wait")
    lines = stderr_lines(process)
    try:
        assert next_line(lines).startswith("waiting for the first published warehouse")
        process.send_signal(signal.SIGTERM)  # as the kubelet stops the pod
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert next_line(lines, timeout=5) == "stopped waiting\n"


def test_a_visitor_never_sees_an_error_s_details_but_the_demo_shows_them(tmp_path, monkeypatch):
    """`dashboard` starts Streamlit with error details off, `demo` (on one's own machine) with them on; under each
    setting Streamlit shows a failing page as below (an AppTest of a page that raises)."""
    served: list[list[str]] = []
    monkeypatch.setattr(os, "execve", lambda _exe, command, _env: served.append(command))
    data_dir = tmp_path / "data"
    for args in (["demo", "--data-dir", str(data_dir)], ["dashboard", "--data-dir", str(data_dir)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    demo, deployed = (command[command.index("--client.showErrorDetails") + 1] for command in served)
    assert (demo, deployed) == ("full", "none")
    page = tmp_path / "page.py"
    page.write_text('raise RuntimeError("cannot open /var/lib/chargeback/warehouse.duckdb")\n')
    before = streamlit_config.get_option("client.showErrorDetails")
    try:
        for setting, shown in ((deployed, False), (demo, True)):
            streamlit_config.set_option("client.showErrorDetails", setting)
            error = AppTest.from_file(str(page)).run().exception[0]
            assert ("/var/lib/chargeback" in error.message) is shown, setting
            assert bool(error.stack_trace) is shown, setting
    finally:
        streamlit_config.set_option("client.showErrorDetails", before)
