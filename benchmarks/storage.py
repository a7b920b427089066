"""A generated cluster's EBS volumes: every node's root volume and a PersistentVolume per StatefulSet pod.

The sample month's conventions (``sample_data/volumes.py``), scaled and column-wise:

- **Root volumes**: one per node (``volumes._root_volume``: size by node group, deleted with its instance, tagged
  with the cluster, and the tenant on the dedicated node group), attached to its instance all month.
- **PersistentVolumes**: each StatefulSet pod mounts its own claim, ``<volume>-<pod>`` as a StatefulSet's
  ``volumeClaimTemplates`` name them, with the sample's volume name, size, IOPS and throughput for its workload
  (``prometheus-server``: 500 GiB ``storage-volume`` at 6,000 IOPS and 250 MiB/s; ``airflow-postgresql``: 50 GiB
  ``data``; ``airflow-worker``: 50 GiB ``logs``; ``feature-redis``: 100 GiB ``redis-data``). Provisioned by the EBS
  CSI driver (its tags), bound all month, attached to the pod's node.
- What lands: kube-state-metrics' PV-hours (one claim all hour) and each pod's claim per day, a Kubernetes API PV
  snapshot with the others, a DescribeVolumes snapshot at every hourly collect, and daily EBS lines per volume
  (storage, and provisioned IOPS and throughput above gp3's included), tagged as the sample's.

Spark executors' on-demand shuffle claims (the sample's ``<executor>-pvc-0``) are not generated.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from benchmarks.basics import DAY, GIB, HOUR, MONTH_START, maps, ts
from benchmarks.layout import Layout
from benchmarks.lines import cur_block
from collectors import streams
from sample_data import generate as sample
from sample_data import volumes
from sample_data.month import hex_id

# the sample's StatefulSet claims, by the workload whose pods mount them (prometheus-server-0 -> prometheus-server)
CLAIM_OF_WORKLOAD = {re.sub(r"-\d+$", "", c.mounted_by): c for c in volumes.CLAIMS if re.search(r"-\d+$", c.mounted_by)}
CLAIMED_AT = 10  # a StatefulSet's claim is created this many seconds before its pod starts
EBS_PRODUCT = {"product_name": "Amazon Elastic Compute Cloud", "servicecode": "AmazonEC2", "volume_api_name": "gp3"}


def _retag(tags: dict[str, str], cluster: str) -> dict[str, str]:
    """The sample's tags with its cluster's name replaced by ``cluster`` (a fleet's other clusters)."""
    if cluster == sample.CLUSTER:
        return tags
    renamed = ((k.replace(sample.CLUSTER, cluster), v.replace(sample.CLUSTER, cluster)) for k, v in tags.items())
    return dict(sorted(renamed))


class Storage:
    """A layout's volumes as columns (root volumes first, then the PVs' volumes), and what they land each day."""

    def __init__(self, layout: Layout):
        self.cluster = layout.cluster
        found = [volumes._root_volume(node) for node in layout.nodes]
        self.claimed = [p for p in layout.pods if p.owner_kind == "StatefulSet"]
        self.pv_names, self.claims, self.volume_names = [], [], []
        for pod in self.claimed:
            claim = CLAIM_OF_WORKLOAD.get(pod.owner_name) or volumes.Claim("", "", "", "data", 50, "")
            name = f"{claim.volume_name}-{pod.name}"
            pv = "pvc-" + sample._uuid(f"pvc/{self.cluster}/{pod.namespace}/{name}")
            created = pod.start - CLAIMED_AT
            attachment = volumes.Attachment(pod.node.instance_id, pod.start - 4, sample.STILL_RUNNING)
            found.append(
                volumes.Volume(
                    hex_id("vol-", f"pv/{pv}"),
                    claim.size_gib,
                    pod.node.zone,
                    created - 3,
                    sample.STILL_RUNNING,
                    (attachment,),
                    volumes._csi_tags(pv, pod.namespace, name),
                    volumes.CUR_CLUSTER_TAG,
                    claim.iops,
                    claim.throughput_mibps,
                )
            )
            self.pv_names.append(pv)
            self.claims.append(name)
            self.volume_names.append(claim.volume_name)
        self.volumes = found
        self.roots = len(layout.nodes)
        v = found
        self.id = pa.array([x.id for x in v], pa.string())
        self.size_gib = np.array([x.size_gib for x in v], np.float64)
        self.iops = np.array([x.iops for x in v], np.float64)
        self.throughput = np.array([x.throughput_mibps for x in v], np.float64)
        self.created = np.array([x.created for x in v], np.int64)
        self.attachment = [x.attachments[0] for x in v]
        self.tags = [_retag(x.tags, self.cluster) for x in v]
        self.cur_tags = [_retag(x.cur_tags, self.cluster) for x in v]

    # --- kube-state-metrics ------------------------------------------------------------------------------------

    def pv_hours_table(self, day: int) -> pa.Table:
        """``prometheus/persistent_volume_hours`` of one day: each PV bound to its claim all hour."""
        n = len(self.claimed)
        lo = MONTH_START + day * DAY
        hours = np.repeat(np.arange(lo, lo + DAY, HOUR, dtype=np.int64), n)
        which = pa.array(np.tile(np.arange(n), 24))
        pvs = self.id[self.roots :]
        return pa.table(
            {
                "cluster": pa.repeat(self.cluster, len(which)),
                "persistent_volume": pa.array(self.pv_names, pa.string()).take(which),
                "hour": ts(hours),
                "volume_handle": pvs.take(which),
                "storage_class": pa.repeat("gp3", len(which)),
                "capacity_bytes": self.size_gib[self.roots :][which.to_numpy()] * GIB,
                "phase": pa.repeat("Bound", len(which)),
                "claim_namespace": pa.array([p.namespace for p in self.claimed], pa.string()).take(which),
                "claim_name": pa.array(self.claims, pa.string()).take(which),
                "claim_seconds": np.full(len(which), float(HOUR)),
                # the hour's last scrape, as the sample's hours with one binding
                "claim_last_seen": ts(hours + HOUR - volumes.KSM_STEP + volumes.KSM_SCRAPES[1] - 30),
            },
            schema=streams.PERSISTENT_VOLUME_HOURS.schema,
        )

    def pod_claims_table(self, day: int) -> pa.Table:
        """``prometheus/pod_volume_claims`` of one day: each StatefulSet pod and its claim."""
        n = len(self.claimed)
        date = datetime.fromtimestamp(MONTH_START + day * DAY, UTC).date()
        return pa.table(
            {
                "cluster": pa.repeat(self.cluster, n),
                "date": pa.repeat(pa.scalar(date, pa.date32()), n),
                "namespace": pa.array([p.namespace for p in self.claimed], pa.string()),
                "pod": pa.array([p.name for p in self.claimed], pa.string()),
                "pod_uid": pa.array([p.uid for p in self.claimed], pa.string()),
                "volume": pa.array(self.volume_names, pa.string()),
                "claim": pa.array(self.claims, pa.string()),
                "read_only": pa.repeat(False, n),
            },
            schema=streams.POD_VOLUME_CLAIMS.schema,
        )

    # --- snapshots ---------------------------------------------------------------------------------------------

    def k8s_table(self, collected_at: int) -> pa.Table:
        """``kubernetes/persistent_volumes``: the API's PersistentVolumes at the collection."""
        n = len(self.claimed)
        return pa.table(
            {
                "cluster": pa.repeat(self.cluster, n),
                "collected_at": ts(np.full(n, collected_at)),
                "persistent_volume": pa.array(self.pv_names, pa.string()),
                "volume_handle": self.id[self.roots :],
                "storage_class": pa.repeat("gp3", n),
                "capacity_bytes": self.size_gib[self.roots :] * GIB,
                "phase": pa.repeat("Bound", n),
                "claim_namespace": pa.array([p.namespace for p in self.claimed], pa.string()),
                "claim_name": pa.array(self.claims, pa.string()),
                "created_at": ts(np.array([p.start - CLAIMED_AT for p in self.claimed], np.int64)),
            },
            schema=streams.K8S_PERSISTENT_VOLUMES.schema,
        )

    def ec2_table(self, day: int) -> pa.Table:
        """``ec2/volumes`` of one day: every volume, attached, at each hourly collect."""
        n = len(self.volumes)
        lo = MONTH_START + day * DAY
        which = np.tile(np.arange(n), 24)
        take = pa.array(which)
        a = self.attachment
        return pa.table(
            {
                "collected_at": ts(np.repeat(np.arange(lo, lo + DAY, HOUR), n) + volumes.EC2_SNAPSHOT_AT),
                "region": pa.repeat(sample.REGION, len(which)),
                "volume_id": self.id.take(take),
                "volume_type": pa.repeat("gp3", len(which)),
                "size_gib": self.size_gib[which],
                "iops": self.iops[which],
                "throughput_mibps": self.throughput[which],
                "state": pa.repeat("in-use", len(which)),
                "availability_zone": pa.array([v.zone for v in self.volumes], pa.string()).take(take),
                "created_at": ts(self.created[which]),
                "instance_id": pa.array([x.instance_id for x in a], pa.string()).take(take),
                "device": pa.array([x.device for x in a], pa.string()).take(take),
                "attachment_state": pa.repeat("attached", len(which)),
                "attached_at": ts(np.array([x.start for x in a], np.int64)[which]),
                "delete_on_termination": pa.array([x.delete_on_termination for x in a]).take(take),
                "tags": maps(self.tags, which),
            },
            schema=streams.EC2_VOLUMES.schema,
        )

    # --- the CUR -------------------------------------------------------------------------------------------------

    def cur_lines(self, day: int) -> list[pa.Table]:
        """Daily EBS lines per volume (``volumes.Storage.cur_lines``): its GB-month, and the IOPS and throughput
        provisioned above gp3's included, prorated by the seconds it existed that day."""
        start = MONTH_START + day * DAY
        seconds = np.clip(start + DAY - np.maximum(self.created, start), 0, DAY)
        share = seconds / (sample.MONTH_END - sample.MONTH_START)  # of October, the month the benchmark generates
        blocks = []
        provisioned = (self.size_gib, self.iops - volumes.GP3_IOPS, self.throughput - volumes.GP3_MIBPS)
        for (usage_type, rate, text), quantity in zip(volumes.EBS_PRICES, provisioned, strict=True):
            billed = np.nonzero((quantity > 0) & (seconds > 0))[0]
            if not len(billed):
                continue
            amount = np.round(quantity[billed] * share[billed], 10)
            blocks.append(
                cur_block(
                    len(billed),
                    line_item_line_item_type="Usage",
                    line_item_usage_start_date=np.full(len(billed), start),
                    line_item_usage_end_date=np.full(len(billed), start + DAY),
                    line_item_product_code="AmazonEC2",
                    line_item_usage_type=usage_type,
                    line_item_operation="CreateVolume-Gp3",
                    line_item_resource_id=self.id.take(pa.array(billed)),
                    line_item_usage_amount=amount,
                    line_item_unblended_rate=sample._rate(rate),
                    line_item_unblended_cost=np.round(amount * rate, 10),
                    line_item_line_item_description=f"${sample._rate(rate)} {text}",
                    product=EBS_PRODUCT,
                    resource_tags=maps(self.cur_tags, billed),
                )
            )
        return blocks
