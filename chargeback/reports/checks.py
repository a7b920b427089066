"""What `chargeback check` prints from the published warehouse: the invariants (``marts.checks``), the
corrections the validation rules made (``marts.fct_data_quality``) and the raw files the build did not read
or could not verify (``bookkeeping.raw_file_issues``)."""

from __future__ import annotations

from chargeback.build.bookkeeping import read_checks
from chargeback.build.warehouse import connect, records
from chargeback.core.config import Config


def checks(config: Config) -> list[dict]:
    """Every check of the published warehouse, errors first: name, severity, cluster, period, expected,
    actual, passed, detail."""
    with connect(config) as con:
        return read_checks(con)


def failed(rows: list[dict]) -> list[dict]:
    """The error-severity checks that did not pass."""
    return [row for row in rows if row["severity"] == "error" and not row["passed"]]


# Per raw table: rows corrected, and their cost with the raw values and as corrected (where computed; labels and
# tags route the same amount to another line, so both sums agree and the tenants differ).
CORRECTIONS_SUMMARY = """
select
    raw_table,
    count(*) as row_count,
    count(cost_with_raw_value) as priced_rows,
    sum(cost_with_raw_value) as cost_with_raw_value,
    sum(case when cost_with_raw_value is not null then cost_as_corrected end) as cost_as_corrected,
from marts.fct_data_quality
group by raw_table
order by raw_table
"""
# The corrections, those moving most money first (a row whose raw cost cannot be computed: by its billed cost).
CORRECTIONS = """
select
    raw_table, file, row_key, rules, original_values, corrected_values, tenant, tenant_with_raw_value,
    cost_with_raw_value, cost_as_corrected, cluster, period,
from marts.fct_data_quality
order by
    coalesce(abs(cost_as_corrected - cost_with_raw_value), abs(cost_as_corrected), 0) desc,
    raw_table, file, row_key
limit ?
"""


def corrections_summary(config: Config) -> list[dict]:
    """Per raw table: how many rows a value rule corrected or ignored, and what they cost both ways."""
    with connect(config) as con:
        return records(con, CORRECTIONS_SUMMARY)


def corrections(config: Config, limit: int = 20) -> list[dict]:
    """The first ``limit`` corrections, largest change of cost first."""
    with connect(config) as con:
        return records(con, CORRECTIONS, [limit])


def raw_file_issues(config: Config) -> list[dict]:
    """Files under ``raw/`` the build did not read (``stray``) or could not verify (``unchecked``)."""
    with connect(config) as con:
        return records(con, "select file, issue, detail from bookkeeping.raw_file_issues order by issue, file")
