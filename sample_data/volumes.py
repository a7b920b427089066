"""The sample month's EBS volumes: PersistentVolumes with their claims, node root volumes, and the volumes around them.

Written by ``sample_data/generate.py`` into ``prometheus/persistent_volume_hours`` and ``prometheus/pod_volume_claims``
(kube-state-metrics, in the shapes ``collectors/prometheus_volumes.py`` lands), ``kubernetes/persistent_volumes``
(one API snapshot), ``ec2/volumes`` (a DescribeVolumes snapshot at every hourly collect) and daily EBS lines in the
CUR. All gp3, us-east-1, $0.08 per GB-month, $0.005 per IOPS-month above 3,000 and $0.04 per MiB/s-month above
125, prorated by the second (a daily line's usage is size x seconds it existed that day / seconds in October).

- PersistentVolumes of the stateful workloads (EBS CSI driver, tagged ``kubernetes.io/created-for/pvc/...``, the
  cluster and ``eks_cluster_name``), attached to the node of the pod that mounts them while it runs:
  ``monitoring`` prometheus-server (500 GiB, 6,000 IOPS, 250 MiB/s), ``data-eng-airflow`` postgresql and four
  worker log volumes (workers 2 and 3 follow the extra spot nodes, detached in between), ``feature-store``
  redis, ``ml-training``'s training data (detached while its pod is gone, 10-20 to 10-23), ``risk-reports``'
  archive, and ``sandbox``'s notebook home (Retain): its claim is deleted with the notebook on 10-24 18:31:10
  (Released, the claimRef kept), the claimRef is cleared on 10-27 10:20:00 (Available) and a claim in
  ``data-eng-etl`` binds it at 10:52:30.
- ``ml-archive-0``: a statically provisioned in-tree PV (``aws://us-east-1b/vol-...``, no storage class) that no
  claim ever named.
- One on-demand shuffle claim per Spark executor (``<executor>-pvc-0``, mounted as ``spark-local-dir-1``; Spark
  deletes it with its executor, the StorageClass deletes the volume): provisioned 9 s before the executor starts,
  Released 4 s after it ends, gone 12 s later.
- A root volume per node (deleted with its instance), a 200 GiB scratch volume a platform engineer attached to
  ``ip-10-0-35-67`` and detached on 10-09 14:40:26 but never deleted, the bastion's root volume (no cluster tag),
  and the ml team's tagged volume (its CUR lines are ``generate.daily_lines``'; here only its EC2 view).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pyarrow as pa

from collectors import streams
from sample_data.month import (
    BASTION_INSTANCE_ID,
    CLUSTER,
    COLLECTED_AT,
    DAY,
    GIB,
    HOUR,
    OCTOBER,
    REGION,
    STILL_RUNNING,
    CurLine,
    Month,
    Node,
    Pod,
    cur_line,
    day_of,
    epoch,
    hex_id,
    rate_text,
    round10,
    snapshot,
    uuid_of,
)

GP3_USD_PER_GB_MONTH = 0.08
GP3_USD_PER_IOPS_MONTH = 0.005  # above the 3,000 included
GP3_USD_PER_MIBPS_MONTH = 0.04  # above the 125 MiB/s included
GP3_IOPS, GP3_MIBPS = 3000, 125
EBS_PRICES = (  # usage type, price, description (after the price)
    ("EBS:VolumeUsage.gp3", GP3_USD_PER_GB_MONTH, "per GB-month of General Purpose (gp3) provisioned storage"),
    ("EBS:VolumeP-IOPS.gp3", GP3_USD_PER_IOPS_MONTH, "per IOPS-month provisioned for General Purpose (gp3) above 3000"),
    ("EBS:VolumeP-Throughput.gp3", GP3_USD_PER_MIBPS_MONTH, "per MiBps-month of gp3 throughput above 125 MiBps"),
)
KSM_SCRAPES = (13, 43)  # kube-state-metrics is scraped every 30 s, at :13 and :43 of each minute
KSM_STEP = 30
EC2_SNAPSHOT_AT = 15 * 60 + 12  # the hourly collect (`15 * * * *`) reaches DescribeVolumes at :15:12
CLUSTER_TAG = {"eks_cluster_name": CLUSTER}  # the team's cost-allocation tag (activated: user_eks_cluster_name)
CUR_CLUSTER_TAG = {"user_eks_cluster_name": CLUSTER}


@dataclass(frozen=True)
class Attachment:
    instance_id: str
    start: int
    end: int  # STILL_RUNNING while still attached at the end of the month
    device: str = "/dev/xvdaa"
    delete_on_termination: bool = False


@dataclass(frozen=True)
class Volume:
    id: str
    size_gib: int
    zone: str
    created: int
    deleted: int  # STILL_RUNNING when it outlives the month
    attachments: tuple[Attachment, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)  # EC2's
    cur_tags: dict[str, str] = field(default_factory=dict)  # as the CUR shows them (activated keys only)
    iops: int = GP3_IOPS
    throughput_mibps: int = GP3_MIBPS
    billed: bool = True  # False: its CUR lines are written elsewhere (the ml team's tagged volume)

    def attached_at(self, t: int) -> list[Attachment]:
        return [a for a in self.attachments if a.start <= t < a.end]


@dataclass(frozen=True)
class Binding:
    start: int
    namespace: str | None  # the claimRef's (None: no claimRef)
    claim: str | None
    phase: str


@dataclass(frozen=True)
class PersistentVolume:
    name: str
    volume: Volume
    storage_class: str | None
    created: int
    deleted: int
    bindings: tuple[Binding, ...]

    def binding_at(self, t: int) -> Binding:
        return [b for b in self.bindings if b.start <= t][-1]


@dataclass(frozen=True)
class Claim:
    """A claim of a long-lived PV: who mounts it (a StatefulSet pod by name, else pods by app label)."""

    namespace: str
    name: str
    mounted_by: str
    volume_name: str
    size_gib: int
    created: str
    iops: int = GP3_IOPS
    throughput_mibps: int = GP3_MIBPS


CLAIMS = (
    Claim(
        "monitoring",
        "storage-volume-prometheus-server-0",
        "prometheus-server-0",
        "storage-volume",
        500,
        "2026-03-02 12:09:48",
        iops=6000,
        throughput_mibps=250,
    ),
    Claim("data-eng-airflow", "data-airflow-postgresql-0", "airflow-postgresql-0", "data", 50, "2026-05-20 08:51:02"),
    *(
        Claim("data-eng-airflow", f"logs-airflow-worker-{i}", f"airflow-worker-{i}", "logs", 50, created)
        for i, created in enumerate(
            ("2026-05-20 09:14:30", "2026-05-20 09:14:31", "2026-06-02 11:40:07", "2026-06-02 11:40:09")
        )
    ),
    Claim("feature-store", "redis-data-feature-redis-0", "feature-redis-0", "redis-data", 100, "2026-07-21 09:41:17"),
    Claim(
        "ml-training",
        "gpu-trainer-data",
        "gpu-trainer",
        "training-data",
        500,
        "2026-06-03 13:25:40",
        throughput_mibps=250,
    ),
    Claim("risk-reports", "report-archive", "report-builder", "archive", 100, "2026-08-11 11:30:09"),
    Claim("sandbox", "jupyter-alice-home", "jupyter-alice", "home", 50, "2026-08-12 15:02:51"),
)
NOTEBOOK_RELEASED = epoch("2026-10-24 18:31:10")  # the notebook's claim deleted; its PV (Retain) keeps the claimRef
NOTEBOOK_CLEARED = epoch("2026-10-27 10:20:00")  # the claimRef cleared to re-bind it
NOTEBOOK_REBOUND = (epoch("2026-10-27 10:52:30"), "data-eng-etl", "notebook-restore")
UNCLAIMED = ("ml-archive-0", 200, "us-east-1b", epoch("2026-09-29 16:40:00"))  # a static in-tree PV, never claimed
SHUFFLE_GIB = {"daily-sales-etl": 150, "hourly-ingest": 50, "feature-build": 200, "weekly-train": 200}
SHUFFLE_MIBPS = {"feature-build": 250, "weekly-train": 250}
ROOT_GIB = {"general": 50, "general-sp": 80, "spark-spot": 100, "memory": 80, "gpu": 200, "risk-dedicated": 50}
SCRATCH = ("gen-c", 200, epoch("2026-09-28 14:02:11"), epoch("2026-09-28 14:03:40"), epoch("2026-10-09 14:40:26"))
BASTION_ROOT = (30, "us-east-1a", epoch("2026-02-10 10:31:07"))


def _attachments(pods: list[Pod]) -> tuple[Attachment, ...]:
    """Attached 4 s before each pod starts and detached 3 s after it ends; a pod replaced on the same node within a
    minute keeps the attachment."""
    spans: list[list] = []
    for pod in sorted(pods, key=lambda p: p.start):
        start, end = pod.start - 4, pod.end if pod.end == STILL_RUNNING else pod.end + 3
        if spans and spans[-1][0] == pod.node.instance_id and start - spans[-1][2] < 60:
            spans[-1][2] = end
        else:
            spans.append([pod.node.instance_id, start, end])
    return tuple(Attachment(i, s, e) for i, s, e in spans)


def _csi_tags(pv: str, namespace: str, claim: str) -> dict[str, str]:
    """What the EBS CSI driver tags a volume it provisions (``--k8s-tag-cluster-id``, ``--extra-tags``), sorted."""
    return {
        "CSIVolumeName": pv,
        "KubernetesCluster": CLUSTER,
        "ebs.csi.aws.com/cluster": "true",
        "eks_cluster_name": CLUSTER,
        f"kubernetes.io/cluster/{CLUSTER}": "owned",
        "kubernetes.io/created-for/pv/name": pv,
        "kubernetes.io/created-for/pvc/name": claim,
        "kubernetes.io/created-for/pvc/namespace": namespace,
    }


def _claimed_pv(claim: Claim, pods: list[Pod], zones: dict[str, str]) -> PersistentVolume:
    """``zones``: the volume's zone where no pod mounts it in the month (a history month's, from October's pods)."""
    mounting = [p for p in pods if p.namespace == claim.namespace and claim.mounted_by in (p.name, p.labels["app"])]
    created = epoch(claim.created)
    name = "pvc-" + uuid_of(f"pvc/{claim.namespace}/{claim.name}")
    bindings = [Binding(created, claim.namespace, claim.name, "Bound")]
    if claim.name == "jupyter-alice-home":
        at, namespace, rebound = NOTEBOOK_REBOUND
        bindings += [
            Binding(NOTEBOOK_RELEASED, claim.namespace, claim.name, "Released"),
            Binding(NOTEBOOK_CLEARED, None, None, "Available"),
            Binding(at, namespace, rebound, "Bound"),
        ]
    volume = Volume(
        hex_id("vol-", f"pv/{name}"),
        claim.size_gib,
        mounting[0].node.zone if mounting else zones[claim.name],
        created - 3,
        STILL_RUNNING,
        _attachments(mounting),
        _csi_tags(name, claim.namespace, claim.name),
        CUR_CLUSTER_TAG,
        claim.iops,
        claim.throughput_mibps,
    )
    return PersistentVolume(name, volume, "gp3", created, STILL_RUNNING, tuple(bindings))


def _shuffle_pv(executor: Pod) -> PersistentVolume:
    """Spark's on-demand claim of one executor: provisioned as it is scheduled, deleted with it."""
    claim, app = f"{executor.name}-pvc-0", executor.labels["app"]
    name = "pvc-" + uuid_of(f"pvc/{executor.uid}")
    created, released = executor.start - 9, executor.end + 4
    volume = Volume(
        hex_id("vol-", f"pv/{name}"),
        SHUFFLE_GIB[app],
        executor.node.zone,
        created - 3,
        released + 10,
        (Attachment(executor.node.instance_id, executor.start - 4, executor.end + 2),),
        _csi_tags(name, executor.namespace, claim),
        CUR_CLUSTER_TAG,
        throughput_mibps=SHUFFLE_MIBPS.get(app, GP3_MIBPS),
    )
    bindings = (
        Binding(created, executor.namespace, claim, "Bound"),
        Binding(released, executor.namespace, claim, "Released"),
    )
    return PersistentVolume(name, volume, "gp3", created, released + 12, bindings)


def _root_volume(node: Node) -> Volume:
    created = node.start - 75  # the instance boots before its node registers
    deleted = STILL_RUNNING if node.end == STILL_RUNNING else node.end + 40
    tags = {
        "Name": f"{CLUSTER}-{node.nodegroup}",
        "eks:cluster-name": CLUSTER,
        "eks:nodegroup-name": node.nodegroup,
        **CLUSTER_TAG,
    }
    cur_tags = dict(CUR_CLUSTER_TAG)
    if node.tenant:  # the launch template tags the dedicated node group's instances and volumes alike
        tags["tenant"], cur_tags["user_tenant"] = node.tenant, node.tenant
    attachment = Attachment(node.instance_id, created, deleted, "/dev/xvda", delete_on_termination=True)
    volume_id, size = hex_id("vol-", f"root/{node.instance_id}"), ROOT_GIB[node.nodegroup]
    return Volume(volume_id, size, node.zone, created, deleted, (attachment,), dict(sorted(tags.items())), cur_tags)


def _other_volumes(nodes: dict[str, Node], tagged: tuple[str, int]) -> list[Volume]:
    """The detached scratch volume, the bastion's root volume, and the ml team's tagged volume (``tagged``: id, GiB)."""
    key, gib, created, attached, detached = SCRATCH
    node = nodes[key]
    tags = {"Name": f"{node.name.split('.')[0]}-migration-scratch", **CLUSTER_TAG}
    attachment = Attachment(node.instance_id, attached, detached, "/dev/xvdf")
    scratch = Volume(hex_id("vol-", "scratch/migration"), gib, node.zone, created, STILL_RUNNING, (attachment,), tags,
                     CUR_CLUSTER_TAG)  # fmt: skip
    gib, zone, created = BASTION_ROOT
    attachment = Attachment(BASTION_INSTANCE_ID, created, STILL_RUNNING, "/dev/xvda", True)
    bastion = Volume(
        hex_id("vol-", "root/bastion"), gib, zone, created, STILL_RUNNING, (attachment,), {"Name": "bastion"}
    )
    volume_id, gib = tagged
    tags = {"Name": "ml-feature-cache", "tenant": "ml", **CLUSTER_TAG}
    cache = Volume(volume_id, gib, "us-east-1a", epoch("2026-08-04 10:12:45"), STILL_RUNNING, (), tags, billed=False)
    return [scratch, bastion, cache]


class Storage:
    """The month's volumes and PersistentVolumes, and the raw tables and CUR lines they make."""

    def __init__(
        self,
        nodes: dict[str, Node],
        pods: list[Pod],
        tagged: tuple[str, int],
        month: Month = OCTOBER,
        zones: dict[str, str] | None = None,
    ):
        """``tagged``: the ml team's tagged volume (id, GiB), billed by ``generate.daily_lines``; ``zones``: claim ->
        zone of the claims no pod of ``pods`` mounts (a history month's)."""
        self.month = month
        self.mounts: dict[str, tuple[str, str]] = {}  # pod uid -> (volume name in its spec, claim)
        self.pvs = [_claimed_pv(c, pods, zones or {}) for c in CLAIMS]
        for c in CLAIMS:
            for p in pods:
                if p.namespace == c.namespace and c.mounted_by in (p.name, p.labels["app"]):
                    self.mounts[p.uid] = (c.volume_name, c.name)
        for p in pods:
            if p.labels.get("spark-role") == "executor":
                self.pvs.append(_shuffle_pv(p))
                self.mounts[p.uid] = ("spark-local-dir-1", f"{p.name}-pvc-0")
        name, size, zone, created = UNCLAIMED
        archive = Volume(hex_id("vol-", f"pv/{name}"), size, zone, created - 60, STILL_RUNNING, (),
                         {"Name": name, **CLUSTER_TAG}, CUR_CLUSTER_TAG)  # fmt: skip
        never = (Binding(created, None, None, "Available"),)
        self.pvs.append(PersistentVolume(name, archive, None, created, STILL_RUNNING, never))
        self.volumes = [pv.volume for pv in self.pvs] + [_root_volume(n) for n in nodes.values()]
        self.volumes += _other_volumes(nodes, tagged)

    # --- kube-state-metrics -----------------------------------------------------------------------------------

    def pv_hours_table(self) -> pa.Table:
        """``prometheus/persistent_volume_hours``: per PV-hour, the seconds its claimRef named each claim (30 s a
        scrape; none: a row with a null claim), the phase seen longest, when each claim was last seen."""
        rows = []
        for pv in sorted(self.pvs, key=lambda p: p.name):
            first, last = max(pv.created, self.month.start), min(pv.deleted, self.month.end)
            for hour in range(first - first % HOUR, last, HOUR):
                rows += self._pv_hour(pv, hour)
        return pa.Table.from_pylist(rows, schema=streams.PERSISTENT_VOLUME_HOURS.schema)

    @staticmethod
    def _pv_hour(pv: PersistentVolume, hour: int) -> list[dict]:
        claims: dict[tuple[str, str] | None, int] = defaultdict(int)
        phases: dict[str, int] = defaultdict(int)
        seen: dict[tuple[str, str] | None, int] = {}
        changes = [b.start for b in pv.bindings] + [pv.created, pv.deleted]
        if any(hour < t < hour + HOUR for t in changes) or not pv.created <= hour < hour + HOUR <= pv.deleted:
            scrapes = [hour + minute * 60 + s for minute in range(60) for s in KSM_SCRAPES]
        else:  # one binding all hour: every scrape sees the same
            scrapes = [hour + HOUR - KSM_STEP + KSM_SCRAPES[1] - 30]
        weight = KSM_STEP if len(scrapes) > 1 else HOUR
        for t in scrapes:
            if pv.created <= t < pv.deleted:
                binding = pv.binding_at(t)
                key = (binding.namespace, binding.claim) if binding.claim else None
                claims[key] += weight
                phases[binding.phase] += weight
                seen[key] = t
        existed = sum(claims.values())
        named = sorted((k, v) for k, v in claims.items() if k is not None)
        entries: list[tuple[tuple[str, str] | None, int]] = list(named)
        if existed - sum(v for _, v in named) > 0 or not named:
            entries.append((None, existed - sum(v for _, v in named)))
        phase = max(phases.items(), key=lambda item: (item[1], item[0]))[0]
        common = {
            "cluster": CLUSTER,
            "persistent_volume": pv.name,
            "hour": hour * 1_000_000,
            "volume_handle": pv.volume.id,
            "storage_class": pv.storage_class,
            "capacity_bytes": float(pv.volume.size_gib * GIB),
            "phase": phase,
        }
        return [
            common
            | {
                "claim_namespace": claim[0] if claim else None,
                "claim_name": claim[1] if claim else None,
                "claim_seconds": float(seconds),
                "claim_last_seen": seen[claim] * 1_000_000 if claim else None,
            }
            for claim, seconds in entries
        ]

    def pod_claims_table(self, pods: list[Pod]) -> pa.Table:
        """``prometheus/pod_volume_claims``: each pod that mounts a claim, once per UTC day it ran."""
        rows = []
        for pod in pods:
            if pod.uid not in self.mounts:
                continue
            volume, claim = self.mounts[pod.uid]
            lo, hi = max(pod.start, self.month.start), min(pod.end, self.month.end)
            for day in range(lo - lo % DAY, hi, DAY):
                rows.append((day_of(day), pod.namespace, pod.name, pod.uid, volume, claim))
        return pa.Table.from_pylist(
            [
                {
                    "cluster": CLUSTER,
                    "date": d,
                    "namespace": ns,
                    "pod": name,
                    "pod_uid": uid,
                    "volume": volume,
                    "claim": claim,
                    "read_only": False,
                }
                for d, ns, name, uid, volume, claim in sorted(rows)
            ],
            schema=streams.POD_VOLUME_CLAIMS.schema,
        )

    # --- snapshots --------------------------------------------------------------------------------------------

    def k8s_table(self) -> pa.Table:
        """``kubernetes/persistent_volumes``: the API's PersistentVolumes at the last collection."""
        rows = []
        for pv in sorted(self.pvs, key=lambda p: p.name):
            if pv.created <= COLLECTED_AT < pv.deleted:
                binding = pv.binding_at(COLLECTED_AT)
                rows.append(
                    {
                        "persistent_volume": pv.name,
                        "volume_handle": pv.volume.id,
                        "storage_class": pv.storage_class,
                        "capacity_bytes": float(pv.volume.size_gib * GIB),
                        "phase": binding.phase,
                        "claim_namespace": binding.namespace,
                        "claim_name": binding.claim,
                        "created_at": pv.created * 1_000_000,
                    }
                )
        return snapshot(streams.K8S_PERSISTENT_VOLUMES, rows)

    def ec2_table(self) -> pa.Table:
        """``ec2/volumes``: every volume DescribeVolumes shows at each hourly collect, a row per attachment."""
        rows = []
        volumes = sorted(self.volumes, key=lambda v: v.id)
        for hour in range(self.month.start, self.month.end, HOUR):
            t = hour + EC2_SNAPSHOT_AT
            for v in volumes:
                if not v.created <= t < v.deleted:
                    continue
                attached = v.attached_at(t)
                common = {
                    "collected_at": t * 1_000_000,
                    "region": REGION,
                    "volume_id": v.id,
                    "volume_type": "gp3",
                    "size_gib": float(v.size_gib),
                    "iops": float(v.iops),
                    "throughput_mibps": float(v.throughput_mibps),
                    "state": "in-use" if attached else "available",
                    "availability_zone": v.zone,
                    "created_at": v.created * 1_000_000,
                    "tags": v.tags,
                }
                for a in attached or [None]:
                    rows.append(
                        common
                        | {
                            "instance_id": a.instance_id if a else None,
                            "device": a.device if a else None,
                            "attachment_state": "attached" if a else None,
                            "attached_at": a.start * 1_000_000 if a else None,
                            "delete_on_termination": a.delete_on_termination if a else None,
                        }
                    )
        return pa.Table.from_pylist(rows, schema=streams.EC2_VOLUMES.schema)

    # --- the CUR ----------------------------------------------------------------------------------------------

    def cur_lines(self) -> list[CurLine]:
        """Daily EBS lines per volume: storage, and provisioned IOPS and throughput above gp3's included."""
        lines = []
        product = {"product_name": "Amazon Elastic Compute Cloud", "servicecode": "AmazonEC2", "volume_api_name": "gp3"}
        for v in self.volumes:
            if not v.billed:
                continue
            for day in range(self.month.start, self.month.end, DAY):
                seconds = min(v.deleted, day + DAY) - max(v.created, day)
                if seconds <= 0:
                    continue
                share = seconds / self.month.seconds
                provisioned = (v.size_gib, v.iops - GP3_IOPS, v.throughput_mibps - GP3_MIBPS)
                for (usage_type, rate, text), quantity in zip(EBS_PRICES, provisioned, strict=True):
                    if quantity <= 0:
                        continue
                    amount = round10(quantity * share)
                    lines.append(
                        cur_line(
                            "Usage",
                            day,
                            day + DAY,
                            "AmazonEC2",
                            usage_type,
                            "CreateVolume-Gp3",
                            v.id,
                            amount,
                            rate,
                            round10(amount * rate),
                            f"${rate_text(rate)} {text}",
                            product=product,
                            tags=v.cur_tags,
                        )
                    )
        return lines
