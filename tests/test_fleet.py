"""A fleet: three clusters in two member accounts under one payer's CUR, collected side by side from real local
services, built into one warehouse and billed per cluster.

- ``east`` runs in account 111111111111 (a role), ``west`` and ``lab`` in 222222222222 (another role); the CUR is
  the payer's (moto's default account, ``[aws]``). moto's server acts in the account of the assumed role, so each
  account's EMR virtual clusters and EBS volumes are its own.
- ``east``'s Prometheus is the real backfilled server; ``west``'s another endpoint in front of the same data whose
  answers carry other instance ids (another cluster's nodes); ``lab``'s refuses every connection.
The bill of each cluster must equal what ``tests/reference.py`` computes from the generator's inputs for that
cluster alone; ``lab``'s failure must not block the others, and it must show as stale.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from chargeback.build.engines import build
from chargeback.build.freshness import read_freshness
from chargeback.build.warehouse import connect
from chargeback.cli import app
from chargeback.core import config as config_module
from chargeback.core.errors import CollectError
from chargeback.core.money import apportion, to_cents
from chargeback.raw import collect as collect_module
from chargeback.raw.collect import run
from chargeback.reports.bill import monthly_bill
from collectors.base import Window
from collectors.registry import ACCOUNT as ACCOUNT_TARGET
from collectors.registry import Source, member_accounts
from tests.dashboard_support import open_app
from tests.reference import reference
from tests.services.aws import REGION, moto  # noqa: F401 - pytest fixture
from tests.services.dashboard import clear_streamlit_caches
from tests.services.prometheus import FaultProxy, SyntheticCluster, synthetic_prometheus  # noqa: F401 - fixture
from tests.test_collect_end_to_end import TENANCY, at, cur_lines, emr_history, truth_scenario, upload_cur

ROOT = Path(__file__).resolve().parents[1]
EAST_ROLE = "arn:aws:iam::111111111111:role/chargeback-reader"
WEST_ROLE = "arn:aws:iam::222222222222:role/chargeback-reader"
EAST_ACCOUNT, WEST_ACCOUNT = f"111111111111.{REGION}", f"222222222222.{REGION}"
EAST_IDS, WEST_IDS = b"i-0a1b2c3d4e5f6", b"i-0b9c8d7e6f5a4"  # west's nodes: the same shape, other instances


def west_of(cluster: SyntheticCluster) -> SyntheticCluster:
    """The synthetic cluster as ``west`` runs it: the same pods on other instances."""
    nodes = [
        dataclasses.replace(n, provider_id=n.provider_id.replace(EAST_IDS.decode(), WEST_IDS.decode()))
        for n in cluster.nodes
    ]
    return dataclasses.replace(cluster, nodes=nodes)


def per_cluster_cents(expected, config) -> dict[str, Decimal]:
    """The reference's exact amounts per tenant, apportioned to cents against the in-scope total, as a bill is."""
    exact: dict[str, Fraction] = {}
    for (_, tenant, _), amount in expected.lines.items():
        exact[tenant] = exact.get(tenant, Fraction(0)) + amount
    source = sum(expected.in_scope.values(), Fraction(0))
    total = to_cents(Decimal(source.numerator) / Decimal(source.denominator))
    cents = apportion(
        {t: Decimal(v.numerator) / Decimal(v.denominator) for t, v in exact.items()}, total, sorted(exact)
    )
    return {t: c for t, c in cents.items() if c}


def test_three_clusters_in_two_accounts_collect_side_by_side_and_bill_each_as_alone(
    tmp_path,
    monkeypatch,
    moto,  # noqa: F811
    synthetic_prometheus,  # noqa: F811
):
    east = synthetic_prometheus.cluster
    west = west_of(east)
    east_lines, west_lines = cur_lines(east, "east"), cur_lines(west, "west", emr=False)
    upload_cur(moto, east_lines + west_lines)  # the payer's CUR bills both
    emr_history(moto, east, "east", role_arn=EAST_ROLE)
    moto.create_virtual_cluster("elsewhere", "jobs", eks_cluster="not-ours", role_arn=WEST_ROLE)
    moto.create_volume(20, tags={"eks_cluster_name": "east"}, role_arn=EAST_ROLE)
    moto.create_volume(30, tags={"eks_cluster_name": "west"}, role_arn=WEST_ROLE)
    prometheus = {"max_concurrency": 2, "max_attempts": 1}
    with FaultProxy(synthetic_prometheus.url, rewrite=lambda body: body.replace(EAST_IDS, WEST_IDS)) as west_proxy:
        config = config_module.parse(
            {
                "data_dir": str(tmp_path / "data"),
                "tenancy": TENANCY,
                "clusters": [
                    {
                        "name": "east",
                        "prometheus": {"url": synthetic_prometheus.url} | prometheus,
                        "aws": {"role_arn": EAST_ROLE},
                    },
                    {
                        "name": "west",
                        "prometheus": {"url": west_proxy.url} | prometheus,
                        "aws": {"role_arn": WEST_ROLE},
                    },
                    {
                        "name": "lab",
                        "prometheus": {"url": "http://127.0.0.1:9"} | prometheus,
                        "aws": {"role_arn": WEST_ROLE},
                    },
                ],  # fmt: skip
                "collect": {"parallel": 4},
                "aws": moto.settings().model_dump(),
                "cur": {"location": "s3://acme-cur/exports/chargeback-cur2"},
            }
        )
        start, end = at(east.start), at(east.end)
        outcomes = run(config, ["all"], start=start, end=end, now=end + timedelta(hours=6))
        assert west_proxy.seen, "west was collected through its own endpoint"

    failed = {(o.source, o.target): o.error for o in outcomes if o.error}
    assert list(failed) == [("prometheus", "lab")] and "127.0.0.1:9" in failed[("prometheus", "lab")]
    assert {(o.source, o.target) for o in outcomes if o.error is None and o.skipped is None} == {
        ("prometheus", "east"),
        ("prometheus", "west"),
        *((source, account) for source in ("emr", "ec2", "elbv2") for account in (EAST_ACCOUNT, WEST_ACCOUNT)),
        ("cur", ACCOUNT_TARGET),
    }
    # Each member account's resources land under its own target, read through its own role.
    raw = tmp_path / "data" / "raw"
    landed = {
        path.name: pq.read_table(path).column("eks_cluster").to_pylist()
        for path in (raw / "emr" / "virtual_clusters").rglob("*.parquet")
    }
    # west's account has one virtual cluster, on an EKS cluster not configured here: not ours
    assert landed == {f"data-{EAST_ACCOUNT}.parquet": ["east"], f"data-{WEST_ACCOUNT}.parquet": []}
    sizes = {
        path.name: sorted(pq.read_table(path).column("size_gib").to_pylist())
        for path in (raw / "ec2" / "volumes").rglob("*.parquet")
    }
    assert sizes[f"data-{EAST_ACCOUNT}.parquet"] == [20] and sizes[f"data-{WEST_ACCOUNT}.parquet"] == [30]

    result = build(config)
    assert any(note.startswith("cluster lab is stale: no Prometheus data") for note in result.notes), result.notes
    for name, cluster, lines, emr in (("east", east, east_lines, True), ("west", west, west_lines, False)):
        expected = reference(truth_scenario(cluster, lines, name, emr=emr), config)
        bill = monthly_bill(config, "2025-03", cluster=name)
        assert {line.tenant: line.total for line in bill.lines} == per_cluster_cents(expected, config), name
    whole = monthly_bill(config, "2025-03")
    alone = {c: monthly_bill(config, "2025-03", cluster=c) for c in ("east", "west")}
    assert whole.total == sum(bill.total for bill in alone.values())
    # The whole bill by cluster: each line's clusters add up to it, and each is that cluster's own bill line but
    # for the rounding of the whole (a cent at most).
    split = CliRunner().invoke(
        app, ["bill", "-p", "2025-03", "--by-cluster", "-f", "json", "--data-dir", str(config.data_dir)]
    )
    assert split.exit_code == 0, split.output
    lines = json.loads(split.stdout)["lines"]
    assert {line["tenant"]: Decimal(line["total"]) for line in lines} == {b.tenant: b.total for b in whole.lines}
    for line in lines:
        assert sum(Decimal(c["total"]) for c in line["clusters"]) == Decimal(line["total"])
        for part in ("compute", "idle", "emr"):
            assert sum(Decimal(c[part]) for c in line["clusters"]) == whole_part(whole, line["tenant"], part)
        for share in line["clusters"]:
            own = {b.tenant: b.total for b in alone[share["cluster"]].lines}.get(line["tenant"], Decimal(0))
            assert abs(Decimal(share["total"]) - own) <= Decimal("0.01"), (line["tenant"], share)
    assert {c["cluster"] for line in lines for c in line["clusters"]} == {"east", "west"}

    with connect(config) as con:
        freshness = {f.cluster: f for f in read_freshness(con)}
    assert {name: f.stale for name, f in freshness.items()} == {"east": False, "west": False, "lab": True}
    assert freshness["lab"].last_hour is None and "prometheus (lab)" in freshness["lab"].failing
    assert freshness["east"].last_hour == freshness["west"].last_hour == end - timedelta(hours=1)
    status = CliRunner().invoke(app, ["status", "--data-dir", str(config.data_dir)], terminal_width=200)
    assert status.exit_code == 0 and "lab" in status.output and "stale: no Prometheus data" in status.output

    # Every dashboard page warns that lab is stale, and only where lab is in view.
    monkeypatch.setenv("CHARGEBACK_DATA_DIR", str(config.data_dir))
    monkeypatch.delenv("CHARGEBACK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    clear_streamlit_caches()
    pages = sorted(p.name for p in (ROOT / "dashboards" / "views").glob("*.py") if not p.name.startswith("_"))
    assert len(pages) == 7  # the six pages of the issue and Explore
    for file in pages:
        warnings = [w.value for w in open_app(f"views/{file}").warning]
        stale = [w for w in warnings if "is stale" in w]
        assert len(stale) == 1 and stale[0].startswith("Cluster lab is stale: no Prometheus data"), (file, warnings)
    assert not [w.value for w in open_app("views/overview.py", cluster="east").warning if "is stale" in w.value]
    # A tenant's bill page splits it by cluster, as `chargeback bill --by-cluster` does.
    page = open_app("views/tenant_bill.py", tenant="analytics")
    shown = next(t.value for t in page.dataframe if t.value.columns[0] == "cluster")
    expected = next(line for line in lines if line["tenant"] == "analytics")["clusters"]
    assert {row.cluster: f"{row.total:.2f}" for row in shown.itertuples()} == {
        c["cluster"]: c["total"] for c in expected
    }
    clear_streamlit_caches()


def whole_part(bill, tenant: str, part: str) -> Decimal:
    return next(line.parts[part] for line in bill.lines if line.tenant == tenant)


def test_member_accounts_group_the_clusters_by_role_and_region():
    config = config_module.parse(
        {
            "aws": {"region": "us-east-1"},
            "clusters": [
                {"name": "east", "aws": {"role_arn": EAST_ROLE}},
                {"name": "west", "aws": {"role_arn": WEST_ROLE}},
                {"name": "lab", "aws": {"role_arn": WEST_ROLE}},
                {"name": "dublin", "aws": {"role_arn": WEST_ROLE, "region": "eu-west-1"}},
                {"name": "payer"},
            ],
        }
    )
    found = [(target, settings.role_arn, settings.region, names) for target, settings, names in member_accounts(config)]
    assert found == [
        ("111111111111.us-east-1", EAST_ROLE, "us-east-1", ["east"]),
        ("222222222222.us-east-1", WEST_ROLE, "us-east-1", ["west", "lab"]),
        ("222222222222.eu-west-1", WEST_ROLE, "eu-west-1", ["dublin"]),
        ("default.us-east-1", None, "us-east-1", ["payer"]),
    ]
    alone = config_module.parse({"clusters": [{"name": "east"}, {"name": "west"}]})
    assert [(t, names) for t, _, names in member_accounts(alone)] == [(ACCOUNT_TARGET, ["east", "west"])]


class Waiting:
    """A collector whose collection waits until every other one of the barrier is collecting too."""

    source = "waiting"

    def __init__(self, barrier: threading.Barrier):
        self.barrier = barrier

    def streams(self):
        return ()

    def collect(self, window: Window):
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            raise CollectError(self.source, window, "the other collections never ran at the same time") from None
        yield from ()


@pytest.mark.parametrize("parallel", [1, 3])
def test_collections_run_side_by_side_up_to_the_parallel_setting(tmp_path, monkeypatch, parallel):
    barrier = threading.Barrier(3, timeout=2)  # three clusters: only all three at once get through
    source = Source("waiting", "window", lambda c: None, lambda c, r: [(t, Waiting(barrier)) for t in "abc"])
    monkeypatch.setattr(collect_module, "resolve", lambda names: [source])
    config = config_module.parse({"data_dir": str(tmp_path), "collect": {"parallel": parallel}})
    start = at(0) + timedelta(days=20_000)
    outcomes = run(config, ["waiting"], start=start, end=start + timedelta(hours=1), now=start + timedelta(hours=2))
    assert [o.target for o in outcomes] == ["a", "b", "c"]
    if parallel == 1:  # one at a time: the first waits for the others in vain, and the barrier breaks
        assert all("never ran at the same time" in (o.error or "") for o in outcomes)
    else:
        assert [o.error for o in outcomes] == [None, None, None]
