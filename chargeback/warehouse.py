"""The warehouse: raw Parquet exposed to DuckDB, the SQL models run in order, checks, atomic publish.

A build writes a new DuckDB file beside the published one (starting from a copy of it when a model is
incremental: see chargeback.incremental), runs ``staging`` (views) then ``intermediate`` and ``marts``
(tables), runs the checks, and only then ``os.replace``-s it over
``warehouse.duckdb``. Readers open the published file read-only per request, so they never see a
half-built state and never hold a lock the builder needs. A build that breaks an invariant raises
``InvariantError`` and leaves the published warehouse as it was. One build runs at a time per data
directory: a build holds ``<data_dir>/.build.lock`` (``flock``, so across processes), and a second one
fails with ``LockedError`` saying which process is building.
"""

from __future__ import annotations

import csv
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from chargeback import incremental
from chargeback.config import Config, glob_to_regex
from chargeback.errors import ChargebackError, DataError, InvariantError
from chargeback.landing import PARTITION_GLOB, partitions, table_dir
from chargeback.locks import file_lock
from collectors.schemas import CUR_LINE_ITEMS, NODE_HOURS, RAW_TABLES, RawTable

MODELS_DIR = Path(__file__).parent / "models"
INSTANCE_TYPES = Path(__file__).parent / "data" / "instance_types.csv"
LAYERS = ("staging", "intermediate", "marts")
BUILD_LOCK = ".build.lock"  # in the data directory; see build_lock
_REFERENCE = re.compile(r"\b(staging|intermediate|marts)\.([a-z0-9_]+)\b")
# A model may say how it is materialised in a header line; staging defaults to views, the rest to tables.
_MATERIALIZED = re.compile(r"^-- materialized: (view|table)\s*$", re.MULTILINE)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Model:
    layer: str
    name: str
    path: Path
    sql: str
    depends_on: frozenset[str]

    @property
    def relation(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def materialized(self) -> str:
        """``view`` or ``table``: the model's ``-- materialized:`` header, else views for staging only.

        A mart that only renames and adds a column to a large intermediate table is a view over it, so the
        build does not write the same rows twice."""
        found = _MATERIALIZED.search(self.sql)
        if found:
            return found.group(1)
        return "view" if self.layer == "staging" else "table"

    @property
    def incremental(self) -> bool:
        """A ``-- incremental: day`` model is a table kept from the previous build and rebuilt by day."""
        return incremental.is_incremental(self.sql)


@dataclass
class BuildResult:
    warehouse: Path
    seconds: float
    row_counts: dict[str, int] = field(default_factory=dict)
    checks: list[dict] = field(default_factory=list)
    refreshed: dict[str, incremental.Refresh] = field(default_factory=dict)  # incremental models


def discover_models(models_dir: Path = MODELS_DIR) -> list[Model]:
    """Every ``<layer>/<name>.sql`` model, in an order where each runs after what it reads."""
    models: dict[str, Model] = {}
    for layer in LAYERS:
        for path in sorted((models_dir / layer).glob("*.sql")):
            sql = path.read_text()
            depends = frozenset(f"{a}.{b}" for a, b in _REFERENCE.findall(sql)) - {f"{layer}.{path.stem}"}
            model = Model(layer, path.stem, path, sql, depends)
            models[model.relation] = model
    for model in models.values():
        unknown = sorted(dep for dep in model.depends_on if dep not in models)
        if unknown:
            raise ChargebackError(f"{model.path}: reads {', '.join(unknown)}, which no model defines")
    try:
        order = list(TopologicalSorter({k: m.depends_on for k, m in models.items()}).static_order())
    except CycleError as exc:
        raise ChargebackError(f"models depend on each other in a cycle: {exc.args[1]}") from None
    return [models[name] for name in order]


def _check_partition(table: RawTable, file: Path) -> None:
    """Read a partition's footer and name the file and column that break the raw-table contract."""
    try:
        schema = pq.read_schema(file)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{file}: not a readable Parquet file ({exc}); re-collect that partition") from None
    for column in table.schema:
        if column.name not in schema.names:
            raise DataError(f"{file}: {table.key} partition lacks column {column.name!r}; re-collect that partition")
        found = schema.field(column.name).type
        if found != column.type and not (pa.types.is_map(found) and pa.types.is_map(column.type)):
            raise DataError(f"{file}: column {column.name!r} is {found}, expected {column.type} ({table.key})")


def _register_raw(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    """One view per raw table over its partitions (each checked against its schema first); an empty
    table where nothing was collected."""
    con.execute("create schema raw")
    for table in RAW_TABLES:
        name = f"raw.{table.source}__{table.name}"
        files = partitions(data_dir, table)
        for file in files:
            _check_partition(table, file)
        if files:
            pattern = str(table_dir(data_dir, table).resolve() / PARTITION_GLOB).replace("'", "''")
            con.execute(f"create view {name} as select * from read_parquet('{pattern}', union_by_name = true)")
        else:
            empty = table.schema.empty_table()  # noqa: F841 - read by DuckDB's replacement scan
            con.execute(f"create table {name} as select * from empty")


def _register_config(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """The configuration as small tables the models join: no SQL is templated from config values."""
    allocation, tenancy, tagged = config.allocation, config.tenancy, config.tagged
    con.execute("create schema config")
    con.execute(
        """
        create table config.settings as select
            ?::varchar as cost_basis, ?::varchar as idle_mode, ?::varchar as shared_mode,
            ?::varchar as namespace_label, ?::varchar as node_label, ?::varchar as node_tag,
            ?::varchar as virtual_cluster_tag, ?::boolean as tagged_enabled, ?::varchar as tagged_tag,
            ?::varchar as tagged_cluster_tag, ?::varchar as currency
        """,
        [
            allocation.cost_basis,
            allocation.idle,
            allocation.shared,
            tenancy.namespace_label,
            tenancy.node_label,
            tenancy.node_tag,
            tenancy.virtual_cluster_tag,
            tagged.enabled,
            tagged.tag,
            tagged.cluster_tag,
            config.currency,
        ],
    )
    con.execute("create table config.weights (node_class varchar, cpu double, memory double, gpu double)")
    weights = allocation.weight_set()
    for node_class, w in (("cpu_node", weights.cpu_node), ("gpu_node", weights.gpu_node)):
        con.execute("insert into config.weights values (?, ?, ?, ?)", [node_class, w.cpu, w.memory, w.gpu])
    con.execute("create table config.shared_namespaces (namespace varchar)")
    if allocation.shared_namespaces:
        con.executemany("insert into config.shared_namespaces values (?)", [[n] for n in allocation.shared_namespaces])
    con.execute("create table config.namespace_rules (ordinal integer, pattern varchar, regex varchar, tenant varchar)")
    if tenancy.namespaces:
        con.executemany(
            "insert into config.namespace_rules values (?, ?, ?, ?)",
            [[i, r.pattern, glob_to_regex(r.pattern), r.tenant] for i, r in enumerate(tenancy.namespaces)],
        )
    con.execute("create table config.virtual_cluster_tenants (key varchar, tenant varchar)")
    if tenancy.virtual_clusters:
        con.executemany(
            "insert into config.virtual_cluster_tenants values (?, ?)",
            [list(i) for i in tenancy.virtual_clusters.items()],
        )
    with INSTANCE_TYPES.open() as handle:
        rows = [
            [
                r["instance_type"],
                float(r["vcpu"]),
                float(r["memory_gib"]),
                float(r["gpu"]),
                float(r["on_demand_usd_per_hour"]),
            ]
            for r in csv.DictReader(handle)
        ]
    con.execute(
        "create table config.instance_types (instance_type varchar, vcpu double, memory_gib double,"
        " gpu double, on_demand_usd_per_hour double)"
    )
    con.executemany("insert into config.instance_types values (?, ?, ?, ?, ?)", rows)


def _closure(model: Model, models: dict[str, Model]) -> dict[str, str]:
    """The SQL of ``model`` and of every model it reads, directly or not."""
    found, pending = {}, [model.relation]
    while pending:
        relation = pending.pop()
        if relation not in found:
            found[relation] = models[relation].sql
            pending.extend(models[relation].depends_on)
    return found


def _run_models(
    con: duckdb.DuckDBPyConnection,
    models: list[Model],
    progress: Progress | None,
    data_dir: Path,
    full: bool,
) -> tuple[dict[str, int], dict[str, incremental.Refresh]]:
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
                closure = _closure(model, by_relation)
                depends_on = {k: by_relation[k].depends_on for k in closure}
                refreshed[model.relation] = incremental.refresh(con, model.relation, closure, depends_on, days, full)
            else:
                con.execute(f"create {model.materialized} {model.relation} as\n{model.sql}")
        except duckdb.Error as exc:
            raise ChargebackError(f"model {model.relation} ({model.path.name}) failed: {exc}") from exc
        if model.materialized == "table" or model.layer == "marts":  # an intermediate view is a join to run
            counts[model.relation] = con.execute(f"select count(*) from {model.relation}").fetchall()[0][0]
    return counts, refreshed


def _register_collection_status(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    """Collection watermarks, errors and raw coverage as of this build, for pages that read marts only."""
    from chargeback.collect import status_of  # the collection layer imports this module

    report = status_of(data_dir)
    con.execute(
        "create table marts.collection_status (source varchar, target varchar, complete_through varchar,"
        " last_success varchar, last_error varchar)"
    )
    rows = [[s, t, r.complete_through, r.last_success, r.last_error] for s, t, r in report.sources]
    if rows:
        con.executemany("insert into marts.collection_status values (?, ?, ?, ?, ?)", rows)
    # The CUR version each billing period was built from, so exports can say what they came from.
    con.execute("create table marts.cur_versions (billing_period varchar, version varchar)")
    if report.cur_periods:
        con.executemany("insert into marts.cur_versions values (?, ?)", sorted(report.cur_periods.items()))
    con.execute(
        "create table marts.raw_coverage (source varchar, raw_table varchar, target varchar, first_day date,"
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
    con.executemany("insert into marts.raw_coverage values (?, ?, ?, ?, ?, ?, ?)", rows)


def register_build_tables(con: duckdb.DuckDBPyConnection, config: Config, data_dir: Path) -> None:
    """What a published warehouse has beside the marts, whichever engine built them: collection status, CUR
    versions, raw coverage (``_register_collection_status``) and ``marts.build_info``."""
    _register_collection_status(con, data_dir)
    con.execute(
        "create table marts.build_info as select ?::timestamptz as built_at, ?::varchar as config_json,"
        " ?::varchar as data_dir",
        [datetime.now(UTC), config.model_dump_json(), str(data_dir.resolve())],
    )


def refuse_broken_invariants(checks: list[dict], target: Path) -> None:
    """Raise ``InvariantError`` naming every failed error-severity check: the build is not published."""
    failures = [c for c in checks if c["severity"] == "error" and not c["passed"]]
    if failures:
        lines = "\n  ".join(
            f"{c['check_name']} {c['cluster']} {c['period']}: expected {c['expected']}, got {c['actual']}"
            for c in failures
        )
        raise InvariantError(f"build broke {len(failures)} invariant(s); {target} left as it was:\n  {lines}")


def _failed_checks(con: duckdb.DuckDBPyConnection) -> list[dict]:
    rows = con.sql("select * from marts.checks order by severity, check_name, cluster, period")
    columns = rows.columns
    return [dict(zip(columns, row, strict=True)) for row in rows.fetchall()]


def build_lock(data_dir: Path, wait: bool = False) -> AbstractContextManager[None]:
    """The lock every build of ``data_dir`` holds, across processes (the scheduler's builds and a manual
    ``chargeback build``): a second build raises ``LockedError`` naming the running one, or waits."""
    return file_lock(Path(data_dir) / BUILD_LOCK, "a build of this data directory", wait)


def build(config: Config, progress: Progress | None = None, full: bool = False) -> BuildResult:
    """Run every model over the data directory's raw tables and publish the warehouse atomically.

    Incremental models are brought up to date from the published warehouse day by day (``full``: built
    whole). With ``[build] engine = "spark"`` the models run on Spark instead (chargeback.engines.spark,
    always whole). One build at a time per data directory: while another holds the build lock this raises
    ``LockedError``.
    """
    if config.build.engine == "spark":
        from chargeback.engines import spark  # pyspark is an optional extra: imported only when used

        return spark.build(config, progress)
    started = time.perf_counter()
    data_dir = Path(config.data_dir)
    if not partitions(data_dir, NODE_HOURS) and not partitions(data_dir, CUR_LINE_ITEMS):
        raise DataError(
            f"{data_dir}: no raw data (no prometheus/node_hours and no cur/line_items partitions); "
            "run `chargeback collect`, or `chargeback demo` for the sample month"
        )
    with build_lock(data_dir):
        return _build(config, data_dir, progress, started, full)


def _configure(con: duckdb.DuckDBPyConnection, config: Config, data_dir: Path) -> None:
    """Session settings of a build: UTC, no insertion order to keep (the models never rely on it; keeping
    it costs memory and time on every large table), ``[build]`` memory cap and threads, spill files in the
    data directory."""
    con.execute("set TimeZone = 'UTC'")
    con.execute("set preserve_insertion_order = false")
    con.execute("set memory_limit = ?", [config.build.memory_limit])
    if config.build.threads:
        con.execute("set threads = ?", [config.build.threads])
    spill = (data_dir / ".tmp").resolve()
    con.execute(f"set temp_directory = '{str(spill).replace(chr(39), chr(39) * 2)}'")


def _build(config: Config, data_dir: Path, progress: Progress | None, started: float, full: bool) -> BuildResult:
    models = discover_models()
    target = config.warehouse_path
    building = data_dir / f".warehouse.{uuid.uuid4().hex}.building.duckdb"
    try:
        if not full:
            incremental.start_from(target, building, [m.relation for m in models if m.incremental])
        con = duckdb.connect(str(building))
        try:
            _configure(con, config, data_dir)
            _register_raw(con, data_dir)
            _register_config(con, config)
            counts, refreshed = _run_models(con, models, progress, data_dir, full)
            checks = _failed_checks(con)
            register_build_tables(con, config, data_dir)
        finally:
            con.close()
        refuse_broken_invariants(checks, target)
        os.replace(building, target)
    finally:
        for leftover in (building, building.with_name(building.name + ".wal")):
            if leftover.exists():
                leftover.unlink()
    return BuildResult(target, time.perf_counter() - started, counts, checks, refreshed)


def records(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> list[dict]:
    """A query's rows as dicts keyed by column name."""
    result = con.execute(sql, params or [])
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, values, strict=True)) for values in result.fetchall()]


@contextmanager
def connect(config: Config) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the published warehouse, closed on exit."""
    path = config.warehouse_path
    if not path.is_file():
        raise DataError(f"{path}: no warehouse yet; run `chargeback build` (or `chargeback demo`)")
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        yield con
    finally:
        con.close()
