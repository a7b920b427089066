"""A stand-in for kube-apiserver's list endpoints, serving recorded list JSON over real HTTP.

No kube-apiserver can run here, so this serves the recorded responses in ``tests/fixtures/k8s`` the
way the API server does: items in storage-key order, ``limit`` and opaque ``continue`` tokens (the
API server's own format: base64 of ``{"v", "rv", "start"}``) with ``remainingItemCount``,
``labelSelector`` equality (``k=v``, ``k==v``, ``k!=v``), bearer-token authentication, and ``Status``
objects for every error. Every request is recorded so tests can assert the paging that happened.

Faults are injected per path and consumed in order: ``fail`` (any status, optionally with
``Retry-After``), ``expire_continue`` (410 Gone to the next request carrying a continue token) and
``delay`` (a slow answer, for timeouts).
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from tests.services import send_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "k8s"

# path -> (recorded list file, API group, plural resource name)
ROUTES: dict[str, tuple[str, str, str]] = {
    "/api/v1/namespaces": ("namespaces.json", "", "namespaces"),
    "/api/v1/nodes": ("nodes.json", "", "nodes"),
    "/api/v1/resourcequotas": ("resourcequotas.json", "", "resourcequotas"),
    "/api/v1/limitranges": ("limitranges.json", "", "limitranges"),
    "/apis/scheduling.k8s.io/v1/priorityclasses": ("priorityclasses.json", "scheduling.k8s.io", "priorityclasses"),
    "/api/v1/persistentvolumes": ("persistentvolumes.json", "", "persistentvolumes"),
}
SERVICE_ACCOUNT = "system:serviceaccount:chargeback:collector"
EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue token in this response to retrieve the "
    "remainder of the results. Continuing with the provided token results in an inconsistent list - objects "
    "that were created, modified, or deleted between the time the first chunk was returned and now may show "
    "up in the list."
)
REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True)
class Request:
    """One request as the server saw it, and the status it answered."""

    path: str
    query: dict[str, str]
    authorization: str | None
    status: int

    @property
    def limit(self) -> int | None:
        return int(self.query["limit"]) if "limit" in self.query else None

    @property
    def continue_token(self) -> str | None:
        return self.query.get("continue")


@dataclass(frozen=True)
class Fault:
    status: int = 0  # 0: answer normally (after ``delay``)
    retry_after: int | None = None
    message: str | None = None
    delay: float = 0.0
    only_with_continue: bool = False


def status_body(code: int, message: str, details: dict | None = None, continue_token: str | None = None) -> dict:
    """A ``Status`` object as the API server sends it with an error."""
    body: dict = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {"continue": continue_token} if continue_token else {},
        "status": "Failure",
        "message": message,
        "reason": REASONS.get(code, ""),
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def encode_continue(resource_version: str, start_key: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": int(resource_version), "start": start_key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token: str) -> dict:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    body = json.loads(raw)
    if body.get("v") != "meta.k8s.io/v1" or "start" not in body:
        raise ValueError("unknown continue token version")
    return body


def _key(item: dict) -> str:
    meta = item["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


def _selector(text: str) -> list[tuple[str, str, str]]:
    """``k=v,k2!=v2`` -> [(key, op, value)]; only equality-based requirements."""
    requirements = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        for op in ("!=", "==", "="):
            if op in part:
                key, value = (s.strip() for s in part.split(op, 1))
                requirements.append((key, "!=" if op == "!=" else "=", value))
                break
        else:
            raise ValueError(f'unable to parse requirement: "{part}": only k=v, k==v and k!=v are served here')
    return requirements


def _matches(item: dict, requirements: list[tuple[str, str, str]]) -> bool:
    labels = item["metadata"].get("labels") or {}
    return all((labels.get(key) == value) == (op == "=") for key, op, value in requirements)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that timed out and hung up is what the delay hook is for; anything else is a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeKubeApi:
    """A threaded HTTP server on 127.0.0.1 answering the list endpoints of ``ROUTES`` from recorded JSON."""

    def __init__(self, fixtures: Path = FIXTURES, token: str | None = None):
        self.token = token
        self.lists = {path: json.loads((fixtures / name).read_text()) for path, (name, _, _) in ROUTES.items()}
        for body in self.lists.values():  # storage-key order, as etcd returns them
            body["items"].sort(key=_key)
        self.requests: list[Request] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeKubeApi:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall

            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                code, body, headers = fake._answer(self.path, self.headers.get("Authorization"))
                payload = json.dumps(body).encode()
                send_json(self, code, payload, headers)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-kube-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeKubeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- test hooks ------------------------------------------------------------------------------

    def fail(
        self, path: str, status: int, *, times: int = 1, retry_after: int | None = None, message: str | None = None
    ) -> None:
        """Answer the next ``times`` requests to ``path`` with ``status`` (a Status object)."""
        for _ in range(times):
            self._push(path, Fault(status=status, retry_after=retry_after, message=message))

    def expire_continue(self, path: str, *, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``path`` that carry a continue token with 410 Gone."""
        for _ in range(times):
            self._push(path, Fault(status=410, only_with_continue=True))

    def delay(self, path: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` answers to ``path`` for ``seconds`` before answering normally."""
        for _ in range(times):
            self._push(path, Fault(delay=seconds))

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def write_kubeconfig(self, path: Path, *, token: str | None = None, context: str = "fake-eks") -> Path:
        """A kubeconfig whose ``context`` points here; its current context is a dead end on purpose,
        so only a client that honours ``context`` reaches this server."""
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": context, "cluster": {"server": self.url}},
                {"name": "unreachable", "cluster": {"server": "http://127.0.0.1:9"}},
            ],
            "users": [{"name": "collector", "user": {"token": token or self.token or "no-token"}}],
            "contexts": [
                {"name": context, "context": {"cluster": context, "user": "collector"}},
                {"name": "unreachable", "context": {"cluster": "unreachable", "user": "collector"}},
            ],
            "current-context": "unreachable",
        }
        path.write_text(json.dumps(kubeconfig, indent=2))  # JSON is YAML: the loader reads it as is
        return path

    # -- serving ---------------------------------------------------------------------------------

    def _push(self, path: str, fault: Fault) -> None:
        with self._lock:
            self._faults.setdefault(path, deque()).append(fault)

    def _next_fault(self, path: str, query: dict[str, str]) -> Fault | None:
        with self._lock:
            queue = self._faults.get(path)
            if not queue:
                return None
            if queue[0].only_with_continue and "continue" not in query:
                return None
            return queue.popleft()

    def _answer(self, target: str, authorization: str | None) -> tuple[int, dict, dict[str, str]]:
        parts = urlsplit(target)
        path, query = parts.path, dict(parse_qsl(parts.query))
        code, body, headers = self._respond(path, query, authorization)
        with self._lock:
            self.requests.append(Request(path, query, authorization, code))
        return code, body, headers

    def _respond(self, path: str, query: dict[str, str], authorization: str | None) -> tuple[int, dict, dict]:
        if self.token is not None and authorization != f"Bearer {self.token}":
            return 401, status_body(401, "Unauthorized"), {}
        if path not in ROUTES:
            return 404, status_body(404, "the server could not find the requested resource"), {}
        _, group, resource = ROUTES[path]
        fault = self._next_fault(path, query)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.status:
            return self._fault(fault, group, resource, query)
        return self._list(path, query)

    def _fault(self, fault: Fault, group: str, resource: str, query: dict[str, str]) -> tuple[int, dict, dict]:
        code, headers = fault.status, {}
        details: dict = {"kind": resource}
        if group:
            details["group"] = group
        if code == 403:
            message = (
                f'{resource} is forbidden: User "{SERVICE_ACCOUNT}" cannot list resource "{resource}" '
                f'in API group "{group}" at the cluster scope'
            )
        elif code == 429:
            message = "Too many requests, please try again later."
            if fault.retry_after is not None:
                details["retryAfterSeconds"] = fault.retry_after
        elif code == 410:
            message = EXPIRED_MESSAGE
        elif code >= 500:
            message = "Internal error occurred: etcdserver: request timed out"
        else:
            message = REASONS.get(code, "error")
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        return code, status_body(code, fault.message or message, details), headers

    def _list(self, path: str, query: dict[str, str]) -> tuple[int, dict, dict]:
        recorded = self.lists[path]
        resource_version = recorded["metadata"]["resourceVersion"]
        try:
            requirements = _selector(query.get("labelSelector", ""))
            limit = int(query.get("limit", "0"))
            if limit < 0:
                raise ValueError(f"limit must be non-negative, not {limit}")
        except ValueError as exc:
            return 400, status_body(400, str(exc)), {}
        items = [item for item in recorded["items"] if _matches(item, requirements)]
        if "continue" in query:
            try:
                start = decode_continue(query["continue"])["start"]
            except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
                return 400, status_body(400, f"continue key is not valid: {exc}"), {}
            items = [item for item in items if _key(item) >= start]
        metadata: dict = {"resourceVersion": resource_version}
        if limit and len(items) > limit:
            page, rest = items[:limit], items[limit:]
            metadata["continue"] = encode_continue(resource_version, _key(page[-1]) + "\x00")
            metadata["remainingItemCount"] = len(rest)
        else:
            page = items
        body = {"kind": recorded["kind"], "apiVersion": recorded["apiVersion"], "metadata": metadata, "items": page}
        return 200, body, {}
