"""Collection throughput: one day of a generated size, served by a real local Prometheus, collected.

The day's series (``benchmarks.collection_series``: cAdvisor's and kube-state-metrics' series scraped every
``step`` seconds, usage following the generated pod-hours) are backfilled with promtool
(``benchmarks.prometheus_server``) and served; ``PrometheusCollector`` then collects the day, and the
result is compared with the generated pod-hours.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from benchmarks.basics import DAY, MONTH_START, Size
from benchmarks.collection_series import write_day
from benchmarks.layout import Layout
from benchmarks.prometheus_server import PrometheusServer, backfill

# --- the measurement ------------------------------------------------------------------------------------


def blocks_for(size: Size, day: int, step: int, cache: Path, log=print) -> dict:
    """TSDB blocks of ``day`` of ``size`` at a ``step``-second scrape interval, cached under ``cache``."""
    done = cache / "blocks.json"
    if done.is_file() and (cache / "blocks").is_dir():
        return json.loads(done.read_text())
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    began = time.perf_counter()
    layout = Layout.build(size)
    text = cache / "series.om"
    series, samples, truth = write_day(layout, day, text, step)
    written = time.perf_counter() - began
    log(
        f"collection: {series:,} series, {samples:,} samples ({text.stat().st_size / 2**30:.1f} GiB of OpenMetrics)"
        f" written in {written:.0f} s; backfilling with promtool"
    )
    backfill(text, cache / "blocks.partial", timeout=24 * 3600)
    text.unlink()
    (cache / "blocks.partial").rename(cache / "blocks")
    truth.select(
        ["pod_uid", "hour", "running_seconds", "cpu_usage_core_seconds", "memory_working_set_byte_seconds"]
    ).to_pandas().to_parquet(cache / "truth.parquet")
    result = {
        "series": series,
        "samples": samples,
        "write_seconds": written,
        "backfill_seconds": time.perf_counter() - began - written,
        "day": day,
        "step_seconds": step,
    }
    done.write_text(json.dumps(result))
    return result


def measure(size: Size, day: int, step: int, cache: Path, concurrency: int = 4, log=print) -> dict:
    """Collect ``day`` of ``size`` from a real Prometheus over its cached blocks; pod-hours per second."""
    import pandas as pd

    from chargeback.core.config import PrometheusSettings
    from collectors.base import Window
    from collectors.prometheus import PrometheusCollector
    from collectors.streams import POD_HOURS

    result = blocks_for(size, day, step, cache, log)
    serving = cache / "tsdb"
    shutil.rmtree(serving, ignore_errors=True)
    shutil.copytree(cache / "blocks", serving)
    server = PrometheusServer(serving).start(timeout=120)
    try:
        settings = PrometheusSettings(
            url=server.url, step_seconds=step, max_concurrency=concurrency, timeout_seconds=600
        )
        collector = PrometheusCollector("benchmark", settings, label_keys=("tenant",))
        start = datetime.fromtimestamp(MONTH_START + day * DAY, UTC)
        began = time.perf_counter()
        tables = [b.data for b in collector.collect(Window(start, start + timedelta(days=1))) if b.stream is POD_HOURS]
        elapsed = time.perf_counter() - began
    finally:
        server.stop()
        shutil.rmtree(serving, ignore_errors=True)
    collected = pa.concat_tables(tables).to_pandas() if tables else pd.DataFrame()
    truth = pd.read_parquet(cache / "truth.parquet")
    totals = {
        column: (float(collected[column].sum()), float(truth[column].sum()))
        for column in ("running_seconds", "cpu_usage_core_seconds", "memory_working_set_byte_seconds")
    }
    return {
        **result,
        "concurrency": concurrency,
        "pod_hours": len(collected),
        "generated_pod_hours": len(truth),
        "seconds": elapsed,
        "pod_hours_per_second": len(collected) / elapsed if elapsed else None,
        "error": {column: (got - want) / want for column, (got, want) in totals.items() if want},
    }
