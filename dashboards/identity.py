"""Who is looking at the dashboard, from what the reverse proxy in front of it says.

Three modes (``[dashboard] identity``): ``none`` (an open demo: everyone sees everything, and the
pages say so), ``headers`` (oauth2-proxy style ``X-Forwarded-Email`` / ``X-Forwarded-Groups``, trusted
only because the config says a proxy sets them) and ``alb`` (an AWS ALB's ``x-amzn-oidc-data`` JWT:
signed by the configured ALB (``signer`` = ``alb_arn``), verified with ES256 against that ALB's public key
for the token's ``kid``, and not expired; a token without ``exp`` does not count). Whatever a request
carries, a token that is malformed in any way (not base64, a header that is not a JSON object, a missing or
odd field) is nobody, never an error. No Streamlit here: the pages pass the request headers in, and the data
layer enforces the result.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import jwt
import requests

from chargeback.core.config import DashboardSettings
from chargeback.core.http import RetryPolicy, retrying_session


@dataclass(frozen=True)
class Viewer:
    """``tenants`` is None for finance and the platform team (every tenant), else the tenants allowed."""

    name: str
    tenants: frozenset[str] | None
    open_demo: bool = False

    @property
    def sees_everything(self) -> bool:
        return self.tenants is None

    def allowed(self, tenant: str) -> bool:
        return self.tenants is None or tenant in self.tenants


NOBODY = Viewer("no identity", frozenset())

KeyLookup = Callable[[str], str]  # kid -> PEM public key


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _viewer(settings: DashboardSettings, email: str | None, groups: list[str]) -> Viewer:
    if not email and not groups:
        return NOBODY
    name = email or ", ".join(groups)
    if (email and email in settings.all_access_users) or any(g in settings.all_access_groups for g in groups):
        return Viewer(name, None)
    tenants = {settings.tenant_groups[g] for g in groups if g in settings.tenant_groups}
    if email and email in settings.tenant_users:
        tenants.add(settings.tenant_users[email])
    return Viewer(name, frozenset(tenants))


# A viewer waits for this lookup (once per key: it is cached), so the policy gives up sooner than the
# collectors' do: 3 tries, and a Retry-After obeyed up to 5 seconds.
ALB_KEY_RETRY = RetryPolicy(attempts=3, max_retry_after_seconds=5.0)


class AlbPublicKeys:
    """The ALB's public key for a ``kid``, fetched from its regional endpoint through ``session`` (which
    retries under ``ALB_KEY_RETRY``) and cached."""

    def __init__(self, settings: DashboardSettings, timeout: float = 5.0, policy: RetryPolicy = ALB_KEY_RETRY):
        self.url = settings.alb_public_keys_url
        self.region = settings.alb_region
        self.timeout = timeout
        self.session = retrying_session(policy)
        self.lookup = lru_cache(maxsize=32)(self._fetch)

    def __call__(self, kid: str) -> str:
        return self.lookup(kid)

    def _fetch(self, kid: str) -> str:
        response = self.session.get(self.url.format(region=self.region, kid=kid), timeout=self.timeout)
        response.raise_for_status()
        return response.text


def alb_key_lookup(settings: DashboardSettings, timeout: float = 5.0) -> KeyLookup:
    """Fetch (and cache) the ALB's public key for a ``kid`` from its regional endpoint."""
    return AlbPublicKeys(settings, timeout)


# The ALB's key ids are UUIDs: any other kid is refused before it reaches the key endpoint's URL.
_KID = re.compile(r"[A-Za-z0-9_-]{1,128}")


# An ALB's JOSE header (typ, kid, alg, iss, client, signer, exp) is a few hundred characters of base64url; a longer
# one is refused unread, so no hostile header makes the JSON parser recurse deep.
_HEADER_CHARS = 2048


def _token_header(token: str) -> dict | None:
    """The token's (unverified) JOSE header, or None when it is not base64url of a JSON object."""
    head = token.split(".", 1)[0]
    if len(head) > _HEADER_CHARS:
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, RecursionError):  # bad base64 or UTF-8 or JSON (binascii.Error is a ValueError)
        return None
    return header if isinstance(header, dict) else None


def _groups(claim: object) -> list[str] | None:
    """The ``groups`` claim as a list (a string is split on commas and spaces); None when it is neither."""
    if claim is None:
        return []
    if isinstance(claim, str):
        return [g for g in claim.replace(",", " ").split() if g]
    if isinstance(claim, list) and all(isinstance(g, str) for g in claim):
        return claim
    return None


def from_alb(token: str | None, settings: DashboardSettings, keys: KeyLookup) -> Viewer:
    """Verify an ALB ``x-amzn-oidc-data`` token; anything that does not verify, or is malformed, is nobody."""
    header = _token_header(token) if token else None
    if header is None or not settings.alb_arn or header.get("signer") != settings.alb_arn:
        return NOBODY
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        return NOBODY
    try:
        claims = jwt.decode(token, keys(kid), algorithms=["ES256"], options={"require": ["exp"], "verify_aud": False})
    except (jwt.PyJWTError, ValueError, TypeError, requests.RequestException):
        return NOBODY
    email, groups = claims.get("email"), _groups(claims.get("groups"))
    if groups is None or not (email is None or isinstance(email, str)):
        return NOBODY
    return _viewer(settings, email, groups)


def resolve(headers: Mapping[str, str], settings: DashboardSettings, keys: KeyLookup | None = None) -> Viewer:
    """The viewer for one request's headers under the configured identity mode."""
    if settings.identity == "none":
        return Viewer("everyone (no identity configured)", None, open_demo=True)
    if settings.identity == "headers":
        email = _header(headers, settings.email_header)
        groups = [g.strip() for g in (_header(headers, settings.groups_header) or "").split(",") if g.strip()]
        return _viewer(settings, email.strip() if email else None, groups)
    return from_alb(_header(headers, "x-amzn-oidc-data"), settings, keys or alb_key_lookup(settings))
