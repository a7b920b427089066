"""The Prometheus HTTP API, through prometheus-api-client's ``PrometheusConnect``.

``PrometheusConnect`` sends the requests; it is given a ``requests`` session that carries what the server
asks of every request, and the one retry policy (``chargeback.core.http``):

- authentication: a bearer token (or a token file, re-read per request: projected tokens rotate), basic
  (with a password or a password file, re-read per request), or AWS SigV4 for Amazon Managed Prometheus
  (service ``aps``, signed by botocore); extra headers (``X-Scope-OrgID`` for Mimir); TLS verification;
- the retry policy as the ``retry`` of the adapter the library mounts for ``url``, re-mounted with a
  connection pool sized for ``max_concurrency`` threads (the library's has requests' default of 10);
- explicit connect and read timeouts.

POST ``/api/v1/query_range`` and ``/api/v1/query`` under ``url`` (Mimir: ``.../prometheus``; Amazon Managed
Prometheus: ``https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>``). The library puts the
parameters in the URL rather than a form body; the longest of the collector's queries is about 0.8 KB
encoded, far below the 8 KB that proxies commonly allow for a request line, so no form body is needed.

What the library leaves out is added here, thinly: ``partial_response=false`` (Thanos answers from some of
its stores otherwise), the check of the answer's ``status`` and ``resultType`` with its ``warnings`` logged
(the library returns ``data.result`` only), Prometheus's limit of 11,000 points per series, and errors that
say what failed: a ``QueryError`` with the status and the server's own message, or the connection error,
and how many attempts were made. The collector adds the source, window and query.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import requests
from botocore.auth import SigV4Auth as Signer
from botocore.awsrequest import AWSRequest
from prometheus_api_client import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.exceptions import MaxRetryError

from chargeback.core.config import PrometheusSettings
from chargeback.core.http import RETRY_STATUSES, RetryPolicy, mount

log = logging.getLogger(__name__)

MAX_POINTS = 11_000  # Prometheus refuses a query_range of more points per series
CONNECT_TIMEOUT_SECONDS = 10.0
RESULT_TYPES = {"query": "vector", "query_range": "matrix"}  # what each endpoint must answer with
NO_PARTIAL = {"partial_response": "false"}  # Thanos: fail rather than answer from some stores


class QueryError(Exception):
    """A query failed; the collector adds the source, window and query name."""


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer``; a token file is re-read on every request (projected tokens rotate)."""

    def __init__(self, token: str | None = None, token_file: Path | None = None):
        self.token, self.token_file = token, token_file

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.token if self.token else Path(self.token_file).expanduser().read_text().strip()
        request.headers["Authorization"] = f"Bearer {token}"
        return request


class BasicAuth(requests.auth.AuthBase):
    """HTTP basic authentication; a password file is re-read on every request."""

    def __init__(self, username: str, password: str | None = None, password_file: Path | None = None):
        self.username, self.password, self.password_file = username, password, password_file

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        password = self.password if self.password else Path(self.password_file).expanduser().read_text().strip()
        return requests.auth.HTTPBasicAuth(self.username, password)(request)


class SigV4Auth(requests.auth.AuthBase):
    """AWS Signature Version 4 for Amazon Managed Prometheus (service ``aps``), signed by botocore.

    ``credentials`` is a botocore ``Credentials`` (e.g. ``boto3.Session(...).get_credentials()``); without
    it, botocore's default chain is resolved at the first request.
    """

    def __init__(self, region: str, credentials: Any = None, service: str = "aps"):
        self.region, self.credentials, self.service = region, credentials, service

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.credentials is None:
            self.credentials = botocore.session.get_session().get_credentials()
            if self.credentials is None:
                raise QueryError("SigV4: no AWS credentials found (environment, profile, role or instance)")
        body = request.body.encode() if isinstance(request.body, str) else request.body
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "host")}
        signed = AWSRequest(method=request.method, url=request.url, data=body, headers=headers)
        Signer(self.credentials.get_frozen_credentials(), self.service, self.region).add_auth(signed)
        request.headers.update(dict(signed.headers.items()))
        return request


def build_auth(settings: PrometheusSettings, credentials: Any = None) -> requests.auth.AuthBase | None:
    if settings.auth == "bearer":
        return BearerAuth(settings.bearer_token, settings.bearer_token_file)
    if settings.auth == "basic":
        return BasicAuth(settings.username or "", settings.password, settings.password_file)
    if settings.auth == "sigv4":
        return SigV4Auth(settings.sigv4_region or "", credentials)
    return None


class PrometheusClient:
    """``query`` and ``query_range`` through ``PrometheusConnect`` (as ``connect``), over ``session``.

    ``retry``: the retry policy (default: ``max_attempts`` tries and the policy's backoff); ``credentials``:
    botocore credentials for SigV4.
    """

    def __init__(self, settings: PrometheusSettings, *, retry: RetryPolicy | None = None, credentials: Any = None):
        self.url = settings.url.rstrip("/")
        self.policy = retry or RetryPolicy(attempts=settings.max_attempts)
        self.retry = self.policy.retry()
        self.session = requests.Session()
        self.session.auth = build_auth(settings, credentials)
        self.session.headers.update(settings.headers)
        self.session.verify = settings.verify_tls
        self.session.hooks["response"].append(self._check_answer)
        self.timeout = (min(CONNECT_TIMEOUT_SECONDS, settings.timeout_seconds), settings.timeout_seconds)
        self.connect = PrometheusConnect(
            url=self.url, session=self.session, retry=self.retry, timeout=self.timeout, method="POST"
        )
        # The library has just mounted an adapter with requests' pool of 10 connections for the URL: replace
        # it by one sized for the collector's threads, with the same retry.
        self.adapter = mount(self.session, self.connect.url, self.retry, settings.max_concurrency)

    def query_range(self, query: str, start: float, end: float, step: float) -> list[dict]:
        if (end - start) / step + 1 > MAX_POINTS:
            raise QueryError(f"{(end - start) / step + 1:.0f} points per series is over Prometheus's {MAX_POINTS}")
        # PrometheusConnect rounds start and end to whole seconds; the collector's are ends of whole UTC hours.
        first, last = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
        return self._call(self.connect.custom_query_range, query, first, last, f"{step:g}", params=dict(NO_PARTIAL))

    def query(self, query: str, at: float) -> list[dict]:
        return self._call(self.connect.custom_query, query, params={"time": f"{at:.3f}", **NO_PARTIAL})

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> list[dict]:
        try:
            return method(*args, **kwargs) or []
        except requests.RequestException as exc:
            raise QueryError(self._failure(exc)) from exc
        except (PrometheusApiClientException, KeyError, TypeError) as exc:  # past _check_answer: not expected
            raise QueryError(f"{type(exc).__name__}: {str(exc)[:300]}") from exc

    def _failure(self, exc: requests.RequestException) -> str:
        where = exc.request.url.split("?", 1)[0] if exc.request is not None and exc.request.url else self.url
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, MaxRetryError):  # the policy's tries ran out on connection errors or timeouts
            last = reason.reason or reason
            return f"{type(exc).__name__} at {where}: {last} (gave up after {self.policy.attempts} attempts)"
        return f"{type(exc).__name__} at {where}: {exc}"

    def _check_answer(self, response: requests.Response, **_: Any) -> requests.Response:
        """A response hook: the answer's status, result type and warnings, which the library drops."""
        where = response.url.split("?", 1)[0]
        if response.is_redirect:  # requests follows it; the answer is checked at the end
            return response
        if response.status_code != 200:
            cause = f"HTTP {response.status_code} from {where}: {_error_text(response)}"
            if response.status_code in RETRY_STATUSES:  # the retry policy returns the last one when it gives up
                cause += f" (gave up after {self.policy.attempts} attempts)"
            raise QueryError(cause)
        try:
            body = response.json()
        except ValueError as exc:
            raise QueryError(f"not JSON from {where}: {response.text[:200]!r}") from exc
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body if not isinstance(body, dict) else f"{body.get('errorType', 'error')}: {body.get('error')}"
            raise QueryError(f"{where}: {error}")
        for warning in body.get("warnings") or ():
            log.warning("prometheus %s: %s", where, warning)
        expected = RESULT_TYPES.get(where.rsplit("/", 1)[-1])
        result_type = (body.get("data") or {}).get("resultType")
        if expected and result_type != expected:
            raise QueryError(f"{where}: expected a {expected}, got {result_type!r}")
        return response


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
        return f"{body.get('errorType', '')}: {body.get('error', '')}".strip(": ")
    except (ValueError, AttributeError):
        return response.text[:200].strip() or response.reason or ""
