"""The sample month's network: pods' bytes, cross-AZ data transfer, load balancers and the NAT gateway.

Written by ``sample_data/generate.py`` into ``prometheus/pod_hours`` (``network_receive_bytes`` and
``network_transmit_bytes``: cAdvisor's pod-level counters, null for host-network pods), ``elbv2/load_balancers`` (a
snapshot at every hourly collect) and the CUR.

- **Bytes.** Each workload receives and sends at its own rate while it runs, following its daily cycle with
  smooth noise (its own random stream, so every figure drawn before these columns existed is unchanged). Spark
  executors shuffle: 11 MB/s each way. The DaemonSets (aws-node, kube-proxy, node-exporter) use the host's network:
  no byte data.
- **Data transfer.** Per node and hour, one ``InterZone-In`` and one ``InterZone-Out`` line
  (``USE1-DataTransfer-Regional-Bytes``, $0.01 per GB each way; GB = 2^30 bytes) whose GB are the share of its pods'
  bytes that crossed an AZ (``TRAFFIC``: a third of a Spark executor's, a quarter of an Airflow worker's, half of
  most services') plus the host's own (kubelet, node-exporter scraped from us-east-1a): heaviest on the Spark
  spot nodes. Each line carries its instance id and the instance's tags.
- **Load balancers**, billed daily (``LoadBalancerUsage`` $0.0225 an hour, ``LCUUsage`` $0.008 per LCU-hour,
  NLCU $0.006): an internet-facing ALB per web namespace (``payments-web``, ``ml-serving``) and the ``internal-apis``
  ingress group shared by ``payments-api`` and ``data-eng-etl``, all three from the AWS Load Balancer Controller
  with ``elbv2.k8s.aws/cluster`` and ``ingress.k8s.aws/stack`` activated as cost-allocation tags (the CUR carries
  them); and an internal NLB of the in-tree controller for ``risk-engine/pricer-grpc``, whose
  ``kubernetes.io/service-name`` and ``kubernetes.io/cluster/prod-analytics`` tags are not activated: only the elbv2
  snapshot names its cluster and namespace.
- **NAT gateway** (us-east-1a), tagged ``eks_cluster_name``: $0.045 an hour and $0.045 per GB processed (image
  pulls, more on the days nodes are launched), billed daily.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from collectors import streams
from sample_data.month import (
    ACCOUNT,
    CLUSTER,
    DAY,
    GIB,
    HEX,
    HOUR,
    OCTOBER,
    REGION,
    CurLine,
    Month,
    Node,
    Pod,
    cur_line,
    epoch,
    hex_id,
    hour_overlaps,
    rate_text,
    round10,
    smooth_noise,
    token,
)

# app label -> (bytes received, bytes sent) per second while running, and the share of them that crosses an AZ
TRAFFIC: dict[str, tuple[float, float, float]] = {
    "coredns": (8e3, 8e3, 0.6),
    "kube-state-metrics": (4e3, 22e3, 0.6),
    "prometheus-server": (220e3, 30e3, 0.6),  # scrapes every node and pod
    "payments-api": (50e3, 95e3, 0.5),
    "storefront": (30e3, 130e3, 0.4),
    "reconciler": (20e3, 12e3, 0.5),
    "month-close": (150e3, 60e3, 0.5),
    "etl-api": (28e3, 28e3, 0.5),
    "airflow-webserver": (8e3, 15e3, 0.5),
    "airflow-scheduler": (28e3, 28e3, 0.5),
    "airflow-postgresql": (45e3, 45e3, 0.6),
    "airflow-worker": (450e3, 180e3, 0.25),  # mostly S3, through the gateway endpoint (no transfer charge)
    "feature-server": (120e3, 160e3, 0.5),
    "feature-redis": (160e3, 160e3, 0.5),
    "model-server": (110e3, 190e3, 0.45),
    "embedding-cache": (120e3, 120e3, 0.5),
    "gpu-trainer": (550e3, 30e3, 0.1),  # training data from S3
    "pricer": (75e3, 75e3, 0.4),
    "report-api": (12e3, 28e3, 0.4),
    "report-builder": (38e3, 38e3, 0.4),
    "jupyter-alice": (28e3, 12e3, 0.3),
    "load-test": (450e3, 150e3, 0.6),
}
SPARK_TRAFFIC = {"driver": (300e3, 300e3, 0.4), "executor": (11e6, 11e6, 1 / 3)}  # executors shuffle
HOST_CROSS_AZ = (8e3, 25e3)  # bytes per second in and out the host's own processes send across AZs
TRANSFER_USD_PER_GB = 0.01
TRANSFER_DESCRIPTION = "$0.01 per GB - regional data transfer - in/out/between EC2 AZs or using elastic IPs or ELB"
TRANSFER_PRODUCT = {
    "from_location": "US East (N. Virginia)",
    "product_family": "Data Transfer",
    "product_name": "Amazon Elastic Compute Cloud",
    "servicecode": "AWSDataTransfer",
    "to_location": "US East (N. Virginia)",
    "transfer_type": "IntraRegion",
}


def node_tags(node: Node) -> dict[str, str]:
    """The tags the CUR shows on a node's own lines (its instance's)."""
    tags = {"user_eks_cluster_name": CLUSTER}
    if node.tenant:
        tags["user_tenant"] = node.tenant
    return tags


class Traffic:
    """Pods' bytes per hour, and per node-hour the bytes that crossed an AZ (what the CUR bills)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.crossed: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0])  # (node, hour) -> in, out

    @staticmethod
    def profile(pod: Pod) -> tuple[float, float, float]:
        role = pod.labels.get("spark-role")
        return SPARK_TRAFFIC[role] if role else TRAFFIC[pod.labels["app"]]

    def pod_hours(self, pod: Pod, hours: np.ndarray, seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Bytes received and sent in each hour the pod ran; None for a host-network pod (its counters are the
        node's)."""
        if pod.host_network:
            return None
        received_rate, sent_rate, crossing = self.profile(pod)
        hour_of_day = (hours // HOUR) % 24
        weekend = ((hours // DAY + 3) % 7) >= 5
        cycle = (1 + pod.diurnal * np.sin(2 * np.pi * (hour_of_day - 9) / 24)) * np.where(weekend, 0.7, 1.0)
        noise = np.clip(1 + 0.2 * smooth_noise(self.rng, 2 * len(hours), 3), 0.2, None).reshape(2, -1)
        received = np.round(received_rate * seconds * cycle * noise[0])
        sent = np.round(sent_rate * seconds * cycle * noise[1])
        for hour, r, s in zip(hours.tolist(), received.tolist(), sent.tolist(), strict=True):
            crossed = self.crossed[(pod.node.name, hour)]
            crossed[0] += r * crossing
            crossed[1] += s * crossing
        return received, sent

    def transfer_lines(self, nodes: dict[str, Node], month: Month = OCTOBER) -> list[CurLine]:
        """Per node-hour, the GB that crossed an AZ in and out, as two data-transfer lines of its instance."""
        lines = []
        for node in nodes.values():
            hours, seconds = hour_overlaps(node.start, node.end, month)
            for hour, running in zip(hours.tolist(), seconds.tolist(), strict=True):
                crossed = self.crossed.get((node.name, hour), [0.0, 0.0])
                for operation, pods_bytes, host_rate in (
                    ("InterZone-In", crossed[0], HOST_CROSS_AZ[0]),
                    ("InterZone-Out", crossed[1], HOST_CROSS_AZ[1]),
                ):
                    gb = round10((pods_bytes + host_rate * running) / GIB)
                    lines.append(
                        cur_line(
                            "Usage",
                            hour,
                            hour + HOUR,
                            "AmazonEC2",
                            "USE1-DataTransfer-Regional-Bytes",
                            operation,
                            node.instance_id,
                            gb,
                            TRANSFER_USD_PER_GB,
                            round10(gb * TRANSFER_USD_PER_GB),
                            TRANSFER_DESCRIPTION,
                            product=TRANSFER_PRODUCT,
                            tags=node_tags(node),
                        )
                    )
        return lines


# --- load balancers -------------------------------------------------------------------------------------------

ELB_USD_PER_HOUR = 0.0225
VPC_ID = "vpc-0" + token("vpc/prod-analytics", 16, HEX)
ELBV2_SNAPSHOT_AT = 15 * 60 + 14  # the hourly collect reaches DescribeLoadBalancers at :15:14


@dataclass(frozen=True)
class LoadBalancer:
    name: str
    kind: str  # app or net
    scheme: str
    created: int
    tags: dict[str, str]  # elbv2's
    cur_tags: dict[str, str]  # the activated ones, as the CUR shows them
    capacity_units: float  # mean LCUs (NLCUs) an hour

    @property
    def arn(self) -> str:
        suffix = token(self.name, 16, HEX)
        return f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/{self.kind}/{self.name}/{suffix}"

    @property
    def unit_usd_per_hour(self) -> float:
        return 0.008 if self.kind == "app" else 0.006


def _ingress(name: str, scheme: str, created: str, stack: str, lcu: float) -> LoadBalancer:
    """An ALB of the AWS Load Balancer Controller for an Ingress (``stack``: namespace/name, or a group's name)."""
    tags = {
        "elbv2.k8s.aws/cluster": CLUSTER,
        "ingress.k8s.aws/resource": "LoadBalancer",
        "ingress.k8s.aws/stack": stack,
    }
    cur_tags = {"user_elbv2.k8s.aws/cluster": CLUSTER, "user_ingress.k8s.aws/stack": stack}
    return LoadBalancer(f"{name}-{token('lb/' + name, 10, HEX)}", "app", scheme, epoch(created), tags, cur_tags, lcu)


LOAD_BALANCERS = (
    _ingress("k8s-payments-storefro", "internet-facing", "2026-04-14 16:02:37", "payments-web/storefront", 2.2),
    _ingress("k8s-mlservin-modelser", "internet-facing", "2026-06-03 14:11:20", "ml-serving/model-server", 1.1),
    _ingress("k8s-internalapis", "internal", "2026-05-20 09:30:05", "internal-apis", 0.7),  # payments-api, data-eng-etl
    LoadBalancer(
        "a" + token("lb/risk-engine/pricer-grpc", 31, HEX),  # the in-tree controller's name: "a" + the Service's uid
        "net",
        "internal",
        epoch("2026-08-11 11:20:48"),
        {f"kubernetes.io/cluster/{CLUSTER}": "owned", "kubernetes.io/service-name": "risk-engine/pricer-grpc"},
        {},
        0.4,
    ),
)


def load_balancers_table(month: Month = OCTOBER) -> pa.Table:
    """``elbv2/load_balancers``: every load balancer at each hourly collect (from the one after it was created)."""
    rows = [
        {
            "collected_at": (hour + ELBV2_SNAPSHOT_AT) * 1_000_000,
            "region": REGION,
            "load_balancer_arn": lb.arn,
            "name": lb.name,
            "type": "application" if lb.kind == "app" else "network",
            "scheme": lb.scheme,
            "vpc_id": VPC_ID,
            "state": "active",
            "created_at": lb.created * 1_000_000,
            "tags": dict(sorted(lb.tags.items())),
        }
        for hour in range(month.start, month.end, HOUR)
        for lb in LOAD_BALANCERS
        if lb.created <= hour + ELBV2_SNAPSHOT_AT
    ]
    return pa.Table.from_pylist(rows, schema=streams.LOAD_BALANCERS.schema)


def _daily_profile(day: int) -> np.ndarray:
    """Each hour's load relative to the mean: a daily cycle peaking at 15:00 UTC, quieter weekends."""
    hour_of_day = np.arange(24)
    weekend = ((day // DAY + 3) % 7) >= 5
    return (1 + 0.5 * np.sin(2 * np.pi * (hour_of_day - 9) / 24)) * (0.6 if weekend else 1.0)


def load_balancer_lines(month: Month = OCTOBER) -> list[CurLine]:
    """Daily lines of each load balancer: its hours (partial on the day it was created: from its first whole hour)
    and its capacity units in them."""
    lines = []
    for lb in LOAD_BALANCERS:
        kind = "Application" if lb.kind == "app" else "Network"
        unit = "LCU" if lb.kind == "app" else "NLCU"
        product = {
            "product_family": f"Load Balancer-{kind}",
            "product_name": "Elastic Load Balancing",
            "servicecode": "AWSELB",
        }
        for day in range(month.start, month.end, DAY):
            if lb.created >= day + DAY:
                continue
            first = 0 if lb.created <= day else (lb.created - day) // HOUR  # the hour it was created in counts
            units = round10(float(lb.capacity_units * _daily_profile(day)[first:].sum()))
            for usage_type, amount, rate, text in (
                (
                    "USE1-LoadBalancerUsage",
                    float(24 - first),
                    ELB_USD_PER_HOUR,
                    f"per {kind} LoadBalancer-hour (or partial hour)",
                ),
                ("USE1-LCUUsage", units, lb.unit_usd_per_hour, f"per {unit}-hour (or partial hour)"),
            ):
                lines.append(
                    cur_line(
                        "Usage",
                        day,
                        day + DAY,
                        "AWSELB",
                        usage_type,
                        f"LoadBalancing:{kind}",
                        lb.arn,
                        amount,
                        rate,
                        round10(amount * rate),
                        f"${rate_text(rate)} {text}",
                        product=product,
                        tags=lb.cur_tags,
                    )
                )
    return lines


# --- the NAT gateway --------------------------------------------------------------------------------------------

NAT_ARN = f"arn:aws:ec2:{REGION}:{ACCOUNT}:natgateway/" + hex_id("nat-", "nat/prod-analytics-a")
NAT_USD_PER_HOUR = 0.045
NAT_USD_PER_GB = 0.045


def nat_lines(nodes: dict[str, Node], month: Month = OCTOBER) -> list[CurLine]:
    """The cluster's NAT gateway, daily: its hours, and the GB it processed (9 GB, 4 more on weekdays, 2.5 more per
    node launched that day, which pulls its images)."""
    product = {
        "product_family": "NAT Gateway",
        "product_name": "Amazon Elastic Compute Cloud",
        "servicecode": "AmazonEC2",
    }
    tags = {"user_eks_cluster_name": CLUSTER}
    lines = []
    for day in range(month.start, month.end, DAY):
        launched = sum(day <= n.start < day + DAY for n in nodes.values())
        weekday = ((day // DAY + 3) % 7) < 5
        gb = 9.0 + 4.0 * weekday + 2.5 * launched
        for usage_type, amount, rate, text in (
            ("USE1-NatGateway-Hours", 24.0, NAT_USD_PER_HOUR, "per NAT Gateway Hour"),
            ("USE1-NatGateway-Bytes", gb, NAT_USD_PER_GB, "per GB Data Processed by NAT Gateways"),
        ):
            lines.append(
                cur_line(
                    "Usage",
                    day,
                    day + DAY,
                    "AmazonEC2",
                    usage_type,
                    "NatGateway",
                    NAT_ARN,
                    amount,
                    rate,
                    round10(amount * rate),
                    f"${rate_text(rate)} {text}",
                    product=product,
                    tags=tags,
                )
            )
    return lines
