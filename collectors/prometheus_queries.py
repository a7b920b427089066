"""The Prometheus collector's PromQL, and the map from kube-state-metrics' label names back to Kubernetes keys.

Every query is a named constant with the reason for its shape; ``promql()`` fills in the scrape interval.
Nothing here sends a query (``collectors.prometheus_http``) or reshapes an answer (``collectors.prometheus``).

How an hour is measured
    Every query is evaluated at the end ``T`` of an hour ``[H, T)`` over the samples in ``(T - 1h, T]``
    (ranges of one hour less a millisecond, so a sample on the hour falls in exactly one hour, under
    Prometheus 2's closed and 3's left-open ranges alike). A sample stands for the scrape interval before
    it (``step_seconds``, which must be the scrape interval of these series). Queries read raw samples
    through range selectors, never instant selectors inside subqueries, so they do not depend on
    staleness markers (backfilled data has none, and a lookback of 5 minutes would otherwise add up to 5
    minutes to every pod that ended); the two edge queries use instant selectors only at the hour's end and
    keep a sample only if it lies in the interval they ask about.

    - running seconds: Running-phase scrapes of ``kube_pod_status_phase`` x the scrape interval, then kept
      inside the pod's life by ``collectors.prometheus_boundaries`` (split at the hour, cut at the start,
      ended at the completion) from the Running scrapes next to the hour's boundaries
      (``POD_RUNNING_EDGES``) and the start and completion times; node seconds alike (``NODE_EDGES``,
      ``kube_node_created``);
    - requests: each regular container's mean request in the hour, summed over containers, times the
      running seconds (a Pending or Succeeded pod still exports requests; init containers are ignored);
    - CPU: the sum of the counter's increments between consecutive scrapes (a reset counts the value after
      it, like ``increase``, but without extrapolation), plus the first increment once more for the
      interval before a series' first scrape, so a series with N scrapes covers N intervals like the
      running seconds do. A 90-second Spark executor has three scrapes and keeps its usage;
    - memory: working-set scrapes x the scrape interval;
    - network bytes: the increments of cAdvisor's receive and transmit counters of the pod's own network
      namespace, summed like CPU (reset-safe, the first increment counted once more), one counter per
      interface (see ``NETWORK_RECEIVE_SERIES``), then summed over interfaces;
    - PersistentVolumes: scrapes x the scrape interval of each PV's claimRef (and of its absence), the
      phase in force longest and the mean capacity; pods' claims per chunk of hours.

    Each usage estimate is off by less than one scrape interval's worth per pod lifetime; running time is
    exact for a pod seen Running at every scrape until its completion. On synthetic series with exact
    integrals at a 30 s scrape interval (``tests/test_collect_prometheus.py``) the running and reserved
    totals are within 0.001% (GPU-hours exact), used core- and GiB-hours within 0.03%, every pod of 5
    minutes or more within 0.5%, a 61-second pod within 2% (their memory), every pod-hour inside the pod's
    life. ``increase()`` loses 29% of a 90-second executor's CPU and the often-quoted ``rate()[1m]``
    subquery 17%. Network bytes, counted the same way: received and sent totals within 0.07%, long-running
    pods within 0.07%, every pod of 5 minutes or more within 3% (the least regular traffic at its edges),
    PV-hours' claim seconds exact where claims change between scrapes.

    Series that follow each other (a restarted kube-state-metrics has a new ``instance``) are added up;
    duplicate scrapes of one object are not expected (kube-state-metrics runs once or sharded; use a
    deduplicating Thanos or Mimir in front of HA Prometheus pairs); running seconds are capped at the hour.


Labels
    kube-state-metrics exports Kubernetes labels as ``label_<key>`` with every character outside
    ``[a-zA-Z0-9_]`` replaced by ``_``, and only the keys its ``--metric-labels-allowlist`` names. The
    collector strips ``label_`` and maps the sanitized key back to the original for the keys in
    ``WELL_KNOWN_LABEL_KEYS`` plus the ones passed as ``label_keys`` (the configured tenant labels); a
    simple key such as ``tenant`` is its own sanitized form; any other key stays sanitized
    (``app_kubernetes_io_name``). The allowlist must include at least::

        --metric-labels-allowlist=pods=[spark-role,spark-app-name,spark-app-selector,
            emr-containers.amazonaws.com/job.id,emr-containers.amazonaws.com/virtual-cluster-id],
          namespaces=[tenant],
          nodes=[node.kubernetes.io/instance-type,eks.amazonaws.com/nodegroup,
            eks.amazonaws.com/capacityType,chargeback.io/tenant]

    (with the configured ``tenancy.namespace_label`` and ``tenancy.node_label`` in place of ``tenant`` and
    ``chargeback.io/tenant``). Where kube-state-metrics (or a relabelling, or a remote-write filter) keeps only
    an allowlist of metrics, it must keep every series of ``METRICS``; ``deploy/kube-state-metrics/values.yaml``
    carries both lists.
"""

from __future__ import annotations

from collections.abc import Iterable

# --- PromQL ---------------------------------------------------------------------------------------
# Placeholders, filled by ``promql()``: <hour> one hour less a millisecond; <span> a chunk less a
# millisecond; <step> the scrape interval (as a duration and, <seconds>, as a number); <pair> two scrape
# intervals less a millisecond; <gap> one less a millisecond; <back> two scrape intervals.

# Regular containers only: "" is the pod's own cgroup (the sum of its containers), "POD" the pause container.
CPU_SERIES = 'container_cpu_usage_seconds_total{container!="", container!="POD"}'
MEMORY_SERIES = 'container_memory_working_set_bytes{container!="", container!="POD"}'
# cAdvisor has no pod uid label; the cgroup path in ``id`` holds it (cgroupfs: pod<uid>, systemd: pod<uid with _>).
UID_FROM_CGROUP = (
    '"uid", "$1-$2-$3-$4-$5", "id",'
    ' ".*pod([0-9a-f]{8})[-_]([0-9a-f]{4})[-_]([0-9a-f]{4})[-_]([0-9a-f]{4})[-_]([0-9a-f]{12}).*"'
)

RUNNING = 'kube_pod_status_phase{phase="Running"}'

# Running seconds as sampled: the Running phase series is 1 while the pod runs, 0 otherwise, so the sum of
# its raw samples counts running scrapes. Summed over series: a restarted kube-state-metrics (a new instance
# label) starts new series that follow the old ones; clamped to the hour against duplicate scrapes. The
# collector then splits the boundary intervals between hours and clips to the pod's life
# (collectors/prometheus_boundaries.py) with the two queries below and the start and completion times.
POD_RUNNING_SECONDS = f"clamp_max(sum by (namespace, pod, uid) (sum_over_time({RUNNING}[<hour>])) * <seconds>, 3600)"

# The Running scrapes next to the hour's boundaries, as their timestamps: "last" the one in the hour's last
# scrape interval (T - step, T], "before" the one in the interval before the hour (H - step, H]. Instant
# selectors at the hour's end (and an hour earlier), kept only if that scrape is inside the interval, so the
# lookback never lends a finished pod's old scrape (backfilled data has no staleness markers). Two cheap
# lookups per pod and hour: a per-scrape subquery (timestamp() at every step) would cost 50 times more.
POD_RUNNING_EDGES = (
    f"label_replace(max by (namespace, pod, uid) (timestamp({RUNNING}) * ({RUNNING} == bool 1) > time() - <seconds>),"
    ' "edge", "last", "", "")'
    f" or label_replace(max by (namespace, pod, uid) (timestamp({RUNNING} offset 1h)"
    f' * ({RUNNING} offset 1h == bool 1) > time() - 3600 - <seconds>), "edge", "before", "", "")'
)

# The node of a pod uid (a rescheduled pod is a new uid); counted so the label set seen longest wins.
POD_NODE = 'max by (namespace, pod, uid, node) (count_over_time(kube_pod_info{node!=""}[<hour>]))'

# Requests per pod and resource: each container's mean over its samples in the hour, summed over the
# pod's regular containers (init containers have their own metric); max by container removes duplicate
# scrapes. The mean is multiplied by the running seconds here in Python: requests are exported while the
# pod is Pending or Succeeded too, and reserve nothing then.
POD_REQUESTS = (
    "sum by (namespace, pod, uid, resource) (max by (namespace, pod, uid, container, resource) ("
    'avg_over_time(kube_pod_container_resource_requests{resource=~"cpu|memory|nvidia_com_gpu|amd_com_gpu"}[<hour>])'
    "))"
)

# CPU core-seconds: irate over a window of two scrapes less a millisecond holds exactly the latest pair of
# samples, so summing it at every scrape step adds each increment once (a reset counts the value after
# it) without increase()'s extrapolation, which loses most of a 90-second pod. The first pair of a series
# (no sample the interval before it) counts twice: it stands for the interval before the first scrape
# too, so N scrapes cover N intervals like the running seconds (a single missed scrape is filled alike).
# The counter's first value is not used: it holds all usage since the container began, maybe days ago.
POD_CPU_CORE_SECONDS = (
    "sum by (namespace, pod, uid) (label_replace(sum_over_time(("
    f"(irate({CPU_SERIES}[<pair>]) unless count_over_time({CPU_SERIES}[<gap>] offset <back>)) * 2"
    f" or irate({CPU_SERIES}[<pair>])"
    f")[<hour>:<step>]) * <seconds>, {UID_FROM_CGROUP}))"
)

# Working-set byte-seconds: each raw sample stands for one scrape interval.
POD_MEMORY_BYTE_SECONDS = (
    "sum by (namespace, pod, uid) (label_replace("
    + f"sum_over_time({MEMORY_SERIES}[<hour>]) * <seconds>, {UID_FROM_CGROUP}"
    + "))"
)

# Seconds each namespace label set was in force: a relabelled namespace is a new series, so each series'
# scrapes x interval; the collector adds up series with the same label_* labels (a restarted
# kube-state-metrics) and keeps at most the hour.
NAMESPACE_LABEL_SECONDS = "count_over_time(kube_namespace_labels[<hour>]) * <seconds>"

# Seconds the node object existed, per provider id (aws:///<zone>/<instance-id> joins the CUR): scrapes of
# kube_node_info x interval, summed over series (its labels change on a kubelet upgrade or a restart of
# kube-state-metrics), clamped to the hour against duplicate scrapes.
NODE_SECONDS = "clamp_max(sum by (node, provider_id) (count_over_time(kube_node_info[<hour>])) * <seconds>, 3600)"

# The node's scrapes next to the hour's boundaries (as for pods: "last" in (T - step, T], "before" in
# (H - step, H]), to split boundary intervals between hours and clip to the node's life.
NODE_EDGES = (
    'label_replace(max by (node) (timestamp(kube_node_info) > time() - <seconds>), "edge", "last", "", "")'
    " or label_replace(max by (node) (timestamp(kube_node_info offset 1h) > time() - 3600 - <seconds>),"
    ' "edge", "before", "", "")'
)

# Node capacity (cores, bytes, GPUs) as a mean over the hour; it only changes if the node is replaced.
NODE_CAPACITY = (
    "max by (node, resource) ("
    'avg_over_time(kube_node_status_capacity{resource=~"cpu|memory|nvidia_com_gpu|amd_com_gpu"}[<hour>]))'
)

# Seconds each node label set was in force; the collector keeps the set in force longest in the hour.
NODE_LABEL_SECONDS = "count_over_time(kube_node_labels[<hour>]) * <seconds>"

# Pods seen in a chunk, with the owner kube_pod_info names ("<none>" when it has none) and whether the pod
# uses the node's network namespace (host_network, kube-state-metrics 2.0 and later): its counters are the host's.
POD_INFO = (
    "max by (namespace, pod, uid, node, created_by_kind, created_by_name, host_network)"
    " (count_over_time(kube_pod_info[<span>]))"
)

# Pod labels in the chunk; counted so the label set seen longest wins if they changed.
POD_LABELS = "count_over_time(kube_pod_labels[<span>])"

# Unix seconds the pod started / its containers completed (the latter only once they all have).
POD_START_TIME = "max by (namespace, pod, uid) (max_over_time(kube_pod_start_time[<span>]))"
POD_COMPLETION_TIME = "max by (namespace, pod, uid) (max_over_time(kube_pod_completion_time[<span>]))"

# Unix seconds the node object was created (kubelet registration): no node time before it.
NODE_CREATED = "max by (node) (max_over_time(kube_node_created[<span>]))"

# --- the owners of pods' owners ------------------------------------------------------------------
# The ownerReferences of the ReplicaSets and Jobs that own a pod seen in the chunk (kube_pod_info's
# created_by_name), each with its controller flag: every series of the object, kept by the collector only where
# owner_is_controller="true" (an object with none has no controlling owner: kube-state-metrics before 2.8 writes
# "<none>" in all three labels, later ones leave them empty). Joined to the pods so that the old ReplicaSets a
# Deployment keeps (ten by default) and finished Jobs cost nothing; counted so the owner seen longest wins.
REPLICASET_OWNERS = (
    "max by (namespace, replicaset, owner_kind, owner_name, owner_is_controller)"
    " (count_over_time(kube_replicaset_owner[<span>]))"
    " and on (namespace, replicaset) label_replace(max by (namespace, created_by_name)"
    ' (count_over_time(kube_pod_info{created_by_kind="ReplicaSet"}[<span>])), "replicaset", "$1", "created_by_name",'
    ' "(.+)")'
)
JOB_OWNERS = (
    "max by (namespace, job_name, owner_kind, owner_name, owner_is_controller)"
    " (count_over_time(kube_job_owner[<span>]))"
    " and on (namespace, job_name) label_replace(max by (namespace, created_by_name)"
    ' (count_over_time(kube_pod_info{created_by_kind="Job"}[<span>])), "job_name", "$1", "created_by_name", "(.+)")'
)

# --- network bytes -------------------------------------------------------------------------------
# The pod's own network namespace. cAdvisor reports it on the series of the cgroup that holds it: the pause
# (sandbox) container, ``container=""`` with the pause image under containerd (EKS), ``container="POD"`` under
# Docker and CRI-O, and on kubelets that report it there, the pod-level cgroup (``container=""``, no image).
# Never the node's root cgroup (``pod=""``). A regular container has no network series of its own.
NETWORK_RECEIVE_SERIES = 'container_network_receive_bytes_total{container=~"|POD", pod!=""}'
NETWORK_TRANSMIT_SERIES = 'container_network_transmit_bytes_total{container=~"|POD", pod!=""}'


def _network_bytes(series: str) -> str:
    """Bytes per pod and hour: each series' increments summed as for CPU (reset-safe, no extrapolation, the
    first increment counted once more), then one counter per pod and interface (``max``: where both the pod's
    cgroup and its sandbox report the namespace, the same bytes show twice), then summed over interfaces."""
    return (
        "sum by (namespace, pod, uid) (max by (namespace, pod, uid, interface) (label_replace(sum_over_time(("
        f"(irate({series}[<pair>]) unless count_over_time({series}[<gap>] offset <back>)) * 2"
        f" or irate({series}[<pair>])"
        f")[<hour>:<step>]) * <seconds>, {UID_FROM_CGROUP})))"
    )


POD_NETWORK_RECEIVE_BYTES = _network_bytes(NETWORK_RECEIVE_SERIES)
POD_NETWORK_TRANSMIT_BYTES = _network_bytes(NETWORK_TRANSMIT_SERIES)

# --- PersistentVolumes and the claims pods mount ------------------------------------------------
# Seconds each PV existed, per label set of kube_persistentvolume_info: the EBS volume id is the CSI volume
# handle (csi_volume_handle, kube-state-metrics 2.5 and later), else the in-tree volume id (ebs_volume_id,
# also on PVs the CSI migration serves). Summed over series (a restarted kube-state-metrics); the collector
# keeps at most the hour and the label set seen longest.
PV_SECONDS = (
    "sum by (persistentvolume, storageclass, csi_volume_handle, ebs_volume_id)"
    " (count_over_time(kube_persistentvolume_info[<hour>])) * <seconds>"
)

# Seconds the PV's claimRef named each claim (namespace, name): a PV released and bound again has two.
PV_CLAIM_SECONDS = (
    "clamp_max(sum by (persistentvolume, claim_namespace, name)"
    " (count_over_time(kube_persistentvolume_claim_ref[<hour>])) * <seconds>, 3600)"
)

# When the claimRef last named each claim in the hour (unix seconds), for the tie of two claims bound equally
# long (the later binding wins). timestamp() gives a sample's own time, so the lookback of the subquery's
# instant selector never moves it; a sample before the hour (lent by the lookback) is dropped by the collector.
PV_CLAIM_LAST_SEEN = (
    "max by (persistentvolume, claim_namespace, name)"
    " (max_over_time(timestamp(kube_persistentvolume_claim_ref)[<hour>:<step>]))"
)

# Seconds in each phase (the phase series is 1 for the current phase, 0 for the others): the collector keeps
# the phase in force longest.
PV_PHASE_SECONDS = (
    "sum by (persistentvolume, phase) (sum_over_time(kube_persistentvolume_status_phase[<hour>])) * <seconds>"
)

# The PV's capacity (bytes) as a mean over the hour: an expanded volume bills its new size from then on.
PV_CAPACITY = "max by (persistentvolume) (avg_over_time(kube_persistentvolume_capacity_bytes[<hour>]))"

# The claims each pod mounts (the claim's name as the pod spec gives it), seen in the chunk, and whether read-only.
POD_CLAIMS = (
    "max by (namespace, pod, uid, volume, persistentvolumeclaim)"
    " (count_over_time(kube_pod_spec_volumes_persistentvolumeclaims_info[<span>]))"
)
POD_CLAIMS_READ_ONLY = (
    "max by (namespace, pod, uid, volume, persistentvolumeclaim)"
    " (max_over_time(kube_pod_spec_volumes_persistentvolumeclaims_readonly[<span>]))"
)

HOURLY_QUERIES: dict[str, str] = {
    "pod_running_seconds": POD_RUNNING_SECONDS,
    "pod_running_edges": POD_RUNNING_EDGES,
    "pod_node": POD_NODE,
    "pod_requests": POD_REQUESTS,
    "pod_cpu_core_seconds": POD_CPU_CORE_SECONDS,
    "pod_memory_byte_seconds": POD_MEMORY_BYTE_SECONDS,
    "namespace_label_seconds": NAMESPACE_LABEL_SECONDS,
    "node_seconds": NODE_SECONDS,
    "node_edges": NODE_EDGES,
    "node_capacity": NODE_CAPACITY,
    "node_label_seconds": NODE_LABEL_SECONDS,
    "pod_network_receive_bytes": POD_NETWORK_RECEIVE_BYTES,
    "pod_network_transmit_bytes": POD_NETWORK_TRANSMIT_BYTES,
    "pv_seconds": PV_SECONDS,
    "pv_claim_seconds": PV_CLAIM_SECONDS,
    "pv_claim_last_seen": PV_CLAIM_LAST_SEEN,
    "pv_phase_seconds": PV_PHASE_SECONDS,
    "pv_capacity": PV_CAPACITY,
}
CHUNK_QUERIES: dict[str, str] = {
    "pod_info": POD_INFO,
    "pod_labels": POD_LABELS,
    "pod_start_time": POD_START_TIME,
    "pod_completion_time": POD_COMPLETION_TIME,
    "node_created": NODE_CREATED,
    "pod_claims": POD_CLAIMS,
    "pod_claims_read_only": POD_CLAIMS_READ_ONLY,
    "replicaset_owners": REPLICASET_OWNERS,
    "job_owners": JOB_OWNERS,
}
# A completion is first seen at the scrape after it: one in a chunk's last interval is reported only after the
# chunk ends. These chunk queries are evaluated this many scrape intervals later, over a span as much longer.
LOOK_AHEAD_INTERVALS: dict[str, int] = {"pod_completion_time": 2}


# Every series the queries read (tests/test_deploy.py checks this against the queries and the deploy allowlist).
METRICS: tuple[str, ...] = (
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    "container_network_receive_bytes_total",
    "container_network_transmit_bytes_total",
    "kube_job_owner",
    "kube_namespace_labels",
    "kube_node_created",
    "kube_node_info",
    "kube_node_labels",
    "kube_node_status_capacity",
    "kube_persistentvolume_capacity_bytes",
    "kube_persistentvolume_claim_ref",
    "kube_persistentvolume_info",
    "kube_persistentvolume_status_phase",
    "kube_pod_completion_time",
    "kube_pod_container_resource_requests",
    "kube_pod_info",
    "kube_pod_labels",
    "kube_pod_spec_volumes_persistentvolumeclaims_info",
    "kube_pod_spec_volumes_persistentvolumeclaims_readonly",
    "kube_pod_start_time",
    "kube_pod_status_phase",
    "kube_replicaset_owner",
)


def duration(seconds: float) -> str:
    """A PromQL duration in whole milliseconds."""
    return f"{round(seconds * 1000)}ms"


def promql(template: str, step_seconds: int, span_seconds: float = 3600) -> str:
    """Fill a query template's placeholders for a scrape interval (and a chunk span)."""
    values = {
        "<hour>": duration(3600 - 0.001),
        "<span>": duration(span_seconds - 0.001),
        "<step>": duration(step_seconds),
        "<seconds>": str(step_seconds),
        "<pair>": duration(2 * step_seconds - 0.001),
        "<gap>": duration(step_seconds - 0.001),
        "<back>": duration(2 * step_seconds),
    }
    for name, value in values.items():
        template = template.replace(name, value)
    return template


# --- labels ---------------------------------------------------------------------------------------

# Keys the models and dashboards read, mapped back from kube-state-metrics' sanitized names.
WELL_KNOWN_LABEL_KEYS: tuple[str, ...] = (
    "emr-containers.amazonaws.com/job.id",
    "emr-containers.amazonaws.com/virtual-cluster-id",
    "emr-containers.amazonaws.com/resource.type",
    "emr-containers.amazonaws.com/component",
    "spark-role",
    "spark-app-name",
    "spark-app-selector",
    "spark-exec-id",
    "spark-version",
    "app",
    "k8s-app",
    "job-name",
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "kubernetes.io/metadata.name",
    "kubernetes.io/hostname",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "node.kubernetes.io/instance-type",
    "beta.kubernetes.io/instance-type",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "eks.amazonaws.com/nodegroup",
    "eks.amazonaws.com/capacityType",
    "eks.amazonaws.com/compute-type",
    "karpenter.sh/nodepool",
    "karpenter.sh/provisioner-name",
    "karpenter.sh/capacity-type",
    "chargeback.io/tenant",
)
INSTANCE_TYPE_KEYS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")


def sanitize(key: str) -> str:
    """kube-state-metrics' label name for a Kubernetes label key, without its ``label_`` prefix."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_" for ch in key)


def label_key_map(extra_keys: Iterable[str] = ()) -> dict[str, str]:
    """Sanitized key -> original key for the well-known keys and ``extra_keys`` (first one wins)."""
    mapping: dict[str, str] = {}
    for key in (*extra_keys, *WELL_KNOWN_LABEL_KEYS):
        mapping.setdefault(sanitize(key), key)
    return mapping


def original_labels(metric: dict[str, str], key_map: dict[str, str]) -> dict[str, str]:
    """The Kubernetes labels of a kube-state-metrics ``*_labels`` series, under their original keys."""
    labels = {}
    for name, value in metric.items():
        if name.startswith("label_") and value != "":
            key = name.removeprefix("label_")
            labels[key_map.get(key, key)] = value
    return labels
