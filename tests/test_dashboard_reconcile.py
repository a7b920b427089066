"""The waterfall from the CUR to the bill on the dashboard (Data quality), and the Overview's and the Nodes page's
figures linked to its rows: every figure equal to `chargeback reconcile --format json`'s to the cent, over the
hand-computed month of tests/test_reconcile.py (whose figures that file works out)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chargeback.build.engines import build
from chargeback.cli import app
from chargeback.core import config as config_module
from dashboards import runtime
from dashboards.identity import Viewer
from tests.dashboard_support import cli, metric, open_app
from tests.test_dashboard_figures import values
from tests.test_reconcile import SETTINGS, month

D = Decimal
PERIOD = "2026-10"
QUALITY, OVERVIEW, NODES = "views/data_quality.py", "views/overview.py", "views/nodes.py"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """The env fixture (conftest.py) points the app here; the configuration is written where the app looks."""
    data_dir = tmp_path_factory.mktemp("waterfall") / "data"
    month().write(data_dir)
    (data_dir / "chargeback.toml").write_text('[[tenancy.namespaces]]\npattern = "team-a"\ntenant = "team-a"\n')
    build(config_module.parse({"data_dir": str(data_dir), **SETTINGS}))
    return data_dir


@pytest.fixture(scope="module")
def cli_json(data_dir) -> dict[str | None, dict]:
    """`chargeback reconcile --format json`, for every cluster (the real script) and for test-cluster."""
    whole = json.loads(cli(data_dir, "reconcile", "--period", PERIOD, "--format", "json"))
    args = ["reconcile", "-p", PERIOD, "-f", "json", "--cluster", "test-cluster", "--data-dir", str(data_dir)]
    one = CliRunner().invoke(app, args)
    assert one.exit_code == 0, one.output
    return {None: whole, "test-cluster": json.loads(one.stdout)}


def cents(text: str) -> Decimal:
    """A figure as the page shows it ("$1,001.51", "-$0.33") in cents."""
    return D(text.replace("$", "").replace(",", ""))


def chart(at, key: str) -> dict:
    (spec,) = [json.loads(el.proto.spec) for el in at.get("plotly_chart") if el.proto.id.endswith(f"-{key}")]
    return spec


def rows_table(at):
    for frame in at.dataframe:
        if "row" in frame.value.columns and "total" in frame.value.columns:
            return frame.value
    raise AssertionError("no waterfall table on the page")


def row(body: dict, section: str, name: str = "total") -> Decimal:
    (found,) = [D(r["amount"]) for r in body["rows"] if r["section"] == section and r["name"] == name]
    return found


@pytest.mark.parametrize("cluster", [None, "test-cluster"])
def test_the_waterfall_is_the_clis_to_the_cent(env, data_dir, cli_json, cluster):
    body = cli_json[cluster]
    at = open_app(QUALITY, period=PERIOD, **({"cluster": cluster} if cluster else {}))
    assert cents(metric(at, "CUR total (unblended)")) == row(body, "cur") == D("3.79")
    assert cents(metric(at, "In scope (amortized)")) == row(body, "in_scope")
    assert cents(metric(at, "Billed")) == row(body, "billed")
    assert metric(at, "Coverage") == f"{D(body['coverage']['share']) * 100:.2f}%"
    # the chart: the total, every step that moves money and the subtotals, each bar's text the row's cents
    spec = chart(at, "waterfall")["data"][0]
    bars = [r for r in body["rows"] if r["kind"] in ("start", "subtotal") or (r["kind"] == "step" and D(r["amount"]))]
    assert [D(str(y)).quantize(D("0.01")) for y in values(spec["y"])] == [D(r["amount"]) for r in bars]
    assert spec["measure"] == [{"start": "absolute", "step": "relative", "subtotal": "total"}[r["kind"]] for r in bars]
    assert [cents(t) for t in spec["text"]] == [D(r["amount"]) for r in bars]
    # the table: every row, a step's or part's change and a subtotal's running total
    table = rows_table(at)
    shown = [D(str(v)).quantize(D("0.01")) for v in table["change"].fillna(table["total"])]
    assert shown == [D(r["amount"]) for r in body["rows"]]
    assert [label.strip() for label in table["row"]] == [r["label"] for r in body["rows"]]
    # the composition: the in-scope categories and the bill lines, two bars of the same height
    composition = chart(at, "waterfall_composition")["data"]
    heights: dict[str, Decimal] = {}
    for trace in composition:
        for bar, x in zip(values(trace["y"]), values(trace["x"]), strict=True):
            heights[bar] = heights.get(bar, D(0)) + D(str(x)).quantize(D("0.01"))
    assert heights == {"In scope by category": row(body, "source"), "Bill by line": row(body, "billed")}


def test_the_split_comparison_is_the_clis(env, data_dir, cli_json):
    body = cli_json[None]
    at = open_app(QUALITY, period=PERIOD)
    (frame,) = [f.value for f in at.dataframe if "aws_split_cost" in f.value.columns]
    to_cents = lambda value: D(str(value)).quantize(D("0.01"))  # noqa: E731
    shown = {
        (r["namespace"], r["billed_to"]): (to_cents(r["aws_cost"]), to_cents(r["cost"]))
        for r in frame.to_dict("records")
    }
    # team-a: AWS 0.60 against 0.67 here; kube-system: AWS 0.30 against 0.33, billed to __shared__
    assert shown == {
        ("team-a", "team-a"): (D("0.60"), D("0.67")),
        ("kube-system", "__shared__"): (D("0.30"), D("0.33")),
    }
    cli_rows = {
        (r["namespace"], r["billed_to"]): (D(r["aws_cost"]), D(r["cost"])) for r in body["aws_split"]["namespaces"]
    }
    assert shown == cli_rows
    assert any("idle handling" in c.value for c in at.caption)


def test_the_overviews_source_bill_is_the_source_total_row(env, data_dir, cli_json):
    body = cli_json[None]
    at = open_app(OVERVIEW, period=PERIOD)
    assert cents(metric(at, "Source bill (in-scope CUR)")) == row(body, "source") == D("3.47")
    (caption,) = [c.value for c in at.caption if c.value.startswith("*Source bill* is")]
    # the CUR's 3.79 - 0.42 (out of scope and cost basis) = In scope 3.37, + 0.10 estimated
    assert "$3.79 − $0.42 out of scope and cost basis = *In scope* $3.37, + $0.10 estimated" in caption
    (link,) = at.get("page_link")
    assert (link.proto.page, link.proto.query_string) == ("quality", f"period={PERIOD}")


def test_the_nodes_pages_figures_are_the_rows_that_explain_them(env, data_dir, cli_json):
    body = cli_json["test-cluster"]
    at = open_app(NODES, period=PERIOD, cluster="test-cluster")
    figures = {f["name"]: f for f in body["nodes"]}
    # node cost 2.50 = Nodes 2.36 + Node volumes 0.04 + Estimated 0.10; idle 1.75 = 1.67 + 0.08 (test_reconcile.py)
    assert cents(metric(at, "Node cost")) == D(figures["node_cost"]["amount"]) == D("2.50")
    assert cents(metric(at, "Idle (unused, before sharing)")) == D(figures["node_idle"]["amount"]) == D("1.75")
    (frame,) = [f.value for f in at.dataframe if "node_group" in f.value.columns]
    total = frame[frame["node_group"] == "Total"].iloc[0]
    assert (round(D(str(total["cost"])), 2), round(D(str(total["idle"])), 2)) == (D("2.50"), D("1.75"))
    (caption,) = [c.value for c in at.caption if c.value.startswith("*Node cost*")]
    assert "$2.50 = $2.36 (row Nodes" in caption and "+ $0.04 (row Node volumes" in caption
    assert "*Idle* $1.75 = $1.67 (the bill's idle part" in caption
    (link,) = at.get("page_link")
    assert link.proto.query_string == f"period={PERIOD}&cluster=test-cluster"


def test_a_restricted_viewer_sees_no_waterfall(env, data_dir):
    env.setattr(runtime, "viewer", lambda: Viewer("ann@example.com", frozenset({"team-a"})))
    at = open_app(QUALITY, period=PERIOD)
    assert "From the CUR to the bill" not in [h.value for h in at.header]
    assert not at.get("page_link")
    overview = open_app(OVERVIEW, period=PERIOD)
    assert not overview.get("page_link")
