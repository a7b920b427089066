"""Breakdowns of a bill in whole cents that add up to what they break down.

A bill's lines and parts get cents by largest remainder (``chargeback.core.money.apportion``). A page that
breaks a figure of the bill down further (a tenant's compute by namespace, then by workload, then by EMR job
run; a line by day) gives each item cents by the same rule, within the cents of the figure it breaks down,
so the items add up to the bill to the cent. What the figure holds beyond its items (its exact amount minus
theirs: money booked to the tenant but to none of the items) is one more item, the rest, so no cent moves
onto an item that did not cost it.

Frames are polars, exact amounts ``Decimal(38, 12)`` (the marts' type), cents ``Int64``. The rule runs on
whole frames at once (sorts and window sums, no Python loop over rows), so a month of a large fleet's job
runs is apportioned in milliseconds; per group it gives exactly what ``money.apportion`` gives (tested).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from chargeback.reports.bill import Bill

SCALE = 12  # the marts' DECIMAL scale: remainders are compared exactly at it
EXACT = pl.Decimal(38, SCALE)
REST = "rest"  # the column marking each group's rest row


def apportion_frame(
    frame: pl.DataFrame, amount: str, target: str, by: Sequence[str], order: Sequence[str]
) -> pl.Series:
    """Whole cents (``Int64``) for each row of ``frame``: within each group of ``by``, the rows' exact ``amount``s
    rounded so they sum to the group's ``target`` (whole cents, the same on every row of the group). Each row
    first gets its amount truncated to the cent (toward zero); the cents still missing (or in excess) go one at a
    time to the rows with the largest (or most negative) remainders, ties broken by ``order`` (ascending, nulls
    first): ``money.apportion``'s rule. (A single integer ``by`` and ``order`` column is the fastest.)"""
    cents = pl.col(amount).cast(EXACT) * 100
    truncated = pl.when(cents >= 0).then(cents.floor()).otherwise(cents.ceil())  # toward zero, as money.apportion
    work = frame.select(amount, target, _group=_group_ids(frame, by), _order=_ordinal(frame, order))
    work = work.with_columns(_floor=truncated)
    work = work.with_columns(
        _remainder=((cents - pl.col("_floor")) * 10**SCALE).cast(pl.Int64),  # in (-10^12, 10^12): exact at the scale
        _floor=pl.col("_floor").cast(pl.Int64),
    )
    work = work.with_columns(_missing=pl.col(target).cast(pl.Int64) - pl.col("_floor").sum().over("_group"))
    # the largest remainders first where cents are missing, the most negative where there are too many; then
    # order. One Int128 sort key (group, key, order), several times faster than a sort on three columns.
    key = pl.when(pl.col("_missing") >= 0).then(-pl.col("_remainder")).otherwise(pl.col("_remainder")) + 10**SCALE
    orders = (work["_order"].max() or 0) + 1
    sort_key = (pl.col("_group").cast(pl.Int128) * (2 * 10**SCALE + 1) + key) * orders + pl.col("_order")
    place = work.select(sort_key).to_series().arg_sort()  # (key, order) is unique in a group: no stable sort needed
    ranked = work.select("_group", "_floor", "_missing")[place]
    # each row's rank in its group and the group's size, from where the group starts and ends in that order
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    starts = pl.col("_group") != pl.col("_group").shift(1, fill_value=-1)
    ends = pl.col("_group") != pl.col("_group").shift(-1, fill_value=-1)
    first = pl.when(starts).then(row).forward_fill()
    size = pl.when(ends).then(row).backward_fill() - first + 1
    missing = pl.col("_missing").abs()
    extra = missing // size + (row - first < missing % size).cast(pl.Int64)
    cents_ranked = ranked.select(pl.col("_floor") + pl.col("_missing").sign() * extra).to_series().to_numpy()
    out = np.empty(len(work), dtype=np.int64)
    out[place.to_numpy()] = cents_ranked  # back in the frame's row order, without a second sort
    return pl.Series(out)


def _group_ids(frame: pl.DataFrame, columns: Sequence[str]) -> pl.Series:
    """A non-negative ``Int64`` per row, the same for rows equal on ``columns`` (a single integer column shifted,
    else their dense rank)."""
    if len(columns) == 1 and frame.schema[columns[0]].is_integer():
        return _ordinal(frame, columns)
    return frame.select(pl.struct(*columns).rank("dense").cast(pl.Int64)).to_series().alias("_group")


def _ordinal(frame: pl.DataFrame, columns: Sequence[str]) -> pl.Series:
    """A non-negative ``Int64`` per row that orders the rows as ``columns`` do (ascending, nulls first): a single
    integer column shifted, else the rows' place in that order (rows equal on ``columns`` get different numbers,
    which only ever break ties between rows of different groups)."""
    if len(columns) == 1 and frame.schema[columns[0]].is_integer():
        values = frame[columns[0]].cast(pl.Int64)
        low = values.min()
        return (values - (low if low is not None else 0) + 1).fill_null(0).alias("_ordinal")
    places = frame.select(pl.int_range(pl.len(), dtype=pl.Int64).sort_by(list(columns), nulls_last=False))
    out = np.empty(len(frame), dtype=np.int64)
    out[places.to_series().to_numpy()] = np.arange(len(frame), dtype=np.int64)
    return pl.Series("_ordinal", out)


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
    # The levels' keys as integers in the same order (nulls first): grouping, joining and sorting on them is
    # several times faster than on strings, with the same ties.
    code = {c: f"_code_{c}" for c in names}
    leaves = leaves.with_columns(pl.col(c).rank("dense").fill_null(0).cast(pl.Int64).alias(code[c]) for c in names)
    sums = leaves.group_by(top).agg(pl.col(p).cast(EXACT).sum() for p in parts)
    wanted = targets.select(*top, *parts, *(f"{p}_cents" for p in parts))
    both = sums.join(wanted, on=top, how="full", coalesce=True, suffix="_target", nulls_equal=True)
    rest = both.select(
        *top,
        *(
            (pl.col(f"{p}_target").fill_null(0).cast(EXACT) - pl.col(p).fill_null(0).cast(EXACT)).alias(p)
            for p in parts
        ),
    ).with_columns(pl.lit(-1, dtype=pl.Int64).alias(code[c]) for c in names)  # no item's code
    rows = pl.concat(
        [
            leaves.with_columns(pl.col(p).cast(EXACT) for p in parts).with_columns(pl.lit(False).alias(REST)),
            rest.with_columns(
                *(pl.lit(None, dtype=leaves.schema[c]).alias(c) for c in names), pl.lit(True).alias(REST)
            ),
        ],
        how="diagonal_relaxed",
    )
    keys = top
    parent = both.select(*top, *(pl.col(f"{p}_cents").fill_null(0).alias(f"_target_{p}") for p in parts))
    for depth, level in enumerate(levels):
        items = ([REST] if depth == 0 else []) + [code[c] for c in level]
        last = depth == len(levels) - 1  # the leaves themselves: one row per key already
        grouped = rows if last else rows.group_by(*keys, *items).agg(pl.col(p).sum() for p in parts)
        grouped = grouped.join(parent.with_row_index("_parent"), on=keys, how="left", nulls_equal=True)
        grouped = grouped.with_columns(_ordinal(grouped, items).alias("_items"))  # one order for every part
        grouped = grouped.with_columns(
            apportion_frame(grouped, p, f"_target_{p}", ["_parent"], ["_items"]).alias(f"_target_{p}") for p in parts
        ).drop("_parent", "_items")
        keys = [*keys, *items]
        parent = grouped if last else grouped.select(*keys, *(f"_target_{p}" for p in parts))
    out = parent.drop(parts).rename({f"_target_{p}": p for p in parts}).drop(code.values())
    holds_a_cent = pl.any_horizontal(pl.col(p) != 0 for p in parts)
    return out.filter(~pl.col(REST) | holds_a_cent)


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
