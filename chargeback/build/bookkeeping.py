"""What a published warehouse records beside the marts, whichever engine built it, in the ``bookkeeping``
schema (tables made here in Python; SQL models own ``staging``, ``intermediate`` and ``marts``):

- ``build_info``: when it was built, from which data directory, with which configuration and method
  (``method_json``, ``method_fingerprint``: see ``chargeback.build.method``);
- ``cur_versions``: the CUR version each billing period was built from, so exports can say what they came from;
- ``raw_coverage``: the days each raw table holds per cluster, and the gaps;
- ``collection_status``: each source's watermark, last success and last error as of the build;
- ``bill_inputs``: per month built, the marks (paths, sizes, modification times) of the raw files its bill
  reads and the fingerprint of the bill's models, which ``chargeback close`` checks and records
  (``chargeback.build.inputs``);
- ``closed_periods``: the closed months and what the build did with each (adjusted, restated, held or
  unchanged: ``chargeback.build.adjustments``);
- ``raw_file_issues``: files under ``raw/`` the build did not read (stray files) or could not verify (landed
  without page checksums), each with what to do about it;
- ``cluster_freshness``: each cluster's last observed hour, how far it is behind the newest cluster and whether
  its collection is failing: which clusters are stale (``chargeback.build.freshness``).

Also the rule both engines apply before publishing: a failed error-severity check publishes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from chargeback.build import method
from chargeback.build.adjustments import ClosedPlan
from chargeback.build.freshness import register_freshness, stale_notes
from chargeback.core.config import Config
from chargeback.core.errors import InvariantError
from chargeback.raw import integrity
from chargeback.raw.landing import partitions, stray_files
from chargeback.raw.status import status_of
from chargeback.raw.tables import RAW_TABLES

SCHEMA = "bookkeeping"
# Every invariant and figure to watch (the models' marts.checks), errors first.
CHECKS_SQL = "select * from marts.checks order by severity, check_name, cluster, period"


def register_bookkeeping(
    con: duckdb.DuckDBPyConnection, config: Config, data_dir: Path, closed: ClosedPlan | None = None
) -> None:
    """Create the ``bookkeeping`` tables on ``con`` from the data directory as it is now (``closed``: what the
    build did with the closed months; its inputs are those the build read)."""
    report = status_of(data_dir)
    recorded = method.describe(config)
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(
        f"create table {SCHEMA}.collection_status (source varchar, target varchar, complete_through varchar,"
        " last_success varchar, last_error varchar)"
    )
    rows = [[s, t, r.complete_through, r.last_success, r.last_error] for s, t, r in report.sources]
    if rows:
        con.executemany(f"insert into {SCHEMA}.collection_status values (?, ?, ?, ?, ?)", rows)
    con.execute(f"create table {SCHEMA}.cur_versions (billing_period varchar, version varchar)")
    if report.cur_periods:
        con.executemany(f"insert into {SCHEMA}.cur_versions values (?, ?)", sorted(report.cur_periods.items()))
    con.execute(
        f"create table {SCHEMA}.raw_coverage (source varchar, raw_table varchar, target varchar, first_day date,"
        " last_day date, missing_days integer, missing varchar)"
    )
    rows = [
        [
            c.source,
            c.table,
            c.target,
            c.first_day,
            c.last_day,
            len(c.missing_days),
            ", ".join(str(d) for d in c.missing_days[:20]),
        ]
        for c in report.coverage
    ]
    con.executemany(f"insert into {SCHEMA}.raw_coverage values (?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(f"create table {SCHEMA}.raw_file_issues (file varchar, issue varchar, detail varchar)")
    issues = [[stray.path, "stray", f"not read: {stray.reason}"] for stray in stray_files(data_dir)]
    files = [file for table in RAW_TABLES for file in partitions(data_dir, table)]
    issues += [[file.relative_to(data_dir).as_posix(), "unchecked", UNCHECKED] for file in integrity.unchecked(files)]
    if issues:
        con.executemany(f"insert into {SCHEMA}.raw_file_issues values (?, ?, ?)", issues)
    con.execute(
        f"create table {SCHEMA}.build_info as select ?::timestamptz as built_at, ?::varchar as config_json,"
        " ?::varchar as data_dir, ?::varchar as method_json, ?::varchar as method_fingerprint",
        [
            datetime.now(UTC),
            config.model_dump_json(),
            str(data_dir.resolve()),
            method.canonical(recorded),
            method.fingerprint(recorded),
        ],
    )
    _register_closed_periods(con, closed or ClosedPlan())
    register_freshness(con, config)


# The months a build has bills for (allocated costs or adjustments).
_BUILT_PERIODS = (
    "select distinct period from marts.fct_tenant_costs_daily"
    " union select distinct period from marts.fct_adjustments order by 1"
)


def open_periods(con: duckdb.DuckDBPyConnection, closed: ClosedPlan) -> list[str] | None:
    """The months of the build on ``con`` that are not closed (None: nothing is closed, so every month): those a
    method change can still move (``chargeback.build.method.refuse_method_change``)."""
    if not closed.months:
        return None
    shut = {m.period for m in closed.months}
    return [period for (period,) in con.execute(_BUILT_PERIODS).fetchall() if period not in shut]


def _register_closed_periods(con: duckdb.DuckDBPyConnection, closed: ClosedPlan) -> None:
    con.execute(
        f"create table {SCHEMA}.bill_inputs (period varchar, input_marks varchar, input_files integer,"
        " models_fingerprint varchar)"
    )
    if closed.inputs is not None:
        rows = [
            [period, closed.inputs.marks(period), len(closed.inputs.of(period)), closed.models_fingerprint]
            for (period,) in con.execute(_BUILT_PERIODS).fetchall()
        ]
        if rows:
            con.executemany(f"insert into {SCHEMA}.bill_inputs values (?, ?, ?, ?)", rows)
    con.execute(
        f"create table {SCHEMA}.closed_periods (period varchar, closed_at varchar, status varchar, detail varchar)"
    )
    by_period = {m.period: m for m in closed.months}
    rows = [[d.period, by_period[d.period].closed_at, d.status, d.detail] for d in closed.decisions]
    if rows:
        con.executemany(f"insert into {SCHEMA}.closed_periods values (?, ?, ?, ?)", rows)


UNCHECKED = "landed without page checksums (before they were written): its pages cannot be verified; collect it again"


def notes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """What a build found that a person should know, one line each: corrected raw rows, files not read or not
    verifiable, stale clusters (from ``marts.fct_data_quality``, ``raw_file_issues`` and ``cluster_freshness`` on
    ``con``)."""
    found = []
    corrected = con.execute(
        "select raw_table, count(*) from marts.fct_data_quality group by raw_table order by raw_table"
    ).fetchall()
    if corrected:
        total = sum(count for _, count in corrected)
        tables = ", ".join(f"{table} {count:,}" for table, count in corrected)
        found.append(
            f"{total:,} raw row(s) broke a value rule and were corrected or ignored ({tables}): see `chargeback check`"
        )
    for issue, what in (
        ("stray", "stray file(s) under raw/ not read"),
        ("unchecked", "raw file(s) without page checksums"),
    ):
        files = [
            row[0]
            for row in con.execute(
                f"select file from {SCHEMA}.raw_file_issues where issue = ? order by file", [issue]
            ).fetchall()
        ]
        if files:
            shown = ", ".join(files[:3]) + (f" and {len(files) - 3:,} more" if len(files) > 3 else "")
            found.append(f"{len(files):,} {what}: {shown} (see `chargeback check`)")
    return found + stale_notes(con)


def read_checks(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The rows of ``marts.checks`` on ``con`` (a build's, or the published warehouse), errors first."""
    result = con.execute(CHECKS_SQL)
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


WHOLE_CUR = "(whole CUR)"  # the cluster of a check over the whole CUR (the reconciliation's), which has none


def check_scope(check: dict) -> str:
    """Where a row of ``marts.checks`` was counted: its cluster, else the whole CUR."""
    return check["cluster"] or WHOLE_CUR


def refuse_broken_invariants(checks: list[dict], target: Path) -> None:
    """Raise ``InvariantError`` naming every failed error-severity check: the build is not published."""
    failures = [c for c in checks if c["severity"] == "error" and not c["passed"]]
    if failures:
        lines = "\n  ".join(
            f"{c['check_name']} {check_scope(c)} {c['period']}: expected {c['expected']}, got {c['actual']}"
            for c in failures
        )
        raise InvariantError(f"build broke {len(failures)} invariant(s); {target} left as it was:\n  {lines}")
