"""What every part of the sample month shares: its calendar and ids, its nodes and pods, and the shape of a CUR line.

``sample_data/generate.py`` writes the month from these; ``sample_data/volumes.py`` (EBS volumes, PersistentVolumes
and their claims), ``sample_data/network.py`` (pods' network bytes, data transfer, load balancers, the NAT gateway)
and ``sample_data/split_cost.py`` (AWS's own split rows) add the costs beyond the nodes. Nothing here draws a random
number: the month stays byte-for-byte reproducible whatever order its parts are generated in.
"""

from __future__ import annotations

import csv
import hashlib
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from collectors import streams  # noqa: E402

# --- calendar and ids ----------------------------------------------------------------------------------------

INSTANCE_TYPES_CSV = REPO_ROOT / "chargeback" / "data" / "instance_types.csv"

HOUR = 3600
DAY = 86_400
GIB = 2**30
MIB = 2**20


def epoch(text: str) -> int:
    """'2026-10-12 06:00[:ss]' (UTC) -> Unix seconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


CLUSTER = "prod-analytics"
REGION = "us-east-1"
ACCOUNT = "111122223333"
PAYER_ACCOUNT = "444455556666"
CLUSTER_ARN = f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"
BILLING_PERIOD = "2026-10"
MONTH_START = epoch("2026-10-01 00:00")
MONTH_END = epoch("2026-11-01 00:00")
COLLECTED_AT = epoch("2026-11-01 00:05")
STILL_RUNNING = MONTH_END + 30 * DAY  # end time of anything still up at the end of the month

NODE_TENANT_LABEL = "chargeback.io/tenant"
NAMESPACE_TENANT_LABEL = "tenant"
K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated name suffixes
HEX = "0123456789abcdef"
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def token(seed: str, length: int, alphabet: str = K8S_ALPHABET) -> str:
    """A deterministic pseudo-random string derived from ``seed``."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(alphabet))
        chars.append(alphabet[index])
    return "".join(chars)


def uuid_of(seed: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16], version=4))


def hex_id(prefix: str, seed: str, length: int = 17) -> str:
    """An AWS resource id: ``vol-0`` + 16 hex digits and the like."""
    return prefix + "0" + token(seed, length - 1, HEX)


BASTION_INSTANCE_ID = "i-0" + token("instance/bastion", 16, HEX)  # the untagged bastion host outside the cluster


# --- instance types ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpu: int
    memory_gib: float
    gpu: int
    on_demand_usd_per_hour: float

    @property
    def family(self) -> str:
        if self.gpu:
            return "GPU instance"
        return "Memory optimized" if self.name.startswith("r") else "General purpose"


def load_instance_types() -> dict[str, InstanceType]:
    with INSTANCE_TYPES_CSV.open(newline="") as handle:
        return {
            row["instance_type"]: InstanceType(
                row["instance_type"],
                int(row["vcpu"]),
                float(row["memory_gib"]),
                int(row["gpu"]),
                float(row["on_demand_usd_per_hour"]),
            )
            for row in csv.DictReader(handle)
        }


INSTANCE_TYPES = load_instance_types()


# --- nodes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    key: str  # short alias used only in the generator
    name: str
    nodegroup: str
    instance_type: str
    capacity_type: str  # ON_DEMAND or SPOT
    zone: str
    start: int
    end: int
    tenant: str | None = None

    @property
    def spec(self) -> InstanceType:
        return INSTANCE_TYPES[self.instance_type]

    @cached_property  # the generator asks it tens of thousands of times
    def instance_id(self) -> str:
        return "i-0" + token(f"instance/{self.name}/{self.start}", 16, HEX)

    @property
    def provider_id(self) -> str:
        return f"aws:///{self.zone}/{self.instance_id}"

    @property
    def savings_plan(self) -> bool:
        return self.nodegroup == "general-sp"

    @property
    def cpu_allocatable_cores(self) -> float:
        """EKS's kube-reserved CPU: 6% of the first core, 1% of the next, 0.5% of two more, 0.25% above."""
        cores = self.spec.vcpu
        reserved = 0.06 + 0.01 * min(max(cores - 1, 0), 1) + 0.005 * min(max(cores - 2, 0), 2)
        return round(cores - reserved - 0.0025 * max(cores - 4, 0), 4)

    @property
    def memory_allocatable_bytes(self) -> float:
        return self.spec.memory_gib * GIB - GIB  # kube-reserved + eviction threshold, about 1 GiB

    @property
    def labels(self) -> dict[str, str]:
        labels = {
            "eks.amazonaws.com/capacityType": self.capacity_type,
            "eks.amazonaws.com/nodegroup": self.nodegroup,
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": self.instance_type,
            "topology.kubernetes.io/region": REGION,
            "topology.kubernetes.io/zone": self.zone,
        }
        if self.tenant:
            labels[NODE_TENANT_LABEL] = self.tenant
        return dict(sorted(labels.items()))

    @property
    def taints(self) -> list[str]:
        if self.tenant:
            return [f"{NODE_TENANT_LABEL}={self.tenant}:NoSchedule"]
        if self.spec.gpu:
            return ["nvidia.com/gpu=present:NoSchedule"]
        return []


NODE_SPECS = (
    # key, host (+ ".ec2.internal"), nodegroup, instance type, capacity type, zone in us-east-1, up from, up until
    ("gen-a", "ip-10-0-1-23", "general", "m5.xlarge", "ON_DEMAND", "a", "2026-09-08 10:14:07", None),
    ("gen-b", "ip-10-0-18-145", "general", "m5.xlarge", "ON_DEMAND", "b", "2026-09-08 10:14:31", None),
    ("gen-c", "ip-10-0-35-67", "general", "m5.xlarge", "ON_DEMAND", "c", "2026-09-08 10:15:02", None),
    ("gen-x", "ip-10-0-4-201", "general", "m5.xlarge", "ON_DEMAND", "a", "2026-10-12 06:00", "2026-10-20 18:00"),
    ("sp-a", "ip-10-0-7-88", "general-sp", "m5.2xlarge", "ON_DEMAND", "a", "2026-09-15 08:41:55", None),
    ("sp-b", "ip-10-0-21-14", "general-sp", "m5.2xlarge", "ON_DEMAND", "b", "2026-09-15 08:42:10", None),
    ("spot-1", "ip-10-0-40-112", "spark-spot", "m5.2xlarge", "SPOT", "c", "2026-09-19 13:03:40", None),
    ("spot-2", "ip-10-0-44-9", "spark-spot", "m5.2xlarge", "SPOT", "c", "2026-09-19 13:04:12", None),
    ("spot-x1", "ip-10-0-41-77", "spark-spot", "m5.2xlarge", "SPOT", "c", "2026-10-05 08:20", "2026-10-16 19:40"),
    ("spot-x2", "ip-10-0-26-230", "spark-spot", "m5.2xlarge", "SPOT", "b", "2026-10-05 08:21:30", "2026-10-16 19:44"),
    ("spot-x3", "ip-10-0-42-156", "spark-spot", "m5.2xlarge", "SPOT", "c", "2026-10-19 08:20", "2026-10-30 19:40"),
    ("spot-x4", "ip-10-0-29-31", "spark-spot", "m5.2xlarge", "SPOT", "b", "2026-10-19 08:23:15", "2026-10-30 19:51:45"),
    ("mem", "ip-10-0-12-190", "memory", "r5.2xlarge", "ON_DEMAND", "a", "2026-09-15 08:43:02", None),
    ("gpu", "ip-10-0-23-54", "gpu", "g4dn.xlarge", "ON_DEMAND", "b", "2026-09-22 16:30:18", None),
    ("risk-a", "ip-10-0-9-140", "risk-dedicated", "m5.xlarge", "ON_DEMAND", "a", "2026-09-02 09:05:44", None),
    ("risk-b", "ip-10-0-30-202", "risk-dedicated", "m5.xlarge", "ON_DEMAND", "b", "2026-09-02 09:06:03", None),
)


def build_nodes() -> dict[str, Node]:
    nodes = {}
    for key, host, group, itype, capacity, zone, start, end in NODE_SPECS:
        tenant = "risk" if group == "risk-dedicated" else None  # the sole-tenancy nodegroup
        up_until = epoch(end) if end else STILL_RUNNING
        name, zone_name = f"{host}.ec2.internal", f"{REGION}{zone}"
        nodes[key] = Node(key, name, group, itype, capacity, zone_name, epoch(start), up_until, tenant)
    return nodes


NODES = build_nodes()


# --- pods ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    uid: str
    node: Node
    start: int
    end: int  # STILL_RUNNING when it had not completed by the end of the month
    cpu_request_cores: float
    memory_request_bytes: int
    gpu: int
    cpu_use_cores: float
    memory_use_bytes: float
    diurnal: float
    owner_kind: str | None
    owner_name: str | None
    labels: dict[str, str]
    cpu_limit_cores: float = 0.0
    job_run_id: str | None = None
    host_network: bool = False  # its network counters are the node's (kube_pod_info host_network)


# --- hours and snapshots -------------------------------------------------------------------------------------


def hour_overlaps(start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """The UTC hours [start, end) overlaps inside the month, and the seconds it covers in each."""
    lo, hi = max(start, MONTH_START), min(end, MONTH_END)
    if hi <= lo:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    hours = np.arange(lo - lo % HOUR, hi, HOUR, dtype=np.int64)
    seconds = (np.minimum(hours + HOUR, hi) - np.maximum(hours, lo)).astype(np.float64)
    return hours, seconds


def timestamps(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype(np.int64) * 1_000_000, type=pa.int64()).cast(streams.TS)


def day_of(seconds: int) -> date:
    return datetime.fromtimestamp(seconds, UTC).date()


def snapshot(table: streams.Stream, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"cluster": CLUSTER, "collected_at": COLLECTED_AT * 1_000_000, **row} for row in rows], schema=table.schema
    )


# --- CUR lines -----------------------------------------------------------------------------------------------


def smooth_noise(rng: np.random.Generator, n: int, window: int) -> np.ndarray:
    """Unit-variance noise with a moving-average memory of ``window`` hours: each value the sum of ``window``
    standard normal draws, added in draw order, over sqrt(window). Not ``np.convolve``, whose dot products follow
    the machine's BLAS and SIMD (the last bit, hence a rounded byte-second, differed between two machines)."""
    raw = rng.standard_normal(n + window - 1)
    weight = 1 / np.sqrt(window)
    total = np.zeros(n)
    for k in range(window):
        total = total + raw[k : k + n] * weight
    return total


def round10(value: float) -> float:
    return round(value, 10)


def rate_text(value: float) -> str:
    return f"{value:.10f}".rstrip("0").rstrip(".")


@dataclass
class CurLine:
    """One CUR row, plus how v1 differed (``v1``: overridden columns; ``v2_only``: absent from v1)."""

    values: dict
    v1: dict = field(default_factory=dict)
    v2_only: bool = False


def cur_line(
    line_type: str,
    start: int,
    end: int,
    product_code: str,
    usage_type: str | None,
    operation: str | None,
    resource_id: str | None,
    amount: float | None,
    rate: float | None,
    cost: float,
    description: str,
    *,
    public_cost: float | None = None,
    pricing_term: str | None = "OnDemand",
    instance_type: str | None = None,
    region: str | None = REGION,
    product: dict | None = None,
    tags: dict | None = None,
    sp_effective: float | None = None,
    sp_net_effective: float | None = None,
) -> CurLine:
    return CurLine(
        {
            "bill_billing_period_start_date": MONTH_START * 1_000_000,
            "bill_billing_period_end_date": MONTH_END * 1_000_000,
            "bill_payer_account_id": PAYER_ACCOUNT,
            "line_item_usage_account_id": ACCOUNT,
            "line_item_line_item_type": line_type,
            "line_item_usage_start_date": start * 1_000_000,
            "line_item_usage_end_date": end * 1_000_000,
            "line_item_product_code": product_code,
            "line_item_usage_type": usage_type,
            "line_item_operation": operation,
            "line_item_resource_id": resource_id,
            "line_item_usage_amount": amount,
            "line_item_currency_code": "USD",
            "line_item_unblended_rate": None if rate is None else rate_text(rate),
            "line_item_unblended_cost": cost,
            "line_item_net_unblended_cost": cost,
            "line_item_line_item_description": description,
            "pricing_public_on_demand_cost": cost if public_cost is None else public_cost,
            "pricing_term": pricing_term,
            "product_instance_type": instance_type,
            "product_region_code": region,
            "product": product or {},
            "reservation_effective_cost": None,
            "reservation_net_effective_cost": None,
            "savings_plan_savings_plan_effective_cost": sp_effective,
            "savings_plan_net_savings_plan_effective_cost": sp_net_effective,
            "resource_tags": tags or {},
        }
    )


def ec2_product(spec: InstanceType) -> dict[str, str]:
    product = {
        "instance_family": spec.family,
        "memory": f"{spec.memory_gib:g} GiB",
        "operating_system": "Linux",
        "product_name": "Amazon Elastic Compute Cloud",
        "servicecode": "AmazonEC2",
        "vcpu": str(spec.vcpu),
    }
    if spec.gpu:
        product["gpu"] = str(spec.gpu)
    return dict(sorted(product.items()))
