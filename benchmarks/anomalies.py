"""The anomaly detector's sensitivity and false-alarm rate, measured on a generated history whose anomalies are
injected and labelled by the generator, never by the detector.

    .venv/bin/python -m benchmarks.anomalies [--days 210] [--seed 17] [--threshold 4.0] [--weeks 4]

The history: daily costs of namespaces of three kinds over ``days`` days (30 weeks by default, seven months),
each with its own level and a slow trend: *services* (nearly flat, a quieter weekend, 5 % noise), *batch*
namespaces (a weekly profile: a heavy day or two, quiet weekends, 12 % noise) and *ad hoc Spark* (25 % noise).
After the first ``baseline_weeks`` weeks, each day of each namespace is, with probability 1.5 %, a spike (its cost
times 2.5 to 5) or a drop (times 0 to 0.3). The detector (``chargeback.reports.anomalies.score_days``) scores every
day with a full baseline; an injected day it flags is a hit, any other day it flags a false alarm.
"""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from chargeback.core.config import AnomalySettings
from chargeback.reports.anomalies import score_days

START = date(2026, 3, 2)  # a Monday
KINDS = ("service", "batch", "adhoc")
NOISE = {"service": 0.05, "batch": 0.12, "adhoc": 0.25}
RATE = 0.015  # injected anomalies per namespace-day


@dataclass(frozen=True)
class History:
    daily: pl.DataFrame  # tenant, namespace, kind, date, cost, injected (None, "spike" or "drop")
    baseline_weeks: int


def generate(days: int = 210, seed: int = 17, tenants: int = 6, namespaces: int = 5, weeks: int = 4) -> History:
    """A history of ``tenants`` x ``namespaces`` namespaces over ``days`` days, anomalies injected after the first
    ``weeks`` weeks and labelled."""
    rng = random.Random(seed)
    rows = []
    for t in range(tenants):
        for n in range(namespaces):
            kind = KINDS[(t + n) % len(KINDS)]
            level = math.exp(rng.uniform(math.log(15), math.log(400)))
            trend = rng.uniform(-0.002, 0.01)  # per week
            if kind == "batch":
                heavy = rng.sample(range(5), k=rng.choice((1, 2)))
                profile = [2.5 if d in heavy else 1.0 for d in range(5)] + [0.25, 0.2]
            elif kind == "service":
                profile = [1.0] * 5 + [0.9, 0.85]
            else:
                profile = [1.0] * 5 + [0.6, 0.5]
            for d in range(days):
                day = START + timedelta(days=d)
                expected = level * profile[day.weekday()] * (1 + trend) ** (d / 7)
                cost = expected * math.exp(rng.gauss(0, NOISE[kind]))
                injected = None
                if d >= 7 * weeks and rng.random() < RATE:
                    injected = "spike" if rng.random() < 0.7 else "drop"
                    cost *= rng.uniform(2.5, 5) if injected == "spike" else rng.uniform(0, 0.3)
                rows.append(
                    {
                        "tenant": f"tenant-{t}",
                        "namespace": f"ns-{t}-{n}",
                        "kind": kind,
                        "date": day,
                        "cost": round(cost, 2),
                        "injected": injected,
                    }
                )
    schema = {"tenant": pl.String, "namespace": pl.String, "kind": pl.String, "date": pl.Date, "cost": pl.Float64,
              "injected": pl.String}  # fmt: skip
    return History(pl.DataFrame(rows, schema=schema), weeks)


@dataclass(frozen=True)
class Measured:
    days: int  # namespace-days scored
    injected: int
    hits: int
    false_alarms: int
    by_kind: dict[str, tuple[int, int]]  # injected kind -> (injected, hit)

    @property
    def sensitivity(self) -> float:
        return self.hits / self.injected if self.injected else 1.0

    @property
    def false_alarm_rate(self) -> float:
        normal = self.days - self.injected
        return self.false_alarms / normal if normal else 0.0


def measure(history: History, settings: AnomalySettings) -> Measured:
    """Score the history with ``settings`` and count hits and false alarms against the generator's labels."""
    scored = score_days(history.daily.select("tenant", "namespace", "date", "cost"), ["tenant", "namespace"], settings)
    labelled = scored.join(history.daily.select("namespace", "date", "injected"), on=["namespace", "date"])
    injected = labelled.filter(pl.col("injected").is_not_null())
    by_kind = {
        kind: (len(part), int(part["anomalous"].sum()))
        for kind in ("spike", "drop")
        for part in [injected.filter(pl.col("injected") == kind)]
    }
    return Measured(
        days=len(labelled),
        injected=len(injected),
        hits=int(injected["anomalous"].sum()),
        false_alarms=int(labelled.filter(pl.col("injected").is_null())["anomalous"].sum()),
        by_kind=by_kind,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=210)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--threshold", type=float, default=AnomalySettings().threshold)
    parser.add_argument("--weeks", type=int, default=AnomalySettings().baseline_weeks)
    args = parser.parse_args(argv)
    settings = AnomalySettings(threshold=args.threshold, baseline_weeks=args.weeks)
    history = generate(args.days, args.seed, weeks=args.weeks)
    found = measure(history, settings)
    print(f"history: {history.daily['namespace'].n_unique()} namespaces x {args.days} days (seed {args.seed})")
    print(f"settings: baseline {settings.baseline_weeks} weeks, threshold {settings.threshold}, min_change "
          f"{settings.min_change}")  # fmt: skip
    print(f"namespace-days scored: {found.days:,}; injected anomalies: {found.injected}")
    print(f"sensitivity: {found.sensitivity:.1%} ({found.hits} of {found.injected})")
    for kind, (count, hit) in found.by_kind.items():
        print(f"  {kind}: {hit} of {count}")
    normal = found.days - found.injected
    print(f"false alarms: {found.false_alarms} of {normal:,} normal days ({found.false_alarm_rate:.2%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
