"""Breakdowns of a bill in whole cents (``chargeback.reports.breakdown``): the bill's own rounding rule, run on
whole frames, adding up level by level to the figure they break down."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from chargeback.core.money import apportion
from chargeback.reports.bill import Bill, BillLine
from chargeback.reports.breakdown import EXACT, cascade, largest_remainder, line_targets

D = Decimal
amounts = st.decimals(min_value=D("-50"), max_value=D("500"), places=12, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(
    groups=st.lists(st.lists(amounts, min_size=1, max_size=7), min_size=1, max_size=4),
    nudge=st.integers(-3, 3),
    spread=st.sampled_from([1, 10**7]),
)
def test_largest_remainder_gives_what_money_apportion_gives(groups, nudge, spread):
    """Per group, the vectorised rule is money.apportion's: same floors, same remainders, same ties (key order,
    not the rows' order: the rows come reversed). (Groups numbered 10^7 apart need a sort key wider than 64 bits:
    the same cents.)"""
    rows, expected = [], {}
    for g, values in enumerate(groups):
        g *= spread
        keys = [f"k{i}" for i in range(len(values))]
        target = sum(values, D(0)).quantize(D("0.01")) + D(nudge) / 100  # cents missing and cents in excess
        expected.update({(g, k): v for k, v in apportion(dict(zip(keys, values, strict=True)), target).items()})
        rows += [(g, i, k, v, int(target * 100)) for i, (k, v) in enumerate(zip(keys, values, strict=True))]
    rows.reverse()
    group, order, keys, values, targets = zip(*rows, strict=True)
    cents = largest_remainder(np.array(group), np.array(order), pl.Series(values, dtype=EXACT), np.array(targets))
    got = {(g, k): D(int(c)) / 100 for g, k, c in zip(group, keys, cents, strict=True)}
    assert got == expected


def test_largest_remainder_by_hand():
    # 1.004 + 1.004 + 0.992 = 3.000 -> floors 1.00, 1.00, 0.99 = 2.99; one cent missing goes to the largest
    # remainder (0.992 -> 0.2 of a cent left, the others 0.4: a tie broken by order: the second row's 0 first)
    amounts = pl.Series([D("1.004"), D("1.004"), D("0.992")], dtype=EXACT)
    cents = largest_remainder(np.array([1, 1, 1]), np.array([1, 0, 2]), amounts, np.array([300] * 3))
    assert cents.tolist() == [100, 101, 99]


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


# --- cascade against a reference: money.apportion, level by level, in plain Python ---------------------

NAMES = (None, "a", "b")  # an item's key may be null: nulls order first


def _first_nulls(key: tuple) -> tuple:
    return tuple((v is not None, v if v is not None else "") for v in key)


def reference_cascade(leaves: list[dict], targets: dict[str, tuple[Decimal, int]], part: str) -> dict:
    """Each target split over its namespaces and its rest, each namespace over its (kind, name)s, each of those
    over its days: money.apportion at every level, ties by key order (nulls first), the rest last."""
    out = {}
    for tenant in sorted({r["tenant"] for r in leaves} | set(targets)):
        exact, cents = targets.get(tenant, (D(0), 0))
        _split([r for r in leaves if r["tenant"] == tenant], part, exact, cents, 0, (tenant,), out)
    return out


def _split(rows: list[dict], part: str, exact: Decimal, cents: int, level: int, path: tuple, out: dict) -> None:
    if level == len(LEVELS):
        out[(*path, False)] = cents
        return
    items: dict[tuple, list[dict]] = {}
    for r in rows:
        items.setdefault(tuple(r[c] for c in LEVELS[level]), []).append(r)
    order = sorted(items, key=_first_nulls)
    amounts = {k: sum((r[part] for r in items[k]), D(0)) for k in order}
    if level == 0:
        order.append("rest")
        amounts["rest"] = exact - sum(amounts.values(), D(0))
    given = apportion(amounts, D(cents) / 100, order)
    for key in order:
        if key == "rest":
            out[(*path, *(None for _ in range(sum(map(len, LEVELS)))), True)] = int(given[key] * 100)
        else:
            _split(items[key], part, exact, int(given[key] * 100), level + 1, (*path, *key), out)


LEVELS = (("namespace",), ("kind", "name"), ("day",))
TWO_PARTS = ("compute", "idle")
leaf_keys = st.tuples(
    st.sampled_from(("t1", "t2", "t3")), st.sampled_from(NAMES), st.sampled_from(NAMES), st.sampled_from(NAMES),
    st.integers(1, 3),
)  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(
    leaves=st.dictionaries(leaf_keys, st.tuples(amounts, amounts), min_size=1, max_size=25),
    offsets=st.tuples(amounts, amounts),
    nudges=st.tuples(st.integers(-2, 2), st.integers(-2, 2)),
)
def test_cascade_gives_what_money_apportion_gives_level_by_level(leaves, offsets, nudges):
    """Three levels (a two-column one among them), null keys, negative amounts, a tenant the bill has no line for
    (t3) and one with a line but no leaves (t4): every leaf's cents and every rest equal the reference's."""
    rows = [
        {"tenant": k[0], "namespace": k[1], "kind": k[2], "name": k[3], "day": k[4], "compute": c, "idle": i}
        for k, (c, i) in leaves.items()
    ]
    targets = {}
    for tenant, offset, nudge in (("t1", offsets[0], nudges[0]), ("t2", offsets[1], nudges[1]), ("t4", D(7), 0)):
        exact = {p: sum((r[p] for r in rows if r["tenant"] == tenant), D(0)) + offset for p in TWO_PARTS}
        targets[tenant] = {p: (v, int(v.quantize(D("0.01")) * 100) + nudge) for p, v in exact.items()}
    frame = pl.DataFrame(rows, schema={
        "tenant": pl.String, "namespace": pl.String, "kind": pl.String, "name": pl.String, "day": pl.Int64,
        "compute": EXACT, "idle": EXACT,
    })  # fmt: skip
    wanted = pl.DataFrame(
        [{"tenant": t, **{p: v[p][0] for p in v}, **{f"{p}_cents": v[p][1] for p in v}} for t, v in targets.items()],
        schema={"tenant": pl.String, **dict.fromkeys(TWO_PARTS, EXACT), **{f"{p}_cents": pl.Int64 for p in TWO_PARTS}},
    )
    out = cascade(frame, wanted, TWO_PARTS, ["tenant"], [list(level) for level in LEVELS])
    for part in TWO_PARTS:
        expected = reference_cascade(rows, {t: v[part] for t, v in targets.items()}, part)
        got = {
            (r["tenant"], r["namespace"], r["kind"], r["name"], r["day"], r["rest"]): r[part]
            for r in out.iter_rows(named=True)
        }
        # the cascade leaves out a rest that holds no cent in any part
        assert {k for k in got if not k[-1]} == {k for k in expected if not k[-1]}
        assert got == {k: v for k, v in expected.items() if k in got}
        assert all(v == 0 for k, v in expected.items() if k not in got)
