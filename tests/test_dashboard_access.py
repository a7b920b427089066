"""Who sees what: identities from proxy headers and ALB tokens, and the filter in the data layer.

Also: a build publishing a new warehouse while the dashboard's data layer reads it.
"""

from __future__ import annotations

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

from chargeback.build.demo import run_demo
from chargeback.build.engines import build
from chargeback.core import config as config_module
from chargeback.core.http import RetryPolicy
from dashboards import data
from dashboards.identity import ALB_KEY_RETRY, NOBODY, AlbPublicKeys, Viewer, alb_key_lookup, resolve

PERIOD = "2026-10"
SETTINGS = config_module.DashboardSettings(
    identity="headers",
    all_access_groups=("finance", "platform"),
    tenant_groups={"team-ml": "ml", "team-pay": "payments"},
    tenant_users={"rita@example.com": "risk"},
)
ALB_ARN = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/chargeback/50dc6c495c0c9188"


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
    alb = config_module.DashboardSettings(identity="alb", alb_region="us-east-1", tenant_groups={"team-ml": "ml"})
    assert resolve({"X-Forwarded-Groups": "team-ml"}, alb, keys=lambda kid: "") == NOBODY


def ec_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
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
        identity="alb", alb_region="us-east-1", alb_arn=ALB_ARN, alb_public_keys_url=server.url,
        tenant_users={"ann@example.com": "ml"}, all_access_groups=("finance",),
    )
    keys = alb_key_lookup(settings)
    good = alb_token(private, {"email": "ann@example.com", "exp": int(time.time()) + 60})
    assert resolve({"x-amzn-oidc-data": good}, settings, keys).tenants == frozenset({"ml"})
    finance = alb_token(private, {"email": "fin@example.com", "groups": ["finance"], "exp": int(time.time()) + 60})
    assert resolve({"x-amzn-oidc-data": finance}, settings, keys).sees_everything
    forged = alb_token(other, {"email": "fin@example.com", "groups": ["finance"], "exp": int(time.time()) + 60})
    expired = alb_token(private, {"email": "ann@example.com", "exp": int(time.time()) - 60})
    foreign = alb_token(private, {"email": "ann@example.com"}, signer="arn:aws:elasticloadbalancing:other")
    unknown_kid = alb_token(private, {"email": "ann@example.com"}, kid="kid-404")
    for token in (forged, expired, foreign, unknown_kid, "not.a.token", ""):
        assert resolve({"x-amzn-oidc-data": token}, settings, keys) == NOBODY, token
    assert server.requests.count(("kid-404", 404)) == 1  # an unknown kid is not retried
    server.server.shutdown()


def test_alb_key_lookup_retries_a_failing_key_endpoint():
    private, public = ec_key()
    server = KeyServer({"kid-1": public})
    settings = config_module.DashboardSettings(
        identity="alb", alb_region="us-east-1", alb_public_keys_url=server.url, tenant_users={"ann@example.com": "ml"}
    )
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


# --- the data layer enforces the filter ---------------------------------------------------------

@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    config, _ = run_demo(tmp_path_factory.mktemp("dash") / "data")
    return config


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
    for frame in (data.daily_trend(wh, ML, PERIOD), data.month_over_month(wh, ML, PERIOD),
                  data.emr_jobs(wh, ML, PERIOD)):
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
    assert bill.total == Decimal("2402.32") == sum(line.total for line in bill.lines)
    assert {"__idle__", "__unallocated__"} <= {line.tenant for line in bill.lines}


def test_reading_while_a_build_publishes_sees_the_old_or_the_new_month_never_an_error(sample):
    wh = data.Warehouse(sample)
    list_price_config = sample.model_copy(
        update={"allocation": sample.allocation.model_copy(update={"cost_basis": "on_demand"})}
    )
    amortized = data.bill(wh, EVERYONE, PERIOD).total
    build(list_price_config)
    list_price = data.bill(wh, EVERYONE, PERIOD).total
    assert list_price != amortized  # two months a reader can tell apart
    seen, errors, stop = [], [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                seen.append(data.bill(wh, EVERYONE, PERIOD).total)
            except Exception as exc:  # noqa: BLE001 - any failure is what this test looks for
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for config in (sample, list_price_config, sample, list_price_config, sample):
            build(config)
    finally:
        stop.set()
        reader.join()
    assert errors == []
    assert len(seen) > 10
    assert set(seen) <= {amortized, list_price}, set(seen)
    assert data.bill(wh, EVERYONE, PERIOD).total == amortized
