"""A cluster month of any size, in the sample month's vocabulary, generated column-wise.

Run from the repository root::

    python -m benchmarks.generate --size M OUT_DIR          # or --nodes/--pods/--jobs/--executors/--days

Sizes
-----
- ``S`` *is* the sample month: ``sample_data/generate.py`` writes it, byte for byte.
- ``M``: 100 nodes, 3,000 long-running pods, 300 Spark jobs a day of 1 driver and 20 executors, 30 days.
- ``L``: 500 nodes, 20,000 long-running pods, 2,000 such jobs a day, 30 days (about 16 million pod-hours).
- any ``Size(...)``: the tests use a tiny one.

Everything but S comes from this module, which takes its vocabulary from ``sample_data/generate.py``
rather than keeping a second copy: the cluster, account, region and month (October 2026); instance types
and prices (``chargeback/data/instance_types.csv``); node groups, node labels, taints and allocatable
capacity (``Node``); namespaces, their tenant labels and the mid-month relabel of ``feature-store``;
DaemonSets and the long-running workloads (``WORKLOADS``: namespace, kind, requests, usage, diurnal
cycle), named and labelled the way each controller names its pods (``_identity``); Spark job templates,
virtual clusters, job-run ids and Spark pod labels; the usage model (daily cycle, quieter weekends, smooth
noise); and every CUR convention (line types, usage types, descriptions, products, tags, Savings Plan
ratios, spot price range, EKS, EMR on EKS, EBS, S3, bastion, ``EKSPod-EC2`` split rows, tax).

The scaled cluster (all times UTC; month = [2026-10-01, 2026-10-01 + days))
---------------------------------------------------------------------------
- Nodes run all month. ``spark-spot`` m5.4xlarge spot nodes hold the Spark pods; the rest are split
  ``general`` 50% (m5.4xlarge), ``general-sp`` 25% (m5.4xlarge, covered by a Savings Plan), ``memory`` 15%
  (r5.4xlarge), ``gpu`` 5% (g4dn.xlarge) and ``risk-dedicated`` 5% (m5.2xlarge, labelled and tagged for
  tenant ``risk``), each at least one node.
- Long-running pods: the sample's three DaemonSets on every node, one ``gpu-trainer`` per GPU node, and
  the other sample workloads as Deployments and StatefulSets of 2 to 6 replicas, spread over copies of the
  sample's namespaces (``payments-api-00``, ``payments-api-01``, ...; ``kube-system``, ``monitoring`` and the
  EMR namespaces stay single), about 1,000 pods per copy. Requests and usage are the sample workload's,
  scaled per node class so that requests fill about 65% of it; each pod goes to the least loaded node of
  its class that fits it.
- Spark: each day, ``spark_jobs_per_day`` jobs submitted at uniformly random times, cycling through the
  sample's four job templates (so through both virtual clusters), named ``<template>-<nnnn>`` (the same
  name every day). A job's executors live ``executor_seconds`` (10 to 60 minutes, uniform); its driver from
  before the first executor to after the last. Each job takes a lane of 1 + executors slots of the largest
  template shape (7 per m5.4xlarge) for its span; with all lanes busy, a job waits (its pods start later),
  as pods stay Pending on a full cluster. 2% of runs fail, 1% are cancelled (their pods have run).
- Requests never exceed allocatable capacity at any moment; usage may exceed requests.
- CUR: one EC2 line per node-hour (spot ``Usage`` at a daily price per type, ``SavingsPlanCoveredUsage``
  plus its ``SavingsPlanNegation``, or on-demand ``Usage``), per hour the EKS fee, the Savings Plan fee and
  the bastion, EMR on EKS vCPU-hour and GB-hour lines per job run and hour, the tagged gp3 volume and S3
  per day, six ``EKSPod-EC2`` split rows and a tax line. One version per delivery: landing one more day
  (``land_next_day``) writes a new version of the billing period whose earlier lines are unchanged.
- Kubernetes snapshots and the virtual clusters are collected once, five minutes after the last day.

Rows are produced per day with numpy and pyarrow (no Python loop per pod-hour; Python loops only over
nodes, long-running pods and jobs), and each day is landed through ``chargeback.raw.landing`` as soon as it is
made, so memory stays at about one day's rows.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script or from another directory
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.cur import ORIGIN, cost_explorer_table, cur_day_table, cur_file, deliver_cur, export_dir  # noqa: E402
from benchmarks.layout import DAY, MONTH_DAYS, MONTH_START, SIZES, Layout, SampleMonth, Size  # noqa: E402
from benchmarks.tables import (  # noqa: E402
    job_runs_table,
    namespace_labels_table,
    node_hours_table,
    pod_hours_table,
    pods_table,
    snapshot_tables,
)
from chargeback.raw.collect import land_billing_period  # noqa: E402
from chargeback.raw.landing import land, partitions  # noqa: E402
from collectors import streams  # noqa: E402
from sample_data import generate as sample  # noqa: E402

# --- writing --------------------------------------------------------------------------------------------

Log = Callable[[str], None]


def _land_day(layout: Layout, out: Path, day: int) -> tuple[pa.Table, int]:
    """Land one day's Prometheus and EMR job-run partitions; return its CUR lines and its pod-hours."""
    pod_hours, emr = pod_hours_table(layout, day)
    land(out, streams.POD_HOURS, pod_hours, ORIGIN)
    land(out, streams.PODS, pods_table(layout, day), ORIGIN)
    land(out, streams.NAMESPACE_LABELS, namespace_labels_table(layout, day), ORIGIN)
    land(out, streams.NODE_HOURS, node_hours_table(layout, day), ORIGIN)
    land(out, streams.EMR_JOB_RUNS, job_runs_table(layout, day), ORIGIN)
    return cur_day_table(layout, day, emr), pod_hours.num_rows


def generate(size: Size | SampleMonth, out: Path, log: Log = lambda _: None) -> dict:
    """Write the size's month under ``out`` (``raw/`` as landing writes it, and ``cur_export/``)."""
    out = Path(out)
    started = time.perf_counter()
    if isinstance(size, SampleMonth):
        sample.generate(out)
        return {"size": size.name, "seconds": time.perf_counter() - started}
    for stale in (out / "raw", out / "cur_export"):
        shutil.rmtree(stale, ignore_errors=True)
    layout = Layout.build(size)
    log(
        f"{size.name}: layout of {len(layout.nodes):,} nodes, {len(layout.pods):,} long-running pods,"
        f" {len(layout.spark.job):,} Spark pods in {time.perf_counter() - started:.1f} s"
    )
    cur_days, pod_hours = [], 0
    for day in range(size.days):
        cur, rows = _land_day(layout, out, day)
        cur_days.append(cur)
        pod_hours += rows
        log(f"{size.name}: day {day + 1}/{size.days} landed ({rows:,} pod-hours)")
    for table, data in snapshot_tables(layout).items():
        land(out, table, data, ORIGIN)
    data_file = deliver_cur(out, pa.concat_tables(cur_days), size.days)
    land(out, streams.COST_EXPLORER_DAILY, cost_explorer_table(data_file, layout.collected_at), ORIGIN)
    return {"size": size.name, "pod_hours": pod_hours, "seconds": time.perf_counter() - started}


def land_next_day(size: Size | SampleMonth, out: Path) -> dict:
    """Land the day after the generated month, as a day's collection would: its Prometheus, job-run and
    Cost Explorer partitions, and a new CUR version of the period adding that day (earlier lines unchanged).

    The sample month (S) is whole, so for it the last day (2026-10-31) is landed again instead: each of its
    partitions is replaced by a copy of itself, and the CUR period is landed again.
    """
    out = Path(out)
    started = time.perf_counter()
    if isinstance(size, SampleMonth):
        day = f"day={datetime.fromtimestamp(sample.MONTH_END - DAY, UTC):%Y-%m-%d}"
        for table in streams.STREAMS:
            for target in partitions(out, table):
                if target.parent.name == day:
                    temporary = target.with_name(f".{target.name}.next-day.tmp")
                    shutil.copyfile(target, temporary)
                    temporary.replace(target)
        land_billing_period(out, export_dir(out), sample.BILLING_PERIOD)
        return {"day": day.removeprefix("day="), "seconds": time.perf_counter() - started}
    layout = Layout.build(size)
    day = size.days
    if day >= MONTH_DAYS:
        raise ValueError(f"size {size.name}: the month is whole ({size.days} days); no next day in the period")
    cur, rows = _land_day(layout, out, day)
    manifest = json.loads(
        (
            export_dir(out)
            / "metadata"
            / f"BILLING_PERIOD={sample.BILLING_PERIOD}"
            / f"{sample.EXPORT_NAME}-Manifest.json"
        ).read_text()
    )
    previous = pq.read_table(cur_file(out, manifest["executionId"]), columns=streams.CUR_LINE_ITEMS.schema.names)
    previous = previous.filter(pc.not_equal(previous.column("line_item_line_item_type"), "Tax"))
    data_file = deliver_cur(out, pa.concat_tables([previous, cur]), day + 1)
    date = datetime.fromtimestamp(MONTH_START + day * DAY, UTC).date()
    estimates = cost_explorer_table(data_file, layout.collected_at + DAY)
    land(out, streams.COST_EXPLORER_DAILY, estimates.filter(pc.equal(estimates.column("date"), date)), ORIGIN)
    return {"day": str(date), "pod_hours": rows, "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a benchmark month (raw/ and cur_export/) into OUT_DIR.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", choices=sorted(SIZES), help="a named size (default: M, unless custom counts)")
    parser.add_argument("--nodes", type=int)
    parser.add_argument("--pods", type=int, help="long-running pods, DaemonSet pods included")
    parser.add_argument("--jobs", type=int, help="Spark jobs per day")
    parser.add_argument("--executors", type=int, help="executors per Spark job")
    parser.add_argument("--days", type=int)
    parser.add_argument("--next-day", action="store_true", help="then land the day after the month too")
    args = parser.parse_args(argv)
    custom = {
        k: v
        for k, v in (
            ("nodes", args.nodes),
            ("long_running_pods", args.pods),
            ("spark_jobs_per_day", args.jobs),
            ("executors_per_job", args.executors),
            ("days", args.days),
        )
        if v is not None
    }
    size = SIZES[args.size or "M"]
    if custom:
        if isinstance(size, SampleMonth):
            parser.error("size S is the sample month; it takes no custom counts")
        size = dataclasses.replace(size, name="custom", **custom)
    result = generate(size, args.out, log=print)
    print(json.dumps(result))
    if args.next_day:
        print(json.dumps(land_next_day(size, args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
