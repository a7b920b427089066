"""Cost anomalies: a tenant's (or one of its namespaces') daily cost far from the same weekday of the weeks before.

Spark batch weeks are not flat (a Monday's backfill, a quiet Sunday), so a day is compared with the same weekday of
the ``[anomalies] baseline_weeks`` weeks before it (their median: the *baseline*), never with yesterday. Costs vary
in proportion to their level, so the comparison is a ratio, in logs: ``log((cost + 1) / (baseline + 1))`` (one unit
of the currency added so a day of zero cost has one); a spike to 3x and a drop to a third are as far. The *spread*
is that of the baseline's own errors: the median of the absolute log ratios of the four weeks before the day (every
weekday), times 1.4826 to estimate a standard deviation, never below 0.05. The *score* is the log ratio over the
spread (a robust z-score); a day is anomalous when ``|score| >= threshold`` and it differs from its baseline by at
least ``min_change``: a spike (score > 0) or a drop (score < 0; often a collection that stopped: see ``chargeback
status``). A day without ``baseline_weeks`` weeks before it, and four more weeks of scored days to take the spread
from, is not scored (a new namespace, the first two months of the data). A key's day without cost is a day of cost
zero, from its first day with cost on.

The sensitivity and false-alarm rate of these settings are measured on a generated history with anomalies
injected and labelled by the generator (``python -m benchmarks.anomalies``; docs/alerts.md gives the figures, and
``tests/test_anomalies.py`` holds them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import polars as pl

from chargeback.build.warehouse import connect
from chargeback.core.config import AnomalySettings, Config
from chargeback.core.money import to_cents
from chargeback.reports import queries_trends

MAD_TO_SIGMA = 1.4826  # a normal distribution's standard deviation per MAD
MIN_LOG_SPREAD = 0.05  # the spread is never below 5 % (a series flat for weeks is not alarmed by every cent)
OFFSET = 1.0  # currency units added to a day and its baseline before their ratio is taken
ERROR_WEEKS = 4  # weeks of the baseline's past errors its spread is taken from


@dataclass(frozen=True)
class Anomaly:
    date: date
    cluster: str
    tenant: str
    namespace: str | None  # None: the tenant's whole daily cost on the cluster
    cost: Decimal
    baseline: Decimal  # the median of the same weekday in the weeks before
    score: float  # log ratio to the baseline over the spread

    @property
    def direction(self) -> str:
        return "spike" if self.score > 0 else "drop"

    @property
    def change(self) -> Decimal:
        return self.cost - self.baseline

    @staticmethod
    def of(row: dict) -> Anomaly:
        """The anomaly of a row of ``scored``."""
        cost, baseline = to_cents(Decimal(row["amount"])), to_cents(Decimal(repr(row["baseline"])))
        return Anomaly(row["date"], row["cluster"], row["tenant"], row["namespace"], cost, baseline, row["score"])


def score_days(daily: pl.DataFrame, keys: Sequence[str], settings: AnomalySettings) -> pl.DataFrame:
    """Score every day of ``daily`` (``keys``, ``date``, ``cost``: one row per key and day with cost) against the
    same weekday of the ``settings.baseline_weeks`` weeks before: ``keys``, ``date``, ``amount`` (the cost as
    given), ``cost``, ``baseline``, ``spread`` and ``score`` (floats) and ``anomalous``, for the days with a full
    baseline (a key's missing days are zero from its first day on, up to the last day of ``daily``)."""
    keys = list(keys)
    if daily.is_empty():
        schema = {**{k: daily.schema[k] for k in keys}, "date": pl.Date, "amount": daily.schema["cost"],
                  "cost": pl.Float64, "baseline": pl.Float64,
                  "spread": pl.Float64, "score": pl.Float64, "anomalous": pl.Boolean}  # fmt: skip
        return pl.DataFrame(schema=schema)
    last = daily["date"].max()
    firsts = daily.group_by(keys).agg(pl.col("date").min().alias("first"))
    grid = firsts.with_columns(date=pl.date_ranges("first", pl.lit(last), interval="1d")).explode("date")
    frame = (
        grid.drop("first")
        .join(
            daily.select(*keys, "date", pl.col("cost").alias("amount"), pl.col("cost").cast(pl.Float64)),
            on=[*keys, "date"],
            how="left",
        )
        .with_columns(pl.col("cost").fill_null(0.0), pl.col("amount").fill_null(0))
        .sort([*keys, "date"])
    )
    weeks = settings.baseline_weeks
    lags = [pl.col("cost").shift(7 * k).over(keys).alias(f"_w{k}") for k in range(1, weeks + 1)]
    frame = frame.with_columns(lags).filter(pl.col(f"_w{weeks}").is_not_null())
    history = pl.concat_list([f"_w{k}" for k in range(1, weeks + 1)])
    frame = frame.with_columns(baseline=history.list.median())
    # Costs vary in proportion to their level (a job twice as large costs twice as much), so a day is compared with
    # its baseline as a ratio, in logs (one unit of the currency added to both, so a day of zero cost has a ratio):
    # a spike to 3x and a drop to a third are as far. The spread is that of the baseline's own errors over the
    # weeks before (every weekday): a MAD of the few same-weekday values alone underestimates it badly (of four
    # values, it is half the gap of the middle two).
    ratio = ((pl.col("cost") + OFFSET) / (pl.col("baseline") + OFFSET)).log()
    frame = frame.with_columns(_ratio=ratio)
    errors = frame.rolling("date", period=f"{7 * ERROR_WEEKS}d", closed="left", group_by=keys).agg(
        _mad=pl.col("_ratio").abs().median(), _known=pl.len()
    )
    frame = frame.join(errors, on=[*keys, "date"], how="left").filter(pl.col("_known") >= 7 * ERROR_WEEKS)
    spread = pl.max_horizontal(pl.col("_mad") * MAD_TO_SIGMA, pl.lit(MIN_LOG_SPREAD))
    frame = frame.with_columns(spread=spread).with_columns(score=pl.col("_ratio") / pl.col("spread"))
    flagged = (pl.col("score").abs() >= settings.threshold) & (
        (pl.col("cost") - pl.col("baseline")).abs() >= float(settings.min_change)
    )
    columns = [*keys, "date", "amount", "cost", "baseline", "spread", "score", "anomalous"]
    return frame.with_columns(anomalous=flagged).select(columns)


def daily_costs(config: Config, since: date, until: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The daily cost of each tenant (``cluster``, ``tenant``, ``date``, ``cost``: every part of its bill line)
    and of each of its namespaces (``namespace`` too: its pods' compute and idle share, the storage and network of
    its workloads and its own), from ``since`` (the baseline's first day) to ``until`` (included). Tenants only,
    not the idle, shared or unallocated lines."""
    params = {"since": since, "until": until}
    with connect(config) as con:
        tenants = con.sql(queries_trends.TENANT_DAILY_COSTS, params=params).pl()
        namespaces = con.sql(queries_trends.NAMESPACE_DAILY_COSTS, params=params).pl()
    return tenants, namespaces


def last_complete_day(config: Config) -> date | None:
    """The last day whose every hour the warehouse has costs for (None: no costs yet)."""
    with connect(config) as con:
        end = con.execute(queries_trends.LAST_COST_HOUR).fetchone()[0]
    return None if end is None else (end - timedelta(days=1)).date()


def scored(config: Config, since: date, until: date) -> pl.DataFrame:
    """Every day from ``since`` to ``until`` with a full baseline, per tenant (``namespace`` null) and per namespace
    on each cluster: ``score_days``' columns."""
    start = since - timedelta(weeks=config.anomalies.baseline_weeks + ERROR_WEEKS)  # the spread's weeks' baselines
    tenants, namespaces = daily_costs(config, start, until)
    frames = [
        score_days(tenants, ["cluster", "tenant"], config.anomalies).with_columns(namespace=pl.lit(None, pl.String)),
        score_days(namespaces, ["cluster", "tenant", "namespace"], config.anomalies),
    ]
    columns = ["cluster", "tenant", "namespace", "date", "amount", "cost", "baseline", "spread", "score", "anomalous"]
    both = pl.concat([f.select(columns) for f in frames], how="vertical_relaxed")
    return both.filter(pl.col("date").is_between(since, until))


def detect(config: Config, since: date | None = None, until: date | None = None) -> list[Anomaly]:
    """The anomalous days from ``since`` to ``until`` (default: the last complete day, alone), per tenant and per
    namespace on each cluster, the largest scores first."""
    until = until or last_complete_day(config)
    if until is None:
        return []
    found = [Anomaly.of(row) for row in scored(config, since or until, until).filter(pl.col("anomalous")).to_dicts()]
    return sorted(found, key=lambda a: (-abs(a.score), a.date, a.cluster, a.tenant, a.namespace or ""))
