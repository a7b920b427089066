"""The one HTTP retry policy (chargeback.core.http), against a real local HTTP server, and proof that it is
what the Prometheus collector, the Kubernetes collector and the ALB key lookup send their requests through.

Waits are measured on the clock where the server asks for them (Retry-After) and read from the policy's own
log of each retry otherwise; backoffs are configured in milliseconds so the module stays fast.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from urllib3.util.retry import Retry

from chargeback.core import config as config_module
from chargeback.core.http import RETRY_STATUSES, PolicyRetry, RetryPolicy, attempts, retrying_session
from collectors import kubernetes as k8s_collector
from collectors.registry import SOURCES
from dashboards.identity import ALB_KEY_RETRY, alb_key_lookup
from tests.services.k8s_api import FakeKubeApi

FAST = RetryPolicy(attempts=4, backoff_seconds=0.01, max_backoff_seconds=0.05)
PROMETHEUS_ANSWER = {"status": "success", "data": {"resultType": "vector", "result": []}}


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    body: bytes


class ScriptedServer:
    """Answers each request with the next scripted ``(status, headers)`` (then 200 and ``ok_body``), and
    records what it received."""

    def __init__(self, ok_body: dict | None = None):
        server = self
        self.script: deque[tuple[int, dict[str, str]]] = deque()
        self.received: list[Received] = []
        self.ok_body = json.dumps(ok_body or {"ok": True}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.received.append(Received(self.command, self.path, body))
                status, headers = server.script.popleft() if server.script else (200, {})
                payload = server.ok_body if status == 200 else json.dumps({"error": f"scripted {status}"}).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value() if callable(value) else value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_GET  # noqa: N815 (the http.server API)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def then(self, status: int, times: int = 1, **headers: str | Callable[[], str]) -> ScriptedServer:
        self.script.extend([(status, {k.replace("_", "-"): v for k, v in headers.items()})] * times)
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    yield scripted
    scripted.stop()


@pytest.fixture
def retries(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    """The policy's log records, one per retry (each with ``retry_wait_seconds``)."""
    caplog.set_level(logging.INFO, logger="chargeback.core.http")
    return lambda: [r for r in caplog.records if hasattr(r, "retry_wait_seconds")]


def timed(call: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
    began = time.perf_counter()
    response = call()
    return response, time.perf_counter() - began


# --- the policy ---------------------------------------------------------------------------------------


def test_a_retry_after_in_seconds_is_waited_out(server, retries):
    server.then(429, Retry_After="1")
    response, elapsed = timed(lambda: retrying_session(FAST).get(server.url + "/x", timeout=5))
    assert response.status_code == 200 and len(server.received) == 2
    assert 1.0 <= elapsed < 3.0
    assert [r.retry_wait_seconds for r in retries()] == [1.0]


def test_a_retry_after_as_an_http_date_is_waited_out(server, retries):
    server.then(429, Retry_After=lambda: formatdate(time.time() + 2, usegmt=True))  # whole seconds: 1 to 2 s away
    response, elapsed = timed(lambda: retrying_session(FAST).get(server.url + "/x", timeout=5))
    assert response.status_code == 200 and len(server.received) == 2
    assert 1.0 < elapsed < 3.5
    (record,) = retries()
    assert 0.9 < record.retry_wait_seconds <= 2.0 and record.getMessage().endswith("(Retry-After)")


def test_a_retry_after_above_the_cap_is_cut_to_the_cap(server, retries):
    server.then(503, Retry_After="3600")
    capped = RetryPolicy(attempts=2, backoff_seconds=0.01, max_retry_after_seconds=0.3)
    response, elapsed = timed(lambda: retrying_session(capped).get(server.url + "/x", timeout=5))
    assert response.status_code == 200
    assert 0.3 <= elapsed < 2.0
    assert [r.retry_wait_seconds for r in retries()] == [0.3]


def test_retry_after_is_honoured_on_every_retried_status(server, retries):
    # urllib3 itself retries only 413, 429 and 503 on a Retry-After; the policy retries all of RETRY_STATUSES,
    # and waits as asked on each (capped here, so the test stays fast).
    for status in sorted(RETRY_STATUSES):
        server.then(status, Retry_After="5")
    policy = RetryPolicy(attempts=len(RETRY_STATUSES) + 1, backoff_seconds=0.001, max_retry_after_seconds=0.05)
    response = retrying_session(policy).get(server.url + "/x", timeout=5)
    assert response.status_code == 200 and len(server.received) == len(RETRY_STATUSES) + 1
    assert [r.retry_wait_seconds for r in retries()] == [0.05] * len(RETRY_STATUSES)


def test_an_unreadable_retry_after_falls_back_to_the_backoff(server, retries):
    server.then(503, Retry_After="soon")  # urllib3 alone would raise InvalidHeader
    response = retrying_session(FAST).get(server.url + "/x", timeout=5)
    assert response.status_code == 200
    (record,) = retries()
    assert record.getMessage().endswith("(backoff)") and 0.005 <= record.retry_wait_seconds <= 0.01


def test_post_is_retried_with_the_same_body(server):
    server.then(503)
    response = retrying_session(FAST).post(server.url + "/api/v1/query", data={"query": "up"}, timeout=5)
    assert response.status_code == 200
    assert [(r.method, r.body) for r in server.received] == [("POST", b"query=up")] * 2


def test_5xx_then_200_succeeds_with_a_growing_jittered_backoff(server, retries):
    server.then(500).then(502).then(504)
    policy = RetryPolicy(attempts=4, backoff_seconds=0.02, max_backoff_seconds=0.05)
    response = retrying_session(policy).get(server.url + "/x", timeout=5)
    assert response.status_code == 200 and response.json() == {"ok": True}
    first, second, third = (r.retry_wait_seconds for r in retries())
    # 0.02 s, 0.04 s, then 0.08 s capped at 0.05 s: each drawn between half of it and all of it
    assert 0.01 <= first <= 0.02 and 0.02 <= second <= 0.04 and 0.025 <= third <= 0.05


def test_a_400_is_not_retried(server, retries):
    server.then(400)
    response = retrying_session(FAST).get(server.url + "/x", timeout=5)
    assert response.status_code == 400 and len(server.received) == 1 and retries() == []


def test_running_out_of_tries_hands_the_last_response_to_the_caller(server, retries):
    server.then(503, times=3).then(502)
    response = retrying_session(FAST).get(server.url + "/x", timeout=5)
    assert response.status_code == 502 and response.json() == {"error": "scripted 502"}
    assert len(server.received) == FAST.attempts and len(retries()) == FAST.attempts - 1


def test_refused_connections_are_retried_then_raised():
    session = retrying_session(RetryPolicy(attempts=3, backoff_seconds=0.01))
    with pytest.raises(requests.ConnectionError, match=r"Max retries exceeded .*Connection refused"):
        session.get("http://127.0.0.1:9/x", timeout=5)


def test_each_try_keeps_the_policy():
    retry = FAST.retry()
    after = retry.increment("GET", "/x", error=ConnectionError("refused"))
    assert isinstance(after, PolicyRetry) and after.policy is FAST and after.total == retry.total - 1
    assert after.retry_after_max == FAST.max_retry_after_seconds and "POST" in after.allowed_methods
    assert attempts(after) == attempts(retry) == FAST.attempts
    assert (attempts(0), attempts(None), attempts(Retry(2))) == (1, 4, 3)  # others' settings, for messages


# --- what each caller is built with ------------------------------------------------------------------------


def test_prometheus_sends_through_the_policy_of_its_settings(tmp_path):
    scripted = ScriptedServer(ok_body=PROMETHEUS_ANSWER)
    try:
        config = config_module.parse(
            {
                "data_dir": str(tmp_path),
                "clusters": [
                    {"name": "c1", "prometheus": {"url": scripted.url, "max_attempts": 3, "max_concurrency": 16}}
                ],
            }
        )
        ((name, collector),) = SOURCES["prometheus"].make(config, False)  # as `chargeback collect` builds it
        client = collector.client
        adapter = client.session.get_adapter(client.connect.url + "/api/v1/query")  # what requests will use
        assert adapter is client.adapter and adapter.max_retries is client.retry
        assert client.retry.policy == RetryPolicy(attempts=3)  # max_attempts; the backoff and cap of the policy
        assert adapter.poolmanager.connection_pool_kw["maxsize"] == 16  # a connection per collector thread
        assert client.timeout == (10.0, 60.0)
        # ... and PrometheusConnect's requests do go through it: retried, POST included.
        scripted.then(503)
        assert client.query("up", 1741564800.0) == []
        assert [r.method for r in scripted.received] == ["POST"] * 2
    finally:
        scripted.stop()


def test_kubernetes_lists_through_the_policy(tmp_path):
    with FakeKubeApi() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        cluster = config_module.ClusterSettings(
            name="c1", kubernetes=config_module.KubernetesSettings(kubeconfig=kubeconfig, context="fake-eks")
        )
        collector = k8s_collector.from_settings(cluster)
    configuration = collector.api_client.configuration
    pool_retries = collector.api_client.rest_client.pool_manager.connection_pool_kw["retries"]  # what urllib3 uses
    assert pool_retries is configuration.retries and pool_retries.policy is k8s_collector.RETRY
    assert RetryPolicy(attempts=5, backoff_seconds=0.5, max_backoff_seconds=30.0) == k8s_collector.RETRY
    assert collector.attempts == 5


def test_the_alb_key_lookup_fetches_through_its_policy():
    arn = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/chargeback/1"
    settings = config_module.DashboardSettings(identity="alb", alb_region="us-east-1", alb_arn=arn)
    keys = alb_key_lookup(settings)
    url = settings.alb_public_keys_url.format(region="us-east-1", kid="kid-1")
    assert keys.session.get_adapter(url).max_retries.policy is ALB_KEY_RETRY
    assert RetryPolicy(attempts=3, max_retry_after_seconds=5.0) == ALB_KEY_RETRY
