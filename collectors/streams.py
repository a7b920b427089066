"""What the sources emit: one Arrow schema per stream, the only place a raw column is declared.

A stream is one kind of row a source yields (``prometheus/pod_hours``, ``cur/line_items``); its schema names
every column with its unit (raw streams keep the source's units, seconds and bytes; staging models convert
to hours and GiB) and says which columns may be null. Timestamps are UTC, microsecond precision,
timezone-aware. Where and how a stream lands (partitioned by day or by billing period) is the raw-table
contract's business (``chargeback.raw.tables``); ``Stream.conform`` (``collectors.stream``) is the check every
batch passes before it lands.
"""

from __future__ import annotations

import pyarrow as pa

from collectors.stream import LABELS, TS, Stream, schema_of

__all__ = ["LABELS", "TS", "Stream"]  # re-exported: the sources import them from here


# --- Prometheus (cAdvisor + kube-state-metrics), aggregated on the server to pod-hours ----------

POD_HOURS = Stream(
    source="prometheus",
    name="pod_hours",
    description=(
        "One row per pod per UTC hour it ran on a node. Requests and usage are integrals over the"
        " part of the hour the pod was running (regular containers only; init containers ignored)."
    ),
    schema=schema_of(
        ("cluster", pa.string(), False),
        ("namespace", pa.string(), False),
        ("pod", pa.string(), False),
        ("pod_uid", pa.string(), False),
        ("node", pa.string(), False),
        ("hour", TS, False),
        ("running_seconds", pa.float64(), False),
        ("cpu_request_core_seconds", pa.float64(), False),
        ("cpu_usage_core_seconds", pa.float64(), False),
        ("memory_request_byte_seconds", pa.float64(), False),
        ("memory_working_set_byte_seconds", pa.float64(), False),
        ("gpu_request_seconds", pa.float64(), False),
        # Bytes the pod's own network namespace received and sent in the hour (cAdvisor's pod-level series,
        # reset-safe increments); null where no byte data was collected (files landed before these columns,
        # host-network pods, whose counters are the host's).
        ("network_receive_bytes", pa.float64(), True),
        ("network_transmit_bytes", pa.float64(), True),
    ),
)
# The bytes a pod-hour holds: increments in the hour, not integrals over its running time.
POD_HOUR_NETWORK = ("network_receive_bytes", "network_transmit_bytes")
# The integrals a pod-hour holds (every float column of POD_HOURS but the bytes), in schema order.
POD_HOUR_MEASURES = tuple(
    f.name for f in POD_HOURS.schema if pa.types.is_floating(f.type) and f.name not in POD_HOUR_NETWORK
)

PODS = Stream(
    source="prometheus",
    name="pods",
    description=(
        "One row per pod per UTC day it was seen (kube_pod_info, kube_pod_labels, start and"
        " completion times). The same pod appears once in every day partition it ran in."
    ),
    schema=schema_of(
        ("cluster", pa.string(), False),
        ("date", pa.date32(), False),
        ("namespace", pa.string(), False),
        ("pod", pa.string(), False),
        ("pod_uid", pa.string(), False),
        ("owner_kind", pa.string(), True),
        ("owner_name", pa.string(), True),
        ("start_time", TS, True),
        ("completion_time", TS, True),
        ("labels", LABELS, True),
        ("host_network", pa.bool_(), True),  # kube_pod_info's host_network: its byte counters are the host's
    ),
)

NAMESPACE_LABELS = Stream(
    source="prometheus",
    name="namespace_labels",
    description=(
        "kube_namespace_labels per namespace per hour: each distinct label set seen in the hour"
        " with the seconds it was in force, so models can take the value in force for most of it."
    ),
    schema=schema_of(
        ("cluster", pa.string(), False),
        ("namespace", pa.string(), False),
        ("hour", TS, False),
        ("seconds_in_force", pa.float64(), False),
        ("labels", LABELS, True),
    ),
)

NODE_HOURS = Stream(
    source="prometheus",
    name="node_hours",
    description=(
        "One row per node per UTC hour it was up: kube_node_info (provider_id, instance type),"
        " kube_node_status_capacity, and the node's labels in force for most of the hour."
    ),
    schema=schema_of(
        ("cluster", pa.string(), False),
        ("node", pa.string(), False),
        ("hour", TS, False),
        ("provider_id", pa.string(), True),
        ("instance_type", pa.string(), True),
        ("running_seconds", pa.float64(), False),
        ("cpu_capacity_cores", pa.float64(), True),
        ("memory_capacity_bytes", pa.float64(), True),
        ("gpu_capacity", pa.float64(), True),
        ("labels", LABELS, True),
    ),
)

PERSISTENT_VOLUME_HOURS = Stream(
    source="prometheus",
    name="persistent_volume_hours",
    description=(
        "One row per PersistentVolume per UTC hour it existed and per claim its claimRef named in that hour"
        " (kube_persistentvolume_info, kube_persistentvolume_claim_ref, kube_persistentvolume_status_phase,"
        " kube_persistentvolume_capacity_bytes): the seconds the claimRef named that claim and when it last"
        " did, so models can take the claim bound for most of the hour (ties: the later binding). A PV with"
        " no claimRef in an hour has one row with a null claim."
    ),
    schema=schema_of(
        ("cluster", pa.string(), False),
        ("persistent_volume", pa.string(), False),
        ("hour", TS, False),
        ("volume_handle", pa.string(), True),  # the EBS volume id: CSI volumeHandle, else in-tree volumeID
        ("storage_class", pa.string(), True),
        ("capacity_bytes", pa.float64(), True),
        ("phase", pa.string(), True),  # the phase in force for most of the hour: Bound, Released, ...
        ("claim_namespace", pa.string(), True),
        ("claim_name", pa.string(), True),
        ("claim_seconds", pa.float64(), False),  # seconds of the hour the claimRef named this claim (or none)
        ("claim_last_seen", TS, True),  # the last sample in the hour with this claim
    ),
)

POD_VOLUME_CLAIMS = Stream(
    source="prometheus",
    name="pod_volume_claims",
    description=(
        "Which PersistentVolumeClaims each pod mounts (kube_pod_spec_volumes_persistentvolumeclaims_info):"
        " one row per pod, claim and UTC day the pod was seen, so a Spark job's cost can include its"
        " claims' storage."
    ),
    schema=schema_of(
        ("cluster", pa.string(), False),
        ("date", pa.date32(), False),
        ("namespace", pa.string(), False),
        ("pod", pa.string(), False),
        ("pod_uid", pa.string(), True),
        ("volume", pa.string(), True),  # the volume's name in the pod spec
        ("claim", pa.string(), False),
        ("read_only", pa.bool_(), True),
    ),
)

OWNERS = Stream(
    source="prometheus",
    name="owners",
    description=(
        "The controlling owner of each ReplicaSet and Job that owned a pod seen that UTC day"
        " (kube_replicaset_owner, kube_job_owner): a Deployment (or an Argo Rollout, ...) of a ReplicaSet, a"
        " CronJob of a Job. One row per object and day; null owner columns: it had no controlling owner."
    ),
    schema=schema_of(
        ("cluster", pa.string(), False),
        ("date", pa.date32(), False),
        ("namespace", pa.string(), False),
        ("kind", pa.string(), False),  # ReplicaSet or Job
        ("name", pa.string(), False),
        ("owner_kind", pa.string(), True),  # its ownerReference with controller=true: Deployment, CronJob, ...
        ("owner_name", pa.string(), True),
    ),
)

# --- Kubernetes API snapshots, stamped with their collection time -------------------------------

K8S_NAMESPACES = Stream(
    source="kubernetes",
    name="namespaces",
    description="Namespaces with labels and annotations, one row per namespace per snapshot.",
    schema=schema_of(
        ("cluster", pa.string(), False),
        ("collected_at", TS, False),
        ("namespace", pa.string(), False),
        ("uid", pa.string(), True),
        ("created_at", TS, True),
        ("labels", LABELS, True),
        ("annotations", LABELS, True),
    ),
)

K8S_NODES = Stream(
    source="kubernetes",
    name="nodes",
    description="Nodes with labels, taints, provider id, capacity and allocatable, per snapshot.",
    schema=schema_of(
        ("cluster", pa.string(), False),
        ("collected_at", TS, False),
        ("node", pa.string(), False),
        ("provider_id", pa.string(), True),
        ("instance_type", pa.string(), True),
        ("created_at", TS, True),
        ("labels", LABELS, True),
        ("taints", pa.list_(pa.string()), True),
        ("cpu_capacity_cores", pa.float64(), True),
        ("memory_capacity_bytes", pa.float64(), True),
        ("gpu_capacity", pa.float64(), True),
        ("cpu_allocatable_cores", pa.float64(), True),
        ("memory_allocatable_bytes", pa.float64(), True),
        ("gpu_allocatable", pa.float64(), True),
    ),
)

K8S_RESOURCE_QUOTAS = Stream(
    source="kubernetes",
    name="resource_quotas",
    description="ResourceQuotas: one row per quota, resource and snapshot (hard and used).",
    schema=schema_of(
        ("cluster", pa.string(), False),
        ("collected_at", TS, False),
        ("namespace", pa.string(), False),
        ("quota", pa.string(), False),
        ("resource", pa.string(), False),
        ("hard", pa.float64(), True),
        ("used", pa.float64(), True),
    ),
)

K8S_LIMIT_RANGES = Stream(
    source="kubernetes",
    name="limit_ranges",
    description="LimitRanges: one row per limit range item, resource and snapshot.",
    schema=schema_of(
        ("cluster", pa.string(), False),
        ("collected_at", TS, False),
        ("namespace", pa.string(), False),
        ("limit_range", pa.string(), False),
        ("type", pa.string(), False),
        ("resource", pa.string(), False),
        ("default_limit", pa.float64(), True),
        ("default_request", pa.float64(), True),
        ("min", pa.float64(), True),
        ("max", pa.float64(), True),
    ),
)

K8S_PRIORITY_CLASSES = Stream(
    source="kubernetes",
    name="priority_classes",
    description="PriorityClasses, per snapshot.",
    schema=schema_of(
        ("cluster", pa.string(), False),
        ("collected_at", TS, False),
        ("priority_class", pa.string(), False),
        ("value", pa.int64(), False),
        ("global_default", pa.bool_(), True),
        ("preemption_policy", pa.string(), True),
    ),
)

K8S_PERSISTENT_VOLUMES = Stream(
    source="kubernetes",
    name="persistent_volumes",
    description=(
        "PersistentVolumes with their EBS volume id, claimRef and phase, per snapshot: the fallback where"
        " kube-state-metrics' PV series are missing."
    ),
    schema=schema_of(
        ("cluster", pa.string(), False),
        ("collected_at", TS, False),
        ("persistent_volume", pa.string(), False),
        ("volume_handle", pa.string(), True),
        ("storage_class", pa.string(), True),
        ("capacity_bytes", pa.float64(), True),
        ("phase", pa.string(), True),
        ("claim_namespace", pa.string(), True),
        ("claim_name", pa.string(), True),
        ("created_at", TS, True),
    ),
)

# --- EC2 volumes and Elastic Load Balancing, snapshotted at each collection (point-in-time APIs) -------

EC2_VOLUMES = Stream(
    source="ec2",
    name="volumes",
    description=(
        "EBS volumes (DescribeVolumes) with their tags: one row per volume and attachment per snapshot (a"
        " volume attached nowhere has one row with a null instance)."
    ),
    schema=schema_of(
        ("collected_at", TS, False),
        ("region", pa.string(), False),
        ("volume_id", pa.string(), False),
        ("volume_type", pa.string(), True),
        ("size_gib", pa.float64(), True),
        ("iops", pa.float64(), True),
        ("throughput_mibps", pa.float64(), True),
        ("state", pa.string(), True),
        ("availability_zone", pa.string(), True),
        ("created_at", TS, True),
        ("instance_id", pa.string(), True),
        ("device", pa.string(), True),
        ("attachment_state", pa.string(), True),
        ("attached_at", TS, True),
        ("delete_on_termination", pa.bool_(), True),
        ("tags", LABELS, True),
    ),
)

LOAD_BALANCERS = Stream(
    source="elbv2",
    name="load_balancers",
    description=(
        "Application, network and gateway load balancers (DescribeLoadBalancers) with their tags"
        " (DescribeTags), per snapshot."
    ),
    schema=schema_of(
        ("collected_at", TS, False),
        ("region", pa.string(), False),
        ("load_balancer_arn", pa.string(), False),
        ("name", pa.string(), True),
        ("type", pa.string(), True),  # application, network, gateway
        ("scheme", pa.string(), True),  # internet-facing, internal
        ("vpc_id", pa.string(), True),
        ("state", pa.string(), True),
        ("created_at", TS, True),
        ("tags", LABELS, True),
    ),
)

# --- EMR on EKS (emr-containers) ----------------------------------------------------------------

EMR_VIRTUAL_CLUSTERS = Stream(
    source="emr",
    name="virtual_clusters",
    description="Virtual clusters (id -> EKS cluster and namespace) with tags, per snapshot.",
    schema=schema_of(
        ("collected_at", TS, False),
        ("virtual_cluster_id", pa.string(), False),
        ("name", pa.string(), True),
        ("arn", pa.string(), True),
        ("state", pa.string(), True),
        ("eks_cluster", pa.string(), True),
        ("namespace", pa.string(), True),
        ("created_at", TS, True),
        ("tags", LABELS, True),
    ),
)

EMR_JOB_RUNS = Stream(
    source="emr",
    name="job_runs",
    description=(
        "Job runs by creation day, including running ones, with the executor shape requested in"
        " the job driver's spark-submit parameters."
    ),
    schema=schema_of(
        ("collected_at", TS, False),
        ("job_run_id", pa.string(), False),
        ("virtual_cluster_id", pa.string(), False),
        ("arn", pa.string(), True),
        ("name", pa.string(), True),
        ("state", pa.string(), True),
        ("created_at", TS, True),
        ("finished_at", TS, True),
        ("release_label", pa.string(), True),
        ("execution_role_arn", pa.string(), True),
        ("executor_instances", pa.int64(), True),
        ("executor_cores", pa.float64(), True),
        ("executor_memory_bytes", pa.float64(), True),
        ("driver_cores", pa.float64(), True),
        ("driver_memory_bytes", pa.float64(), True),
        ("tags", LABELS, True),
        ("failure_reason", pa.string(), True),
        ("state_details", pa.string(), True),
    ),
)

# --- Cost and Usage Report 2.0 (Data Exports), AWS's own column names ---------------------------

CUR_LINE_ITEMS = Stream(
    source="cur",
    name="line_items",
    description=(
        "CUR 2.0 line items with AWS's column names: the columns the models read (a CUR has"
        " hundreds; the rest are not landed). Legacy CUR is mapped to these names on load."
    ),
    schema=schema_of(
        ("bill_billing_period_start_date", TS, False),
        ("bill_billing_period_end_date", TS, False),
        ("bill_payer_account_id", pa.string(), True),
        ("bill_invoice_id", pa.string(), True),  # empty until the month is invoiced
        ("line_item_usage_account_id", pa.string(), True),
        ("line_item_line_item_type", pa.string(), False),
        ("line_item_usage_start_date", TS, False),
        ("line_item_usage_end_date", TS, False),
        ("line_item_product_code", pa.string(), True),
        ("line_item_usage_type", pa.string(), True),
        ("line_item_operation", pa.string(), True),
        ("line_item_resource_id", pa.string(), True),
        ("line_item_usage_amount", pa.float64(), True),
        ("line_item_currency_code", pa.string(), True),
        ("line_item_unblended_rate", pa.string(), True),
        ("line_item_unblended_cost", pa.float64(), True),
        ("line_item_net_unblended_cost", pa.float64(), True),
        ("line_item_line_item_description", pa.string(), True),
        ("pricing_public_on_demand_cost", pa.float64(), True),
        ("pricing_term", pa.string(), True),
        ("product_instance_type", pa.string(), True),
        ("product_region_code", pa.string(), True),
        ("product", LABELS, True),
        ("reservation_effective_cost", pa.float64(), True),
        ("reservation_net_effective_cost", pa.float64(), True),
        ("savings_plan_savings_plan_effective_cost", pa.float64(), True),
        ("savings_plan_net_savings_plan_effective_cost", pa.float64(), True),
        ("resource_tags", LABELS, True),
        # Split cost allocation data (AWS's own per-pod rows, line_item_operation EKSPod-EC2): out of scope
        # (they would count the instance twice), compared with this product's allocation by the reconciliation.
        ("split_line_item_parent_resource_id", pa.string(), True),
        ("split_line_item_split_cost", pa.float64(), True),
        ("split_line_item_unused_cost", pa.float64(), True),
    ),
)

# --- Cost Explorer (GetCostAndUsage, DAILY) ------------------------------------------------------

COST_EXPLORER_DAILY = Stream(
    source="cost_explorer",
    name="daily_costs",
    description=(
        "Daily cost per group from Cost Explorer: by SERVICE, by INSTANCE_TYPE (EC2 compute) and by each"
        " configured tag key. Used before the CUR covers a day, and to reconcile against the CUR."
    ),
    schema=schema_of(
        ("collected_at", TS, False),
        ("date", pa.date32(), False),
        ("group_by", pa.string(), False),  # "SERVICE", "INSTANCE_TYPE" or "TAG:<key>"
        ("group_key", pa.string(), False),  # the service, the instance type, or "<key>$<value>" as AWS gives it
        ("metric", pa.string(), False),  # "AmortizedCost", ...
        ("amount", pa.float64(), False),
        ("unit", pa.string(), True),
        ("usage_quantity", pa.float64(), True),  # UsageQuantity (hours for EC2 instances), where asked
        ("estimated", pa.bool_(), False),
    ),
)

STREAMS: tuple[Stream, ...] = (
    POD_HOURS,
    PODS,
    NAMESPACE_LABELS,
    NODE_HOURS,
    PERSISTENT_VOLUME_HOURS,
    POD_VOLUME_CLAIMS,
    OWNERS,
    K8S_NAMESPACES,
    K8S_NODES,
    K8S_RESOURCE_QUOTAS,
    K8S_LIMIT_RANGES,
    K8S_PRIORITY_CLASSES,
    K8S_PERSISTENT_VOLUMES,
    EC2_VOLUMES,
    LOAD_BALANCERS,
    EMR_VIRTUAL_CLUSTERS,
    EMR_JOB_RUNS,
    CUR_LINE_ITEMS,
    COST_EXPLORER_DAILY,
)

BY_KEY: dict[str, Stream] = {stream.key: stream for stream in STREAMS}
