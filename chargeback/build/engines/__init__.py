"""The engines that run the models, behind one entry point: ``build(config)``.

- ``duckdb``: this machine, an embedded DuckDB file (the default, and incremental by day);
- ``spark``: the same models transpiled by sqlglot (``spark_sql``) on a SparkSession, marts written as
  Parquet and published as views (``[build] engine = "spark"``; always whole).

Both write a new warehouse beside the published one, refuse to publish a build that breaks an invariant or
changes the published method without ``accept_method_change`` (``chargeback.build.method``), and hold the
data directory's build lock while they run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from chargeback.build.adjustments import plan
from chargeback.build.engines import duckdb as duckdb_engine
from chargeback.build.runner import BuildResult, Progress, discover_models
from chargeback.build.warehouse import build_lock
from chargeback.core.config import Config
from chargeback.core.errors import ChargebackError, DataError, storage_error
from chargeback.raw.landing import partitions
from chargeback.raw.tables import CUR_LINE_ITEMS, NODE_HOURS


def build(
    config: Config,
    progress: Progress | None = None,
    full: bool = False,
    accept_method_change: bool = False,
    restate: Iterable[str] = (),
) -> BuildResult:
    """Run every model over the data directory's raw tables and publish the warehouse atomically.

    On DuckDB, models built by day are brought up to date from the published warehouse day by day (``full``:
    built whole). With ``[build] engine = "spark"`` the models run on Spark instead (always whole). One build
    at a time per data directory: while another holds the build lock this raises ``LockedError``. A build whose
    allocation method differs from the published warehouse's raises ``MethodChangeError`` (what changed, and
    each bill line's total before and after) and publishes nothing, unless ``accept_method_change``. Closed
    months are corrected by adjustments in the first open month (``chargeback.build.adjustments``); ``restate``
    names closed months to restate under the current method from now on.
    """
    data_dir = Path(config.data_dir)
    remote_raw = config.build.engine == "spark" and config.build.spark.raw
    if not remote_raw and not partitions(data_dir, NODE_HOURS) and not partitions(data_dir, CUR_LINE_ITEMS):
        raise DataError(
            f"{data_dir}: no raw data (no prometheus/node_hours and no cur/line_items partitions); "
            "run `chargeback collect`, or `chargeback demo` for the sample month"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    with build_lock(data_dir):
        try:
            return _build(config, progress, full, accept_method_change, restate)
        except Exception as exc:
            fault = storage_error(exc)  # a full or read-only disk: say that nothing published changed
            if fault is None or (isinstance(exc, ChargebackError) and exc is not fault):
                raise
            published = config.warehouse_path
            raise fault.keeping(f"{published} is unchanged" if published.is_file() else "nothing published") from exc


def _build(
    config: Config, progress: Progress | None, full: bool, accept_method_change: bool, restate: Iterable[str]
) -> BuildResult:
    closed = plan(config, discover_models(), restate)
    if config.build.engine == "spark":
        try:  # pyspark and sqlglot are the optional "spark" extra
            from chargeback.build.engines import spark
        except ImportError as exc:
            raise ChargebackError(
                f"engine spark needs pyspark and sqlglot ({exc}): pip install 'chargeback[spark]'"
                " (and Java 17 or later)"
            ) from None
        return spark.build(config, progress, accept_method_change=accept_method_change, closed=closed)
    return duckdb_engine.build(config, progress, full, accept_method_change=accept_method_change, closed=closed)
