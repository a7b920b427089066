"""Who sees what: identities from proxy headers and ALB tokens, and the filter in the data layer.

Also: a build publishing a new warehouse while the dashboard's data layer reads it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import polars as pl
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm

from chargeback.build.engines import build
from chargeback.core import config as config_module
from chargeback.core.http import RetryPolicy
from dashboards import data
from dashboards.identity import ALB_KEY_RETRY, NOBODY, AlbPublicKeys, Viewer, alb_key_lookup, resolve
from tests.sample_support import copy_built

PERIOD = "2026-10"
# Any JSON value, for claims.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
SETTINGS = config_module.DashboardSettings(
    identity="headers",
    all_access_groups=("finance", "platform"),
    tenant_groups={"team-ml": "ml", "team-pay": "payments"},
    tenant_users={"rita@example.com": "risk"},
)
ALB_ARN = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/chargeback/50dc6c495c0c9188"
OTHER_ALB_ARN = "arn:aws:elasticloadbalancing:us-east-1:444455556666:loadbalancer/app/anyone/0123456789abcdef"


# --- identities ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "tenants"),
    [
        ({"X-Forwarded-Email": "fin@example.com", "X-Forwarded-Groups": "staff,finance"}, None),
        ({"x-forwarded-email": "ann@example.com", "x-forwarded-groups": "team-ml"}, {"ml"}),
        ({"X-Forwarded-Email": "bo@example.com", "X-Forwarded-Groups": "team-ml, team-pay"}, {"ml", "payments"}),
        ({"X-Forwarded-Email": "rita@example.com"}, {"risk"}),
        ({"X-Forwarded-Email": "eve@example.com", "X-Forwarded-Groups": "interns"}, set()),
        ({}, set()),
    ],
)
def test_proxy_headers_map_to_tenants(headers, tenants):
    viewer = resolve(headers, SETTINGS)
    assert viewer.tenants == (None if tenants is None else frozenset(tenants))


def test_headers_are_ignored_unless_the_config_says_a_proxy_sets_them():
    open_demo = resolve({"X-Forwarded-Groups": "team-ml"}, config_module.DashboardSettings())
    assert open_demo.sees_everything and open_demo.open_demo
    alb = config_module.DashboardSettings(
        identity="alb", alb_region="us-east-1", alb_arn=ALB_ARN, tenant_groups={"team-ml": "ml"}
    )
    assert resolve({"X-Forwarded-Groups": "team-ml"}, alb, keys=lambda kid: "") == NOBODY


def ec_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def alb_token(private, claims: dict, kid: str = "kid-1", signer: str = ALB_ARN) -> str:
    return jwt.encode(claims, private, algorithm="ES256", headers={"kid": kid, "signer": signer, "client": "app"})


class KeyServer:
    """The ALB's public-key endpoint, on loopback: GET /<kid> returns the PEM, after the queued failures."""

    def __init__(self, keys: dict[str, str]):
        server = self
        self.failures: deque[int] = deque()  # statuses to answer first, one request each
        self.requests: list[tuple[str, int]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                kid = self.path.strip("/")
                status = server.failures.popleft() if server.failures else (200 if keys.get(kid) else 404)
                server.requests.append((kid, status))
                self.send_response(status)
                self.end_headers()
                self.wfile.write((keys.get(kid, "") if status == 200 else "").encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}" + "/{kid}"


def test_alb_token_verified_against_the_albs_public_key():
    private, public = ec_key()
    other, _ = ec_key()
    server = KeyServer({"kid-1": public})
    settings = config_module.DashboardSettings(
        identity="alb",
        alb_region="us-east-1",
        alb_arn=ALB_ARN,
        alb_public_keys_url=server.url,
        tenant_users={"ann@example.com": "ml"},
        all_access_groups=("finance",),
    )
    keys = alb_key_lookup(settings)
    good = alb_token(private, {"email": "ann@example.com", "exp": int(time.time()) + 60})
    assert resolve({"x-amzn-oidc-data": good}, settings, keys).tenants == frozenset({"ml"})
    finance = alb_token(private, {"email": "fin@example.com", "groups": ["finance"], "exp": int(time.time()) + 60})
    assert resolve({"x-amzn-oidc-data": finance}, settings, keys).sees_everything
    forged = alb_token(other, {"email": "fin@example.com", "groups": ["finance"], "exp": int(time.time()) + 60})
    expired = alb_token(private, {"email": "ann@example.com", "exp": int(time.time()) - 60})
    live = int(time.time()) + 60
    foreign = alb_token(private, {"email": "ann@example.com", "exp": live}, signer=OTHER_ALB_ARN)
    unknown_kid = alb_token(private, {"email": "ann@example.com", "exp": live}, kid="kid-404")
    for token in (forged, expired, foreign, unknown_kid, "not.a.token", ""):
        assert resolve({"x-amzn-oidc-data": token}, settings, keys) == NOBODY, token
    assert server.requests.count(("kid-404", 404)) == 1  # an unknown kid is not retried
    server.server.shutdown()


def test_alb_key_lookup_retries_a_failing_key_endpoint():
    private, public = ec_key()
    server = KeyServer({"kid-1": public})
    settings = config_module.DashboardSettings(
        identity="alb", alb_region="us-east-1", alb_arn=ALB_ARN, alb_public_keys_url=server.url,
        tenant_users={"ann@example.com": "ml"},
    )  # fmt: skip
    fast = RetryPolicy(attempts=ALB_KEY_RETRY.attempts, backoff_seconds=0.01)  # the lookup's tries, tiny waits
    token = alb_token(private, {"email": "ann@example.com", "exp": int(time.time()) + 60})
    server.failures.extend([503])
    assert resolve({"x-amzn-oidc-data": token}, settings, AlbPublicKeys(settings, policy=fast)).tenants == {"ml"}
    assert server.requests == [("kid-1", 503), ("kid-1", 200)]
    server.failures.extend([503, 502, 500])  # more failures than the lookup's 3 tries: nobody, and no cache
    keys = AlbPublicKeys(settings, policy=fast)
    assert resolve({"x-amzn-oidc-data": token}, settings, keys) == NOBODY
    assert server.requests[2:] == [("kid-1", 503), ("kid-1", 502), ("kid-1", 500)]
    assert resolve({"x-amzn-oidc-data": token}, settings, keys).tenants == frozenset({"ml"})  # tried again
    server.server.shutdown()


def test_alb_identity_needs_the_albs_arn(tmp_path):
    """Without alb_arn any ALB of the region could sign a token the dashboard accepts: refused at load."""
    path = tmp_path / "chargeback.toml"
    path.write_text('[dashboard]\nidentity = "alb"\nalb_region = "us-east-1"\n')
    with pytest.raises(config_module.ConfigError, match=r'dashboard: identity = "alb" needs alb_arn'):
        config_module.load(path)
    path.write_text(f'[dashboard]\nidentity = "alb"\nalb_region = "us-east-1"\nalb_arn = "{ALB_ARN}"\n')
    assert config_module.load(path).dashboard.alb_arn == ALB_ARN


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(private, header: bytes, payload: bytes) -> str:
    """A token with exactly these header and payload bytes, validly signed (ES256) by ``private``."""
    message = f"{b64(header)}.{b64(payload)}".encode()
    return f"{message.decode()}.{b64(ECAlgorithm(ECAlgorithm.SHA256).sign(message, private))}"


ALB_HEADER = {"alg": "ES256", "kid": "kid-1", "signer": ALB_ARN, "client": "app"}


def as_json(value) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture(scope="module")
def alb_key():
    """An ALB key pair; ``asked`` records the kids the key lookup was asked for."""
    private, public = ec_key()
    asked: list[str] = []

    def keys(kid: str) -> str:
        asked.append(kid)
        return public

    settings = config_module.DashboardSettings(
        identity="alb", alb_region="us-east-1", alb_arn=ALB_ARN, tenant_users={"ann@example.com": "ml"},
        all_access_groups=("finance",),
    )  # fmt: skip
    return private, keys, asked, settings


def test_a_well_formed_token_of_the_alb_is_someone(alb_key):
    """The baseline of the next test: the same signing, well formed, is a viewer."""
    private, keys, _, settings = alb_key
    token = signed(private, as_json(ALB_HEADER), as_json({"email": "ann@example.com", "exp": time.time() + 60}))
    assert resolve({"x-amzn-oidc-data": token}, settings, keys).tenants == frozenset({"ml"})


def malformed_tokens(private) -> dict[str, str]:
    live = int(time.time()) + 600
    claims = {"email": "fin@example.com", "groups": ["finance"], "exp": live}
    header, payload = as_json(ALB_HEADER), as_json(claims)
    return {
        "header is a JSON array": signed(private, b"[1, 2]", payload),
        "header is a JSON string": signed(private, b'"ES256"', payload),
        "header is null": signed(private, b"null", payload),
        "header is not base64": f"!!!.{b64(payload)}.sig",
        "header is not UTF-8": signed(private, b"\xff\xfe{}", payload),
        "header is not JSON": signed(private, b"{alg: ES256", payload),
        "header nests 5000 deep": signed(private, b"[" * 5000 + b"]" * 5000, payload),
        "header longer than an ALB's": signed(private, as_json({**ALB_HEADER, "pad": "x" * 1600}), payload),
        "no kid": signed(private, as_json({**ALB_HEADER, "kid": None}), payload),
        "kid is a number": signed(private, as_json({**ALB_HEADER, "kid": 7}), payload),
        "kid walks the key URL": signed(private, as_json({**ALB_HEADER, "kid": "../../keys/kid-1"}), payload),
        "no signer": signed(private, as_json({k: v for k, v in ALB_HEADER.items() if k != "signer"}), payload),
        "another ALB signed it": signed(private, as_json({**ALB_HEADER, "signer": OTHER_ALB_ARN}), payload),
        "alg none": f"{b64(as_json({**ALB_HEADER, 'alg': 'none'}))}.{b64(payload)}.",
        "payload is a JSON array": signed(private, header, b'["fin@example.com"]'),
        "payload is not JSON": signed(private, header, b"fin@example.com"),
        "no exp": signed(private, header, as_json({k: v for k, v in claims.items() if k != "exp"})),
        "exp is not a time": signed(private, header, as_json({**claims, "exp": "tomorrow"})),
        "groups is an object": signed(private, header, as_json({**claims, "groups": {"finance": True}})),
        "groups is a number": signed(private, header, as_json({**claims, "groups": 7})),
        "groups holds a number": signed(private, header, as_json({**claims, "groups": ["finance", 7]})),
        "email is a list": signed(private, header, as_json({**claims, "email": ["fin@example.com"]})),
        "one segment": b64(header),
        "empty segments": "..",
    }


def test_a_malformed_token_or_one_without_exp_is_nobody_never_an_error(alb_key):
    private, keys, asked, settings = alb_key
    for name, token in malformed_tokens(private).items():
        assert resolve({"x-amzn-oidc-data": token}, settings, keys) == NOBODY, name
    assert set(asked) <= {"kid-1"}  # no odd kid ever reached the key endpoint's URL


@given(header=st.binary(max_size=64) | st.text(max_size=64).map(str.encode), payload=st.binary(max_size=64))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_signed_header_bytes_are_nobody_never_an_error(alb_key, header, payload):
    private, keys, _, settings_ = alb_key
    assert resolve({"x-amzn-oidc-data": signed(private, header, payload)}, settings_, keys) == NOBODY


@given(claims=st.dictionaries(st.sampled_from(["email", "groups", "exp", "iat", "nbf"]), JSON, max_size=5))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_claims_of_the_alb_are_a_viewer_or_nobody_never_an_error(alb_key, claims):
    private, keys, _, settings_ = alb_key
    viewer = resolve({"x-amzn-oidc-data": signed(private, as_json(ALB_HEADER), as_json(claims))}, settings_, keys)
    assert isinstance(viewer, Viewer)
    if "exp" not in claims:
        assert viewer == NOBODY


# --- the data layer enforces the filter ---------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory, built_sample):
    return copy_built(built_sample, tmp_path_factory.mktemp("dash") / "data")


ML = Viewer("ann", frozenset({"ml"}))
EVERYONE = Viewer("fin", None)


def test_a_restricted_viewer_gets_only_its_tenant_from_every_query(sample):
    wh = data.Warehouse(sample)
    assert data.tenants(wh, ML, PERIOD) == ["ml"]
    assert set(data.tenants(wh, EVERYONE, PERIOD)) == {"data-eng", "ml", "payments", "risk"}
    bill = data.bill(wh, ML, PERIOD)
    assert [line.tenant for line in bill.lines] == ["ml"]
    assert bill.total == bill.source_total == bill.lines[0].total
    assert bill.to_csv().count("\n") == 2  # header + the ml line, nothing else in the download
    for frame in (
        data.daily_trend(wh, ML, PERIOD),
        data.month_over_month(wh, ML, PERIOD),
        data.emr_jobs(wh, ML, PERIOD),
    ):
        assert isinstance(frame, pl.DataFrame)
        assert set(frame["tenant"]) == {"ml"}
    assert data.workloads(wh, ML, PERIOD, "data-eng").is_empty()  # asking for another tenant returns nothing
    assert data.node_groups(wh, ML, PERIOD).is_empty() and data.dedicated_nodes(wh, ML, PERIOD).is_empty()
    with pytest.raises(PermissionError):
        data.bill(wh, ML, PERIOD, tenant="payments")


def test_nobody_gets_no_data(sample):
    wh = data.Warehouse(sample)
    assert data.tenants(wh, NOBODY, PERIOD) == []
    assert data.bill(wh, NOBODY, PERIOD).lines == ()
    assert data.daily_trend(wh, NOBODY, PERIOD).is_empty() and data.emr_jobs(wh, NOBODY, PERIOD).is_empty()
    assert data.cross_tenant_pods(wh, NOBODY, PERIOD).is_empty()


def test_all_access_sees_the_whole_bill_and_the_source_total(sample):
    wh = data.Warehouse(sample)
    bill = data.bill(wh, EVERYONE, PERIOD)
    assert bill.total == Decimal("2928.07") == sum(line.total for line in bill.lines)
    assert {"__idle__", "__unallocated__"} <= {line.tenant for line in bill.lines}


def test_reading_while_a_build_publishes_sees_the_old_or_the_new_month_never_an_error(sample):
    wh = data.Warehouse(sample)
    list_price_config = sample.model_copy(
        update={"allocation": sample.allocation.model_copy(update={"cost_basis": "on_demand"})}
    )
    amortized = data.bill(wh, EVERYONE, PERIOD).total
    seen, errors, stop = [], [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                seen.append(data.bill(wh, EVERYONE, PERIOD).total)
            except Exception as exc:  # noqa: BLE001 - any failure is what this test looks for
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:  # two switches while the reader reads (the test switches methods on purpose)
        build(list_price_config, accept_method_change=True)
        list_price = data.bill(wh, EVERYONE, PERIOD).total
        build(sample, accept_method_change=True)
    finally:
        stop.set()
        reader.join()
    assert list_price != amortized  # two months a reader can tell apart
    assert errors == []
    assert len(seen) > 10
    assert set(seen) <= {amortized, list_price}, set(seen)
    assert data.bill(wh, EVERYONE, PERIOD).total == amortized
