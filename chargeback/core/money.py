"""Money at the edge: half-up rounding to cents and largest-remainder apportioning.

Amounts are exact DECIMALs until a bill is printed. A bill's total is the source total rounded
half-up; its lines get cents by largest remainder (ties by line name), and each line's parts the
same way, so parts sum to their line and lines to the total, to the cent. Negative amounts (credits,
adjustments that give money back) round the way their absolute values do: half away from zero, and
largest remainder on absolute values, so negating every amount negates every cent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> Decimal:
    """Round half-up (away from zero at .5) to two places."""
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def apportion(
    amounts: Mapping[str, Decimal], target: Decimal, order: Sequence[str] | None = None
) -> dict[str, Decimal]:
    """Give each amount whole cents so they sum exactly to ``target`` (itself in whole cents).

    Each key first gets its amount truncated to the cent (toward zero: -1.238 gives -1.23, as 1.238 gives
    1.23); the cents still missing go one at a time to the keys whose remainder is the largest (a positive
    amount rounded away from zero first), the cents in excess are taken from the keys whose remainder is
    the most negative (a negative amount rounded away from zero first), ties broken by ``order`` (default:
    key order as given).
    """
    target = to_cents(target)
    keys = list(order) if order is not None else list(amounts)
    floors = {k: Decimal(amounts[k]).quantize(CENT, rounding=ROUND_DOWN) for k in keys}
    remainders = {k: Decimal(amounts[k]) - floors[k] for k in keys}
    result = dict(floors)
    missing = int((target - sum(floors.values(), Decimal(0))) / CENT)
    if not keys:
        return result
    rank = {k: i for i, k in enumerate(keys)}
    if missing >= 0:
        ranked = sorted(keys, key=lambda k: (-remainders[k], rank[k]))
        step = CENT
    else:
        ranked = sorted(keys, key=lambda k: (remainders[k], rank[k]))
        step = -CENT
    for i in range(abs(missing)):
        result[ranked[i % len(ranked)]] += step
    return result
