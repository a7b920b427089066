"""Rounding at the edge: half-up totals and largest-remainder apportioning."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from chargeback.core.money import apportion, to_cents


def test_half_up_rounding():
    assert to_cents(D("0.005")) == D("0.01")
    assert to_cents(D("0.0049999")) == D("0.00")
    assert to_cents(D("-0.005")) == D("-0.01")
    assert to_cents(D("2.675")) == D("2.68")  # binary floats would give 2.67


def test_largest_remainder_matches_aws_namespace_example():
    # Exact namespace totals 0.414443 + 0.585557 = 1.00: the cents go 0.41 / 0.59, not 0.42 / 0.59.
    assert apportion({"a": D("0.414443"), "b": D("0.585557")}, D("1.00")) == {"a": D("0.41"), "b": D("0.59")}


def test_three_thirds_give_the_spare_cent_to_the_first_name_on_a_tie():
    third = D(1) / 3
    assert apportion({"x": third, "y": third, "z": third}, D("1.00"), order=["x", "y", "z"]) == {
        "x": D("0.34"),
        "y": D("0.33"),
        "z": D("0.33"),
    }


def test_negative_lines_and_excess_cents():
    # A credit line: floors give -0.02 + 1.01 = 0.99, one cent missing goes to the larger remainder (0.999).
    assert apportion({"credit": D("-0.014"), "usage": D("1.014")}, D("1.00")) == {
        "credit": D("-0.01"),
        "usage": D("1.01"),
    }


amounts = st.lists(
    st.decimals(min_value=-50, max_value=500, places=9, allow_nan=False, allow_infinity=False), min_size=1, max_size=12
)


@given(amounts)
def test_apportioned_cents_sum_to_the_rounded_total_and_stay_within_a_cent(values):
    named = {f"t{i}": v for i, v in enumerate(values)}
    target = to_cents(sum(values, D(0)))
    result = apportion(named, target)
    assert sum(result.values(), D(0)) == target
    for key, value in named.items():
        assert abs(result[key] - value) < D("0.01")
        assert result[key] == result[key].quantize(D("0.01"))


def test_negative_amounts_round_as_their_absolute_values():
    # Adjustments that give money back: -1.235 and -2.235 (sum -3.47) mirror 1.235 and 2.235, which truncate to
    # 1.23 + 2.23 = 3.46 and give the missing cent to the first of the tied remainders (0.005): 1.24 and 2.23.
    # Negated, the same key gets the cent: -1.24 and -2.23 (flooring toward minus infinity gave -1.23, -2.24).
    assert apportion({"a": D("1.235"), "b": D("2.235")}, D("3.47")) == {"a": D("1.24"), "b": D("2.23")}
    assert apportion({"a": D("-1.235"), "b": D("-2.235")}, D("-3.47")) == {"a": D("-1.24"), "b": D("-2.23")}
    assert to_cents(D("-0.125")) == D("-0.13")  # half away from zero


@given(amounts)
def test_negating_every_amount_negates_every_cent(values):
    named = {f"t{i}": v for i, v in enumerate(values)}
    target = to_cents(sum(values, D(0)))
    negated = apportion({k: -v for k, v in named.items()}, -target)
    assert negated == {k: -v for k, v in apportion(named, target).items()}
