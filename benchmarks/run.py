"""The benchmark: generate a size (cached), build it, and measure what issue 7 holds the product to.

    python -m benchmarks.run --size M [--json out.json] [--keep DIR] [--collection | --no-collection]
    python -m benchmarks.run --size L --collection-only   # only the collection figure: one hour of L
    python -m benchmarks.run --size L --engine spark   # the month's build on Spark (local mode) against DuckDB

Figures (each build and query runs in a child process of its own, so that its peak RSS is its own):

- full month build: ``chargeback build`` of the size's raw Parquet (every model and check, the publish
  included), its peak RSS, pod-hours per second, and the slowest models;
- the floor: DuckDB reading the pod-hours once and writing one row each (best of three), and build ÷ floor;
  for scale, one bare query splitting node costs over the pod-hours;
- incremental day: land the day after the month (its Prometheus, job-run and Cost Explorer partitions and
  a new CUR version of the period; S lands its last day again), then build again: the models built by day
  reprice only the days whose inputs changed (chargeback/build/incremental.py);
- dashboard: every ``dashboards.data`` call each page makes (the sidebar's on every page), as an all-access
  viewer, median of three; the slowest per page;
- collection (``benchmarks/collection.py``): one hour of L (2026-10-02 10:00–11:00 UTC) with ``--size L``,
  else one day of M (2026-10-02), from a real local Prometheus (TSDB blocks cached), collected as the hourly
  collect job does: pod-hours per second and found against generated; by default at M, with ``--collection``,
  or alone (``--collection-only``: no month built; result in ``benchmarks/data/results/collection/``);
- scaling: build time against the last run of a smaller size (kept in ``benchmarks/data/results/``).

Generated months are cached under ``benchmarks/data/<size key>/`` (git-ignored); each run builds a
hard-linked copy of the month, deleted afterwards unless ``--keep DIR``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from benchmarks.collection import collection_for, collection_table
from benchmarks.generate import SIZES, Fleet, SampleMonth, Size, generate, land_next_day
from benchmarks.report import FLEET_CLUSTERS, FLEET_SIZES, FLEET_TARGETS, TARGETS, spark_table, table
from chargeback.core.periods import days_in, first_day

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT / "benchmarks" / "data"
CONFIG = REPO_ROOT / "sample_data" / "chargeback.toml"  # the sample month's tenants serve every size
GIB = 2**30
SCALING_MIN_POD_HOURS = 1_000_000

# --- the generated month, cached ------------------------------------------------------------------------


def month(size: Size | SampleMonth | Fleet, log: Callable[[str], None]) -> Path:
    """The size's generated month (``raw/``, ``cur_export/``), generated once per size key."""
    folder = DATA / size.key
    done, ready = folder / "month.json", folder / "month"
    if done.is_file() and ready.is_dir():
        return ready
    for stale in DATA.glob(f"{size.name}-*"):  # the same size from an older generator or parameters
        if stale != folder:
            shutil.rmtree(stale, ignore_errors=True)
    partial = folder / "month.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(ready, ignore_errors=True)
    partial.mkdir(parents=True)
    log(f"generating size {size.name} into {ready}")
    result = generate(size, partial, log=log)
    partial.rename(ready)
    done.write_text(json.dumps(result))
    return ready


def working_copy(source: Path, target: Path) -> None:
    """Hard links: landing replaces files (a new inode), so the cached month is never changed."""
    shutil.copytree(source, target, copy_function=os.link, dirs_exist_ok=True)


# --- child processes --------------------------------------------------------------------------------------


def child(step: str, *args: object) -> dict:
    """``python -m benchmarks.child step args...``; its result, wall time and peak RSS (``os.wait4``)."""
    fd, name = tempfile.mkstemp(suffix=".json", prefix="benchmark-")
    os.close(fd)
    result = Path(name)
    try:
        with tempfile.TemporaryFile() as output:
            began = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.child", step, *map(str, args), str(result)],
                cwd=REPO_ROOT,
                stdout=output,
                stderr=output,
            )
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - began
            if process.returncode:
                output.seek(0)
                tail = output.read().decode(errors="replace")[-4000:]
                raise RuntimeError(f"benchmark step {step} failed (exit {process.returncode}):\n{tail}")
        outcome = json.loads(result.read_text())
    finally:
        result.unlink(missing_ok=True)
    return outcome | {"wall_seconds": wall, "peak_rss_bytes": usage.ru_maxrss * 1024}


# --- dashboard ---------------------------------------------------------------------------------------------


def dashboard_calls(call: Callable) -> dict[str, list[tuple[str, tuple]]]:
    """The ``dashboards.data`` calls of each page (``dashboards/views``), with the arguments a user's first
    view passes: the latest period, all clusters, the tenant with the biggest bill on the Tenant bill page."""
    from chargeback.core.config import SENTINELS

    period = call("periods")[0]
    bill = call("bill", period, None, None)
    tenants = [line for line in bill.lines if line.tenant not in SENTINELS]
    tenant = max(tenants, key=lambda line: line.total).tenant if tenants else None
    report = call("quota_report", period, None)
    quota = next(
        ((ns.namespace, use.resource) for ns in (report.namespaces if report else []) for use in ns.resources
         if use.hard is not None),
        None,
    )  # fmt: skip
    first, last = first_day(period), first_day(period) + timedelta(days=days_in(period) - 1)
    sidebar = [("periods", ()), ("clusters", (period,)), ("tenants", (period, None)), ("bill", (period, None, None)),
               ("cluster_freshness", ())]  # fmt: skip
    capacity = [("quota_report", (period, None))]
    if quota:
        capacity.append(("quota_use_hourly", (period, None, *quota)))
    capacity += [
        ("capacity_report", (period, None)),
        ("rightsizing", (period, None, None)),
        ("limit_violations", (None, None)),
        ("job_quota_fits", (None, None)),
    ]
    return {
        "Sidebar (every page)": sidebar,
        "Overview": [("bill", (period, None, None)), ("daily_trend", (period, None)),
                     ("month_over_month", (period, None)), ("budget_months", (period, None)),
                     ("efficiency", (period, None, None, "tenant")), ("checks", (period,)),
                     ("freshness", ()), ("coverage", ())],
        "Tenant bill": [("bill", (period, None, tenant)), ("by_cluster", (period, tenant)),
                        ("anomalies", (period, None, tenant)), ("efficiency", (period, None, tenant, "namespace")),
                        ("workloads", (period, tenant, None)), ("emr_jobs", (period, None, tenant))],
        "Explore": [("cost_days", ()), ("costs", (first, last, "tenant", None, None)),
                    ("costs", (first, last, "namespace", None, None)), ("costs", (first, last, "workload", None, None)),
                    ("label_keys", (first, last)),
                    ("costs", (first, last, "label:app", None, None))],
        "EMR jobs": [("emr_jobs", (period, None, None))],
        "Nodes and idle": [("node_groups", (period, None)), ("dedicated_nodes", (period, None)),
                           ("cross_tenant_pods", (period, None))],
        "Capacity and quotas": capacity,
        "Data quality": [("checks", (period,)), ("reconciliation", (period,)), ("coverage", ()),
                         ("estimated_days", (period, None))],
    }  # fmt: skip


def time_dashboard(data_dir: Path, runs: int = 3) -> dict:
    """Each page's calls timed as the page makes them (a read-only open of the warehouse per call)."""
    from chargeback.core.config import load as load_config
    from dashboards import data, data_capacity, data_explore
    from dashboards.identity import Viewer

    warehouse = data.Warehouse(load_config(CONFIG, data_dir))
    viewer = Viewer("benchmark (all access)", None)

    def call(name: str, *args):
        reader = next(getattr(m, name) for m in (data, data_capacity, data_explore) if hasattr(m, name))
        if "viewer" in inspect.signature(reader).parameters:
            return reader(warehouse, viewer, *args)
        return reader(warehouse, *args)

    pages = {}
    for page, calls in dashboard_calls(call).items():
        queries = {}
        for name, args in calls:
            seconds = []
            for _ in range(runs):
                began = time.perf_counter()
                call(name, *args)
                seconds.append(time.perf_counter() - began)
            label = f"{name} by {args[2]}" if name == "costs" else name  # the page reads costs by several groups
            queries[label] = {"seconds": statistics.median(seconds), "runs": seconds}
        slowest = max(queries, key=lambda q: queries[q]["seconds"])
        pages[page] = {"queries": queries, "slowest": slowest, "slowest_seconds": queries[slowest]["seconds"]}
    return pages


# --- the run ---------------------------------------------------------------------------------------------


def disk_use(data_dir: Path) -> dict[str, int]:
    """Bytes of the raw Parquet, the build folders (a file linked by several builds counted once) and the
    warehouse file."""
    from chargeback.build import layout

    warehouse = data_dir / "warehouse.duckdb"
    builds = layout.root(data_dir)
    return {
        "raw_bytes": layout.disk_use(data_dir / "raw"),
        "builds_bytes": layout.disk_use(builds) if builds.is_dir() else 0,
        "builds": len([p for p in builds.iterdir() if p.is_dir()]) if builds.is_dir() else 0,
        "warehouse_bytes": warehouse.stat().st_size if warehouse.is_file() else 0,
    }


def pod_hours_of(data_dir: Path) -> int:
    files = str(data_dir / "raw" / "prometheus" / "pod_hours" / "*" / "data*.parquet")
    return duckdb.sql("select count(*) from read_parquet(?)", params=[files]).fetchall()[0][0]


def previous_results() -> dict[str, dict]:
    """The last DuckDB run of each size."""
    folder = DATA / "results"
    found = {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}
    return {name: result for name, result in found.items() if result.get("engine", "duckdb") == "duckdb"}


def run_spark(size: Size | SampleMonth | Fleet, log: Callable[[str], None]) -> dict:
    """The month built on Spark (``[build] engine = "spark"``, local mode on this machine's cores), against
    the last DuckDB run of the size; and what a fleet of such clusters would take in executor-hours."""
    from chargeback.core.config import SparkSettings

    host = machine()
    cached = month(size, log)
    work = Path(tempfile.mkdtemp(prefix=f"run-{size.name}-spark-", dir=DATA))
    try:
        working_copy(cached, work)
        pod_hours = pod_hours_of(work)
        log(f"size {size.name}: {pod_hours:,} pod-hours; building the month on Spark ({SparkSettings().master})")
        build = child("build", CONFIG, work, "spark")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    build["models"].sort(key=lambda m: -m[1])
    duckdb_run = previous_results().get(size.name)
    cores = os.cpu_count() or 1
    core_hours = build["seconds"] * cores / 3600
    return {
        "size": size.name,
        "engine": "spark",
        "pod_hours": pod_hours,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": host | {"load_at_end": os.getloadavg()},
        "build": build,
        "duckdb_build_seconds": duckdb_run["build"]["seconds"] if duckdb_run else None,
        "core_hours": core_hours,
        "fleet": {"clusters": FLEET_CLUSTERS, "core_hours": core_hours * FLEET_CLUSTERS},
    }


def scaling(result: dict, others: dict[str, dict]) -> dict | None:
    """Build time against the last run of the largest smaller size: time ratio ÷ data ratio. Sizes under a
    million pod-hours (S) are not compared: a build's fixed costs dominate them."""
    smaller = [r for r in others.values() if r["size"] != result["size"]
               and SCALING_MIN_POD_HOURS <= r["pod_hours"] < result["pod_hours"]]  # fmt: skip
    if not smaller:
        return None
    base = max(smaller, key=lambda r: r["pod_hours"])
    data_ratio = result["pod_hours"] / base["pod_hours"]
    time_ratio = result["build"]["seconds"] / base["build"]["seconds"]
    return {"against": base["size"], "against_when": base["when"], "data_ratio": data_ratio,
            "time_ratio": time_ratio, "per_unit": time_ratio / data_ratio}  # fmt: skip


def run(size: Size | SampleMonth | Fleet, keep: Path | None, collection: bool, log: Callable[[str], None]) -> dict:
    host = machine()  # the commit measured is the one at the start; other work on the machine skews every
    cached = month(size, log)  # figure, so the load is reported at the start and at the end
    work = keep or Path(tempfile.mkdtemp(prefix=f"run-{size.name}-", dir=DATA))
    try:
        working_copy(cached, work)
        pod_hours = pod_hours_of(work)
        log(f"size {size.name}: {pod_hours:,} pod-hours; building the month")
        build = child("build", CONFIG, work)
        build["pod_hours_per_second"] = pod_hours / build["seconds"]
        build["disk"] = disk_use(work)
        build["models"].sort(key=lambda m: -m[1])
        log(f"built in {build['seconds']:.1f} s; timing the dashboard's queries")
        pages = time_dashboard(work)
        log("measuring the floor")
        floor = child("floor", work)
        split = child("split", work)
        log("landing one more day and building again")
        began = time.perf_counter()
        landed = land_next_day(size, work)
        landed["seconds"] = time.perf_counter() - began
        incremental = child("build", CONFIG, work)
        incremental["disk"] = disk_use(work)
        collected = collection_for(size.name, DATA, log) if collection else None
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "size": size.name,
        "description": size.describe(),
        "pod_hours": pod_hours,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": host | {"load_at_end": os.getloadavg()},
        "build": build,
        "floor": floor,
        "build_over_floor": build["seconds"] / floor["seconds"],
        "split_query": split,
        "incremental": {"landed": landed, "build": incremental},
        "dashboard": pages,
        "collection": collected,
    }
    result["scaling"] = scaling(result, previous_results())
    result["targets"] = judge(result)
    return result


def machine() -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    changed = subprocess.run(["git", "status", "--porcelain", "--", "chargeback"], cwd=REPO_ROOT, capture_output=True,
                             text=True)  # fmt: skip
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    revision = commit.stdout.strip() + ("+changes" if changed.stdout.strip() else "")  # uncommitted models
    return {"cpus": os.cpu_count(), "memory_gib": round(memory / GIB, 1), "python": platform.python_version(),
            "duckdb": duckdb.__version__, "commit": revision, "load_average": os.getloadavg()}  # fmt: skip


def judge(result: dict) -> dict:
    """Each figure against its target: L's own (TARGETS), or for a fleet size its cluster size's last run
    (FLEET_TARGETS)."""
    dashboard = max(p["slowest_seconds"] for p in result["dashboard"].values())
    rss = result["build"]["peak_rss_bytes"] / GIB
    single = FLEET_SIZES.get(result["size"])
    if single:
        base = previous_results().get(single)
        values = {"build_peak_rss_gib": rss, "dashboard_query_seconds": dashboard}
        if base:
            values["build_over_l"] = result["build"]["seconds"] / base["build"]["seconds"]
            values["incremental_over_l"] = (
                result["incremental"]["build"]["seconds"] / base["incremental"]["build"]["seconds"]
            )
        return {k: {"value": v, "target": FLEET_TARGETS[k][0], "pass": FLEET_TARGETS[k][1](v)}
                for k, v in values.items()}  # fmt: skip
    values = {
        "build_seconds": result["build"]["seconds"],
        "build_over_split": result["build"]["seconds"] / result["split_query"]["seconds"],
        "build_peak_rss_gib": rss,
        "incremental_build_seconds": result["incremental"]["build"]["seconds"],
        "dashboard_query_seconds": dashboard,
        "build_over_floor": result["build_over_floor"],
    }
    if result["scaling"]:
        values["scaling"] = result["scaling"]["per_unit"]
    return {k: {"value": v, "target": TARGETS[k][0], "pass": TARGETS[k][1](v)} for k, v in values.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="M", help="S, M, L or XL (four L clusters; default M)")
    parser.add_argument("--json", type=Path, help="also write every figure (and each query's runs) here")
    parser.add_argument("--keep", type=Path, help="keep the built data directory here (must not exist yet)")
    collection = parser.add_mutually_exclusive_group()
    collection.add_argument("--collection", action="store_true", help="measure collection too (--size L: one hour"
                            " of L, else one day of M)")  # fmt: skip
    collection.add_argument("--no-collection", action="store_true", help="skip collection even at size M")
    collection.add_argument("--collection-only", action="store_true", help="measure only collection (no month is"
                            " generated or built)")  # fmt: skip
    parser.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="spark: only the month's build, on Spark in local mode, against DuckDB's last run",
    )
    args = parser.parse_args(argv)
    if args.keep is not None and args.keep.exists():
        parser.error(f"--keep {args.keep}: already exists; name a new directory")
    measure_collection = args.collection or (args.size == "M" and not args.no_collection)

    def log(message: str) -> None:
        print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)

    if args.collection_only:  # kept apart from the builds that `scaling` compares
        host, collected = machine(), collection_for(args.size, DATA, log)
        result = {"size": collected["size"], "machine": host | {"load_at_end": os.getloadavg()},
                  "collection": collected}  # fmt: skip
        name, printed = f"collection/{result['size']}", collection_table(result)
    elif args.engine == "spark":
        result = run_spark(SIZES[args.size], log)
        name, printed = f"{args.size}-spark", spark_table(result)
    else:
        result = run(SIZES[args.size], args.keep, measure_collection, log)
        name, printed = args.size, table(result)
    (DATA / "results" / name).parent.mkdir(parents=True, exist_ok=True)
    (DATA / "results" / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    print(printed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
