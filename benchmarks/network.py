"""A generated cluster's network: pods' bytes, the cross-AZ data transfer they make, and its load balancers.

The sample month's model (``sample_data/network.py``), scaled and column-wise:

- **Bytes.** Each long-running pod receives and sends at its sample workload's rate (``TRAFFIC``, by its ``app``
  label), following its daily cycle, 30% quieter on weekends, with smooth noise; Spark drivers and executors at the
  sample's driver rate and a twentieth of its executors' shuffle (550 kB/s each way; ``EXECUTOR_BYTES_SHARE``),
  heavier than any service. The DaemonSets use the host's network:
  no byte data (null), and ``prometheus/pods`` says ``host_network``. Drawn from a random stream of their own.
- **Data transfer.** Per node and hour, an ``InterZone-In`` and an ``InterZone-Out`` line of its instance id
  (``USE1-DataTransfer-Regional-Bytes``, $0.01 per GB) whose GB are the share of its pods' bytes that crossed an AZ
  plus the host's own, tagged with the instance's tags: consistent with the bytes, as the sample's.
- **Load balancers.** One internet-facing ALB of the AWS Load Balancer Controller per copy of the sample's web
  namespaces (``payments-web-NN``, ``ml-serving-NN``), for its Ingress (``ingress.k8s.aws/stack`` =
  ``namespace/name``, activated as cost-allocation tags so the CUR carries them), in the elbv2 snapshot at every
  hourly collect and billed daily (hours and LCUs) as the sample's.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from benchmarks.basics import DAY, GIB, HOUR, MONTH_START, maps, ts
from benchmarks.layout import Layout, smooth_noise
from benchmarks.lines import cur_block
from collectors import streams
from sample_data import generate as sample
from sample_data import network as sample_network

WEB = {"payments-web": "storefront", "ml-serving": "model-server"}  # sample namespace -> the Ingress's workload
# The sample's executors shuffle 11 MB/s each way, a third across AZs: right for its few small jobs, but at 2,000
# jobs a day of 20 executors it would make cross-AZ transfer cost as much as the instances. The benchmark's
# executors move this share of it (550 kB/s each way: still a service's several times over), which keeps the
# costs beyond the nodes near the sample's sixth of the in-scope bill.
EXECUTOR_BYTES_SHARE = 0.05
WEEKEND_FACTOR = 0.7
NOISE, NOISE_FLOOR = 0.2, 0.2


def _cycle(hours: np.ndarray, diurnal: np.ndarray) -> np.ndarray:
    """(rows x hours) daily cycle of ``sample_network.Traffic.pod_hours``."""
    hour_of_day = (hours // HOUR) % 24
    weekend = ((hours // DAY + 3) % 7) >= 5
    cycle = 1 + diurnal[:, None] * np.sin(2 * np.pi * (hour_of_day - 9) / 24)[None, :]
    return cycle * np.where(weekend, WEEKEND_FACTOR, 1.0)[None, :]


def long_running_profiles(layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per long-running pod: bytes received and sent per second, the share crossing an AZ, host network."""
    profiles = [(0.0, 0.0, 0.0) if p.host_network else sample_network.TRAFFIC[p.labels["app"]] for p in layout.pods]
    received, sent, crossing = (np.array(column) for column in zip(*profiles, strict=True))
    return received, sent, crossing, np.array([p.host_network for p in layout.pods])


def long_running_bytes(
    layout: Layout, rng: np.random.Generator, hours: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bytes received and sent by each long-running pod in each of ``hours`` (all running the whole hour), hour
    after hour as ``tables.pod_hours_table`` lays the rows out (NaN: host network), and each row's AZ-crossing share."""
    received_rate, sent_rate, crossing, host = long_running_profiles(layout)
    cycle = _cycle(hours, layout.pod_diurnal) * HOUR
    n = len(layout.pods)
    noise = np.clip(1 + NOISE * smooth_noise(rng, 2 * n, len(hours), 3), NOISE_FLOOR, None)
    received = np.round(received_rate[:, None] * cycle * noise[:n])
    sent = np.round(sent_rate[:, None] * cycle * noise[n:])
    received[host], sent[host] = np.nan, np.nan
    return received.T.ravel(), sent.T.ravel(), np.tile(crossing, len(hours))


def spark_bytes(
    layout: Layout, rng: np.random.Generator, pod: np.ndarray, hour: np.ndarray, running: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bytes received and sent by Spark pods in hour slices (``pod`` index, ``hour``, seconds ``running``), and
    each slice's AZ-crossing share: the sample's driver rates, its executors' scaled (``EXECUTOR_BYTES_SHARE``),
    no daily cycle."""
    driver = sample_network.SPARK_TRAFFIC["driver"]
    received, sent, crossing = sample_network.SPARK_TRAFFIC["executor"]
    executor = (received * EXECUTOR_BYTES_SHARE, sent * EXECUTOR_BYTES_SHARE, crossing)
    is_driver = layout.spark.index[pod] == 0
    rates = np.where(is_driver[:, None], np.array(driver)[None, :], np.array(executor)[None, :])
    cycle = _cycle(hour, np.zeros(1))[0]  # weekends only
    noise = np.clip(1 + NOISE * rng.standard_normal((2, len(pod))), NOISE_FLOOR, None)
    received = np.round(rates[:, 0] * running * cycle * noise[0])
    sent = np.round(rates[:, 1] * running * cycle * noise[1])
    return received, sent, rates[:, 2]


def crossed_bytes(
    layout: Layout, lo: int, node: np.ndarray, hour: np.ndarray, received: np.ndarray, sent: np.ndarray,
    crossing: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """(2, nodes, 24): per node and hour of the day from ``lo``, the pods' bytes in and out that crossed an AZ."""
    n = len(layout.nodes)
    key = node * 24 + (hour - lo) // HOUR
    return np.stack(
        [
            np.bincount(key, np.nan_to_num(values) * crossing, minlength=n * 24).reshape(n, 24)
            for values in (received, sent)
        ]
    )


def node_tags(layout: Layout) -> list[dict[str, str]]:
    """The tags the CUR shows on each node's own lines (its instance's): the cluster's, and a dedicated tenant's."""
    return [
        {"user_eks_cluster_name": layout.cluster, **({"user_tenant": n.tenant} if n.tenant else {})}
        for n in layout.nodes
    ]


def transfer_lines(layout: Layout, day: int, crossed: np.ndarray) -> pa.Table:
    """Per node-hour, the GB that crossed an AZ in and out (its pods' and the host's), as two lines of its instance."""
    lo = MONTH_START + day * DAY
    n = len(layout.nodes)
    hours = np.tile(np.arange(lo, lo + DAY, HOUR, dtype=np.int64), n)
    which = np.repeat(np.arange(n), 24)
    blocks = []
    for direction, (operation, host_rate) in enumerate(
        (("InterZone-In", sample_network.HOST_CROSS_AZ[0]), ("InterZone-Out", sample_network.HOST_CROSS_AZ[1]))
    ):
        gb = np.round((crossed[direction].ravel() + host_rate * HOUR) / GIB, 10)
        blocks.append(
            cur_block(
                len(which),
                line_item_line_item_type="Usage",
                line_item_usage_start_date=hours,
                line_item_usage_end_date=hours + HOUR,
                line_item_product_code="AmazonEC2",
                line_item_usage_type="USE1-DataTransfer-Regional-Bytes",
                line_item_operation=operation,
                line_item_resource_id=pa.array([x.instance_id for x in layout.nodes]).take(pa.array(which)),
                line_item_usage_amount=gb,
                line_item_unblended_rate=sample._rate(sample_network.TRANSFER_USD_PER_GB),
                line_item_unblended_cost=np.round(gb * sample_network.TRANSFER_USD_PER_GB, 10),
                line_item_line_item_description=sample_network.TRANSFER_DESCRIPTION,
                product=sample_network.TRANSFER_PRODUCT,
                resource_tags=maps(node_tags(layout), which),
            )
        )
    return pa.concat_tables(blocks)


# --- load balancers -------------------------------------------------------------------------------------------


def load_balancers(layout: Layout) -> list[sample_network.LoadBalancer]:
    """An internet-facing ALB per web namespace copy, named as the AWS Load Balancer Controller names them."""
    created = {lb.tags.get("ingress.k8s.aws/stack", ""): lb for lb in sample_network.LOAD_BALANCERS}
    out = []
    for namespace, _created, _label, base in layout.namespaces:
        if base not in WEB:
            continue
        stack = f"{namespace}/{WEB[base]}"
        model = created[f"{base}/{WEB[base]}"]
        suffix = sample._token(f"lb/{layout.cluster}/{stack}", 10, sample.HEX)
        name = f"k8s-{namespace.replace('-', '')[:8]}-{WEB[base].replace('-', '')[:8]}-{suffix}"
        tags = {"elbv2.k8s.aws/cluster": layout.cluster, "ingress.k8s.aws/resource": "LoadBalancer",
                "ingress.k8s.aws/stack": stack}  # fmt: skip
        cur_tags = {"user_elbv2.k8s.aws/cluster": layout.cluster, "user_ingress.k8s.aws/stack": stack}
        out.append(sample_network.LoadBalancer(name, "app", "internet-facing", model.created, tags, cur_tags,
                                               model.capacity_units))  # fmt: skip
    return out


def load_balancers_table(layout: Layout, day: int) -> pa.Table:
    """``elbv2/load_balancers`` of one day: every load balancer at each hourly collect."""
    lbs = load_balancers(layout)
    lo = MONTH_START + day * DAY
    which = np.tile(np.arange(len(lbs)), 24)
    take = pa.array(which)
    collected = np.repeat(np.arange(lo, lo + DAY, HOUR), len(lbs)) + sample_network.ELBV2_SNAPSHOT_AT
    return pa.table(
        {
            "collected_at": ts(collected),
            "region": pa.repeat(sample.REGION, len(which)),
            "load_balancer_arn": pa.array([lb.arn for lb in lbs], pa.string()).take(take),
            "name": pa.array([lb.name for lb in lbs], pa.string()).take(take),
            "type": pa.repeat("application", len(which)),
            "scheme": pa.array([lb.scheme for lb in lbs], pa.string()).take(take),
            "vpc_id": pa.repeat(sample_network.VPC_ID, len(which)),
            "state": pa.repeat("active", len(which)),
            "created_at": ts(np.array([lb.created for lb in lbs], np.int64)[which]),
            "tags": maps([dict(sorted(lb.tags.items())) for lb in lbs], which),
        },
        schema=streams.LOAD_BALANCERS.schema,
    )


def load_balancer_lines(layout: Layout, day: int) -> list[pa.Table]:
    """Each load balancer's day: its hours and its LCU-hours, as ``sample_network.load_balancer_lines``."""
    lbs = load_balancers(layout)
    if not lbs:
        return []
    start = MONTH_START + day * DAY
    n = len(lbs)
    profile = float(sample_network._daily_profile(start).sum())
    units = np.round(np.array([lb.capacity_units for lb in lbs]) * profile, 10)
    common = dict(
        line_item_line_item_type="Usage",
        line_item_usage_start_date=np.full(n, start),
        line_item_usage_end_date=np.full(n, start + DAY),
        line_item_product_code="AWSELB",
        line_item_operation="LoadBalancing:Application",
        line_item_resource_id=pa.array([lb.arn for lb in lbs], pa.string()),
        product={
            "product_family": "Load Balancer-Application",
            "product_name": "Elastic Load Balancing",
            "servicecode": "AWSELB",
        },
        resource_tags=maps([lb.cur_tags for lb in lbs], np.arange(n)),
    )
    blocks = []
    for usage_type, amount, rate, text in (
        ("USE1-LoadBalancerUsage", np.full(n, 24.0), sample_network.ELB_USD_PER_HOUR,
         "per Application LoadBalancer-hour (or partial hour)"),
        ("USE1-LCUUsage", units, 0.008, "per LCU-hour (or partial hour)"),
    ):  # fmt: skip
        blocks.append(
            cur_block(
                n,
                **common,
                line_item_usage_type=usage_type,
                line_item_usage_amount=amount,
                line_item_unblended_rate=sample._rate(rate),
                line_item_unblended_cost=np.round(amount * rate, 10),
                line_item_line_item_description=f"${sample._rate(rate)} {text}",
            )
        )
    return blocks
