"""Collection throughput: a span of a generated size (one day of M, one hour of L), served by a real local
Prometheus, collected the way the scheduler's hourly collect job collects.

The span's series (``benchmarks.collection_series``: cAdvisor's and kube-state-metrics' series scraped every
``step`` seconds, usage following the generated pod-hours) are backfilled with promtool
(``benchmarks.prometheus_server``), cached as TSDB blocks, and served. The collection is
``chargeback.raw.collect.run``, the function the scheduler's collect job calls (``chargeback.scheduler.jobs``),
for the Prometheus source of a configuration naming that server, with the span as its window (what
``chargeback collect --source prometheus --start ... --end ...`` does): the registry builds the collector as in
production and the day's batches are landed as Parquet. The landed pod-hours are compared with the
generated ones.

The scheduler itself passes no bounds: each hourly run collects from the source's watermark, which only a
whole UTC day moves, to now; so at 11:15 it collects 00:00 to 11:15, and at 00:15 the whole day before and
the new day's first quarter-hour. One hour is the unit of new data, not of the work.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from benchmarks.basics import Size
from benchmarks.collection_series import Span, write_span
from benchmarks.layout import Layout
from benchmarks.prometheus_server import PrometheusServer, backfill

# The span measured with each size: one hour of L, a busy one (the hourly collect's new data, Spark jobs
# running); with any other size, one day of M, 2026-10-02, with the first night's jobs spilling in.
SPANS, OTHERWISE = {"L": Span(1, 10, 1), "M": Span(1)}, "M"
STEP = 30  # seconds between scrapes, the collector's default
CLUSTER = "benchmark"  # the cluster's name in the configuration: the landed files' target
TRUTH_COLUMNS = ["pod_uid", "hour", "running_seconds", "cpu_usage_core_seconds", "memory_working_set_byte_seconds"]
TOTALS = ("running_seconds", "cpu_usage_core_seconds", "memory_working_set_byte_seconds")
# What docs/performance.md reports for the day of M (at fefb441): collection must not fall below it.
DAY_OF_M_PER_SECOND = 4_900

# --- the measurement ------------------------------------------------------------------------------------


def blocks_for(size: Size, span: Span, step: int, cache: Path, log=print) -> dict:
    """TSDB blocks of ``span`` of ``size`` at a ``step``-second scrape interval, cached under ``cache``."""
    done = cache / "blocks.json"
    if done.is_file() and (cache / "blocks").is_dir():
        return json.loads(done.read_text())
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    began = time.perf_counter()
    layout = Layout.build(size)
    text = cache / "series.om"
    series, samples, truth = write_span(layout, span, text, step)
    written = time.perf_counter() - began
    log(
        f"collection: {series:,} series, {samples:,} samples ({text.stat().st_size / 2**30:.1f} GiB of OpenMetrics)"
        f" written in {written:.0f} s; backfilling with promtool"
    )
    backfill(text, cache / "blocks.partial", timeout=24 * 3600)
    text.unlink()
    (cache / "blocks.partial").rename(cache / "blocks")
    pq.write_table(truth.select(TRUTH_COLUMNS), cache / "truth.parquet")
    lo, hi = span.written(step)
    result = {
        "series": series,
        "samples": samples,
        "write_seconds": written,
        "backfill_seconds": time.perf_counter() - began - written,
        "day": span.day,
        "first_hour": span.first_hour,
        "hours": span.hours,
        "samples_from": datetime.fromtimestamp(lo, UTC).isoformat(),
        "samples_until": datetime.fromtimestamp(hi, UTC).isoformat(),
        "step_seconds": step,
    }
    done.write_text(json.dumps(result))
    return result


def measure(size: Size, span: Span, step: int, cache: Path, concurrency: int = 4, log=print) -> dict:
    """Collect ``span`` of ``size`` from a real Prometheus over its cached blocks, as the hourly collect job
    does; pod-hours per second, and how the landed pod-hours compare with the generated ones."""
    import pandas as pd

    from chargeback.core.config import parse
    from chargeback.raw.collect import run

    result = blocks_for(size, span, step, cache, log)
    serving, landing = cache / "tsdb", cache / "landing"
    for stale in (serving, landing):
        shutil.rmtree(stale, ignore_errors=True)
    shutil.copytree(cache / "blocks", serving)
    server = PrometheusServer(serving).start(timeout=120)
    try:
        prometheus = {"url": server.url, "step_seconds": step, "max_concurrency": concurrency, "timeout_seconds": 600}
        config = parse({"data_dir": str(landing), "clusters": [{"name": CLUSTER, "prometheus": prometheus}]})
        start, end = (datetime.fromtimestamp(t, UTC) for t in (span.start, span.end))
        fired = datetime.fromtimestamp(span.end + Span.TAIL, UTC)  # the scheduler's clock: :15 past the hour
        log(f"collection: {span.describe()} of size {size.name} from {server.url}")
        began = time.perf_counter()
        (outcome,) = run(config, ["prometheus"], start=start, end=end, now=fired)
        elapsed = time.perf_counter() - began
        if outcome.error:
            raise RuntimeError(f"collection of {span.describe()} failed: {outcome.error}")
        landed = sorted((landing / "raw" / "prometheus" / "pod_hours").glob(f"day=*/data-{CLUSTER}.parquet"))
        collected = pd.concat([pd.read_parquet(path) for path in landed]) if landed else pd.DataFrame()
    finally:
        server.stop()
        shutil.rmtree(serving, ignore_errors=True)
        shutil.rmtree(landing, ignore_errors=True)
    truth = pd.read_parquet(cache / "truth.parquet")
    totals = {column: (float(collected[column].sum()), float(truth[column].sum())) for column in TOTALS}
    return {
        **result,
        "size": size.name,
        "span": span.describe(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "concurrency": concurrency,
        "landed_rows": outcome.rows,
        "pod_hours": len(collected),
        "generated_pod_hours": len(truth),
        "seconds": elapsed,
        "pod_hours_per_second": len(collected) / elapsed if elapsed else None,
        "error": {column: (got - want) / want for column, (got, want) in totals.items() if want},
    }


def collection_for(size_name: str, data: Path, log=print) -> dict:
    """The collection measured with ``size_name`` (``SPANS``), its blocks cached under ``data/<size key>/``."""
    from benchmarks.generate import SIZES

    name = size_name if size_name in SPANS else OTHERWISE
    size, span = SIZES[name], SPANS[name]
    assert isinstance(size, Size)
    return measure(size, span, STEP, data / size.key / f"prometheus-{span.key}-{STEP}s", log=log)


def collection_table(result: dict) -> str:
    """``benchmarks.run --collection-only``'s table: the rows of ``result["collection"]`` and the machine."""
    host, collected = result["machine"], result["collection"]
    lines = [f"Collection ({host['cpus']} cores, load {host['load_average'][0]:.1f} → {host['load_at_end'][0]:.1f},"
             f" commit {host['commit']}, {collected['when']})", "",
             "| figure | value | target | |", "|---|---|---|---|"]  # fmt: skip
    return "\n".join(lines + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in collection_rows(collected)])


def collection_rows(result: dict) -> list[tuple[str, str, str, str]]:
    """The benchmark table's rows for one collection result: (figure, value, target, verdict)."""
    name = f"collection, {result['span']} of {result['size']}"
    worst = max(abs(e) for e in result["error"].values()) if result["error"] else 0.0
    target, verdict = "", ""
    if result["size"] == "M" and result["hours"] == 24:
        target = f"≥ {DAY_OF_M_PER_SECOND:,} pod-hours/s (M)"
        verdict = "pass" if result["pod_hours_per_second"] >= DAY_OF_M_PER_SECOND else "**miss**"
    return [
        (name, f"{result['pod_hours_per_second']:,.0f} pod-hours/s ({result['pod_hours']:,} in "
         f"{result['seconds']:.1f} s)", target, verdict),
        (f"{name}: what Prometheus held", f"{result['series']:,} series, {result['samples']:,} samples at "
         f"{result['step_seconds']} s scrapes", "", ""),
        (f"{name}: found", f"{result['pod_hours']:,} of {result['generated_pod_hours']:,} generated pod-hours; "
         f"running time, CPU and memory within {worst:.3%}", "", ""),
    ]  # fmt: skip
