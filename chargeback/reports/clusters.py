"""A fleet's bill by cluster: each bill line's parts split over the clusters its money comes from, in whole cents
that add up to the line (``chargeback.reports.breakdown``'s rule: largest remainder within the line's cents).

This splits the bill of every cluster together. ``chargeback bill --cluster C`` is another bill: cluster C's alone,
rounded from C's own source total, so one of its lines can differ by a cent from C's share here.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import polars as pl

from chargeback.build.closed import AMOUNTS, BOOKED, closed_month
from chargeback.build.warehouse import connect
from chargeback.core.config import Config
from chargeback.reports import queries
from chargeback.reports.bill import COST_PARTS, PARTS, Bill, monthly_bill
from chargeback.reports.breakdown import EXACT, cascade, line_targets

Amounts = dict[tuple[str, str], dict[str, Decimal]]  # (tenant, cluster) -> part -> exact amount


def _amounts(config: Config, period: str) -> Amounts:
    """The exact amounts of ``period`` per bill line, cluster and part (adjustments as the part ``adjustment``): the
    warehouse's, or a closed month's frozen ones."""
    found: Amounts = defaultdict(lambda: dict.fromkeys(PARTS, Decimal(0)))
    closed = closed_month(config.data_dir, period)
    if closed is not None:
        for row in closed.table(AMOUNTS).to_pylist():
            found[(row["tenant"], row["cluster"])][row["part"]] += row["amount"]
        for row in closed.table(BOOKED).to_pylist():
            found[(row["tenant"], row["cluster"])]["adjustment"] += row["amount"]
        return found
    with connect(config) as con:
        for tenant, cluster, *parts in con.execute(queries.BILL_CLUSTER_LINES, {"period": period}).fetchall():
            found[(tenant, cluster)] |= dict(zip(COST_PARTS, parts, strict=True))
        for tenant, cluster, amount in con.execute(queries.BILL_CLUSTER_ADJUSTMENTS, {"period": period}).fetchall():
            found[(tenant, cluster)]["adjustment"] += amount
    return found


def by_cluster(config: Config, period: str, tenant: str | None = None) -> tuple[Bill, pl.DataFrame]:
    """The bill of ``period`` (every cluster; ``tenant``: its line only) and its lines by cluster: one row per
    line and cluster (``tenant``, ``cluster``, each of ``PARTS`` and ``total`` in whole cents, ``Int64``), the rows of
    a line adding up to it part by part; what a line holds beyond its clusters' amounts (rounding at the cent only)
    is a row with no cluster. By line, then cluster."""
    bill = monthly_bill(config, period, tenant)
    lines = {line.tenant for line in bill.lines}
    rows = [
        {"tenant": t, "cluster": c, **parts}
        for (t, c), parts in sorted(_amounts(config, period).items(), key=lambda item: (item[0][0], item[0][1] or ""))
        if t in lines
    ]
    schema = {"tenant": pl.String, "cluster": pl.String, **dict.fromkeys(PARTS, EXACT)}
    leaves = pl.DataFrame(rows, schema=schema)
    targets = line_targets(bill, PARTS)
    for part in PARTS:  # the exact amount of a part the line does not keep exactly (adjustments): its own cents
        targets = targets.with_columns(pl.col(part).cast(EXACT))
    cents = cascade(leaves, targets, PARTS, ["tenant"], [["cluster"]])
    out = cents.with_columns(total=pl.sum_horizontal(*PARTS))
    return bill, out.select("tenant", "cluster", *PARTS, "total").sort("tenant", "cluster", nulls_last=True)
