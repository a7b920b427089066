"""The one retry policy for the HTTP services chargeback calls directly: Prometheus, the Kubernetes API and
the ALB's public-key endpoint. (AWS APIs are not among them: botocore's ``standard`` retry mode serves
those, see ``chargeback.core.aws``.)

It is a urllib3 ``Retry``, the retry object of the library under both ``requests`` (Prometheus, through
prometheus-api-client, and the ALB key lookup) and the ``kubernetes`` client (``Configuration.retries``):

- HTTP 429, 500, 502, 503 and 504, refused connections and timeouts are retried, ``attempts`` tries in all;
- every method is retried, POST included (urllib3 leaves POST out by default; the POSTs chargeback makes
  are read-only queries);
- between tries: the server's ``Retry-After`` when it sends one, in seconds or as an HTTP date, on any
  retried status, obeyed up to ``max_retry_after_seconds``; otherwise an exponential backoff with jitter,
  ``backoff_seconds`` x 2^(n-1) capped at ``max_backoff_seconds`` and drawn between half of it and all of it;
- when the tries run out on a status, the last response is returned (``raise_on_status=False``) so the
  caller's own error handling names the status and the server's message; when they run out on a
  connection error or timeout, urllib3 raises ``MaxRetryError`` with the last error as its ``reason``.

Each retry is logged at INFO on this module's logger, with the wait in ``record.retry_wait_seconds``.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass
from itertools import takewhile
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_METHODS = Retry.DEFAULT_ALLOWED_METHODS | {"POST"}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is tried. ``retry()`` is the urllib3 object that does it."""

    attempts: int = 5  # tries in all, the first one included
    backoff_seconds: float = 0.5  # the wait before the first retry (then doubling), without Retry-After
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0  # a longer Retry-After is cut to this, not obeyed blindly

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")
        if min(self.backoff_seconds, self.max_backoff_seconds, self.max_retry_after_seconds) < 0:
            raise ValueError("backoff and Retry-After limits cannot be negative")

    def retry(self) -> PolicyRetry:
        return PolicyRetry(policy=self)


class PolicyRetry(Retry):
    """urllib3's ``Retry`` configured from a ``RetryPolicy`` (kept as ``policy``), with three changes: the
    backoff applies from the first retry and is jittered, a Retry-After in fractional seconds is read and one
    that cannot be read falls back to the backoff (urllib3 would raise), and each retry is logged."""

    def __init__(self, *args: Any, policy: RetryPolicy | None = None, **kwargs: Any):
        if policy is not None:
            kwargs = {
                "total": policy.attempts - 1,
                "status_forcelist": RETRY_STATUSES,
                "allowed_methods": RETRY_METHODS,
                "backoff_factor": policy.backoff_seconds,
                "backoff_max": policy.max_backoff_seconds,
                "retry_after_max": policy.max_retry_after_seconds,
                "respect_retry_after_header": True,
                "raise_on_status": False,
            } | kwargs
        super().__init__(*args, **kwargs)
        self.policy = policy

    def new(self, **kw: Any) -> PolicyRetry:
        # urllib3 makes a new Retry per try from the standard settings only; carry the policy over.
        retry = super().new(**kw)
        retry.policy = self.policy
        return retry

    def get_backoff_time(self) -> float:
        errors = len(list(takewhile(lambda h: h.redirect_location is None, reversed(self.history))))
        if errors == 0:
            return 0.0
        ceiling = min(self.backoff_max, self.backoff_factor * 2 ** (errors - 1))
        return random.uniform(ceiling / 2, ceiling)

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = float(retry_after)  # delta-seconds; fractions read too
        except ValueError:
            try:
                return super().parse_retry_after(retry_after)  # an HTTP date (capped by urllib3)
            except InvalidHeader:
                return 0.0  # unreadable: the backoff instead
        return min(max(seconds, 0.0), self.retry_after_max) if math.isfinite(seconds) else 0.0

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        wait, why = 0.0, "Retry-After"
        if self.respect_retry_after_header and response is not None:
            wait = self.get_retry_after(response) or 0.0
        if not wait:
            wait, why = self.get_backoff_time(), "backoff"
        if self.history:
            last = self.history[-1]
            cause = f"HTTP {last.status}" if last.status else f"{type(last.error).__name__}: {last.error}"
            log.info(
                "%s %s: %s; try %d of %s in %.2f s (%s)",
                last.method,
                (last.url or "").split("?", 1)[0],  # the path: a query string can be long (PromQL, continue tokens)
                cause,
                len(self.history) + 1,
                self.policy.attempts if self.policy else "?",
                wait,
                why,
                extra={"retry_wait_seconds": wait},
            )
        if wait > 0:
            time.sleep(wait)


def attempts(retries: Retry | bool | int | None) -> int:
    """How many times urllib3 tries a request under ``retries`` as a pool or ``Configuration`` holds it
    (a ``Retry``, a number of retries, or None for urllib3's default), for messages."""
    if isinstance(retries, PolicyRetry) and retries.policy is not None:
        return retries.policy.attempts
    if retries is False:
        return 1
    total = Retry.from_int(retries).total
    return 1 + total if isinstance(total, int) and not isinstance(total, bool) else 1


def mount(session: requests.Session, prefix: str, retry: Retry, pool_size: int = 10) -> HTTPAdapter:
    """Send ``session``'s requests to URLs under ``prefix`` through an adapter with ``retry`` and a connection
    pool of ``pool_size`` (requests keeps 10 per host by default; more threads than that open and discard
    connections)."""
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(10, pool_size), max_retries=retry)
    session.mount(prefix, adapter)
    return adapter


def retrying_session(policy: RetryPolicy, pool_size: int = 10) -> requests.Session:
    """A ``requests`` session whose every http:// and https:// request goes through ``policy``."""
    session = requests.Session()
    retry = policy.retry()
    for prefix in ("http://", "https://"):
        mount(session, prefix, retry, pool_size)
    return session
