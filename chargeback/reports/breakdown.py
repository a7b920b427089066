"""Breakdowns of a bill in whole cents that add up to what they break down.

A bill's lines and parts get cents by largest remainder (``chargeback.core.money.apportion``). A page that
breaks a figure of the bill down further (a tenant's compute by namespace, then by workload, then by EMR job
run; a line by day) gives each item cents by the same rule, within the cents of the figure it breaks down,
so the items add up to the bill to the cent. What the figure holds beyond its items (its exact amount minus
theirs: money booked to the tenant but to none of the items) is one more item, the rest, so no cent moves
onto an item that did not cost it.

Frames are polars, exact amounts ``Decimal(38, 12)`` (the marts' type), cents ``Int64``. The rule runs on
whole columns at once (each amount's whole cents and remainder as 64-bit integers, one sort per level and part,
no Python loop over rows), so a month of a large fleet's workload-days is apportioned in a fraction of a second;
per group it gives exactly what ``money.apportion`` gives (tested, level by level, against it).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from chargeback.reports.bill import Bill

SCALE = 12  # the marts' DECIMAL scale: remainders are compared exactly at it
EXACT = pl.Decimal(38, SCALE)
REST = "rest"  # the column marking each group's rest row


def largest_remainder(group: np.ndarray, order: np.ndarray, amount: pl.Series, target: np.ndarray) -> np.ndarray:
    """Whole cents (``int64``) for each row: within each ``group`` (non-negative integers), the rows' exact
    ``amount``s rounded so they sum to the group's ``target`` (whole cents, the same on every row of the group).
    Each row first gets its amount truncated to the cent (toward zero); the cents still missing (or in excess) go
    one at a time to the rows with the largest (or most negative) remainders, ties broken by ``order`` (integers,
    unique within a group; the smallest first): ``money.apportion``'s rule."""
    floor, remainder = _truncated(amount)
    held = np.zeros(int(group.max(initial=0)) + 1, dtype=np.int64)
    np.add.at(held, group, floor)
    out = floor.copy()
    missing = target.astype(np.int64) - held[group]
    todo = np.flatnonzero(missing != 0)  # rows of groups with cents missing (or in excess): the others keep floors
    if not len(todo):
        return out
    if len(todo) < len(group):
        group, order, remainder, missing = group[todo], order[todo], remainder[todo], missing[todo]
    # the largest remainders first where cents are missing, the most negative where there are too many; then
    # order: one sort key (group, key, order), in 64 bits where it fits (a month's leaves), else 128
    key = np.where(missing >= 0, -remainder, remainder) + 10**SCALE  # in [1, 2 * 10^12]
    order = order - order.min()
    keys, orders = 2 * 10**SCALE + 1, int(order.max()) + 1
    if (int(group.max()) + 1) * keys * orders < 2**63:
        place = np.argsort((group * keys + key) * orders + order)  # unique in a group: no stable sort needed
    else:
        wide = pl.DataFrame({"g": group, "k": key, "o": order}).select(
            (pl.col("g").cast(pl.Int128) * keys + pl.col("k")) * orders + pl.col("o")
        )
        place = wide.to_series().arg_sort().to_numpy()
    # each row's rank in its group and the group's size, from where the group starts in that order
    ranked = group[place]
    starts = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1])))
    sizes = np.diff(np.append(starts, len(ranked)))
    rank = np.arange(len(ranked)) - np.repeat(starts, sizes)
    short = missing[place]
    size = np.repeat(sizes, sizes)
    many = np.abs(short)
    # a cent each to the first |short| rows (and |short| // size more to every row where that exceeds the group)
    extra = (rank < many) if (many < size).all() else many // size + (rank < many % size)
    # back in the rows' order, without a second sort
    out[todo[place] if len(todo) < len(out) else place] += np.sign(short) * extra
    return out


def _truncated(amount: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each exact amount in cents truncated toward zero (as ``money.apportion``), and what truncating left out, in
    units of 10^-12 of a cent (in (-10^12, 10^12): exact at the marts' scale); both ``int64``. On the amounts'
    integers at the scale (``Int128``), several times faster than on decimals."""
    units = amount.cast(EXACT).fill_null(0).to_physical().to_frame("u")  # the amount times 10^12
    per_cent = 10 ** (SCALE - 2)
    out = units.select(floor=pl.col("u").abs() // per_cent * pl.col("u").sign())
    out = out.select(pl.col("floor").cast(pl.Int64), remainder=((units["u"] - pl.col("floor") * per_cent) * 100))
    return out["floor"].to_numpy(), out["remainder"].cast(pl.Int64).to_numpy()


def line_targets(bill: Bill, parts: Sequence[str]) -> pl.DataFrame:
    """One row per bill line: ``tenant``, then for each of ``parts`` (a part of the bill, or ``total``) its exact
    amount (``Decimal``) and its billed cents (``{part}_cents``)."""

    def exact(line, part):
        return line.exact_total if part == "total" else line.exact_parts.get(part, line.parts[part])

    def billed(line, part):
        return line.total if part == "total" else line.parts[part]

    rows = [
        {
            "tenant": line.tenant,
            **{part: exact(line, part) for part in parts},
            **{f"{part}_cents": int(billed(line, part) * 100) for part in parts},
        }
        for line in bill.lines
    ]
    schema = {"tenant": pl.String, **dict.fromkeys(parts, EXACT), **{f"{p}_cents": pl.Int64 for p in parts}}
    return pl.DataFrame(rows, schema=schema)


def cascade(
    leaves: pl.DataFrame,
    targets: pl.DataFrame,
    parts: Sequence[str],
    top: Sequence[str],
    levels: Sequence[Sequence[str]],
) -> pl.DataFrame:
    """``leaves`` (one row per key: ``top`` plus every level's columns; exact ``parts``) in whole cents that add
    up, level by level, to the cents of ``targets`` (one row per ``top`` key: each part's exact amount and its
    ``{part}_cents``; a key missing there is billed nothing).

    Level one splits each target among its first-level items and its rest (the target's exact amount minus its
    leaves'); each further level splits each item of the level above among its own (ties: by the items' keys).
    Returns the leaves, then one row per target key whose rest holds a cent (level columns null, ``rest`` true),
    parts in cents (``Int64``)."""
    top, parts = list(top), list(parts)
    names = [c for level in levels for c in level]
    # the parts are split independently, side by side, and the items' codes found while the targets are matched
    # (numpy's and polars' work releases the GIL)
    with ThreadPoolExecutor(max_workers=max(2, len(parts)), thread_name_prefix="cascade") as pool:
        codes = [pool.submit(_codes, leaves, level) for level in levels]
        rows, both = _with_rests(leaves, targets, parts, top, names)
        # Each row's node at each depth as an integer (its target's place in ``both``, then its item's place
        # among the level's): grouping, gathering and sorting on them is several times faster than on the keys,
        # with the same ties. The cents of a depth's nodes are arrays indexed by node.
        node = (
            rows.select(top)
            .join(both.select(top).with_row_index("_node"), on=top, how="left", nulls_equal=True, maintain_order="left")
            .get_column("_node")
            .to_numpy()
            .astype(np.int64)
        )
        cents = {p: both.get_column(f"{p}_cents").fill_null(0).to_numpy().astype(np.int64) for p in parts}
        is_rest = rows.get_column(REST).to_numpy()
        for depth, future in enumerate(codes):
            item = np.concatenate([future.result(), np.zeros(len(rows) - len(leaves), dtype=np.int64)])
            if depth == 0:  # a target's rest after its items
                item = np.where(is_rest, item.max(initial=0) + 1, item)
            if depth == len(levels) - 1:  # the leaves themselves: one row per key already
                child, parent, order, amounts = np.arange(len(rows), dtype=np.int64), node, item, rows.select(parts)
            else:
                if (int(node.max(initial=0)) + 1) * (int(item.max(initial=0)) + 1) >= 2**62:
                    item = _dense(item)  # (then both are at most the rows' count: the key fits in 64 bits)
                child = _dense(node * (item.max(initial=0) + 1) + item)
                grouped = (
                    rows.select(parts)
                    .with_columns(_child=child, _parent=node, _item=item)
                    .group_by("_child")
                    .agg(pl.col("_parent", "_item").first(), *(pl.col(p).sum() for p in parts))
                    .sort("_child")
                )
                parent, order, amounts = grouped["_parent"].to_numpy(), grouped["_item"].to_numpy(), grouped
            split = {p: pool.submit(largest_remainder, parent, order, amounts[p], cents[p][parent]) for p in parts}
            cents = {p: future.result() for p, future in split.items()}
            node = child
    out = rows.drop(parts).with_columns(pl.Series(p, cents[p], dtype=pl.Int64) for p in parts)
    holds_a_cent = pl.any_horizontal(pl.col(p) != 0 for p in parts)
    return out.filter(~pl.col(REST) | holds_a_cent)


def _with_rests(
    leaves: pl.DataFrame, targets: pl.DataFrame, parts: list[str], top: list[str], names: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``leaves`` (exact parts) followed by one rest row per target key (``rest`` true, level columns null), and
    one row per target key (``both``) with its ``{part}_cents`` (null: billed nothing)."""
    sums = leaves.group_by(top).agg(pl.col(p).cast(EXACT).sum() for p in parts)
    wanted = targets.select(*top, *parts, *(f"{p}_cents" for p in parts))
    both = sums.join(wanted, on=top, how="full", coalesce=True, suffix="_target", nulls_equal=True)
    rest = both.select(
        *top,
        *(
            (pl.col(f"{p}_target").fill_null(0).cast(EXACT) - pl.col(p).fill_null(0).cast(EXACT)).alias(p)
            for p in parts
        ),
    )
    rows = pl.concat(
        [
            leaves.with_columns(pl.col(p).cast(EXACT) for p in parts).with_columns(pl.lit(False).alias(REST)),
            rest.with_columns(
                *(pl.lit(None, dtype=leaves.schema[c]).alias(c) for c in names), pl.lit(True).alias(REST)
            ),
        ],
        how="diagonal_relaxed",
    )
    return rows, both


def _codes(frame: pl.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """One ``int64`` per row that orders the rows as ``columns`` do (ascending, nulls first), equal where they are
    equal: from 0, below the product of the columns' counts of distinct values."""
    code = np.zeros(len(frame), dtype=np.int64)
    for column in columns:
        values = frame.get_column(column)
        if values.dtype == pl.Date:  # days, shifted: ordered as the dates are
            days = values.to_physical().cast(pl.Int64)
            ranked = (days - (days.min() or 0) + 1).fill_null(0).to_numpy()
        else:
            ranked = _rank(values)
        if (int(code.max(initial=0)) + 1) * (int(ranked.max(initial=0)) + 1) >= 2**62:
            code = _dense(code)  # (then at most the rows' count: the product fits)
        code = code * (ranked.max(initial=0) + 1) + ranked
    return code


def _dense(values: np.ndarray) -> np.ndarray:
    """The dense rank of each value, from 0."""
    return _rank(pl.Series(values)) - 1


def _rank(values: pl.Series) -> np.ndarray:
    """Each value's place among the distinct values in order, from 1; nulls 0 (first). Through the distinct
    values (a sort of them, then a lookup): several times faster than ranking every row."""
    distinct = values.drop_nulls().unique().sort()
    places = pl.int_range(1, len(distinct) + 1, dtype=pl.Int64, eager=True)
    ranked = values.replace_strict(distinct, places, default=0, return_dtype=pl.Int64)
    return ranked.fill_null(0).to_numpy()


def dollars(cents: str) -> pl.Expr:
    """A cents column as dollars (``Float64``) for tables and charts: exact to the cent when shown."""
    return (pl.col(cents) / 100).alias(cents)


# --- the dashboard's breakdowns -------------------------------------------------------------------

# what a tenant's workloads break down: its pods' compute and idle share, the storage of the claims they mount
# (and its namespaces' own) and their data transfer (and its namespaces' load balancers)
WORKLOAD_PARTS = ("compute", "idle", "storage", "network")
WORKLOAD_LEVELS = (("namespace",), ("workload_kind", "workload_name"), ("emr_job_run_id",))
JOB_PARTS = ("emr",)  # a job's own parts beside its pods' (fct_emr_job_costs)


def by_day(rows: pl.DataFrame, bill: Bill) -> pl.DataFrame:
    """Each bill line by day (``rows``: ``date``, ``tenant``, exact ``total``), in cents adding up to the line;
    what no day holds is a row with no date. Dollars (``Float64``), by date and line."""
    tenants = [line.tenant for line in bill.lines]
    out = cascade(rows, line_targets(bill, ["total"]), ["total"], ["tenant"], [["date"]])
    out = out.filter(pl.col("tenant").is_in(tenants) | (pl.col("total") != 0))
    return out.select("date", "tenant", dollars("total")).sort("date", "tenant", nulls_last=True)


def workload_cents(rows: pl.DataFrame, bill: Bill) -> pl.DataFrame:
    """The tenants' ``WORKLOAD_PARTS`` (``rows``: one row per tenant, namespace, workload and EMR job run, each
    part exact) in cents adding up to the bill's parts: by namespace, then workload, then job run.
    Only the tenants of ``rows`` (a tenant's cents do not depend on the others')."""
    targets = line_targets(bill, WORKLOAD_PARTS).filter(pl.col("tenant").is_in(rows["tenant"].unique().to_list()))
    return cascade(rows, targets, WORKLOAD_PARTS, ["tenant"], WORKLOAD_LEVELS)


def by_workload(rows: pl.DataFrame, bill: Bill) -> pl.DataFrame:
    """``workload_cents`` in dollars with ``total`` their sum, the largest first; each tenant's rest (what those
    parts hold beyond its namespaces: booked to it but to none of them) has no namespace and ``rest`` true."""
    out = workload_cents(rows, bill).with_columns(total=pl.sum_horizontal(*WORKLOAD_PARTS))
    return out.with_columns(*(dollars(p) for p in WORKLOAD_PARTS), dollars("total")).sort(
        ["total", "namespace", "workload_kind", "workload_name", "emr_job_run_id"],
        descending=[True, False, False, False, False],
        nulls_last=True,
    )


def emr_job_cents(jobs: pl.DataFrame, workloads: pl.DataFrame, bill: Bill) -> pl.DataFrame:
    """Each job run (``jobs``: one row per run with ``tenant`` and exact ``emr``) with what the bill charges for it:
    compute and idle share, storage (its claims' volumes) and network (its pods' transfer), its cents in
    ``workload_cents`` of ``workloads`` (so they are the same cents as on the tenant's drill-down); EMR charges in
    cents adding up, with the tenant's other EMR lines, to the bill's part. Cents (``Int64``), ``total`` their sum,
    the largest first."""
    with_runs = workloads.filter(pl.col("tenant").is_in(jobs["tenant"].unique().to_list()))
    pods = (
        workload_cents(with_runs, bill)
        .filter(pl.col("emr_job_run_id").is_not_null())
        .group_by("emr_job_run_id")
        .agg(pl.col(p).sum() for p in WORKLOAD_PARTS)
        .rename({"emr_job_run_id": "job_run_id"})
    )
    own = [p for p in JOB_PARTS if p in jobs.columns]
    runs = jobs.select("tenant", "job_run_id", *own)
    charges = cascade(runs, line_targets(bill, own), own, ["tenant"], [["job_run_id"]])
    charges = charges.filter(~pl.col(REST)).select("job_run_id", *own)
    parts = [*WORKLOAD_PARTS, *own]
    out = (
        jobs.drop(*WORKLOAD_PARTS, *own, "total", strict=False)
        .join(pods, on="job_run_id", how="left")
        .join(charges, on="job_run_id", how="left")
        .with_columns(pl.col(*parts).fill_null(0))
        .with_columns(total=pl.sum_horizontal(*parts))
    )
    return out.sort(["total", "job_run_id"], descending=[True, False])


def emr_jobs(jobs: pl.DataFrame, workloads: pl.DataFrame, bill: Bill) -> pl.DataFrame:
    """``emr_job_cents`` in dollars (``Float64``), the largest first."""
    out = emr_job_cents(jobs, workloads, bill)
    parts = [*WORKLOAD_PARTS, *(p for p in JOB_PARTS if p in jobs.columns)]
    return out.with_columns(*(dollars(p) for p in parts), dollars("total"))
