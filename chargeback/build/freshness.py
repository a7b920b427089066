"""Which clusters of a fleet are stale, as of a build: ``bookkeeping.cluster_freshness``.

A cluster is stale when its data stops short of the others', or when its collection is failing: its last observed
node-hour (Prometheus data, ``marts.fct_node_costs_hourly``) is ``[collect] stale_after_hours`` or more before the
newest cluster's, it has none at all, or the last run of one of its collections failed (``collection_status``:
Prometheus and the Kubernetes API of the cluster; EMR on EKS, EBS volumes and load balancers of its member
account). Measured against the newest cluster rather than the clock, so a month built from files (the demo, a
backfill) is not stale for being old. One cluster failing does not hold the others back: their collections and
bills go on, and the build's notes, ``chargeback status`` and every dashboard page say which cluster is behind and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from chargeback.core.config import Config
from collectors.registry import member_accounts

TABLE = "bookkeeping.cluster_freshness"
CLUSTER_SOURCES = ("prometheus", "kubernetes")  # collected per cluster
ACCOUNT_SOURCES = ("emr", "ec2", "elbv2")  # collected per member account


@dataclass(frozen=True)
class ClusterFreshness:
    cluster: str
    last_hour: datetime | None  # the last hour of its observed node-hours (None: none in the warehouse)
    behind_hours: int | None  # hours before the newest cluster's last hour
    failing: str | None  # "<source> (<target>): <error>; ..." for its collections whose last run failed
    stale: bool

    def reason(self) -> str:
        """Why it is stale, in words ("" when it is not)."""
        if not self.stale:
            return ""
        parts = []
        if self.last_hour is None:
            parts.append("no Prometheus data in the warehouse")
        elif self.behind_hours:
            parts.append(
                f"its data ends {self.behind_hours} h before the newest cluster's ({self.last_hour:%Y-%m-%d %H:%M} UTC)"
            )
        if self.failing:
            parts.append(f"last collection failed: {self.failing}")
        return "; ".join(parts)


def register_freshness(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """Create ``bookkeeping.cluster_freshness`` on ``con`` (which has the marts and ``collection_status``)."""
    observed = dict(
        con.execute(
            "select cluster, max(hour) filter (where is_observed) from marts.fct_node_costs_hourly group by cluster"
        ).fetchall()
    )
    failed = con.execute(
        "select source, target, last_error from bookkeeping.collection_status where last_error is not null"
    ).fetchall()
    account_of = {name: target for target, _, names in member_accounts(config) for name in names}
    newest = max((hour for hour in observed.values() if hour is not None), default=None)
    clusters = [cluster.name for cluster in config.clusters]
    clusters += sorted(name for name in observed if name not in clusters)
    rows = []
    for name in clusters:
        last = observed.get(name)
        behind = None if last is None or newest is None else int((newest - last).total_seconds() // 3600)
        failing = "; ".join(
            f"{source} ({target}): {error}"
            for source, target, error in failed
            if (source in CLUSTER_SOURCES and target == name)
            or (source in ACCOUNT_SOURCES and target == account_of.get(name))
        )
        stale = last is None or behind >= config.collect.stale_after_hours or bool(failing)
        rows.append([name, last, behind, failing or None, stale])
    con.execute(
        f"create table {TABLE} (cluster varchar, last_hour timestamptz, behind_hours integer, failing varchar,"
        " stale boolean)"
    )
    if rows:
        con.executemany(f"insert into {TABLE} values (?, ?, ?, ?, ?)", rows)


def read_freshness(con: duckdb.DuckDBPyConnection) -> list[ClusterFreshness]:
    """Every cluster's freshness recorded in the warehouse on ``con`` (none from a build before it was recorded)."""
    try:
        rows = con.execute(f"select cluster, last_hour, behind_hours, failing, stale from {TABLE} order by cluster")
    except duckdb.CatalogException:
        return []
    return [ClusterFreshness(*row) for row in rows.fetchall()]


def stale_notes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One line per stale cluster, for the build's notes."""
    return [
        f"cluster {f.cluster} is stale: {f.reason()} (see `chargeback status`)" for f in read_freshness(con) if f.stale
    ]
