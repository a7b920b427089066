"""The measured steps, each run by ``benchmarks.run`` in a child process of its own, so that the peak
memory it reports (``os.wait4``'s ``ru_maxrss``) is that step's alone.

    python -m benchmarks.child build CONFIG DATA_DIR [ENGINE] RESULT_JSON   # chargeback build, per-model times
    python -m benchmarks.child floor DATA_DIR RESULT_JSON          # read the pod-hours once, write a row each
    python -m benchmarks.child split DATA_DIR RESULT_JSON          # one query splitting node costs over them
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from chargeback.build.engines import build
from chargeback.core.config import load as load_config

# The floor: what DuckDB needs to read every pod-hour once and write one row for each (its key and a cost).
FLOOR_SQL = """
    copy (
        select
            cluster, pod_uid, hour,
            cpu_request_core_seconds / 3600.0 * 0.04
                + memory_request_byte_seconds / 3600.0 / 1073741824.0 * 0.005 as cost,
        from read_parquet($pod_hours)
    ) to '{out}' (format parquet)
"""

# A local Spark's driver is its only executor: give it the memory a month needs (Spark's default is 1g).
SPARK_CONF = {"spark.driver.memory": "12g"}

# For scale, not a target: the bare split of each node-hour's amortized EC2 cost over its pod-hours by
# the scad weights (cpu 9, memory 1), allocated = max(request, usage); no idle, tenants or checks.
SPLIT_SQL = """
    copy (
        with node_costs as (
            select line_item_resource_id as instance_id, line_item_usage_start_date as hour,
                sum(case line_item_line_item_type
                    when 'SavingsPlanCoveredUsage' then savings_plan_savings_plan_effective_cost
                    when 'DiscountedUsage' then reservation_effective_cost
                    else line_item_unblended_cost end) as cost,
            from read_parquet($cur)
            where line_item_product_code = 'AmazonEC2'
                and line_item_line_item_type in ('Usage', 'SavingsPlanCoveredUsage', 'DiscountedUsage')
            group by all
        ),
        node_hours as (
            select n.cluster, n.node, n.hour, c.cost,
                n.cpu_capacity_cores * n.running_seconds / 3600.0 as cpu_available,
                n.memory_capacity_bytes / 1073741824.0 * n.running_seconds / 3600.0 as memory_available,
            from read_parquet($node_hours) as n
            join node_costs as c on c.instance_id = split_part(n.provider_id, '/', 5) and c.hour = n.hour
        ),
        pod_hours as (
            select cluster, pod_uid, node, hour,
                greatest(cpu_request_core_seconds, cpu_usage_core_seconds) / 3600.0 as cpu,
                greatest(memory_request_byte_seconds, memory_working_set_byte_seconds) / 3600.0 / 1073741824.0
                    as memory,
            from read_parquet($pod_hours)
        ),
        taken as (
            select p.*, n.cost, n.cpu_available, n.memory_available,
                sum(p.cpu) over node_hour as cpu_taken, sum(p.memory) over node_hour as memory_taken,
            from pod_hours as p
            join node_hours as n on n.cluster = p.cluster and n.node = p.node and n.hour = p.hour
            window node_hour as (partition by p.cluster, p.node, p.hour)
        )
        select cluster, pod_uid, hour,
            cost / (9 * cpu_available + memory_available) * (
                9 * cpu / greatest(cpu_taken, cpu_available) * cpu_available
                + memory / greatest(memory_taken, memory_available) * memory_available
            ) as split_cost,
        from taken
    ) to '{out}' (format parquet)
"""


def _raw(data_dir: Path, source: str, table: str) -> str:
    return str(data_dir / "raw" / source / table / "*" / "data*.parquet")


def run_build(config: Path, data_dir: Path, engine: str = "duckdb") -> dict:
    """``chargeback build`` as the CLI runs it; a model's time runs from its start to the next one's (the
    last one's includes the checks and the publish)."""
    marks: list[tuple[str, float]] = []
    began = time.perf_counter()
    settings = load_config(config, data_dir)
    spark = settings.build.spark.model_copy(update={"conf": SPARK_CONF | settings.build.spark.conf})
    settings = settings.model_copy(
        update={"build": settings.build.model_copy(update={"engine": engine, "spark": spark})}
    )
    result = build(settings, lambda model, _index, _total: marks.append((model, time.perf_counter())))
    ended = time.perf_counter()
    ends = [t for _, t in marks[1:]] + [ended]
    models = [(name, end - start) for (name, start), end in zip(marks, ends, strict=True)]
    refreshed = {relation: r.describe() for relation, r in result.refreshed.items()}
    outcome = {"seconds": ended - began, "models": models, "rows": result.row_counts, "refreshed": refreshed}
    if engine == "spark":
        outcome["jvm_peak_rss_bytes"] = _jvm_peak_rss()
    return outcome


def _jvm_peak_rss() -> int | None:
    """The Spark JVM's peak RSS (VmHWM): it is pyspark's child, which this process never waits for, so
    ``os.wait4`` in benchmarks.run does not see it."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        return None
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def run_query(data_dir: Path, sql: str, times: int) -> dict:
    """The best of ``times`` runs of a ``copy ... to`` query (the floor is short: one run is noisy)."""
    with tempfile.TemporaryDirectory(dir=data_dir) as scratch:
        con = duckdb.connect()
        try:
            con.execute("set TimeZone = 'UTC'")
            params = {
                "pod_hours": _raw(data_dir, "prometheus", "pod_hours"),
                "node_hours": _raw(data_dir, "prometheus", "node_hours"),
                "cur": str(data_dir / "raw" / "cur" / "line_items" / "*" / "data*.parquet"),
            }
            out = Path(scratch) / "rows.parquet"
            query = sql.format(out=out)
            used = {name: value for name, value in params.items() if f"${name}" in query}
            runs = []
            for _ in range(times):
                began = time.perf_counter()
                con.execute(query, used)
                runs.append(time.perf_counter() - began)
            rows = con.execute("select count(*) from read_parquet(?)", [str(out)]).fetchone()[0]
        finally:
            con.close()
    return {"seconds": min(runs), "runs": runs, "rows": rows}


def main(argv: list[str]) -> int:
    step, *args = argv
    if step == "build":
        config, data_dir, *engine, result = args
        outcome = run_build(Path(config), Path(data_dir), *engine)
    elif step in ("floor", "split"):
        data_dir, result = args
        outcome = (
            run_query(Path(data_dir), FLOOR_SQL, 3) if step == "floor" else run_query(Path(data_dir), SPLIT_SQL, 1)
        )
    else:
        raise SystemExit(f"unknown step {step!r}: build, floor or split")
    Path(result).write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
