"""The sample's history months, August and September 2026: the same cluster before October's events.

``sample_data/generate.py`` writes them after October, with the same code and a random stream of their own (October's
draws, hence its files, are unchanged): the same namespaces and tenant labels, the same Deployments, StatefulSets and
DaemonSets with the same requests and usage (a daily cycle, quieter weekends), the same Spark schedule, storage,
network, load balancers and NAT gateway, priced the same way, and each month's CUR 2.0 export as one final version.

What differs from October, and why
----------------------------------
- **Nodes.** The steady node groups only (no ``general`` scale-out, no extra spot nodes), all month. October's nodes
  joined in September (October's API snapshot records their creation): the node groups were rolled to a new AMI
  (risk-dedicated 09-02, general 09-08, general-sp and memory 09-15, spark-spot 09-19, gpu 09-22). Before that each
  ran on an earlier instance (``PREDECESSORS``: its own host name and instance id, same type and zone), drained
  nine minutes after its replacement joined: its pods moved to the new node, and October's pods replaced those at
  the platform upgrade's redeploy (09-24 09:30, ``generate.WORKLOAD_EPOCH``). The risk tenant was onboarded on
  2026-08-11 (its namespaces, claim and NLB were created that day): its dedicated nodes and pods start then.
- **No October events**: every pod of a replica runs all month (no payments-api rollout, no GPU pod gap, no ghost
  risk node, no cross-tenant month-close Job: that CronJob's earlier runs are not modelled), every Spark run
  completes, no CUR restatement, no double-metered volume, no job run missed by the collector, no AWS split rows
  (split cost allocation data was turned on 10-30). ``feature-store`` keeps its ``tenant=ml`` label: moving it to
  data-eng on 10-15 is October's event, so its history bills to ml.
- The sandbox notebook ``jupyter-alice`` ran 08-12 15:05 -> 08-28 18:02 and 09-14 09:31 -> 09-25 17:48 (its home
  claim was created on 08-12); airflow workers 2 and 3 (KEDA, following October's extra spot nodes) did not run:
  their log volumes stay detached.
- **One known inconsistency.** October's API snapshot (kept byte for byte) records the EMR namespaces and virtual
  clusters as created on 09-10/09-11; the history months run the same Spark schedule through them from 08-01 (the
  models do not read those creation times).
- Only time series are written for a history month (Prometheus, EMR job runs, the hourly EC2 and elbv2 snapshots,
  Cost Explorer, the CUR): the Kubernetes API and EMR virtual-cluster snapshots are the last collection's (11-01).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from chargeback.raw.collect import land_billing_period
from chargeback.raw.landing import land
from collectors import streams
from sample_data import generate as g
from sample_data import network, volumes
from sample_data.month import HISTORY, NODE_SPECS, NODES, Month, Node, Pod, epoch

STEADY = tuple(key for key, *_, end in NODE_SPECS if end is None)  # the nodes up all October
DRAIN_SECONDS = 540  # a predecessor is drained and terminated this long after its replacement joined
PREDECESSORS = {
    # October's node key -> (host, up from): the node group's instance before September's rotation
    "gen-a": ("ip-10-0-2-117", "2026-06-16 09:21:40"),
    "gen-b": ("ip-10-0-17-36", "2026-06-16 09:22:03"),
    "gen-c": ("ip-10-0-33-208", "2026-06-16 09:22:31"),
    "sp-a": ("ip-10-0-6-51", "2026-06-16 09:40:12"),
    "sp-b": ("ip-10-0-20-99", "2026-06-16 09:40:30"),
    "spot-1": ("ip-10-0-43-12", "2026-07-07 13:02:18"),
    "spot-2": ("ip-10-0-39-140", "2026-07-07 13:02:51"),
    "mem": ("ip-10-0-13-75", "2026-06-16 09:41:07"),
    "gpu": ("ip-10-0-22-163", "2026-06-30 16:12:44"),
    "risk-a": ("ip-10-0-8-29", "2026-08-11 09:04:10"),
    "risk-b": ("ip-10-0-31-184", "2026-08-11 09:04:37"),
}
RISK_ONBOARDED = epoch("2026-08-11 11:32:00")  # the risk pods start after their namespaces, claim and NLB exist
NOTEBOOK_SESSIONS = (
    ("gen-c~", "2026-08-12 15:05:10", "2026-08-28 18:02:44"),  # "~": the predecessor of gen-c
    ("gen-c", "2026-09-14 09:31:05", "2026-09-25 17:48:30"),
)
SEEDS = {"2026-08": 2026_08, "2026-09": 2026_09}


def nodes() -> dict[str, Node]:
    """The steady nodes of October (joined in September) and their predecessors (key ``<key>~``)."""
    found = {}
    for key, (host, start) in PREDECESSORS.items():
        successor = NODES[key]
        found[f"{key}~"] = replace(
            successor,
            key=f"{key}~",
            name=f"{host}.ec2.internal",
            start=epoch(start),
            end=successor.start + DRAIN_SECONDS,
        )
    return found | {key: NODES[key] for key in STEADY}


def service_pods(history_nodes: dict[str, Node]) -> list[Pod]:
    """DaemonSet pods on every node; per replica of October that ran from the redeploy on a steady node, its pod on
    the predecessor, its pod on the new node until the redeploy, and October's own pod; the notebook's sessions."""
    october = g.service_pods(g.Placement())[len(NODES) * len(g.DAEMONSETS) :]
    pods = [
        g._service_pod(daemonset, 0, node, node.start + 20 + 4 * index, node.end)
        for node in history_nodes.values()
        for index, daemonset in enumerate(g.DAEMONSETS)
    ]
    segments = [(w, ordinal, segment) for w in g.WORKLOADS for ordinal, r in enumerate(w.replicas) for segment in r]
    for i, ((w, ordinal, (key, start_text, _end)), pod) in enumerate(zip(segments, october, strict=True)):
        if start_text is not None or key not in STEADY:
            continue
        before, after = history_nodes[f"{key}~"], history_nodes[key]
        start = before.start + 60 + 7 * i
        if w.namespace.startswith("risk-"):
            start = RISK_ONBOARDED + 7 * i
        moved = after.start + 60 + 3 * i  # evicted from the drained node, rescheduled on its replacement
        pods.append(g._service_pod(w, ordinal, before, start, moved))
        pods.append(g._service_pod(w, ordinal, after, moved + 4, pod.start))
        pods.append(pod)
    notebook = next(w for w in g.WORKLOADS if w.name == "jupyter-alice")
    for key, start, end in NOTEBOOK_SESSIONS:
        pods.append(g._service_pod(notebook, 0, history_nodes[key], epoch(start), epoch(end)))
    return pods


def claim_zones() -> dict[str, str]:
    """Each long-lived claim's volume zone, as October's pods place it (for the claims no history pod mounts)."""
    storage = volumes.Storage(NODES, g.service_pods(g.Placement()), (g.EBS_VOLUME_ID, g.EBS_SIZE_GB))
    return {pv.bindings[0].claim: pv.volume.zone for pv in storage.pvs[: len(volumes.CLAIMS)]}


def generate_month(out: Path, month: Month, zones: dict[str, str]) -> None:
    """Write ``month``'s raw tables and its final CUR under ``out`` (beside October's)."""
    history_nodes = nodes()
    rng = np.random.default_rng(SEEDS[month.period])
    placement = g.Placement()
    pods = service_pods(history_nodes)
    for pod in pods:
        placement.add(pod)
    runs, spark = g.spark_runs(rng, placement, month, history_nodes)
    pods += spark
    traffic = network.Traffic(np.random.default_rng([SEEDS[month.period], 15]))
    pod_hours, emr = g.pod_hours_table(rng, pods, traffic, month)
    storage = volumes.Storage(history_nodes, pods, (g.EBS_VOLUME_ID, g.EBS_SIZE_GB), month, zones)
    for table, data in (
        (streams.POD_HOURS, pod_hours),
        (streams.PODS, g.pods_table(pods, month)),
        (streams.OWNERS, g.owners_table(pods, month)),
        (streams.NAMESPACE_LABELS, g.namespace_labels_table(month)),
        (streams.NODE_HOURS, g.node_hours_table(month, history_nodes)),
        (streams.EMR_JOB_RUNS, g.job_runs_table(runs, month)),
        (streams.PERSISTENT_VOLUME_HOURS, storage.pv_hours_table()),
        (streams.POD_VOLUME_CLAIMS, storage.pod_claims_table(pods)),
        (streams.EC2_VOLUMES, storage.ec2_table()),
        (streams.LOAD_BALANCERS, network.load_balancers_table(month)),
    ):
        land(out, table, data, origin="sample_data/generate.py")
    beyond_nodes = storage.cur_lines() + traffic.transfer_lines(history_nodes, month)
    beyond_nodes += network.load_balancer_lines(month) + network.nat_lines(history_nodes, month)
    lines = g.cur_lines(rng, pods, runs, emr, beyond_nodes, pod_hours, month, history_nodes)
    export_dir = out / "cur_export" / g.EXPORT_NAME
    final = g.write_final_version(lines, export_dir, month)
    land_billing_period(out, export_dir, month.period)
    table = g.cost_explorer_table(export_dir, final, month)
    land(out, streams.COST_EXPLORER_DAILY, table, origin="sample_data/generate.py")


def generate(out: Path) -> None:
    zones = claim_zones()
    for month in HISTORY:
        generate_month(out, month, zones)
