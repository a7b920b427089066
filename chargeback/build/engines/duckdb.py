"""The DuckDB engine: raw Parquet exposed to DuckDB, the SQL models run in order, checks, atomic publish.

A build writes a new DuckDB file beside the published one, and the models built by day as Parquet in a new
build folder (``chargeback.build.layout``; days unchanged since the published build linked, not rewritten:
see ``chargeback.build.incremental``), registers the raw tables as views over their partition files
(each footer checked, and each file not verified before checked page by page: ``chargeback.raw.integrity``)
and the configuration as tables, runs ``validated`` and ``staging`` (views) then ``intermediate`` and
``marts`` (tables, unless a model's header says view), runs the checks, records the bookkeeping tables, and
only then publishes it (``chargeback.build.warehouse``) and deletes the build folders no reader needs. A
build that breaks an invariant raises ``InvariantError``, one whose in-scope CUR lines break a value rule
``DataError``, one whose method differs from the published one's ``MethodChangeError`` unless the change is
accepted (``chargeback.build.method``); any of them leaves the published warehouse as it was.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from chargeback.build import incremental, layout, validation
from chargeback.build.adjustments import ClosedPlan, register_closed
from chargeback.build.bookkeeping import (
    notes,
    open_periods,
    read_checks,
    refuse_broken_invariants,
    register_bookkeeping,
)
from chargeback.build.config_tables import register_config
from chargeback.build.method import refuse_method_change
from chargeback.build.runner import LAYERS, BuildResult, Model, Progress, Refresh, discover_models
from chargeback.build.warehouse import building, publish, records, search_from
from chargeback.core.config import Config
from chargeback.core.errors import ChargebackError, storage_error
from chargeback.raw import integrity
from chargeback.raw.landing import FILE_PATTERN, check_partition, partitions
from chargeback.raw.tables import RAW_TABLES


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def register_raw(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    """One view per raw table over its partition files (each checked against its schema, and its pages against
    their checksums unless verified before), with ``_file``, the file a row came from (``FILE_PATTERN``); an
    empty table where nothing was collected."""
    con.execute("create schema raw")
    found = {table.key: partitions(data_dir, table) for table in RAW_TABLES}
    for table in RAW_TABLES:
        for file in found[table.key]:
            check_partition(table, file)
    integrity.verify(data_dir, [file for files in found.values() for file in files])
    for table in RAW_TABLES:
        files = found[table.key]
        if files:
            listed = ", ".join(_literal(layout.relative(file, data_dir)) for file in files)
            con.execute(
                f"create view {table.relation} as select * exclude (filename),"
                f" regexp_extract(filename, {_literal(FILE_PATTERN)}, 0) as _file"
                f" from read_parquet([{listed}], union_by_name = true, filename = true)"
            )
        else:
            empty = table.schema.empty_table()  # noqa: F841 - read by DuckDB's replacement scan
            con.execute(f"create table {table.relation} as select *, cast(null as varchar) as _file from empty")


def run_models(
    con: duckdb.DuckDBPyConnection,
    models: list[Model],
    progress: Progress | None,
    data_dir: Path,
    full: bool,
    version: Path,
) -> tuple[dict[str, int], dict[str, Refresh]]:
    """Create every model on ``con`` in order (those built by day written under the build folder ``version``,
    brought up to date by day, or whole with ``full``); the row counts of tables and marts, and what each model
    built by day did. The views over those files name them relative to ``data_dir``, where ``con`` finds them."""
    search_from(con, data_dir)
    for layer in LAYERS:
        con.execute(f"create schema if not exists {layer}")
    by_relation = {m.relation: m for m in models}
    counts, refreshed = {}, {}
    days = incremental.DayFingerprints(con, data_dir)  # taken once per build, for the inputs each model reaches
    for index, model in enumerate(models, start=1):
        if progress:
            progress(model.relation, index, len(models))
        try:
            if model.incremental:
                refreshed[model.relation] = incremental.refresh(con, model, by_relation, days, full, version)
            else:
                con.execute(f"create {model.materialized} {model.relation} as\n{model.sql}")
        except duckdb.OutOfMemoryException as exc:
            exc.add_note(f"model {model.relation}")  # where it ran out, for out_of_memory
            raise
        except duckdb.Error as exc:  # a full or read-only disk is the machine's fault, not the model's
            fault = storage_error(exc)
            if fault is not None:
                raise fault.building(model.relation) from exc
            raise ChargebackError(f"model {model.relation} ({model.path.name}) failed: {exc}") from exc
        if model.relation == validation.CUR_GATE:  # in-scope CUR lines that break a rule: stop before pricing
            validation.refuse_invalid_cur(records(con, f"select * from {model.relation}"))
        if model.materialized == "table" or model.layer == "marts":  # an intermediate view is a join to run
            counts[model.relation] = con.execute(f"select count(*) from {model.relation}").fetchall()[0][0]
    return counts, refreshed


def mart_types(config: Config, models: list[Model]) -> dict[str, list[tuple[str, str]]]:
    """Each mart's columns and DuckDB types, from running the models over empty raw tables: what a reader of
    a DuckDB build sees (the Spark engine casts its marts to them)."""
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        with tempfile.TemporaryDirectory() as nothing:
            register_raw(con, Path(nothing))
            register_config(con, config)
            register_closed(con, ClosedPlan())
            run_models(con, models, None, Path(nothing), full=True, version=Path(nothing) / "build")
        return {
            model.relation: [(row[0], row[1]) for row in con.execute(f"describe {model.relation}").fetchall()]
            for model in models
            if model.layer == "marts"
        }
    finally:
        con.close()


def _configure(con: duckdb.DuckDBPyConnection, config: Config, data_dir: Path) -> None:
    """Session settings of a build: UTC, no insertion order to keep (the models never rely on it; keeping
    it costs memory and time on every large table), ``[build]`` memory cap and threads, spill files in the
    data directory."""
    con.execute("set TimeZone = 'UTC'")
    search_from(con, data_dir)  # the views name their files relative to the data directory
    con.execute("set preserve_insertion_order = false")
    con.execute("set partitioned_write_flush_threshold = 122880")  # a row group: a day's rows are not all held
    con.execute("set memory_limit = ?", [config.build.memory_limit])
    if config.build.threads:
        con.execute("set threads = ?", [config.build.threads])
    spill = (data_dir / ".tmp").resolve()
    con.execute(f"set temp_directory = '{str(spill).replace(chr(39), chr(39) * 2)}'")


def out_of_memory(exc: duckdb.OutOfMemoryException, config: Config) -> ChargebackError:
    """One line for DuckDB's several ("Possible solutions: ..."): where the build ran out, and what to set."""
    where = "; ".join(getattr(exc, "__notes__", ())) or "the build"
    return ChargebackError(
        f"{where} ran out of memory under [build] memory_limit = {config.build.memory_limit!r}"
        f" ({str(exc).splitlines()[0]}): raise it, keeping it below the pod's or the machine's memory, or lower"
        " [build] threads"
    )


def build(
    config: Config,
    progress: Progress | None = None,
    full: bool = False,
    accept_method_change: bool = False,
    closed: ClosedPlan | None = None,
) -> BuildResult:
    """Build the warehouse on DuckDB and publish it (the caller holds the build lock), unless it breaks an
    invariant or changes the published method without ``accept_method_change`` (``closed``: what to do with
    the closed months, see ``chargeback.build.adjustments``)."""
    closed = closed or ClosedPlan()
    started = time.perf_counter()
    data_dir = Path(config.data_dir)
    models = discover_models()
    target = config.warehouse_path
    builds = layout.root(data_dir)
    build_id = layout.new_build_id()
    version = builds / build_id
    published = False
    try:
        with building(config) as path:
            con = duckdb.connect(str(path))
            try:
                _configure(con, config, data_dir)
                register_raw(con, data_dir)
                register_config(con, config)
                register_closed(con, closed)
                incremental.carry_state(con, target)
                counts, refreshed = run_models(con, models, progress, data_dir, full, version)
                checks = read_checks(con)
                register_bookkeeping(con, config, data_dir, closed)
                still_open = open_periods(con, closed)
                found = notes(con)
            except duckdb.OutOfMemoryException as exc:
                raise out_of_memory(exc, config) from exc
            finally:
                con.close()
            refuse_broken_invariants(checks, target)
            change = refuse_method_change(path, config, accept_method_change, still_open)
            layout.mark_published(version)
            publish(path, config)
            published = True
    finally:
        if not published:
            shutil.rmtree(version, ignore_errors=True)
    layout.prune(builds, build_id)
    found = [*closed.notes, *found]
    return BuildResult(target, time.perf_counter() - started, counts, checks, refreshed, change, found)
