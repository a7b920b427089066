"""Breakdowns of a bill in whole cents (``chargeback.reports.breakdown``): the bill's own rounding rule, run on
whole frames, adding up level by level to the figure they break down."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from chargeback.core.money import apportion
from chargeback.reports.bill import Bill, BillLine
from chargeback.reports.breakdown import EXACT, apportion_frame, cascade, line_targets

D = Decimal
amounts = st.decimals(min_value=D("-50"), max_value=D("500"), places=12, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(groups=st.lists(st.lists(amounts, min_size=1, max_size=7), min_size=1, max_size=4), nudge=st.integers(-3, 3))
def test_apportion_frame_gives_what_money_apportion_gives(groups, nudge):
    """Per group, the vectorised rule is money.apportion's: same floors, same remainders, same ties (key order)."""
    rows, expected = [], {}
    for g, values in enumerate(groups):
        keys = [f"k{i}" for i in range(len(values))]
        target = sum(values, D(0)).quantize(D("0.01")) + D(nudge) / 100  # cents missing and cents in excess
        expected.update({(g, k): v for k, v in apportion(dict(zip(keys, values, strict=True)), target).items()})
        rows += [
            {"g": g, "key": k, "amount": v, "target": int(target * 100)} for k, v in zip(keys, values, strict=True)
        ]
    frame = pl.DataFrame(rows, schema={"g": pl.Int64, "key": pl.String, "amount": EXACT, "target": pl.Int64})
    cents = apportion_frame(frame, "amount", "target", ["g"], ["key"])
    got = {(g, k): D(c) / 100 for g, k, c in zip(frame["g"], frame["key"], cents, strict=True)}
    assert got == expected


def test_apportion_frame_by_hand():
    # 1.004 + 1.004 + 0.992 = 3.000 -> floors 1.00, 1.00, 0.99 = 2.99; one cent missing goes to the largest
    # remainder (0.992 -> 0.2 of a cent left, the others 0.4: a tie broken by key order: "a")
    frame = pl.DataFrame(
        {"g": [1, 1, 1], "key": ["b", "a", "c"], "amount": [D("1.004"), D("1.004"), D("0.992")], "target": [300] * 3},
        schema={"g": pl.Int64, "key": pl.String, "amount": EXACT, "target": pl.Int64},
    )
    assert apportion_frame(frame, "amount", "target", ["g"], ["key"]).to_list() == [100, 101, 99]


def line(tenant: str, total: str, exact_total: str, parts: dict[str, str], exact: dict[str, str]) -> BillLine:
    return BillLine(
        tenant, D(total), {k: D(v) for k, v in parts.items()}, D(exact_total), {k: D(v) for k, v in exact.items()}
    )


def test_cascade_adds_up_level_by_level_with_a_rest():
    # The bill: team's compute exact 10.005 billed 10.01 (it won the cent at the bill's rounding).
    bill = Bill(
        "2026-10", "USD", None, D("10.01"), D("10.005"), D("0"),
        (line("team", "10.01", "10.005", {"compute": "10.01"}, {"compute": "10.005"}),),
    )  # fmt: skip
    # Its workloads hold 3.3333 + 3.3333 (ns-a: w1, w2) + 3.3334 (ns-b: w3) = 9.9999 of it; the rest, 0.0051,
    # is booked to the tenant but to no workload.
    leaves = pl.DataFrame(
        {
            "tenant": ["team"] * 3,
            "namespace": ["ns-a", "ns-a", "ns-b"],
            "workload": ["w1", "w2", "w3"],
            "compute": [D("3.3333"), D("3.3333"), D("3.3334")],
        },
        schema_overrides={"compute": EXACT},
    )
    out = cascade(leaves, line_targets(bill, ["compute"]), ["compute"], ["tenant"], [["namespace"], ["workload"]])
    # Level one, 10.01 over ns-a 6.6666, ns-b 3.3334, rest 0.0051: floors 6.66 + 3.33 + 0.00 = 9.99; two cents
    # missing go to the largest remainders: ns-a (0.66 of a cent), rest (0.51): ns-a 6.67, ns-b 3.33, rest 0.01.
    # Level two, ns-a's 6.67 over w1 3.3333, w2 3.3333: floors 6.66, one cent to the tie's first, w1: 3.34, 3.33.
    got = {(r["namespace"], r["workload"], r["rest"]): r["compute"] for r in out.iter_rows(named=True)}
    assert got == {
        ("ns-a", "w1", False): 334,
        ("ns-a", "w2", False): 333,
        ("ns-b", "w3", False): 333,
        (None, None, True): 1,
    }
    assert sum(got.values()) == 1001  # the bill's 10.01


def test_cascade_bills_nothing_where_the_bill_has_no_line():
    # A tenant whose line the bill leaves out (no money): its leaves, +5.00 and -5.00, stay as they are and the
    # rest is nothing.
    bill = Bill("2026-10", "USD", None, D("0.00"), D("0"), D("0"), ())
    leaves = pl.DataFrame(
        {"tenant": ["x", "x"], "day": [1, 2], "total": [D("5"), D("-5")]}, schema_overrides={"total": EXACT}
    )
    out = cascade(leaves, line_targets(bill, ["total"]), ["total"], ["tenant"], [["day"]])
    assert out.sort("day")["total"].to_list() == [500, -500]
    assert not out["rest"].any()
