"""A cluster month of any size, in the sample month's vocabulary, generated column-wise.

Run from the repository root::

    python -m benchmarks.generate --size M OUT_DIR          # or --nodes/--pods/--jobs/--executors/--days

Sizes
-----
- ``S`` *is* the sample month: ``sample_data/generate.py`` writes it, byte for byte.
- ``M``: 100 nodes, 3,000 long-running pods, 300 Spark jobs a day of 1 driver and 20 executors, 30 days.
- ``L``: 500 nodes, 20,000 long-running pods, 2,000 such jobs a day, 30 days (about 16 million pod-hours).
- ``XL``: a fleet, four clusters of size L (``prod-analytics``, ``prod-analytics-2``, ``-3``, ``-4``) in one
  account, one payer CUR and one data directory; the first is L itself, the others L with seeds of their own.
- any ``Size(...)`` or ``Fleet(...)``: the tests use tiny ones.

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
- Beyond the nodes (``benchmarks/storage.py``, ``benchmarks/network.py``): every node's root EBS volume and a
  gp3 PersistentVolume per StatefulSet pod (PV-hours, pods' claims, a PV snapshot, hourly DescribeVolumes
  snapshots, daily EBS lines); every pod-hour's network bytes (none for the host-network DaemonSets, Spark's
  heaviest) and per node-hour two cross-AZ data-transfer lines consistent with them; an internet-facing ALB
  per web namespace (hourly elbv2 snapshots, daily lines).
- CUR: one EC2 line per node-hour (spot ``Usage`` at a daily price per type, ``SavingsPlanCoveredUsage``
  plus its ``SavingsPlanNegation``, or on-demand ``Usage``), per hour the EKS fee, the Savings Plan fee and
  the bastion, EMR on EKS vCPU-hour and GB-hour lines per job run and hour, the tagged gp3 volume and S3
  per day, six ``EKSPod-EC2`` split rows, the lines beyond the nodes below and a tax line. One version per
  delivery: landing one more day (``land_next_day``) writes a new version of the billing period whose earlier
  lines are unchanged.
- Kubernetes snapshots and the virtual clusters are collected once, five minutes after the last day.
- A fleet (``Fleet``): each cluster lands its Prometheus and Kubernetes files as its collection does
  (``data-<cluster>.parquet``); the account's EMR, EC2 and ELBv2 partitions hold every cluster's rows; one CUR
  holds every cluster's lines (each its own instance ids, volumes, load balancers, EKS ARN and tags) and the
  account's (Savings Plan fee, bastion, S3, the ml team's tagged volume) once. Node addresses, pod uids,
  virtual cluster and job run ids differ from cluster to cluster.

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

from benchmarks.basics import DAY, MONTH_DAYS, MONTH_START, SIZES, Fleet, SampleMonth, Size  # noqa: E402
from benchmarks.cur import (  # noqa: E402
    ORIGIN,
    CurVersion,
    cost_explorer_table,
    cur_day_table,
    current_cur_file,
    export_dir,  # noqa: E402
)
from benchmarks.layout import Layout  # noqa: E402
from benchmarks.network import load_balancers_table  # noqa: E402
from benchmarks.storage import Storage  # noqa: E402
from benchmarks.tables import (  # noqa: E402
    job_runs_table,
    namespace_labels_table,
    node_hours_table,
    pod_hours_table,
    pods_table,
    snapshot_tables,
)
from chargeback.raw.collect import land_billing_period  # noqa: E402
from chargeback.raw.landing import DayWriter, land, partitions, table_dir, write_partition  # noqa: E402
from chargeback.raw.tables import of  # noqa: E402
from collectors import streams  # noqa: E402
from sample_data import generate as sample  # noqa: E402

# --- writing --------------------------------------------------------------------------------------------

Log = Callable[[str], None]
ACCOUNT_SOURCES = ("emr", "ec2", "elbv2")  # collected once per account (collectors.registry.ACCOUNT): data.parquet


def _land(out: Path, stream: streams.Stream, data: pa.Table, target: str | None) -> None:
    """Land ``data`` as ``chargeback.raw.landing.land`` does; with a ``target`` (a fleet's cluster), into that
    target's file of each partition (``data-<target>.parquet``), as a cluster's collection lands."""
    if target is None:
        land(out, stream, data, ORIGIN)
        return
    table = of(stream)
    keys = pc.strftime(table.conform(data, ORIGIN).column(table.day_column), format="%Y-%m-%d")
    for value in sorted(pc.unique(keys).to_pylist()):
        with DayWriter(out, value, [table], ORIGIN, target) as writer:
            writer.write(table, data.filter(pc.equal(keys, value)))
            writer.commit()


def _merge_account_partitions(out: Path) -> None:
    """A fleet's account-wide tables (EMR, EC2, ELBv2), landed per cluster: each partition's cluster files as the
    one ``data.parquet`` the account's collection writes."""
    for stream in streams.STREAMS:
        if stream.source not in ACCOUNT_SOURCES or not table_dir(out, stream).is_dir():
            continue
        for folder in sorted(table_dir(out, stream).iterdir()):
            parts = sorted(folder.glob("data-*.parquet"))
            if not parts:
                continue
            merged = pa.concat_tables([pq.read_table(f) for f in parts])
            write_partition(out, stream, folder.name.partition("=")[2], [merged])
            for f in parts:
                f.unlink()


def _land_day(layout: Layout, storage: Storage, out: Path, day: int, cur: CurVersion, target: str | None) -> int:
    """Land one day of a cluster (Prometheus, EMR job runs, EC2 volumes, load balancers) and add its CUR lines to
    ``cur``; return its pod-hours."""
    pod_hours, emr, crossed = pod_hours_table(layout, day)
    for stream, data in (
        (streams.POD_HOURS, pod_hours),
        (streams.PODS, pods_table(layout, day)),
        (streams.NAMESPACE_LABELS, namespace_labels_table(layout, day)),
        (streams.NODE_HOURS, node_hours_table(layout, day)),
        (streams.PERSISTENT_VOLUME_HOURS, storage.pv_hours_table(day)),
        (streams.POD_VOLUME_CLAIMS, storage.pod_claims_table(day)),
        (streams.EMR_JOB_RUNS, job_runs_table(layout, day)),
        (streams.EC2_VOLUMES, storage.ec2_table(day)),
        (streams.LOAD_BALANCERS, load_balancers_table(layout, day)),
    ):
        _land(out, stream, data, target)
    cur.add(cur_day_table(layout, day, emr, crossed, storage))
    return pod_hours.num_rows


def _members(size: Size | Fleet) -> list[tuple[Size, str | None]]:
    """Each cluster to generate and the target its files land as (None: the one cluster, ``data.parquet``)."""
    if isinstance(size, Fleet):
        return [(member, member.cluster) for member in size.members()]
    return [(size, None)]


def generate(size: Size | Fleet | SampleMonth, out: Path, log: Log = lambda _: None) -> dict:
    """Write the size's month under ``out`` (``raw/`` as landing writes it, and ``cur_export/``). A fleet's
    clusters are generated one after the other (one cluster's layout and one day's rows in memory at a time)."""
    out = Path(out)
    started = time.perf_counter()
    if isinstance(size, SampleMonth):
        sample.generate(out)
        return {"size": size.name, "seconds": time.perf_counter() - started}
    for stale in (out / "raw", out / "cur_export"):
        shutil.rmtree(stale, ignore_errors=True)
    cur, pod_hours = CurVersion(out, size.days), 0
    for member, target in _members(size):
        began = time.perf_counter()
        layout = Layout.build(member)
        storage = Storage(layout)
        log(
            f"{member.name} ({member.cluster}): layout of {len(layout.nodes):,} nodes, {len(layout.pods):,}"
            f" long-running pods, {len(layout.spark.job):,} Spark pods in {time.perf_counter() - began:.1f} s"
        )
        for day in range(size.days):
            rows = _land_day(layout, storage, out, day, cur, target)
            pod_hours += rows
            log(f"{member.name}: day {day + 1}/{size.days} landed ({rows:,} pod-hours)")
        snapshots = snapshot_tables(layout) | {streams.K8S_PERSISTENT_VOLUMES: storage.k8s_table(layout.collected_at)}
        for table, data in snapshots.items():
            _land(out, table, data, target)
        collected_at = layout.collected_at
        del layout, storage
    if isinstance(size, Fleet):
        _merge_account_partitions(out)
    data_file = cur.deliver()
    _land(out, streams.COST_EXPLORER_DAILY, cost_explorer_table(data_file, collected_at), None)
    return {"size": size.name, "pod_hours": pod_hours, "seconds": time.perf_counter() - started}


def land_next_day(size: Size | Fleet | SampleMonth, out: Path) -> dict:
    """Land the day after the generated month, as a day's collection would: its Prometheus, job-run, EC2, ELBv2
    and Cost Explorer partitions (every cluster's, for a fleet), and a new CUR version of the period adding that
    day (earlier lines unchanged).

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
    day = size.days
    if day >= MONTH_DAYS:
        raise ValueError(f"size {size.name}: the month is whole ({size.days} days); no next day in the period")
    start = MONTH_START + day * DAY
    previous = pq.ParquetFile(current_cur_file(out))
    cur, rows = CurVersion(out, day + 1), 0
    for batch in previous.iter_batches(columns=streams.CUR_LINE_ITEMS.schema.names):
        lines = pa.Table.from_batches([batch])
        keep = pc.and_(  # the earlier days' lines, unchanged (not the tax, nor a next day landed before)
            pc.not_equal(lines.column("line_item_line_item_type"), "Tax"),
            pc.less(lines.column("line_item_usage_start_date"), pa.scalar(start * 1_000_000, streams.TS)),
        )
        cur.add(lines.filter(keep))
    for member, target in _members(size):
        layout = Layout.build(member)
        rows += _land_day(layout, Storage(layout), out, day, cur, target)
        collected_at = layout.collected_at
        del layout
    if isinstance(size, Fleet):
        _merge_account_partitions(out)
    data_file = cur.deliver()
    date = datetime.fromtimestamp(start, UTC).date()
    estimates = cost_explorer_table(data_file, collected_at + DAY)
    _land(out, streams.COST_EXPLORER_DAILY, estimates.filter(pc.equal(estimates.column("date"), date)), None)
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
        if not isinstance(size, Size):
            parser.error(f"size {size.name} takes no custom counts (S is the sample month, XL a fleet of L)")
        size = dataclasses.replace(size, name="custom", **custom)
    result = generate(size, args.out, log=print)
    print(json.dumps(result))
    if args.next_day:
        print(json.dumps(land_next_day(size, args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
