"""Generate the bundled sample: October 2026 on the EKS cluster ``prod-analytics``, and its history months.

Run from the repository root (takes a few seconds, output is byte-stable across runs)::

    python sample_data/generate.py [OUT_DIR]

It deletes and rewrites ``raw`` and ``cur_export`` under ``OUT_DIR`` (default: ``sample_data``), then
prints a self-check of each month. ``tests/test_sample_data.py`` regenerates into a temporary directory and
requires the committed files byte for byte.

October is the month described below, written first with its own random stream. August and September 2026,
the history months, follow: the same functions with the month as a parameter (``sample_data.month.Month``), the
same cluster before October's events (``sample_data/history.py`` says what differs, and why).

Scenario (all times UTC, month = [2026-10-01, 2026-11-01), account 111122223333, us-east-1)
-------------------------------------------------------------------------------------------------
Nodes (16 distinct instances). Node labels: ``eks.amazonaws.com/nodegroup``,
``eks.amazonaws.com/capacityType`` (ON_DEMAND/SPOT), ``node.kubernetes.io/instance-type``,
``topology.kubernetes.io/zone`` (+ hostname, os, arch, region). Provider ids
``aws:///<zone>/i-0<16 hex>``.

- ``general``        m5.xlarge  on-demand: 3 nodes all month, 1 scale-out 10-12 06:00 -> 10-20 18:00.
- ``general-sp``     m5.2xlarge on-demand, fully covered by a Compute Savings Plan: 2 nodes all month.
- ``spark-spot``     m5.2xlarge spot: 2 nodes all month, 2 extra 10-05 08:20 -> 10-16 ~19:40 and
                     2 more (new instances) 10-19 08:20 -> 10-30 ~19:50 (partial first and last hours).
- ``memory``         r5.2xlarge on-demand: 1 node.   ``gpu``: g4dn.xlarge (1 GPU) on-demand: 1 node.
- ``risk-dedicated`` m5.xlarge on-demand, node label ``chargeback.io/tenant=risk`` and CUR tag
                     ``user_tenant=risk``: 2 nodes; the second is a ghost node 10-10 00:00 -> 10-17 00:00
                     (only DaemonSet pods), and hosts a cross-tenant ``payments-batch`` Job pod on
                     10-08 09:10 -> 15:05.

Tenants (see ``sample_data/chargeback.toml``): ``payments`` (namespaces ``payments-*``, by glob),
``data-eng`` (``data-eng-*`` by glob; ``emr-data-eng`` through virtual cluster ``data-eng-spark`` and its
``tenant`` tag), ``ml`` (namespace label ``tenant=ml`` on ``ml-serving``/``ml-training``; ``emr-ml``
through virtual cluster ``ml-spark`` mapped in the config), ``feature-store`` (label ``tenant=ml`` until
10-15 12:40, then ``tenant=data-eng``: hour 12:00 has 2400 s ml + 1200 s data-eng), ``risk`` (sole
tenancy, ``risk-engine``/``risk-reports`` labelled ``tenant=risk``), shared ``kube-system`` and
``monitoring``, and unmapped ``sandbox`` (plus the idle ``default``/``kube-*`` namespaces).
``ml-training``'s GPU pod is absent 10-20 00:00 -> 10-23 06:30, so the GPU is idle then.

Spark (EMR on EKS, release emr-7.2.0-latest) on the spot nodes: data-eng ``daily-sales-etl`` daily 02:00,
``hourly-ingest`` 06:00/12:00/18:00; ml ``feature-build`` daily 03:00, ``weekly-train`` Sundays 04:00.
Two runs FAILED (USER_ERROR), one FAILED with VALIDATION_ERROR before any pod started, two CANCELLED.

CUR 2.0 export ``cur_export/chargeback-cur2`` (two versions of billing period 2026-10)
-------------------------------------------------------------------------------------------------
- v1 ``20261028T061500Z-v1``: usage through 2026-10-27 23:00 (no line starts later), no Tax line, and
  ``bill_invoice_id`` blank on every line (AWS leaves it blank until the report is final).
- v2 ``20261103T054500Z-v2``: the whole month, restated: six spot lines of node ``ip-10-0-40-112``
  on 10-09 10:00-15:00 were billed at a wrong rate in v1 (corrected cost in v2), and the tagged EBS
  volume's 10-20 line was metered twice in v1 (corrected in place in v2: no Credit line for it).
  EKS, EMR and every other line of days <= 10-27 are identical in both versions. v2 is final: every
  line has the ``bill_invoice_id`` of the payer's October invoice (``INVOICE_IDS``), which the landed
  table (``CUR_LINE_ITEMS``) keeps.
- The top-level manifest ``metadata/BILLING_PERIOD=2026-10/chargeback-cur2-Manifest.json`` points to v2.
  v1's manifest is kept at ``metadata/BILLING_PERIOD=2026-10/20261028T061500Z-v1/chargeback-cur2-Manifest.json``:
  to land v1 first (e.g. in a test), copy the export directory to a temporary place, copy that file
  over the top-level manifest, and call ``collectors.cur.land_billing_period``.
- Lines: one EC2 line per node-hour (amount = running fraction of the hour; ``Usage`` BoxUsage/SpotUsage,
  or ``SavingsPlanCoveredUsage`` with effective cost 72% / net effective 70% of on-demand), per-hour
  ``SavingsPlanNegation`` (one per covered line) and ``SavingsPlanRecurringFee``, the EKS control plane
  ($0.10/h), EMR on EKS vCPU-hour and GB-hour lines per job run per hour (GB = GiB of pod memory
  requests; plus two lines of a ``data-eng-spark`` job run missing from ``emr/job_runs``), a gp3 volume
  tagged ``user_tenant=ml``, the costs beyond the nodes below, and out-of-scope noise: an untagged bastion
  (and its root volume), S3 storage, a daily promotional Credit of $3.00, AWS's ``EKSPod-EC2`` split rows
  of 10-30 and 10-31 (v2 only), a Tax line (v2 only, 6% of every other line).

Beyond the nodes (about a sixth of the in-scope bill)
-----------------------------------------------------
- ``sample_data/volumes.py``: gp3 PersistentVolumes of the stateful workloads and one shuffle claim per
  Spark executor, kube-state-metrics' PV-hours and the claims pods mount, a Kubernetes API PV snapshot,
  hourly DescribeVolumes snapshots (root volumes attached to their nodes, PV volumes with the EBS CSI tags, a
  detached scratch volume), daily EBS lines per volume.
- ``sample_data/network.py``: pods' network bytes (null for the host-network DaemonSets), hourly cross-AZ
  transfer lines per node consistent with them (heaviest on the Spark spot nodes), an internet-facing ALB per
  web namespace, an ingress group shared by two namespaces, an in-tree NLB known only from the elbv2
  snapshots, the cluster-tagged NAT gateway.
- ``sample_data/split_cost.py``: AWS's split rows, by AWS's formulas from the same pod-hours.

Conventions a model writer relies on
------------------------------------
- Pod memory request of a Spark pod = Spark memory + 10% overhead, floored to MiB.
- Owners (``prometheus/owners``, as kube_replicaset_owner and kube_job_owner give them): every ReplicaSet is its
  Deployment's (``<deployment>-<10 characters>``), and the ``payments-batch`` Job ``month-close-<minute>`` is the
  CronJob ``month-close``'s, on each day one of their pods ran. ``sample_data/split_cost.py``'s AWS rows still
  name that Job as its workload (AWS's own labels are not modelled further).
- Spark pods: driver ``spark-<job_run_id>-driver`` (no owner), executors ``<job-name>-<16 hex>-exec-<n>``
  (owner_kind ``Pod``, owner_name the driver); labels ``emr-containers.amazonaws.com/job.id``,
  ``emr-containers.amazonaws.com/virtual-cluster-id``, ``spark-role``, ``spark-app-selector``,
  ``spark-app-name``. Every pod has ``app`` and ``app.kubernetes.io/name`` (the workload or job name).
- Job run ids are 19 base-36 characters (``0000000`` + 12), virtual cluster ids 25 (``vc0dataeng...``).
- ``resource_tags`` is always a map (empty when untagged); ``product`` holds ``vcpu``, ``memory``
  ("16 GiB"), ``gpu`` (GPU types only), ``instance_family``, ``operating_system`` for EC2 instance lines.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from chargeback.raw.collect import land_billing_period  # noqa: E402
from chargeback.raw.landing import land  # noqa: E402
from collectors import streams  # noqa: E402
from sample_data import network, split_cost, volumes  # noqa: E402
from sample_data.month import (  # noqa: E402  (the old private names: generate.py and the benchmarks use them)
    ACCOUNT,
    BASE36,
    BASTION_INSTANCE_ID,
    BILLING_PERIOD,
    CLUSTER,
    CLUSTER_ARN,
    COLLECTED_AT,
    DAY,
    GIB,
    HEX,
    HISTORY,
    HOUR,
    INSTANCE_TYPES,
    MIB,
    MONTH_END,  # noqa: F401  (the benchmarks read the month's bounds here)
    MONTH_START,  # noqa: F401
    NAMESPACE_TENANT_LABEL,
    NODES,
    OCTOBER,
    PAYER_ACCOUNT,
    REGION,
    STILL_RUNNING,
    CurLine,
    Month,
    Node,
    Pod,
    hour_overlaps,
    smooth_noise,
)
from sample_data.month import cur_line as _line  # noqa: E402
from sample_data.month import ec2_product as _ec2_product  # noqa: E402
from sample_data.month import epoch as _epoch  # noqa: E402
from sample_data.month import rate_text as _rate  # noqa: E402
from sample_data.month import round10 as _r  # noqa: E402
from sample_data.month import snapshot as _snapshot  # noqa: E402
from sample_data.month import timestamps as _timestamps  # noqa: E402
from sample_data.month import token as _token  # noqa: E402
from sample_data.month import uuid_of as _uuid  # noqa: E402

# --- constants --------------------------------------------------------------------------------------

SEED = 2026_10
SAMPLE_DIR = REPO_ROOT / "sample_data"
WORKLOAD_EPOCH = _epoch("2026-09-24 09:30")  # last full redeploy before the month (platform upgrade)


# CUR export
EXPORT_NAME = "chargeback-cur2"
EXPORT_S3_PREFIX = f"s3://acme-cur/exports/{EXPORT_NAME}"
CUR_V1_EXECUTION = "20261028T061500Z-v1"
CUR_V2_EXECUTION = "20261103T054500Z-v2"
CUR_V1_LAST_HOUR = _epoch("2026-10-27 23:00")
CUR_DATA_FILE = f"{EXPORT_NAME}-00001.snappy.parquet"
# bill_invoice_id: blank "until the report is final" (AWS), so empty in v1 (delivered before the month
# closed); in v2 (after the invoice was issued) one invoice per payer account and invoicing entity. The
# month has one payer and every line is AWS's own (no Marketplace), so one invoice.
INVOICE_IDS = {PAYER_ACCOUNT: "2691847305"}
HISTORY_INVOICE_IDS = {"2026-08": {PAYER_ACCOUNT: "2625183904"}, "2026-09": {PAYER_ACCOUNT: "2658311742"}}
HISTORY_EXECUTIONS = {"2026-08": "20260903T054500Z-v1", "2026-09": "20261003T054500Z-v1"}  # one final version each

# Prices (on-demand EC2 prices come from chargeback/data/instance_types.csv)
EKS_USD_PER_HOUR = 0.10
EMR_VCPU_USD_PER_HOUR = 0.01012
EMR_GB_USD_PER_HOUR = 0.00111125
SP_EFFECTIVE_RATIO = 0.72  # savings_plan_savings_plan_effective_cost / on-demand cost
SP_NET_EFFECTIVE_RATIO = 0.70  # savings_plan_net_savings_plan_effective_cost / on-demand cost
SP_COMMITMENT_USD_PER_HOUR = 0.56
SP_ARN = f"arn:aws:savingsplans::{ACCOUNT}:savingsplan/5e0b2f7c-3c1d-4a8e-9b6f-2d41c0a7e913"
SPOT_SHARE_RANGE = (0.30, 0.40)  # daily spot price as a share of on-demand
SPOT_WRONG_RATE_V1 = 0.2304  # the rate v1 charged for the corrected spot lines
SPOT_CORRECTED_NODE = "ip-10-0-40-112.ec2.internal"
SPOT_CORRECTED_HOURS = tuple(_epoch(f"2026-10-09 {h:02d}:00") for h in range(10, 16))
EBS_VOLUME_ID = "vol-0" + hashlib.sha256(b"ebs/ml-feature-cache").hexdigest()[:16]
EBS_SIZE_GB = 500
EBS_USD_PER_GB_MONTH = 0.08
EBS_DOUBLE_METERED_DAY = _epoch("2026-10-20 00:00")
EBS_CREATED = _epoch("2026-08-04 10:12:45")  # the ml team created it in August (sample_data/volumes.py's EC2 view)
S3_BUCKET = "acme-data-lake"
S3_GB = 1843.2
S3_USD_PER_GB_MONTH = 0.023
BASTION_TYPE = "t3.medium"
TAX_RATE = 0.06
CREDIT_USD_PER_DAY = 3.00

MISSING_JOB = ("data-eng-spark", "adhoc-backfill", _epoch("2026-10-14 21:00"), 6.5, 26.0)
"""A job run the EMR collector missed: (virtual cluster, name, CUR hour, vCPU-hours, GB-hours)."""


# --- namespaces and virtual clusters ------------------------------------------------------------------

NAMESPACES = (
    # namespace, created, tenant label at the start of the month (None: no label)
    ("default", "2026-03-02 11:20:04", None),
    ("kube-node-lease", "2026-03-02 11:20:04", None),
    ("kube-public", "2026-03-02 11:20:04", None),
    ("kube-system", "2026-03-02 11:20:04", None),
    ("monitoring", "2026-03-02 12:05:31", None),
    ("payments-api", "2026-04-14 15:22:09", None),
    ("payments-web", "2026-04-14 15:22:11", None),
    ("payments-batch", "2026-05-06 10:01:47", None),
    ("data-eng-etl", "2026-05-20 08:44:12", None),
    ("data-eng-airflow", "2026-05-20 08:45:30", None),
    ("emr-data-eng", "2026-09-10 14:02:55", None),
    ("ml-serving", "2026-06-03 13:17:40", "ml"),
    ("ml-training", "2026-06-03 13:18:02", "ml"),
    ("emr-ml", "2026-09-10 14:05:21", None),
    ("feature-store", "2026-07-21 09:30:00", "ml"),
    ("risk-engine", "2026-08-11 11:11:11", "risk"),
    ("risk-reports", "2026-08-11 11:12:40", "risk"),
    ("sandbox", "2026-03-09 10:00:00", None),
)
NAMESPACE_LABEL_CHANGES = {"feature-store": (_epoch("2026-10-15 12:40"), "data-eng")}


@dataclass(frozen=True)
class VirtualCluster:
    name: str
    namespace: str
    created: str
    tags: dict[str, str]

    @property
    def id(self) -> str:
        return "vc0" + self.name.replace("-", "")[:7] + _token(f"vc/{self.name}", 15, BASE36)

    @property
    def arn(self) -> str:
        return f"arn:aws:emr-containers:{REGION}:{ACCOUNT}:/virtualclusters/{self.id}"


VIRTUAL_CLUSTERS = {
    "data-eng-spark": VirtualCluster("data-eng-spark", "emr-data-eng", "2026-09-11 09:12:33", {"tenant": "data-eng"}),
    "ml-spark": VirtualCluster("ml-spark", "emr-ml", "2026-09-11 09:20:05", {"team": "ml-platform"}),
}

# --- long-running workloads ---------------------------------------------------------------------------

Segment = tuple[str, str | None, str | None]  # node key, start (None: WORKLOAD_EPOCH), end (None: running)
Replica = tuple[Segment, ...]  # each segment is one pod (a new uid); a restart starts a new segment


def always(*node_keys: str) -> tuple[Replica, ...]:
    """One replica per node key, running all month."""
    return tuple(((key, None, None),) for key in node_keys)


def restarted(node_key: str, stop: str, start: str) -> Replica:
    """One replica whose pod stops at ``stop`` and is replaced (new name for Deployments, new uid) at ``start``."""
    return ((node_key, None, stop), (node_key, start, None))


@dataclass(frozen=True)
class Workload:
    namespace: str
    name: str
    kind: str  # Deployment, StatefulSet, DaemonSet, Job or Pod (bare)
    cpu_request_cores: float
    memory_request_gib: float
    cpu_use_cores: float  # mean usage
    memory_use_gib: float  # mean working set
    replicas: tuple[Replica, ...] = ()  # DaemonSets: one pod per node instead
    gpu: int = 0
    diurnal: float = 0.3  # amplitude of the daily CPU cycle (peak 15:00 UTC)
    cpu_limit_factor: float = 2.0
    rollout_at: str | None = None  # Deployment: pods started after this belong to a new ReplicaSet
    app: str | None = None
    host_network: bool = False  # the pod uses the node's network namespace (its byte counters are the node's)
    cron_job: str | None = None  # Job: the CronJob that created it (kube_job_owner)

    @property
    def app_name(self) -> str:
        return self.app or self.name


AIRFLOW_BURST_WORKERS: tuple[Replica, ...] = (
    # airflow-worker-2 and -3 follow the extra spot nodes (a KEDA scaler); each window is a new pod
    (("spot-x1", "2026-10-05 08:24:10", "2026-10-16 19:38:00"), ("spot-x3", "2026-10-19 08:24:40", "2026-10-30 19:38")),
    (("spot-x2", "2026-10-05 08:25:02", "2026-10-16 19:38:00"), ("spot-x4", "2026-10-19 08:27:30", "2026-10-30 19:38")),
)
MONTH_CLOSE_JOB = f"month-close-{_epoch('2026-10-08 09:10') // 60}"  # CronJob job names: scheduled minute

DAEMONSETS = (  # all three run in the host's network namespace, as their charts set them
    Workload("kube-system", "aws-node", "DaemonSet", 0.025, 0.0, 0.006, 0.055, diurnal=0.1, host_network=True),
    Workload("kube-system", "kube-proxy", "DaemonSet", 0.1, 0.0, 0.003, 0.024, diurnal=0.1, host_network=True),
    Workload("monitoring", "node-exporter", "DaemonSet", 0.1, 0.125, 0.012, 0.021, diurnal=0.1, host_network=True),
)

WORKLOADS = (
    # namespace, name, kind, CPU request (cores), memory request (GiB), mean CPU use (cores), mean working set (GiB),
    # replicas (placement and lifetimes); usage above request is deliberate for a few (reconciler, feature-redis, ...)
    # --- shared
    Workload("kube-system", "coredns", "Deployment", 0.1, 0.0684, 0.018, 0.03, always("gen-a", "gen-b"), diurnal=0.2),
    Workload("monitoring", "kube-state-metrics", "Deployment", 0.1, 0.25, 0.04, 0.11, always("sp-b"), diurnal=0.1),
    Workload(
        "monitoring",
        "prometheus-server",
        "StatefulSet",
        1.0,
        8.0,
        0.72,
        6.3,
        (restarted("mem", "2026-10-21 03:17:42", "2026-10-21 03:18:05"),),
        diurnal=0.15,
    ),
    # payments: a rollout on 10-14 replaces every payments-api pod (new ReplicaSet)
    Workload(
        "payments-api",
        "payments-api",
        "Deployment",
        1.0,
        2.0,
        0.55,
        1.4,
        (
            restarted("gen-a", "2026-10-14 10:01:12", "2026-10-14 10:01:15"),
            restarted("gen-b", "2026-10-14 10:01:58", "2026-10-14 10:02:01"),
            restarted("gen-c", "2026-10-14 10:02:44", "2026-10-14 10:02:47"),
        ),
        diurnal=0.45,
        rollout_at="2026-10-14 10:00",
    ),
    Workload(
        "payments-web",
        "storefront",
        "Deployment",
        0.5,
        1.0,
        0.3,
        0.62,
        always("gen-a", "gen-b", "gen-c")
        + (
            (("gen-x", "2026-10-12 06:05:20", "2026-10-20 17:50:05"),),
            (("gen-x", "2026-10-12 06:05:24", "2026-10-20 17:50:05"),),
        ),
        diurnal=0.5,
    ),
    Workload("payments-batch", "reconciler", "Deployment", 0.5, 1.0, 0.65, 0.82, always("gen-a", "gen-c"), diurnal=0.2),
    Workload(
        "payments-batch",
        MONTH_CLOSE_JOB,
        "Job",
        1.0,
        2.0,
        0.9,
        1.5,
        ((("risk-b", "2026-10-08 09:10:12", "2026-10-08 15:04:51"),),),
        diurnal=0.0,
        app="month-close",
        cron_job="month-close",
    ),
    # data-eng
    Workload("data-eng-etl", "etl-api", "Deployment", 0.5, 1.0, 0.2, 0.5, always("gen-b", "gen-c")),
    Workload("data-eng-airflow", "airflow-webserver", "Deployment", 0.5, 1.0, 0.15, 0.8, always("gen-a")),
    Workload("data-eng-airflow", "airflow-scheduler", "Deployment", 1.0, 2.0, 0.6, 1.6, always("sp-b"), diurnal=0.2),
    Workload("data-eng-airflow", "airflow-postgresql", "StatefulSet", 0.25, 1.0, 0.1, 0.7, always("sp-b")),
    Workload(
        "data-eng-airflow",
        "airflow-worker",
        "StatefulSet",
        1.5,
        4.0,
        0.9,
        2.8,
        always("spot-1", "spot-2") + AIRFLOW_BURST_WORKERS,
        diurnal=0.35,
    ),
    # feature-store (relabelled from ml to data-eng mid-month); redis uses more memory than it requests
    Workload("feature-store", "feature-server", "Deployment", 1.0, 4.0, 0.6, 3.1, always("sp-a", "sp-b")),
    Workload(
        "feature-store",
        "feature-redis",
        "StatefulSet",
        0.5,
        16.0,
        0.3,
        17.2,
        (restarted("mem", "2026-10-26 14:02:09", "2026-10-26 14:02:31"),),
        diurnal=0.2,
    ),
    # ml
    Workload(
        "ml-serving",
        "model-server",
        "Deployment",
        2.0,
        4.0,
        1.1,
        3.3,
        (restarted("sp-a", "2026-10-09 16:42:37", "2026-10-09 16:42:52"),) + always("sp-a", "sp-b"),
        diurnal=0.4,
    ),
    Workload("ml-serving", "embedding-cache", "Deployment", 1.0, 16.0, 0.4, 12.0, always("mem"), diurnal=0.2),
    Workload(
        "ml-training",
        "gpu-trainer",
        "Deployment",
        3.0,
        12.0,
        2.4,
        10.0,
        (restarted("gpu", "2026-10-20 00:00", "2026-10-23 06:30"),),
        gpu=1,
        diurnal=0.05,
        cpu_limit_factor=1.0,
    ),
    # risk (dedicated nodes); risk-b carries no risk pod 10-10 00:00 -> 10-17 00:00
    Workload(
        "risk-engine",
        "pricer",
        "Deployment",
        1.5,
        6.0,
        1.45,
        4.5,
        always("risk-a") + (restarted("risk-b", "2026-10-10 00:00", "2026-10-17 00:00"),),
        diurnal=0.4,
    ),
    Workload(
        "risk-reports",
        "report-api",
        "Deployment",
        0.5,
        1.0,
        0.2,
        0.6,
        (restarted("risk-b", "2026-10-10 00:00", "2026-10-17 00:00"),),
    ),
    Workload("risk-reports", "report-builder", "Deployment", 0.5, 2.0, 0.3, 1.5, always("risk-a")),
    # sandbox: matches no tenant
    Workload(
        "sandbox",
        "jupyter-alice",
        "Pod",
        0.5,
        2.0,
        0.1,
        1.2,
        ((("gen-c", "2026-10-06 09:12:40", "2026-10-24 18:30:02"),),),
        diurnal=0.6,
    ),
    Workload(
        "sandbox",
        "load-test",
        "Deployment",
        0.25,
        0.5,
        0.4,
        0.3,
        ((("gen-b", "2026-10-14 10:03:00", "2026-10-14 16:41:27"),),),
        diurnal=0.0,
    ),
)

# --- Spark jobs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SparkJob:
    name: str
    virtual_cluster: str
    hours: tuple[int, ...]  # UTC hours of day it is submitted
    sundays_only: bool
    minutes: float  # typical driver runtime
    jitter_minutes: float
    executors: int
    executor_cores: float
    executor_memory_mib: int
    driver_cores: float
    driver_memory_mib: int


SPARK_JOBS = (
    # name, virtual cluster, submit hours, Sundays only, minutes, jitter, executors, executor cores and MiB, driver
    SparkJob("daily-sales-etl", "data-eng-spark", (2,), False, 35, 5, 5, 2, 6144, 1, 2048),
    SparkJob("hourly-ingest", "data-eng-spark", (6, 12, 18), False, 10, 1.5, 2, 1, 2048, 1, 1024),
    SparkJob("feature-build", "ml-spark", (3,), False, 48, 3, 4, 2, 8192, 1, 2048),
    SparkJob("weekly-train", "ml-spark", (4,), True, 105, 4, 5, 2, 6144, 2, 4096),
)
SPARK_RELEASE = "emr-7.2.0-latest"
SPARK_ROLE_ARN = {
    "data-eng-spark": f"arn:aws:iam::{ACCOUNT}:role/emr-data-eng-job-execution",
    "ml-spark": f"arn:aws:iam::{ACCOUNT}:role/emr-ml-job-execution",
}
# (job, scheduled time) -> (state, minutes until it ended, failure reason, state details)
RUN_OUTCOMES = {
    ("daily-sales-etl", "2026-10-07 02:00"): (
        "FAILED",
        12.5,
        "USER_ERROR",
        "Job run failed: the Spark application exited with code 1",
    ),
    ("feature-build", "2026-10-19 03:00"): (
        "FAILED",
        22.0,
        "USER_ERROR",
        "Job run failed: the Spark application exited with code 1",
    ),
    ("hourly-ingest", "2026-10-21 06:00"): (
        "FAILED",
        0.0,
        "VALIDATION_ERROR",
        "Job run failed: entry point s3://acme-code/ingest/main.py not found",
    ),
    ("weekly-train", "2026-10-18 04:00"): ("CANCELLED", 41.0, None, "Job run was cancelled by the user"),
    ("hourly-ingest", "2026-10-26 12:00"): ("CANCELLED", 4.0, None, "Job run was cancelled by the user"),
}


def _memory_with_overhead(mib: int) -> int:
    """Pod memory request in bytes: Spark memory + 10% overhead, floored to MiB."""
    return (mib + mib // 10) * MIB


# --- pods (sample_data/month.py: the Pod itself) ------------------------------------------------------------


class Placement:
    """Requests committed per node over time, to place pods only where they fit."""

    def __init__(self) -> None:
        self._pods: dict[str, list[Pod]] = defaultdict(list)

    def free(self, node: Node, start: int, end: int) -> tuple[float, float]:
        """Allocatable CPU and memory left at the busiest moment of [start, end)."""
        if start < node.start or end > node.end:
            return -1.0, -1.0
        overlapping = [p for p in self._pods[node.name] if p.start < end and start < p.end]
        moments = {start} | {p.start for p in overlapping if p.start > start}
        busiest_cpu = busiest_memory = 0.0
        for moment in moments:
            running = [p for p in overlapping if p.start <= moment < p.end]
            busiest_cpu = max(busiest_cpu, sum(p.cpu_request_cores for p in running))
            busiest_memory = max(busiest_memory, sum(p.memory_request_bytes for p in running))
        return node.cpu_allocatable_cores - busiest_cpu, node.memory_allocatable_bytes - busiest_memory

    def fits(self, pod: Pod) -> bool:
        cpu, memory = self.free(pod.node, pod.start, pod.end)
        return cpu >= pod.cpu_request_cores - 1e-9 and memory >= pod.memory_request_bytes

    def add(self, pod: Pod) -> None:
        if not self.fits(pod):
            raise AssertionError(f"{pod.namespace}/{pod.name} does not fit on {pod.node.name}")
        self._pods[pod.node.name].append(pod)


def _identity(w: Workload, ordinal: int, node: Node, start: int) -> tuple[str, str | None, str | None, dict[str, str]]:
    """Pod name, owner kind, owner name and labels, the way each controller names its pods."""
    labels = {"app": w.app_name, "app.kubernetes.io/name": w.app_name}
    suffix = _token(f"pod/{w.namespace}/{w.name}/{ordinal}/{node.name}/{start}", 5)
    if w.kind == "Deployment":
        revision = 2 if w.rollout_at and start >= _epoch(w.rollout_at) else 1
        replicaset = _replicaset(w, revision)
        labels["pod-template-hash"] = replicaset.removeprefix(f"{w.name}-")
        return f"{replicaset}-{suffix}", "ReplicaSet", replicaset, labels
    if w.kind == "StatefulSet":
        name = f"{w.name}-{ordinal}"
        labels["controller-revision-hash"] = f"{w.name}-{_token(f'sts/{w.name}', 10)}"
        labels["statefulset.kubernetes.io/pod-name"] = name
        return name, "StatefulSet", w.name, labels
    if w.kind == "DaemonSet":
        labels["controller-revision-hash"] = _token(f"ds/{w.name}", 10)
        labels["pod-template-generation"] = "1"
        return f"{w.name}-{suffix}", "DaemonSet", w.name, labels
    if w.kind == "Job":
        labels["batch.kubernetes.io/job-name"] = w.name
        labels["job-name"] = w.name
        return f"{w.name}-{suffix}", "Job", w.name, labels
    return w.name, None, None, labels


def _service_pod(w: Workload, ordinal: int, node: Node, start: int, end: int) -> Pod:
    name, owner_kind, owner_name, labels = _identity(w, ordinal, node, start)
    return Pod(
        namespace=w.namespace,
        name=name,
        uid=_uuid(f"pod/{w.namespace}/{name}/{start}"),
        node=node,
        start=start,
        end=end,
        cpu_request_cores=w.cpu_request_cores,
        memory_request_bytes=int(round(w.memory_request_gib * GIB)),
        gpu=w.gpu,
        cpu_use_cores=w.cpu_use_cores,
        memory_use_bytes=w.memory_use_gib * GIB,
        diurnal=w.diurnal,
        owner_kind=owner_kind,
        owner_name=owner_name,
        labels=dict(sorted(labels.items())),
        cpu_limit_cores=w.cpu_request_cores * w.cpu_limit_factor,
        host_network=w.host_network,
    )


def service_pods(placement: Placement) -> list[Pod]:
    """DaemonSet pods on every node, then the long-running workloads, placed as listed."""
    pods: list[Pod] = []
    for node in NODES.values():
        for index, daemonset in enumerate(DAEMONSETS):
            pods.append(_service_pod(daemonset, 0, node, node.start + 20 + 4 * index, node.end))
    for workload in WORKLOADS:
        for ordinal, replica in enumerate(workload.replicas):
            for node_key, start_text, end_text in replica:
                start = _epoch(start_text) if start_text else WORKLOAD_EPOCH + 7 * len(pods)
                end = _epoch(end_text) if end_text else STILL_RUNNING
                pods.append(_service_pod(workload, ordinal, NODES[node_key], start, end))
    for pod in pods:
        placement.add(pod)
    return pods


# --- Spark job runs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRun:
    id: str
    job: SparkJob
    state: str
    created_at: int
    finished_at: int
    failure_reason: str | None
    state_details: str | None

    @property
    def virtual_cluster(self) -> VirtualCluster:
        return VIRTUAL_CLUSTERS[self.job.virtual_cluster]

    @property
    def arn(self) -> str:
        return f"{self.virtual_cluster.arn}/jobruns/{self.id}"


def _job_run_id(seed: str) -> str:
    return "0000000" + _token(f"jobrun/{seed}", 12, BASE36)


def _schedule(month: Month) -> list[tuple[int, SparkJob]]:
    runs = []
    for day in range(month.start, month.end, DAY):
        sunday = (day // DAY + 3) % 7 == 6  # 1970-01-01 was a Thursday
        for job in SPARK_JOBS:
            if job.sundays_only and not sunday:
                continue
            runs.extend((day + hour * HOUR, job) for hour in job.hours)
    return sorted(runs, key=lambda run: (run[0], run[1].name))


def _spark_pod(
    run: JobRun,
    role: str,
    index: int,
    node: Node,
    start: int,
    end: int,
    rng: np.random.Generator,
    app_selector: str,
    driver_name: str,
) -> Pod:
    job = run.job
    if role == "driver":
        name, cores, memory_mib = driver_name, job.driver_cores, job.driver_memory_mib
        cpu_share, memory_share = rng.uniform(0.1, 0.3), rng.uniform(0.35, 0.6)
    else:
        name = f"{job.name}-{_token(f'exec/{run.id}', 16, HEX)}-exec-{index}"
        cores, memory_mib = job.executor_cores, job.executor_memory_mib
        cpu_share, memory_share = rng.uniform(0.55, 0.9), rng.uniform(0.45, 0.8)
    memory = _memory_with_overhead(memory_mib)
    labels = {
        "app": job.name,
        "app.kubernetes.io/name": job.name,
        "emr-containers.amazonaws.com/job.id": run.id,
        "emr-containers.amazonaws.com/virtual-cluster-id": run.virtual_cluster.id,
        "spark-app-name": job.name,
        "spark-app-selector": app_selector,
        "spark-role": role,
    }
    if role == "executor":
        labels["spark-exec-id"] = str(index)
    return Pod(
        namespace=run.virtual_cluster.namespace,
        name=name,
        uid=_uuid(f"pod/{run.id}/{name}"),
        node=node,
        start=start,
        end=end,
        cpu_request_cores=float(cores),
        memory_request_bytes=memory,
        gpu=0,
        cpu_use_cores=cores * cpu_share,
        memory_use_bytes=memory * memory_share,
        diurnal=0.0,
        owner_kind=None if role == "driver" else "Pod",
        owner_name=None if role == "driver" else driver_name,
        labels=dict(sorted(labels.items())),
        cpu_limit_cores=float(cores),
        job_run_id=run.id,
    )


def _place(placement: Placement, pod: Pod, nodes: dict[str, Node]) -> Pod:
    """Put a Spark pod on the spot node with the most free CPU over its lifetime."""
    candidates = [n for n in nodes.values() if n.nodegroup == "spark-spot"]
    # ties (equally loaded nodes) broken by a hash of the pod name, so drivers do not all land on one node
    ranked = sorted(candidates, key=lambda n: (-placement.free(n, pod.start, pod.end)[0], _token(pod.name + n.name, 4)))
    for node in ranked:
        moved = Pod(**{**pod.__dict__, "node": node})
        if placement.fits(moved):
            placement.add(moved)
            return moved
    raise AssertionError(f"no spot node can take {pod.name} at {pod.start}")


def spark_runs(
    rng: np.random.Generator, placement: Placement, month: Month = OCTOBER, nodes: dict[str, Node] = NODES
) -> tuple[list[JobRun], list[Pod]]:
    runs, pods = [], []
    for scheduled, job in _schedule(month):
        when = datetime.fromtimestamp(scheduled, UTC).strftime("%Y-%m-%d %H:%M")
        state, minutes, reason, details = RUN_OUTCOMES.get((job.name, when), ("COMPLETED", None, None, None))
        if minutes is None:
            minutes = float(np.clip(rng.normal(job.minutes, job.jitter_minutes), 0.6 * job.minutes, 1.3 * job.minutes))
        created = scheduled + int(rng.integers(2, 10))
        run_id = _job_run_id(f"{job.name}/{created}")
        if minutes == 0.0:  # rejected before any pod was created
            runs.append(JobRun(run_id, job, state, created, created + 21, reason, details))
            continue
        driver_start = created + int(rng.integers(25, 46))
        driver_end = driver_start + int(minutes * 60)
        finished = driver_end + int(rng.integers(5, 16))
        run = JobRun(run_id, job, state, created, finished, reason, details)
        runs.append(run)
        selector = "spark-" + _token(f"app/{run_id}", 32, HEX)
        driver_name = f"spark-{run_id}-driver"
        args = (rng, selector, driver_name)
        driver = _spark_pod(run, "driver", 0, NODES["spot-1"], driver_start, driver_end, *args)
        pods.append(_place(placement, driver, nodes))
        for index in range(1, job.executors + 1):
            start = driver_start + int(rng.integers(60, 121))
            end = max(start + 30, driver_end - int(rng.integers(15, 46)))
            executor = _spark_pod(run, "executor", index, NODES["spot-1"], start, end, *args)
            pods.append(_place(placement, executor, nodes))
    return runs, pods


# --- usage ---------------------------------------------------------------------------------------------------


def usage(rng: np.random.Generator, pod: Pod, hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average CPU cores and working-set bytes per hour: a daily cycle, quieter weekends, smooth noise."""
    hour_of_day = (hours // HOUR) % 24
    weekend = ((hours // DAY + 3) % 7) >= 5
    cycle = 1 + pod.diurnal * np.sin(2 * np.pi * (hour_of_day - 9) / 24)
    cycle = cycle * np.where(weekend, 1 - 0.5 * pod.diurnal, 1.0)
    cpu = pod.cpu_use_cores * cycle * (1 + 0.12 * smooth_noise(rng, len(hours), 4))
    cpu = np.clip(cpu, 0.05 * pod.cpu_use_cores, 2.5 * pod.cpu_use_cores)
    memory = pod.memory_use_bytes * (1 + 0.04 * smooth_noise(rng, len(hours), 12))
    memory = np.clip(memory, 0.5 * pod.memory_use_bytes, 1.3 * pod.memory_use_bytes)
    return cpu, memory


# --- raw tables ---------------------------------------------------------------------------------------------


def pod_hours_table(
    rng: np.random.Generator, pods: list[Pod], traffic: network.Traffic, month: Month = OCTOBER
) -> tuple[pa.Table, dict[tuple[str, int], list[float]]]:
    """prometheus/pod_hours, plus each job run's requested core-seconds and byte-seconds per hour. ``traffic`` adds
    each pod-hour's network bytes (from its own random stream: ``rng`` draws what it drew before they existed)."""
    columns: dict[str, list] = defaultdict(list)
    emr: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for pod in pods:
        hours, seconds = hour_overlaps(pod.start, pod.end, month)
        if not len(hours):
            continue
        cpu, memory = usage(rng, pod, hours)
        n = len(hours)
        for key, value in zip(
            ("namespace", "pod", "pod_uid", "node"), (pod.namespace, pod.name, pod.uid, pod.node.name), strict=True
        ):
            columns[key].extend([value] * n)
        columns["hour"].append(hours)
        columns["running_seconds"].append(seconds)
        columns["cpu_request_core_seconds"].append(pod.cpu_request_cores * seconds)
        columns["cpu_usage_core_seconds"].append(np.round(cpu * seconds, 3))
        columns["memory_request_byte_seconds"].append(pod.memory_request_bytes * seconds)
        columns["memory_working_set_byte_seconds"].append(np.round(memory * seconds))
        columns["gpu_request_seconds"].append(pod.gpu * seconds)
        received, sent = traffic.pod_hours(pod, hours, seconds) or (np.full(n, np.nan), np.full(n, np.nan))
        columns["network_receive_bytes"].append(received)
        columns["network_transmit_bytes"].append(sent)
        if pod.job_run_id:
            for hour, running in zip(hours.tolist(), seconds.tolist(), strict=True):
                emr[(pod.job_run_id, hour)][0] += pod.cpu_request_cores * running
                emr[(pod.job_run_id, hour)][1] += pod.memory_request_bytes * running
    total = len(columns["pod"])
    table = pa.table(
        {
            "cluster": [CLUSTER] * total,
            "namespace": columns["namespace"],
            "pod": columns["pod"],
            "pod_uid": columns["pod_uid"],
            "node": columns["node"],
            "hour": _timestamps(np.concatenate(columns["hour"])),
            **{
                key: np.concatenate(columns[key])
                for key in (
                    "running_seconds",
                    "cpu_request_core_seconds",
                    "cpu_usage_core_seconds",
                    "memory_request_byte_seconds",
                    "memory_working_set_byte_seconds",
                    "gpu_request_seconds",
                )
            },
            **{  # NaN: a host-network pod, no byte data
                key: pa.array(np.concatenate(columns[key]), pa.float64(), from_pandas=True)
                for key in streams.POD_HOUR_NETWORK
            },
        }
    )
    return table, emr


def pods_table(pods: list[Pod], month: Month = OCTOBER) -> pa.Table:
    """prometheus/pods: one row per pod per UTC day it ran (no completion time for a pod still running when the
    month was collected)."""
    rows = []
    for pod in pods:
        lo, hi = max(pod.start, month.start), min(pod.end, month.end)
        for day in range(lo - lo % DAY, hi, DAY):
            rows.append(
                {
                    "cluster": CLUSTER,
                    "date": datetime.fromtimestamp(day, UTC).date(),
                    "namespace": pod.namespace,
                    "pod": pod.name,
                    "pod_uid": pod.uid,
                    "owner_kind": pod.owner_kind,
                    "owner_name": pod.owner_name,
                    "start_time": pod.start * 1_000_000,
                    "completion_time": None if pod.end >= month.end else pod.end * 1_000_000,
                    "labels": pod.labels,
                    "host_network": pod.host_network,
                }
            )
    return pa.Table.from_pylist(rows, schema=streams.PODS.schema)


def _replicaset(w: Workload, revision: int) -> str:
    """The name the Deployment controller gives revision ``revision`` of ``w``'s pod template."""
    return f"{w.name}-{_token(f'rs/{w.namespace}/{w.name}/{revision}', 10)}"


def owners_table(pods: list[Pod], month: Month = OCTOBER) -> pa.Table:
    """prometheus/owners: the controlling owner of each ReplicaSet and Job, every UTC day one of its pods ran (what
    kube_replicaset_owner and kube_job_owner give the collector): each ReplicaSet is its Deployment's, the
    month-close Job its CronJob's."""
    owners: dict[tuple[str, str, str], tuple[str, str]] = {}
    for w in WORKLOADS:
        if w.kind == "Deployment":
            for revision in (1, 2):
                owners[(w.namespace, "ReplicaSet", _replicaset(w, revision))] = ("Deployment", w.name)
        if w.kind == "Job" and w.cron_job:
            owners[(w.namespace, "Job", w.name)] = ("CronJob", w.cron_job)
    rows = set()
    for pod in pods:
        key = (pod.namespace, pod.owner_kind or "", pod.owner_name or "")
        if key in owners:
            lo, hi = max(pod.start, month.start), min(pod.end, month.end)
            for day in range(lo - lo % DAY, hi, DAY):
                rows.add((day, *key))
    return pa.Table.from_pylist(
        [
            {
                "cluster": CLUSTER,
                "date": datetime.fromtimestamp(day, UTC).date(),
                "namespace": namespace,
                "kind": kind,
                "name": name,
                "owner_kind": owners[(namespace, kind, name)][0],
                "owner_name": owners[(namespace, kind, name)][1],
            }
            for day, namespace, kind, name in sorted(rows)
        ],
        schema=streams.OWNERS.schema,
    )


def namespace_labels_at(namespace: str, initial: str | None, at: int) -> dict[str, str]:
    tenant = initial
    change = NAMESPACE_LABEL_CHANGES.get(namespace)
    if change and at >= change[0]:
        tenant = change[1]
    labels = {"kubernetes.io/metadata.name": namespace}
    if tenant:
        labels[NAMESPACE_TENANT_LABEL] = tenant
    return labels


def namespace_labels_table(month: Month = OCTOBER) -> pa.Table:
    """prometheus/namespace_labels: each label set in force per namespace-hour, with its seconds."""
    rows = []
    for namespace, _created, initial in NAMESPACES:
        change = NAMESPACE_LABEL_CHANGES.get(namespace)
        for hour in range(month.start, month.end, HOUR):
            if change and hour < change[0] < hour + HOUR:
                pieces = [(hour, change[0] - hour), (change[0], hour + HOUR - change[0])]
            else:
                pieces = [(hour, HOUR)]
            for at, seconds in pieces:
                rows.append(
                    {
                        "cluster": CLUSTER,
                        "namespace": namespace,
                        "hour": hour * 1_000_000,
                        "seconds_in_force": float(seconds),
                        "labels": namespace_labels_at(namespace, initial, at),
                    }
                )
    return pa.Table.from_pylist(rows, schema=streams.NAMESPACE_LABELS.schema)


def node_hours_table(month: Month = OCTOBER, nodes: dict[str, Node] = NODES) -> pa.Table:
    rows = []
    for node in nodes.values():
        hours, seconds = hour_overlaps(node.start, node.end, month)
        for hour, running in zip(hours.tolist(), seconds.tolist(), strict=True):
            rows.append(
                {
                    "cluster": CLUSTER,
                    "node": node.name,
                    "hour": hour * 1_000_000,
                    "provider_id": node.provider_id,
                    "instance_type": node.instance_type,
                    "running_seconds": running,
                    "cpu_capacity_cores": float(node.spec.vcpu),
                    "memory_capacity_bytes": node.spec.memory_gib * GIB,
                    "gpu_capacity": float(node.spec.gpu),
                    "labels": node.labels,
                }
            )
    return pa.Table.from_pylist(rows, schema=streams.NODE_HOURS.schema)


# --- Kubernetes and EMR snapshots -------------------------------------------------------------------------


def k8s_namespaces_table() -> pa.Table:
    return _snapshot(
        streams.K8S_NAMESPACES,
        [
            {
                "namespace": ns,
                "uid": _uuid(f"namespace/{ns}"),
                "created_at": _epoch(created) * 1_000_000,
                "labels": namespace_labels_at(ns, initial, COLLECTED_AT),
                "annotations": {},
            }
            for ns, created, initial in NAMESPACES
        ],
    )


def k8s_nodes_table() -> pa.Table:
    return _snapshot(
        streams.K8S_NODES,
        [
            {
                "node": n.name,
                "provider_id": n.provider_id,
                "instance_type": n.instance_type,
                "created_at": n.start * 1_000_000,
                "labels": n.labels,
                "taints": n.taints,
                "cpu_capacity_cores": float(n.spec.vcpu),
                "memory_capacity_bytes": n.spec.memory_gib * GIB,
                "gpu_capacity": float(n.spec.gpu),
                "cpu_allocatable_cores": n.cpu_allocatable_cores,
                "memory_allocatable_bytes": n.memory_allocatable_bytes,
                "gpu_allocatable": float(n.spec.gpu),
            }
            for n in NODES.values()
            if n.start <= COLLECTED_AT < n.end
        ],
    )


QUOTAS = {
    # namespace -> hard limits of its ResourceQuota "compute-resources" (cores, bytes, counts), as a platform team
    # sets them: payments-api's requests.cpu sits just above its steady 3 cores (near the limit all month),
    # payments-web's pods and requests leave ~20% headroom, data-eng-etl and sandbox over-request what they use,
    # ml-training's GPU is fully used, and emr-ml's quota covers a namespace with only a few Spark hours.
    # emr-data-eng's was cut to 10 cores at the end of the month, sized for hourly-ingest and a 4-executor
    # daily-sales-etl: the daily job asks 1 + 5 x 2 = 11 cores, so next month its fifth executor is refused.
    "payments-api": {
        "requests.cpu": 3.2,
        "requests.memory": 8.0 * GIB,
        "limits.cpu": 8.0,
        "limits.memory": 8.0 * GIB,
        "pods": 10.0,
    },
    "payments-web": {
        "requests.cpu": 3.0,
        "requests.memory": 6.0 * GIB,
        "limits.cpu": 6.0,
        "limits.memory": 6.0 * GIB,
        "pods": 6.0,
    },
    "data-eng-etl": {
        "requests.cpu": 2.0,
        "requests.memory": 4.0 * GIB,
        "limits.cpu": 4.0,
        "limits.memory": 4.0 * GIB,
        "pods": 10.0,
    },
    "emr-data-eng": {
        "requests.cpu": 10.0,
        "requests.memory": 48.0 * GIB,
        "limits.cpu": 20.0,
        "limits.memory": 48.0 * GIB,
        "pods": 12.0,
    },
    "ml-serving": {
        "requests.cpu": 8.0,
        "requests.memory": 32.0 * GIB,
        "limits.cpu": 16.0,
        "limits.memory": 32.0 * GIB,
        "pods": 6.0,
    },
    "ml-training": {
        "requests.cpu": 4.0,
        "requests.memory": 16.0 * GIB,
        "limits.cpu": 8.0,
        "limits.memory": 16.0 * GIB,
        "pods": 4.0,
        "requests.nvidia.com/gpu": 1.0,
    },
    "emr-ml": {
        "requests.cpu": 16.0,
        "requests.memory": 64.0 * GIB,
        "limits.cpu": 32.0,
        "limits.memory": 64.0 * GIB,
        "pods": 20.0,
    },
    "sandbox": {
        "requests.cpu": 1.0,
        "requests.memory": 4.0 * GIB,
        "limits.cpu": 2.0,
        "limits.memory": 8.0 * GIB,
        "pods": 5.0,
    },
}


def k8s_resource_quotas_table(pods: list[Pod]) -> pa.Table:
    rows = []
    for namespace, hard in QUOTAS.items():
        running = [p for p in pods if p.namespace == namespace and p.start <= COLLECTED_AT < p.end]
        used = {
            "requests.cpu": sum(p.cpu_request_cores for p in running),
            "requests.memory": float(sum(p.memory_request_bytes for p in running)),
            "limits.cpu": sum(p.cpu_limit_cores for p in running),
            "limits.memory": float(sum(p.memory_request_bytes for p in running)),  # memory limit = request
            "pods": float(len(running)),
            "requests.nvidia.com/gpu": float(sum(p.gpu for p in running)),
        }
        rows += [
            {
                "namespace": namespace,
                "quota": "compute-resources",
                "resource": resource,
                "hard": limit,
                "used": used[resource],
            }
            for resource, limit in hard.items()
        ]
    return _snapshot(streams.K8S_RESOURCE_QUOTAS, rows)


LIMIT_RANGES = (
    # namespace, resource, default limit, default request, min, max (cores / bytes)
    ("sandbox", "cpu", 1.0, 0.25, 0.05, 2.0),
    ("sandbox", "memory", 2.0 * GIB, 0.5 * GIB, 64.0 * MIB, 8.0 * GIB),
    ("data-eng-etl", "cpu", 2.0, 0.5, None, None),
    ("data-eng-etl", "memory", 4.0 * GIB, 1.0 * GIB, None, None),
    # emr-ml caps containers at 4 cores and 8Gi: feature-build's executors (8 GiB + 10% overhead) break it.
    ("emr-ml", "cpu", 2.0, 1.0, None, 4.0),
    ("emr-ml", "memory", 4.0 * GIB, 2.0 * GIB, None, 8.0 * GIB),
)


def k8s_limit_ranges_table() -> pa.Table:
    return _snapshot(
        streams.K8S_LIMIT_RANGES,
        [
            {
                "namespace": ns,
                "limit_range": "container-defaults",
                "type": "Container",
                "resource": resource,
                "default_limit": limit,
                "default_request": request,
                "min": low,
                "max": high,
            }
            for ns, resource, limit, request, low, high in LIMIT_RANGES
        ],
    )


def k8s_priority_classes_table() -> pa.Table:
    return _snapshot(
        streams.K8S_PRIORITY_CLASSES,
        [
            {
                "priority_class": name,
                "value": value,
                "global_default": False,
                "preemption_policy": "PreemptLowerPriority",
            }
            for name, value in (
                ("spark-batch", 1000),
                ("system-cluster-critical", 2_000_000_000),
                ("system-node-critical", 2_000_001_000),
            )
        ],
    )


def virtual_clusters_table() -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "collected_at": COLLECTED_AT * 1_000_000,
                "virtual_cluster_id": vc.id,
                "name": vc.name,
                "arn": vc.arn,
                "state": "RUNNING",
                "eks_cluster": CLUSTER,
                "namespace": vc.namespace,
                "created_at": _epoch(vc.created) * 1_000_000,
                "tags": vc.tags,
            }
            for vc in VIRTUAL_CLUSTERS.values()
        ],
        schema=streams.EMR_VIRTUAL_CLUSTERS.schema,
    )


def job_runs_table(runs: list[JobRun], month: Month = OCTOBER) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "collected_at": month.collected_at * 1_000_000,
                "job_run_id": r.id,
                "virtual_cluster_id": r.virtual_cluster.id,
                "arn": r.arn,
                "name": r.job.name,
                "state": r.state,
                "created_at": r.created_at * 1_000_000,
                "finished_at": r.finished_at * 1_000_000,
                "release_label": SPARK_RELEASE,
                "execution_role_arn": SPARK_ROLE_ARN[r.job.virtual_cluster],
                "executor_instances": r.job.executors,
                "executor_cores": float(r.job.executor_cores),
                "executor_memory_bytes": float(r.job.executor_memory_mib * MIB),
                "driver_cores": float(r.job.driver_cores),
                "driver_memory_bytes": float(r.job.driver_memory_mib * MIB),
                "tags": {"job-name": r.job.name},
                "failure_reason": r.failure_reason,
                "state_details": r.state_details,
            }
            for r in runs
        ],
        schema=streams.EMR_JOB_RUNS.schema,
    )


# --- CUR ----------------------------------------------------------------------------------------------------


def spot_prices(rng: np.random.Generator, month: Month = OCTOBER) -> dict[int, float]:
    """Spot price of m5.2xlarge per UTC day (epoch seconds of midnight)."""
    od = INSTANCE_TYPES["m5.2xlarge"].on_demand_usd_per_hour
    return {day: round(od * float(rng.uniform(*SPOT_SHARE_RANGE)), 4) for day in range(month.start, month.end, DAY)}


def node_lines(node: Node, spot: dict[int, float], month: Month = OCTOBER) -> list[CurLine]:
    """One EC2 line per node-hour (plus the Savings Plan negation of covered lines)."""
    spec, lines = node.spec, []
    od = spec.on_demand_usd_per_hour
    tags = {"user_eks_cluster_name": CLUSTER}
    if node.tenant:
        tags["user_tenant"] = node.tenant
    common = {"instance_type": node.instance_type, "product": _ec2_product(spec), "tags": tags}
    od_text = f"${od:g} per On Demand Linux {node.instance_type} Instance Hour"
    hours, seconds = hour_overlaps(node.start, node.end, month)
    for hour, running in zip(hours.tolist(), seconds.tolist(), strict=True):
        amount = _r(running / HOUR)
        public = _r(od * amount)
        window = (hour, hour + HOUR)
        if node.capacity_type == "SPOT":
            rate = spot[hour - hour % DAY]
            line = _line(
                "Usage",
                *window,
                "AmazonEC2",
                f"SpotUsage:{node.instance_type}",
                "RunInstances",
                node.instance_id,
                amount,
                rate,
                _r(rate * amount),
                f"${rate:g} per Linux/UNIX {node.instance_type} Spot Instance-hour in {node.zone}",
                public_cost=public,
                pricing_term="Spot",
                **common,
            )
            if node.name == SPOT_CORRECTED_NODE and hour in SPOT_CORRECTED_HOURS:
                wrong = _r(SPOT_WRONG_RATE_V1 * amount)
                line.v1 = {
                    "line_item_unblended_rate": _rate(SPOT_WRONG_RATE_V1),
                    "line_item_unblended_cost": wrong,
                    "line_item_net_unblended_cost": wrong,
                }
            lines.append(line)
        elif node.savings_plan:
            lines.append(
                _line(
                    "SavingsPlanCoveredUsage",
                    *window,
                    "AmazonEC2",
                    f"BoxUsage:{node.instance_type}",
                    "RunInstances",
                    node.instance_id,
                    amount,
                    od,
                    public,
                    od_text,
                    sp_effective=_r(public * SP_EFFECTIVE_RATIO),
                    sp_net_effective=_r(public * SP_NET_EFFECTIVE_RATIO),
                    **common,
                )
            )
            lines.append(
                _line(
                    "SavingsPlanNegation",
                    *window,
                    "AmazonEC2",
                    f"BoxUsage:{node.instance_type}",
                    "RunInstances",
                    node.instance_id,
                    amount,
                    -od,
                    -public,
                    f"SavingsPlanNegation used by AccountId : {ACCOUNT} and UsageSku : "
                    f"{_token('sku/' + node.instance_type, 16, BASE36).upper()}",
                    public_cost=0.0,
                    pricing_term=None,
                    **common,
                )
            )
        else:
            lines.append(
                _line(
                    "Usage",
                    *window,
                    "AmazonEC2",
                    f"BoxUsage:{node.instance_type}",
                    "RunInstances",
                    node.instance_id,
                    amount,
                    od,
                    public,
                    od_text,
                    **common,
                )
            )
    return lines


def cluster_lines(month: Month = OCTOBER) -> list[CurLine]:
    """Per hour: the EKS control plane, the Savings Plan fee, and the bastion host outside the cluster."""
    bastion = INSTANCE_TYPES[BASTION_TYPE]
    bastion_id = BASTION_INSTANCE_ID
    lines = []
    for hour in range(month.start, month.end, HOUR):
        window = (hour, hour + HOUR)
        lines.append(
            _line(
                "Usage",
                *window,
                "AmazonEKS",
                "USE1-AmazonEKS-Hours:perCluster",
                "CreateOperation",
                CLUSTER_ARN,
                1.0,
                EKS_USD_PER_HOUR,
                EKS_USD_PER_HOUR,
                "Amazon EKS cluster usage",
                product={"product_name": "Amazon Elastic Kubernetes Service", "servicecode": "AmazonEKS"},
                tags={"user_eks_cluster_name": CLUSTER},
            )
        )
        lines.append(
            _line(
                "SavingsPlanRecurringFee",
                *window,
                "ComputeSavingsPlans",
                "ComputeSP:1yrNoUpfront",
                None,
                SP_ARN,
                1.0,
                SP_COMMITMENT_USD_PER_HOUR,
                SP_COMMITMENT_USD_PER_HOUR,
                "1 year No Upfront Compute Savings Plan",
                public_cost=0.0,
                pricing_term=None,
                region=None,
                product={"product_name": "Savings Plans for AWS Compute usage"},
            )
        )
        lines.append(
            _line(
                "Usage",
                *window,
                "AmazonEC2",
                f"BoxUsage:{BASTION_TYPE}",
                "RunInstances",
                bastion_id,
                1.0,
                bastion.on_demand_usd_per_hour,
                bastion.on_demand_usd_per_hour,
                f"${bastion.on_demand_usd_per_hour:g} per On Demand Linux {BASTION_TYPE} Instance Hour",
                instance_type=BASTION_TYPE,
                product=_ec2_product(bastion),
            )
        )
    return lines


def emr_lines(emr: dict[tuple[str, int], list[float]], runs: list[JobRun], missing: bool = True) -> list[CurLine]:
    """EMR on EKS vCPU-hour and GB-hour lines per job run per hour its pods ran, plus (``missing``) a missed job."""
    arn_of = {run.id: run.arn for run in runs}
    usage_by_arn = [
        (arn_of[job_id], hour, cpu / HOUR, memory / GIB / HOUR) for (job_id, hour), (cpu, memory) in emr.items()
    ]
    if missing:
        vc_name, job_name, hour, vcpu_hours, gb_hours = MISSING_JOB
        missing_id = _job_run_id(f"{job_name}/{hour}")
        usage_by_arn.append((f"{VIRTUAL_CLUSTERS[vc_name].arn}/jobruns/{missing_id}", hour, vcpu_hours, gb_hours))
    product = {"product_name": "Amazon EMR", "servicecode": "ElasticMapReduce"}
    lines = []
    for arn, hour, vcpu, gb in sorted(usage_by_arn, key=lambda item: (item[1], item[0])):
        for usage_type, amount, rate, text in (
            ("USE1-EMR-EKS-EC2-vCPUHours", _r(vcpu), EMR_VCPU_USD_PER_HOUR, "per vCPU-hour"),
            ("USE1-EMR-EKS-EC2-GBHours", _r(gb), EMR_GB_USD_PER_HOUR, "per GB-hour"),
        ):
            lines.append(
                _line(
                    "Usage",
                    hour,
                    hour + HOUR,
                    "ElasticMapReduce",
                    usage_type,
                    "StartJobRun",
                    arn,
                    amount,
                    rate,
                    _r(amount * rate),
                    f"${rate:g} {text} for Amazon EMR on EKS (EC2)",
                    product=product,
                )
            )
    return lines


def daily_lines(month: Month = OCTOBER) -> list[CurLine]:
    """The ml team's tagged gp3 volume (from the day it was created, prorated that day) and an untagged S3 bucket,
    one line per day each."""
    days_in_month = month.seconds // DAY
    lines = []
    for day in range(month.start, month.end, DAY):
        window = (day, day + DAY)
        amount = _r(EBS_SIZE_GB / days_in_month)
        if day + DAY <= EBS_CREATED:
            amount = 0.0
        elif day < EBS_CREATED:
            amount = _r(EBS_SIZE_GB * (day + DAY - EBS_CREATED) / month.seconds)
        ebs = _line(
            "Usage",
            *window,
            "AmazonEC2",
            "EBS:VolumeUsage.gp3",
            "CreateVolume-Gp3",
            EBS_VOLUME_ID,
            amount,
            EBS_USD_PER_GB_MONTH,
            _r(amount * EBS_USD_PER_GB_MONTH),
            f"${EBS_USD_PER_GB_MONTH:g} per GB-month of General Purpose (gp3) provisioned storage",
            product={
                "product_name": "Amazon Elastic Compute Cloud",
                "servicecode": "AmazonEC2",
                "volume_api_name": "gp3",
            },
            tags={"user_eks_cluster_name": CLUSTER, "user_tenant": "ml"},
        )
        if day == EBS_DOUBLE_METERED_DAY and month == OCTOBER:
            wrong = _r(2 * amount * EBS_USD_PER_GB_MONTH)
            ebs.v1 = {
                "line_item_usage_amount": _r(2 * amount),
                "line_item_unblended_cost": wrong,
                "line_item_net_unblended_cost": wrong,
                "pricing_public_on_demand_cost": wrong,
            }
        if amount:
            lines.append(ebs)
        s3_amount = _r(S3_GB / days_in_month)
        lines.append(
            _line(
                "Usage",
                *window,
                "AmazonS3",
                "TimedStorage-ByteHrs",
                "StandardStorage",
                S3_BUCKET,
                s3_amount,
                S3_USD_PER_GB_MONTH,
                _r(s3_amount * S3_USD_PER_GB_MONTH),
                f"${S3_USD_PER_GB_MONTH:g} per GB - first 50 TB / month of storage used",
                product={"product_name": "Amazon Simple Storage Service", "servicecode": "AmazonS3"},
            )
        )
    return lines


def credit_lines(month: Month = OCTOBER) -> list[CurLine]:
    """A promotional credit, applied day by day to EC2 (out of scope: it lowers the invoice, not the cluster's cost)."""
    return [
        _line(
            "Credit",
            day,
            day + DAY,
            "AmazonEC2",
            None,
            None,
            None,
            None,
            None,
            -CREDIT_USD_PER_DAY,
            "AWS Promotional Credit",
            public_cost=0.0,
            pricing_term=None,
        )
        for day in range(month.start, month.end, DAY)
    ]


def _line_order(line: CurLine) -> tuple:
    v = line.values
    return (
        v["line_item_usage_start_date"],
        v["line_item_product_code"],
        v["line_item_resource_id"] or "",
        v["line_item_usage_type"] or "",
        v["line_item_line_item_type"],
    )


def cur_lines(
    rng: np.random.Generator,
    pods: list[Pod],
    runs: list[JobRun],
    emr: dict[tuple[str, int], list[float]],
    beyond_nodes: list[CurLine],
    pod_hours: pa.Table,
    month: Month = OCTOBER,
    nodes: dict[str, Node] = NODES,
) -> list[CurLine]:
    """Every line of the month: ``beyond_nodes`` are the volumes', data transfer's, load balancers' and the NAT
    gateway's (sample_data/volumes.py, sample_data/network.py); AWS's split rows are derived from the node lines
    (October's last two days only). The job run the EMR collector missed is October's."""
    spot = spot_prices(rng, month)
    instance_lines = [line for node in nodes.values() for line in node_lines(node, spot, month)]
    lines = instance_lines + cluster_lines(month) + emr_lines(emr, runs, month == OCTOBER) + daily_lines(month)
    lines += beyond_nodes + credit_lines(month)
    lines += split_cost.split_rows(pod_hours, pods, nodes, instance_lines)
    lines.sort(key=_line_order)
    tax = _r(round(TAX_RATE * sum(line.values["line_item_unblended_cost"] for line in lines), 2))
    lines.append(
        CurLine(
            _line(
                "Tax",
                month.start,
                month.end,
                "AmazonEC2",
                None,
                None,
                None,
                None,
                None,
                tax,
                "Tax for product code AmazonEC2",
                public_cost=0.0,
                pricing_term=None,
                region=None,
            ).values,
            v2_only=True,
        )
    )
    return lines


def cur_version(lines: list[CurLine], version: int, month: Month = OCTOBER) -> pa.Table:
    """The delivered file of ``version`` (a history month's one final version is 2), with ``bill_invoice_id`` (the
    scheduler reads it from the delivery to tell whether the month is final; the FOCUS export's InvoiceId)."""
    if version == 1:
        last = CUR_V1_LAST_HOUR * 1_000_000
        rows = [
            {**line.values, **line.v1}
            for line in lines
            if not line.v2_only and line.values["line_item_usage_start_date"] <= last
        ]
    else:
        rows = [line.values for line in lines]
    period = {
        "bill_billing_period_start_date": month.start * 1_000_000,
        "bill_billing_period_end_date": month.end * 1_000_000,
    }
    rows = [{**row, **period} for row in rows]
    table = streams.CUR_LINE_ITEMS.conform(pa.Table.from_pylist(rows, schema=streams.CUR_LINE_ITEMS.schema), "generate")
    invoice_ids = INVOICE_IDS if month == OCTOBER else HISTORY_INVOICE_IDS[month.period]
    invoices = ["" if version == 1 else invoice_ids[row["bill_payer_account_id"]] for row in rows]
    column = table.schema.get_field_index("bill_invoice_id")
    return table.set_column(column, table.schema.field(column), pa.array(invoices, pa.string()))


def _manifest(execution_id: str, month: Month = OCTOBER) -> str:
    bounds = {
        key: datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        for key, at in (("start", month.start), ("end", month.end))
    }
    body = {
        "executionId": execution_id,
        "exportArn": f"arn:aws:bcm-data-exports:{REGION}:{PAYER_ACCOUNT}:export/{EXPORT_NAME}-3c2b1a09",
        "exportName": EXPORT_NAME,
        "billingPeriod": bounds,
        "dataFiles": [f"{EXPORT_S3_PREFIX}/data/BILLING_PERIOD={month.period}/{execution_id}/{CUR_DATA_FILE}"],
    }
    return json.dumps(body, indent=2) + "\n"


def write_final_version(lines: list[CurLine], export_dir: Path, month: Month) -> Path:
    """A history month's export: one final delivery, which its top-level manifest names; returns its data file."""
    execution_id = HISTORY_EXECUTIONS[month.period]
    data = export_dir / "data" / f"BILLING_PERIOD={month.period}" / execution_id / CUR_DATA_FILE
    data.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(cur_version(lines, 2, month), data, compression="snappy")
    metadata = export_dir / "metadata" / f"BILLING_PERIOD={month.period}"
    metadata.mkdir(parents=True, exist_ok=True)
    (metadata / f"{EXPORT_NAME}-Manifest.json").write_text(_manifest(execution_id, month))
    return data


def write_cur_export(lines: list[CurLine], export_dir: Path) -> None:
    metadata = export_dir / "metadata" / f"BILLING_PERIOD={BILLING_PERIOD}"
    for version, execution_id in ((1, CUR_V1_EXECUTION), (2, CUR_V2_EXECUTION)):
        data = export_dir / "data" / f"BILLING_PERIOD={BILLING_PERIOD}" / execution_id / CUR_DATA_FILE
        data.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(cur_version(lines, version), data, compression="snappy")
    (metadata / CUR_V1_EXECUTION).mkdir(parents=True, exist_ok=True)
    (metadata / CUR_V1_EXECUTION / f"{EXPORT_NAME}-Manifest.json").write_text(_manifest(CUR_V1_EXECUTION))
    (metadata / f"{EXPORT_NAME}-Manifest.json").write_text(_manifest(CUR_V2_EXECUTION))


# --- main ---------------------------------------------------------------------------------------------------


# Cost Explorer's daily view of the final (v2) CUR: amortized cost by SERVICE, by INSTANCE_TYPE (EC2
# compute, with usage hours) and by TAG:tenant, as GetCostAndUsage groups them. Savings Plan negation
# and fee lines count 0 (their used part is already in the covered lines' effective cost; the plan's
# small unused commitment is not modelled). The last two days are still "estimated", as on 11-01.
COST_EXPLORER_SQL = """
    with lines as (
        select
            cast(line_item_usage_start_date as date) as day,
            case
                when line_item_product_code = 'AmazonEC2'
                     and (line_item_usage_type like '%BoxUsage%' or line_item_usage_type like '%SpotUsage%')
                    then 'Amazon Elastic Compute Cloud - Compute'
                when line_item_line_item_type = 'Tax' then 'Tax'
                when line_item_line_item_type in ('SavingsPlanNegation', 'SavingsPlanRecurringFee')
                    then 'Savings Plans for AWS Compute usage'
                when line_item_product_code = 'AmazonEC2' then 'EC2 - Other'
                when line_item_product_code = 'AmazonEKS' then 'Amazon Elastic Container Service for Kubernetes'
                when line_item_product_code = 'ElasticMapReduce' then 'Amazon Elastic MapReduce'
                when line_item_product_code = 'AmazonS3' then 'Amazon Simple Storage Service'
                else line_item_product_code
            end as service,
            product_instance_type,
            line_item_usage_amount,
            resource_tags['user_tenant'] as tenant,
            case line_item_line_item_type
                when 'SavingsPlanCoveredUsage' then savings_plan_savings_plan_effective_cost
                when 'DiscountedUsage' then reservation_effective_cost
                when 'SavingsPlanNegation' then 0
                when 'SavingsPlanRecurringFee' then 0
                else line_item_unblended_cost
            end as amortized,
        from read_parquet(?)
        where line_item_operation is distinct from 'EKSPod-EC2'
    ),
    grouped as (
        select day, 'SERVICE' as group_by, service as group_key, sum(amortized) as amount, null as usage_quantity
        from lines group by all
        union all
        select day, 'INSTANCE_TYPE', product_instance_type, sum(amortized), sum(line_item_usage_amount)
        from lines where service = 'Amazon Elastic Compute Cloud - Compute' group by all
        union all
        select day, 'TAG:tenant', 'tenant$' || coalesce(tenant, ''), sum(amortized), null
        from lines group by all
    )
    select
        make_timestamptz(?::bigint * 1000000) as collected_at,
        day as date,
        group_by,
        group_key,
        'AmortizedCost' as metric,
        round(amount, 10) as amount,
        'USD' as unit,
        round(usage_quantity, 6) as usage_quantity,
        day >= ?::date as estimated,
    from grouped
    order by day, group_by, group_key
"""


def cost_explorer_table(export_dir: Path, final: Path | None = None, month: Month = OCTOBER) -> pa.Table:
    """Cost Explorer's view of ``final`` (default: October's v2), collected after ``month``: October's last two
    days still estimated; a history month's days all final."""
    final = final or export_dir / "data" / f"BILLING_PERIOD={BILLING_PERIOD}" / CUR_V2_EXECUTION / CUR_DATA_FILE
    estimated_from = "2026-10-30" if month == OCTOBER else datetime.fromtimestamp(month.end, UTC).date().isoformat()
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    params = [str(final), month.collected_at, estimated_from]
    return con.sql(COST_EXPLORER_SQL, params=params).to_arrow_table()


def generate(out: Path = SAMPLE_DIR) -> None:
    export_dir = out / "cur_export" / EXPORT_NAME
    for stale in (out / "raw", out / "cur_export"):
        shutil.rmtree(stale, ignore_errors=True)
    rng = np.random.default_rng(SEED)
    placement = Placement()
    pods = service_pods(placement)
    runs, spark = spark_runs(rng, placement)
    pods += spark
    traffic = network.Traffic(np.random.default_rng([SEED, 15]))
    pod_hours, emr = pod_hours_table(rng, pods, traffic)
    storage = volumes.Storage(NODES, pods, (EBS_VOLUME_ID, EBS_SIZE_GB))
    for table, data in (
        (streams.POD_HOURS, pod_hours),
        (streams.PODS, pods_table(pods)),
        (streams.OWNERS, owners_table(pods)),
        (streams.NAMESPACE_LABELS, namespace_labels_table()),
        (streams.NODE_HOURS, node_hours_table()),
        (streams.K8S_NAMESPACES, k8s_namespaces_table()),
        (streams.K8S_NODES, k8s_nodes_table()),
        (streams.K8S_RESOURCE_QUOTAS, k8s_resource_quotas_table(pods)),
        (streams.K8S_LIMIT_RANGES, k8s_limit_ranges_table()),
        (streams.K8S_PRIORITY_CLASSES, k8s_priority_classes_table()),
        (streams.EMR_VIRTUAL_CLUSTERS, virtual_clusters_table()),
        (streams.EMR_JOB_RUNS, job_runs_table(runs)),
        (streams.PERSISTENT_VOLUME_HOURS, storage.pv_hours_table()),
        (streams.POD_VOLUME_CLAIMS, storage.pod_claims_table(pods)),
        (streams.K8S_PERSISTENT_VOLUMES, storage.k8s_table()),
        (streams.EC2_VOLUMES, storage.ec2_table()),
        (streams.LOAD_BALANCERS, network.load_balancers_table()),
    ):
        land(out, table, data, origin="sample_data/generate.py")
    beyond_nodes = storage.cur_lines() + traffic.transfer_lines(NODES) + network.load_balancer_lines()
    beyond_nodes += network.nat_lines(NODES)
    write_cur_export(cur_lines(rng, pods, runs, emr, beyond_nodes, pod_hours), export_dir)
    land_billing_period(out, export_dir, BILLING_PERIOD)
    land(out, streams.COST_EXPLORER_DAILY, cost_explorer_table(export_dir), origin="sample_data/generate.py")
    from sample_data import history  # noqa: PLC0415  (history imports this module: the same code, another month)

    history.generate(out)


SELF_CHECKS = {
    # name -> query returning the number of violations
    "pod-hours on a node-hour that was not up": """
        select count(*) from pod_hours p left join node_hours n on p.node = n.node and p.hour = n.hour
        where n.node is null or p.running_seconds > n.running_seconds""",
    "running_seconds outside (0, 3600]": """
        select (select count(*) from pod_hours where running_seconds <= 0 or running_seconds > 3600)
             + (select count(*) from node_hours where running_seconds <= 0 or running_seconds > 3600)""",
    "node-hours whose cpu/memory requests exceed capacity": """
        select count(*) from (
            select n.node, n.hour from node_hours n join pod_hours p on p.node = n.node and p.hour = n.hour
            group by n.node, n.hour, n.cpu_capacity_cores, n.memory_capacity_bytes, n.running_seconds
            having sum(p.cpu_request_core_seconds) > n.cpu_capacity_cores * n.running_seconds + 1e-6
                or sum(p.memory_request_byte_seconds) > n.memory_capacity_bytes * n.running_seconds)""",
    "Spark pods whose job id is not a job run": """
        select count(*) from pods where labels['spark-role'] is not null
          and labels['emr-containers.amazonaws.com/job.id'] not in (select job_run_id from job_runs)""",
    "node-hours without exactly one matching v2 instance line": """
        select count(*) from node_hours n left join (
            select line_item_resource_id as instance_id, line_item_usage_start_date as hour,
                   count(*) as lines, sum(line_item_usage_amount) as amount
            from cur_v2 where line_item_line_item_type in ('Usage', 'SavingsPlanCoveredUsage', 'DiscountedUsage')
              and regexp_matches(line_item_usage_type, 'BoxUsage|SpotUsage')
            group by all) c
          on c.instance_id = split_part(n.provider_id, '/', 5) and c.hour = n.hour
        where coalesce(c.lines, 0) <> 1 or abs(c.amount * 3600 - n.running_seconds) > 1e-3""",
    "v2 instance lines without a node-hour": """
        select count(*) from cur_v2 c where line_item_line_item_type in ('Usage', 'SavingsPlanCoveredUsage')
          and regexp_matches(line_item_usage_type, 'BoxUsage|SpotUsage')
          and line_item_resource_id in (select distinct split_part(provider_id, '/', 5) from node_hours)
          and not exists (select 1 from node_hours n where split_part(n.provider_id, '/', 5) = c.line_item_resource_id
                          and n.hour = c.line_item_usage_start_date)""",
    "v1 lines after 2026-10-27 23:00": """
        select count(*) from cur_v1 where line_item_usage_start_date > timestamptz '2026-10-27 23:00:00+00'""",
    "landed CUR differs from v2 in rows": """
        select abs((select count(*) from cur_raw) - (select count(*) from cur_v2))""",
}

# Checks of the delivered files alone.
DELIVERY_CHECKS = {
    "v1 lines with an invoice id (v1 is not final)": "select count(*) from cur_v1 where bill_invoice_id <> ''",
    "v2 lines without an invoice id (v2 is final)": """
        select count(*) from cur_v2 where coalesce(bill_invoice_id, '') = ''""",
}

# Checks of the costs beyond the nodes (the benchmark's months have none of these tables).
BEYOND_NODE_CHECKS = {
    "host-network pods with byte data, or other pods without": """
        select count(*) from pod_hours p join (select distinct pod_uid, host_network from pods) i using (pod_uid)
        where (network_receive_bytes is not null) = i.host_network
           or (network_transmit_bytes is not null) = i.host_network""",
    "node-hours billed more bytes across AZs than their pods and host moved": f"""
        select count(*) from (
            select line_item_resource_id as instance_id, line_item_usage_start_date as hour,
                   sum(line_item_usage_amount) filter (line_item_operation = 'InterZone-In') * {GIB} as billed_in,
                   sum(line_item_usage_amount) filter (line_item_operation = 'InterZone-Out') * {GIB} as billed_out
            from cur_v2 where line_item_usage_type like '%DataTransfer%' group by all) c
        join node_hours n on split_part(n.provider_id, '/', 5) = c.instance_id and n.hour = c.hour
        join (select node, hour, sum(network_receive_bytes) as received, sum(network_transmit_bytes) as sent
              from pod_hours group by all) p on p.node = n.node and p.hour = n.hour
        where billed_in > received + {network.HOST_CROSS_AZ[0]} * n.running_seconds + 1
           or billed_out > sent + {network.HOST_CROSS_AZ[1]} * n.running_seconds + 1""",
    "PV volumes without an EBS line on a day their PV existed": """
        select count(*) from (select distinct volume_handle, cast(hour as date) as day from pv_hours) v
        where not exists (select 1 from cur_v2 c where c.line_item_resource_id = v.volume_handle
                          and cast(c.line_item_usage_start_date as date) = v.day)""",
    "AWS split rows with a direct cost": """
        select count(*) from cur_v2 where line_item_operation = 'EKSPod-EC2' and line_item_unblended_cost <> 0""",
    "node-hours whose AWS split + unused cost is not the instance's amortized cost": """
        select count(*) from (
            select split_line_item_parent_resource_id as instance_id, line_item_usage_start_date as hour,
                   sum(split_line_item_split_cost + split_line_item_unused_cost) as split
            from cur_v2 where line_item_operation = 'EKSPod-EC2' group by all) s
        join cur_v2 c on c.line_item_resource_id = s.instance_id and c.line_item_usage_start_date = s.hour
          and c.line_item_line_item_type in ('Usage', 'SavingsPlanCoveredUsage', 'DiscountedUsage')
          and regexp_matches(c.line_item_usage_type, 'BoxUsage|SpotUsage')
        where abs(s.split - coalesce(c.savings_plan_savings_plan_effective_cost, c.line_item_unblended_cost)) > 1e-8""",
}

# What the in-scope query reads beyond node_hours and the CUR: view name -> raw table.
SCOPE_TABLES = {
    "pv_hours": streams.PERSISTENT_VOLUME_HOURS,
    "k8s_pvs": streams.K8S_PERSISTENT_VOLUMES,
    "ec2_volumes": streams.EC2_VOLUMES,
    "load_balancers": streams.LOAD_BALANCERS,
}

# The in-scope cost of the final CUR by scope, read from the raw files without the models: docs/method.md's rules
# in their order (an instance line of a node; an EBS line of a PV's volume, else of a volume EC2 saw attached to a
# node; other lines of a node (data transfer, extras); a load balancer the cluster's tags name (elbv2 snapshot or
# the CUR's tag); the EKS fee; EMR on EKS; a tenant tag; the cluster tag (overhead)), on the amortized basis. One
# parameter: the cluster's ARN.
IN_SCOPE_V2 = """
    with cluster as (
        select arn, regexp_extract(arn, ':cluster/([^/]+)$', 1) as name from (select ?::varchar as arn)
    ),
    nodes as (select distinct split_part(provider_id, '/', 5) as instance_id from node_hours),
    pv_volumes as (
        select volume_handle as volume_id from pv_hours
        union select volume_handle from k8s_pvs
        union select volume_id from ec2_volumes
        where tags['kubernetes.io/created-for/pvc/namespace'] is not null
          and coalesce(tags['eks_cluster_name'], tags['KubernetesCluster']) = (select name from cluster)
    ),
    node_volumes as (
        select volume_id from ec2_volumes where instance_id in (select instance_id from nodes)
        except select volume_id from pv_volumes where volume_id is not null
    ),
    balancers as (
        select load_balancer_arn from (
            select load_balancer_arn, max_by(tags, collected_at) as tags from load_balancers group by all)
        where tags['elbv2.k8s.aws/cluster'] = (select name from cluster)
           or tags['kubernetes.io/cluster/' || (select name from cluster)] is not null
    ),
    lines as (
        select *,
               line_item_line_item_type in ('Usage', 'SavingsPlanCoveredUsage', 'DiscountedUsage')
                 and coalesce(line_item_operation, '') <> 'EKSPod-EC2' as is_usage,
               line_item_resource_id in (select instance_id from nodes) as of_node
        from cur_v2
    ),
    parts as (
        select case
                 when not is_usage then null
                 when of_node and (line_item_line_item_type <> 'Usage'
                                   or regexp_matches(line_item_usage_type, 'BoxUsage|SpotUsage|HostUsage'))
                   then 'ec2 nodes'
                 when line_item_resource_id in (select volume_id from pv_volumes) then 'pv volumes'
                 when line_item_resource_id in (select volume_id from node_volumes) then 'node volumes'
                 when of_node and line_item_usage_type like '%DataTransfer%' then 'data transfer'
                 when of_node then 'node extras'
                 when line_item_resource_id in (select load_balancer_arn from balancers)
                      or resource_tags['user_elbv2.k8s.aws/cluster'] = (select name from cluster) then 'load balancers'
                 when line_item_product_code = 'AmazonEKS' and line_item_resource_id = (select arn from cluster)
                   then 'eks'
                 when line_item_product_code = 'ElasticMapReduce' then 'emr'
                 when resource_tags['user_tenant'] is not null then 'tagged'
                 when resource_tags['user_eks_cluster_name'] = (select name from cluster) then 'overhead'
               end as part,
               case line_item_line_item_type
                 when 'SavingsPlanCoveredUsage' then savings_plan_savings_plan_effective_cost
                 when 'DiscountedUsage' then reservation_effective_cost
                 else line_item_unblended_cost end as amortized
        from lines)
    select part, round(sum(amortized), 6) from parts where part is not null group by part order by part"""


def scope_views(con: duckdb.DuckDBPyConnection, raw: Path, period: str = "") -> None:
    """Create the views IN_SCOPE_V2 reads beyond node_hours and cur_v2 from the raw tables under ``raw`` (empty where
    a table was not collected): the partitions of the days of ``period`` ("2026-10"), else all (the snapshots taken
    after the month, 11-01, count for October)."""
    for name, stream in SCOPE_TABLES.items():
        pattern = f"day={period}*/*.parquet" if period else "*/*.parquet"
        files = sorted(str(f) for f in (raw / stream.source / stream.name).glob(pattern))
        if period == OCTOBER.period:
            files += sorted(str(f) for f in (raw / stream.source / stream.name).glob("day=2026-11-*/*.parquet"))
        if files:
            con.execute(f"create view {name} as select * from read_parquet({files!r}, hive_partitioning = false)")
        else:
            con.register(name, stream.schema.empty_table())


def self_check(out: Path = SAMPLE_DIR, month: Month = OCTOBER) -> None:
    """The checks above on ``month``'s raw partitions and CUR deliveries (a history month has no v1: no v1 lines)."""
    raw = out / "raw"
    data = out / "cur_export" / EXPORT_NAME / "data" / f"BILLING_PERIOD={month.period}"
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    views = {
        "pod_hours": raw / "prometheus/pod_hours",
        "pods": raw / "prometheus/pods",
        "node_hours": raw / "prometheus/node_hours",
        "job_runs": raw / "emr/job_runs",
        "cur_raw": raw / "cur/line_items",
    }
    for name, path in views.items():
        key = "billing_period=" if name == "cur_raw" else "day="
        files = f"{path}/{key}{month.period}*/data.parquet"
        con.execute(f"create view {name} as select * from read_parquet('{files}', hive_partitioning = false)")
    if month == OCTOBER:
        for version, execution_id in ((1, CUR_V1_EXECUTION), (2, CUR_V2_EXECUTION)):
            file = data / execution_id / CUR_DATA_FILE
            con.execute(f"create view cur_v{version} as select * from read_parquet('{file}')")
    else:
        con.execute(f"create view cur_v2 as select * from read_parquet('{data}/*/{CUR_DATA_FILE}')")
        con.execute("create view cur_v1 as select * from cur_v2 where false")
    scope_views(con, raw, month.period)
    checks = {**SELF_CHECKS, **DELIVERY_CHECKS, **BEYOND_NODE_CHECKS}
    failures = {name: n for name, query in checks.items() if (n := con.execute(query).fetchone()[0])}
    figures = con.execute("""select (select count(distinct node) from node_hours), (select count(*) from node_hours),
        (select count(*) from pod_hours), (select count(*) from job_runs),
        (select count(*) from cur_v1), (select count(*) from cur_v2)""").fetchone()
    print(
        f"{month.period}: distinct nodes {{}}, node-hours {{}}, pod-hours {{}}, job runs {{}}, CUR lines v1 {{}} / "
        "v2 {}".format(*figures)
    )
    parts = con.execute(IN_SCOPE_V2, [CLUSTER_ARN]).fetchall()
    print(
        "v2 in-scope amortized cost: "
        + ", ".join(f"{p} ${v:,.6f}" for p, v in parts)
        + f"; total ${sum(v for _, v in parts):,.6f}"
    )
    if failures:
        raise SystemExit(f"self-check of {month.period} failed: {failures}")
    print(f"self-check of {month.period} passed")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE_DIR
    generate(target)
    for checked in (*HISTORY, OCTOBER):
        self_check(target, checked)
