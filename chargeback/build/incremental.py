"""Incremental builds: rebuild only the days whose inputs changed.

Pricing every pod-hour (``intermediate.int_pod_hours_priced``, one row per pod per hour) is the largest
write of a build. A model whose header says ``-- incremental: day`` (the priced pod-hours and the pod-level
roll-ups read from them) is stored as Parquet outside the warehouse file, a folder per day and cluster in
the build's folder (``chargeback.build.layout``), and published as a view over those files. A build reads
the day fingerprints the published warehouse recorded (``carry_state``), links each day whose fingerprint
is unchanged from the earlier build's files (hard links: the day is not rewritten), computes the others,
and drops the days whose data is gone; every other model is rebuilt as usual. ``chargeback build --full``
(or a changed model, configuration, data directory or DuckDB, or the earlier build's files gone) builds it
whole.

A day's fingerprint is what that day of the model is computed from (DAY_INPUTS, those the model reaches):
the day's pod-hour files, the day's node-hour files (the node capacities that bound a pod-hour's measures
in the ``validated`` layer), the pod metadata and owner files up to that day (a pod's first record, and the
owner records of its ReplicaSet or Job up to that day, name its workload: ``int_pods``), and the content of
the day's node-hours (which carry the CUR, Cost Explorer estimates and instance types), namespace tenants
(namespace labels, EMR virtual clusters, the tenancy rules) and node-hour data transfer (the CUR's transfer
lines spread over the node-hours).
Everything else such a model reads is derived from those within the day (DAY_DERIVED); a build refuses a
model built by day that reads anything else. ``tests/test_incremental.py`` checks that an incremental
build's marts equal a full rebuild's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from chargeback.build import layout
from chargeback.build.runner import Model, Refresh, closure
from chargeback.core.errors import ChargebackError
from chargeback.raw.landing import partitions
from chargeback.raw.tables import NODE_HOURS, OWNERS, POD_HOURS, PODS

STATE_SCHEMA = "build_state"
STATE_TABLE = f"{STATE_SCHEMA}.day_fingerprints"
FORMAT = "4"  # bump when the fingerprint itself changes meaning

# Inputs fingerprinted per day: raw tables by their files, built relations by the content of the day's rows.
DAY_INPUTS = {
    "raw.prometheus__pod_hours": "files of the day",
    "raw.prometheus__node_hours": "files of the day",
    "raw.prometheus__pods": "files of the day and of every day before it",
    "raw.prometheus__owners": "files of the day and of every day before it",
    "intermediate.int_node_hours": "content of the day's rows",
    "intermediate.int_namespace_tenants_hourly": "content of the day's rows",
    "intermediate.int_node_transfer_hours": "content of the day's rows",
}
# Relations between those inputs and the models built by day whose rows of a day come only from the same day
# of their inputs (int_pods: from the pod and owner records up to the day, as its fingerprint covers); config.*
# enters the model fingerprint instead.
DAY_DERIVED = {
    "validated.prometheus__pod_hours",
    "validated.prometheus__node_hours",
    "validated.prometheus__pods",
    "validated.prometheus__owners",
    "staging.stg_prometheus__pod_hours",
    "staging.stg_prometheus__pods",
    "staging.stg_prometheus__owners",
    "intermediate.int_pods",
    "intermediate.int_pod_labels",
    "intermediate.int_pod_hours_allocated",
    "intermediate.int_pod_hours",
    "intermediate.int_node_hours_allocated",
    "intermediate.int_idle_pools_hourly",
    "intermediate.int_pod_hours_priced",
    "intermediate.int_pod_days",
    "marts.fct_pod_costs_hourly",
}
_STATE_COLUMNS = "model, model_fingerprint, date, fingerprint, rows, location"
_CONTENT_INPUTS = tuple(k for k, v in DAY_INPUTS.items() if v.startswith("content"))
_POD_HOURS, _NODE_HOURS = POD_HOURS.relation, NODE_HOURS.relation
_CUMULATIVE = (PODS, OWNERS)  # raw tables whose files of every day so far enter a day's fingerprint
_RAW = re.compile(r"\braw\.([a-z0-9_]+)\b")


def walk(relation: str, sql_of: Mapping[str, str], depends_on: Mapping[str, Iterable[str]]) -> tuple[set, set]:
    """What ``relation`` reads, directly or through other models: the fingerprinted inputs it reaches
    (DAY_INPUTS) and what its day fingerprint does not cover, neither one of those nor derived from them
    within the day (DAY_DERIVED)."""
    inputs, missing, seen, pending = set(), set(), set(), list(depends_on[relation])
    while pending:
        found = pending.pop()
        if found in seen:
            continue
        seen.add(found)
        if found in DAY_INPUTS:
            inputs.add(found)
        elif found not in DAY_DERIVED:
            missing.add(found)
        else:
            pending.extend(depends_on[found])
            pending.extend(f"raw.{name}" for name in _RAW.findall(sql_of[found]))
    return inputs, missing


def uncovered(relation: str, sql_of: Mapping[str, str], depends_on: Mapping[str, Iterable[str]]) -> list[str]:
    """What ``relation`` reads that its day fingerprint does not cover (see walk)."""
    return sorted(walk(relation, sql_of, depends_on)[1])


# --- the previous build's record ----------------------------------------------------------------------------


def ensure_state(con: duckdb.DuckDBPyConnection) -> None:
    """The day fingerprints table on ``con``, empty unless there already."""
    con.execute(f"create schema if not exists {STATE_SCHEMA}")
    con.execute(
        f"create table if not exists {STATE_TABLE} (model varchar, model_fingerprint varchar, date date,"
        " fingerprint varchar, rows bigint, location varchar)"
    )


def carry_state(con: duckdb.DuckDBPyConnection, published: Path) -> bool:
    """Create the day fingerprints table on ``con`` with what the published warehouse recorded (each day's
    fingerprint, rows and the folder holding its files); False (an empty record) when there is nothing to reuse:
    no published warehouse, or one from another DuckDB or an older format."""
    ensure_state(con)
    if not published.is_file():
        return False
    try:
        con.execute(f"attach {layout.literal(str(published))} as published (read_only)")
    except duckdb.Error:
        return False  # unreadable or from another DuckDB version: build whole
    try:
        con.execute(f"insert into {STATE_TABLE} select {_STATE_COLUMNS} from published.{STATE_TABLE}")
        return True
    except duckdb.Error:
        return False  # no record, or one of an older format
    finally:
        con.execute("detach published")


# --- fingerprints ------------------------------------------------------------------------------------------


def model_fingerprint(con: duckdb.DuckDBPyConnection, sql_of: dict[str, str], data_dir: Path) -> str:
    """What every day of the model depends on: the SQL of the model and of what it reads, the configuration
    tables, the data directory and the DuckDB version."""
    digest = hashlib.sha256(f"{FORMAT}\n{duckdb.__version__}\n{Path(data_dir).resolve()}\n".encode())
    for relation in sorted(sql_of):
        digest.update(f"{relation}\n{sql_of[relation]}\n".encode())
    for (table,) in con.execute(
        "select table_name from duckdb_tables() where schema_name = 'config' order by table_name"
    ).fetchall():
        rows = con.execute(f"select * from config.{table} order by all").fetchall()
        digest.update(f"config.{table}\n{json.dumps(rows, default=str)}\n".encode())
    return digest.hexdigest()


def _file_marks(files: Iterable[Path], data_dir: Path) -> dict[date, list[str]]:
    marks: dict[date, list[str]] = {}
    for file in files:
        day = date.fromisoformat(file.parent.name.removeprefix("day="))
        stat = file.stat()
        marks.setdefault(day, []).append(f"{file.relative_to(data_dir)}:{stat.st_size}:{stat.st_mtime_ns}")
    return {day: sorted(found) for day, found in marks.items()}


def day_fingerprints(con: duckdb.DuckDBPyConnection, data_dir: Path, inputs: Iterable[str]) -> dict[date, str]:
    """One fingerprint per day of the given DAY_INPUTS (those a model reaches: see walk), for every day any
    of them has."""
    data_dir, inputs = Path(data_dir), set(inputs)
    pod_hours = _file_marks(partitions(data_dir, POD_HOURS), data_dir) if _POD_HOURS in inputs else {}
    node_hours = _file_marks(partitions(data_dir, NODE_HOURS), data_dir) if _NODE_HOURS in inputs else {}
    for day, marks in node_hours.items():
        pod_hours[day] = pod_hours.get(day, []) + marks
    pods: dict[date, list[str]] = {}  # the pod and owner records' files, by day
    for table in _CUMULATIVE:
        if table.relation in inputs:
            for day, marks in _file_marks(partitions(data_dir, table), data_dir).items():
                pods[day] = pods.get(day, []) + marks
    content: dict[date, list[str]] = {}
    for relation in sorted(inputs & set(_CONTENT_INPUTS)):
        rows = con.execute(
            f"select cast(hour as date), count(*), sum(hash(t)) from {relation} as t group by all"
        ).fetchall()
        for day, count, total in rows:
            content.setdefault(day, []).append(f"{relation}:{count}:{total}")
    earlier = hashlib.sha256()  # the pod and owner files of every day so far
    pods_days = iter(sorted(pods))
    pending = next(pods_days, None)
    fingerprints = {}
    for day in sorted(pod_hours.keys() | pods.keys() | content.keys()):
        while pending is not None and pending <= day:
            earlier.update("\n".join(pods[pending]).encode())
            pending = next(pods_days, None)
        digest = hashlib.sha256(earlier.digest())
        digest.update("\n".join(pod_hours.get(day, []) + sorted(content.get(day, []))).encode())
        fingerprints[day] = digest.hexdigest()
    return fingerprints


# --- bringing the model up to date ---------------------------------------------------------------------


def _ranges(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) ranges."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(days):
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class DayFingerprints:
    """The day fingerprints of one build, taken once for each set of inputs that models reach."""

    def __init__(self, con: duckdb.DuckDBPyConnection, data_dir: Path):
        self.con, self.data_dir = con, Path(data_dir)
        self._taken: dict[frozenset[str], dict[date, str]] = {}

    def of(self, inputs: Iterable[str]) -> dict[date, str]:
        key = frozenset(inputs)
        if key not in self._taken:
            self._taken[key] = day_fingerprints(self.con, self.data_dir, key)
        return self._taken[key]


def _write(con: duckdb.DuckDBPyConnection, sql: str, day: str, parts: list[str], target: Path, where: str = "",
           params: dict | None = None) -> None:  # fmt: skip
    """Write the rows of ``sql`` (those matching ``where``) as Parquet under ``target``, a folder per day and
    cluster, the partition columns kept in the files too."""
    target.mkdir(parents=True, exist_ok=True)
    by = ", ".join(parts)
    con.execute(
        f"copy (select *, cast({layout.quote(day)} as date) as day from (\n{sql}\n) {where}) to"
        f" {layout.literal(str(target))} (format parquet, partition_by ({by}), write_partition_columns true,"
        " overwrite_or_ignore true, filename_pattern 'part_{uuid}')",
        params or {},
    )


def refresh(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    models: Mapping[str, Model],
    fingerprints: DayFingerprints,
    full: bool,
    version: Path,
) -> Refresh:
    """Write the model built by day ``model`` (it has a ``date`` column, or an ``hour`` one if its grain is
    hourly, or the column its header names) as Parquet under the build's folder ``version``
    (``chargeback.build.layout``): the days whose fingerprint matches the previous build's record are linked
    from that build's files, the others computed; then publish it on ``con`` as a view over those files and
    record each day's fingerprint. Raises if it reads anything the fingerprint does not cover."""
    relation = model.relation
    sql_of = closure(model, dict(models))
    depends_on = {k: models[k].depends_on for k in sql_of}
    inputs, missing = walk(relation, sql_of, depends_on)
    if missing:
        raise ChargebackError(
            f"model {relation} is built by day but reads {', '.join(sorted(missing))}, which its day fingerprint"
            " does not cover: add them to DAY_INPUTS or DAY_DERIVED in chargeback/build/incremental.py, or drop its"
            " `-- incremental: day` header"
        )
    sql, data_dir, days = sql_of[relation], fingerprints.data_dir, fingerprints.of(inputs)
    types = [(row[0], row[1]) for row in con.execute(f"describe select * from (\n{sql}\n)").fetchall()]
    columns = [name for name, _ in types]
    day = layout.day_source(columns, model.day_column)
    if day is None or "cluster" not in columns:
        raise ChargebackError(f"model {relation} is built by day but has no cluster, date or hour column")
    parts = ["day", "cluster"]  # the day of its ``day`` column, whatever that is named
    ensure_state(con)
    whole_print = model_fingerprint(con, sql_of, data_dir)
    recorded = {
        row[0]: (row[1], row[2], Path(row[3]))
        for row in con.execute(
            f"select date, fingerprint, rows, location from {STATE_TABLE} where model = ? and model_fingerprint = ?",
            [relation, whole_print],
        ).fetchall()
    }
    any_record = con.execute(f"select count(*) from {STATE_TABLE} where model = ?", [relation]).fetchone()[0]
    # the folders the earlier build's rows are in (a model with no rows on a day writes no folder for it)
    locations = {location for _, count, location in recorded.values() if count}
    target = layout.folder(version, relation)
    if full:
        reason = "--full"
    elif not any_record:
        reason = "no earlier build"
    elif not recorded:
        reason = "its SQL, the configuration or the data directory changed"
    elif not all(location.is_dir() for location in locations):
        reason = "the earlier build's files are gone"
    else:
        reason = ""
    if reason:
        _write(con, sql, day, parts, target)
        changed = sorted(days)
    else:
        # A day is computed afresh when its fingerprint changed or its files are missing; a recorded day no longer
        # in the inputs is dropped; every other day of the earlier build's files is linked.
        changed = sorted(
            d for d, mark in days.items()
            if d not in recorded or recorded[d][0] != mark
            or (recorded[d][1] and not layout.day_folder(recorded[d][2], d).is_dir())
        )  # fmt: skip
        dropped = {str(d) for d in changed} | {str(d) for d in recorded if d not in days}
        for location in locations:
            for source in sorted(location.glob("day=*")):
                if source.name.removeprefix("day=") not in dropped and not (target / source.name).exists():
                    layout.carry_forward(source, target / source.name)
        # on ``hour`` itself where the model has one: the filter then reaches the raw pod-hour files' statistics
        # (a ``date`` derived from it does not, and would scan every day)
        by_hour = model.day_column is None and "hour" in columns
        column = layout.quote("hour" if by_hour else day)
        for first, last in _ranges(changed):
            since, until = first, last + timedelta(days=1)
            if by_hour:
                since, until = _midnight(since), _midnight(until)
            where = f"where {column} >= $since and {column} < $until"
            _write(con, sql, day, parts, target, where, {"since": since, "until": until})
    con.execute(layout.parquet_view(relation, types, target, hive=False, data_dir=data_dir))
    rows = dict(
        con.execute(
            f"select day, count(*) from read_parquet({layout.literal(str(target / '**' / '*.parquet'))}) group by day"
        ).fetchall()
    ) if layout.files(target) else {}  # fmt: skip
    con.execute(f"delete from {STATE_TABLE} where model = ?", [relation])
    if days:
        con.executemany(
            f"insert into {STATE_TABLE} values (?, ?, ?, ?, ?, ?)",
            [[relation, whole_print, d, mark, rows.get(d, 0), str(target)] for d, mark in sorted(days.items())],
        )
    return Refresh(len(days), len(changed), bool(reason), reason)
