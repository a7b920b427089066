"""AWS's own split cost allocation rows (``EKSPod-EC2``) for the last two days of the sample month.

Split cost allocation data was turned on for ``prod-analytics`` on 2026-10-30, so the final CUR (v2) carries, for
every pod-hour on a node without GPUs on 10-30 and 10-31, two rows (``USE1-EKS-EC2-vCPU-Hours`` and
``USE1-EKS-EC2-GB-Hours``) computed by AWS's published formulas
(https://docs.aws.amazon.com/cur/latest/userguide/example-split-cost-allocation-data.html), with the pod's
usage as cAdvisor measured it (the pod-hours of ``prometheus/pod_hours``):

- the instance's amortized cost in the hour (spot or on-demand unblended cost; the Savings Plan effective cost of
  covered usage), over its vCPUs and GiB times the hour's billed fraction, weighted cpu 9 : memory 1:
  ``u = cost / (9 * vcpu + 1 * gib)``, a vCPU-hour ``9u``, a GiB-hour ``u``;
- each pod allocates ``max(requested, used)`` of each; ``split_line_item_split_cost`` = its allocation over
  ``max(sum of allocations, available)`` of the available capacity at that price;
- ``split_line_item_unused_cost`` = the capacity nobody allocated, at that price, shared among the node's pods in
  proportion to their allocation.

``split_line_item_parent_resource_id`` is the instance id. AWS puts no direct cost on these rows (the instance line
carries it): ``line_item_unblended_cost`` and the public on-demand cost are 0, and ``line_item_usage_amount`` is the
pod's requested vCPU-hours or GB-hours. They are tagged with AWS's ``aws:eks:*`` tags (cluster, namespace, node,
workload). The GPU node's rows are left out: its accelerator usage type is not in this sample.
"""

from __future__ import annotations

from collections import defaultdict

import pyarrow as pa

from sample_data.month import (
    ACCOUNT,
    CLUSTER,
    GIB,
    HOUR,
    REGION,
    CurLine,
    Node,
    Pod,
    cur_line,
    epoch,
    round10,
)

SPLIT_FROM = epoch("2026-10-30 00:00")  # split cost allocation data turned on
CPU_WEIGHT, MEMORY_WEIGHT = 9.0, 1.0
PRODUCT = {"product_name": "Amazon Elastic Kubernetes Service", "servicecode": "AmazonEKS"}


def _workload(pod: Pod) -> dict[str, str]:
    """AWS's workload tags: the controller that owns the pod (a Deployment for a ReplicaSet's pod)."""
    if pod.owner_kind == "ReplicaSet" and pod.owner_name:
        name = pod.owner_name.rsplit("-", 1)[0]
        return {"aws_eks_deployment": name, "aws_eks_workload_name": name, "aws_eks_workload_type": "Deployment"}
    if pod.owner_kind in ("StatefulSet", "DaemonSet", "Job") and pod.owner_name:
        return {"aws_eks_workload_name": pod.owner_name, "aws_eks_workload_type": pod.owner_kind}
    return {}


def instance_hours(lines: list[CurLine]) -> dict[tuple[str, int], tuple[float, float]]:
    """(instance id, hour start) -> (amortized cost, billed hours) of its instance line (v2's values)."""
    found = {}
    for line in lines:
        v = line.values
        usage_type = v["line_item_usage_type"] or ""
        if v["line_item_line_item_type"] not in ("Usage", "SavingsPlanCoveredUsage") or not (
            "BoxUsage" in usage_type or "SpotUsage" in usage_type
        ):
            continue
        covered = v["line_item_line_item_type"] == "SavingsPlanCoveredUsage"
        cost = v["savings_plan_savings_plan_effective_cost"] if covered else v["line_item_unblended_cost"]
        found[(v["line_item_resource_id"], v["line_item_usage_start_date"] // 1_000_000)] = (
            cost,
            v["line_item_usage_amount"],
        )
    return found


def split_rows(pod_hours: pa.Table, pods: list[Pod], nodes: dict[str, Node], lines: list[CurLine]) -> list[CurLine]:
    """Two EKSPod-EC2 rows per pod-hour from SPLIT_FROM on, on every node without GPUs."""
    by_uid = {p.uid: p for p in pods}
    by_name = {n.name: n for n in nodes.values()}
    costs = instance_hours(lines)
    node_hours: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for row in pod_hours.select(
        [
            "pod_uid",
            "node",
            "hour",
            "cpu_request_core_seconds",
            "cpu_usage_core_seconds",
            "memory_request_byte_seconds",
            "memory_working_set_byte_seconds",
        ]
    ).to_pylist():
        hour = int(row["hour"].timestamp())
        if hour >= SPLIT_FROM and not by_name[row["node"]].spec.gpu:
            node_hours[(row["node"], hour)].append(row)
    rows = []
    for (node_name, hour), pod_rows in sorted(node_hours.items()):
        node = by_name[node_name]
        cost, billed = costs[(node.instance_id, hour)]
        available = {"cpu": node.spec.vcpu * billed, "memory": node.spec.memory_gib * billed}
        unit = cost / (CPU_WEIGHT * available["cpu"] + MEMORY_WEIGHT * available["memory"])
        price = {"cpu": CPU_WEIGHT * unit, "memory": MEMORY_WEIGHT * unit}
        reserved = {
            "cpu": [r["cpu_request_core_seconds"] / HOUR for r in pod_rows],
            "memory": [r["memory_request_byte_seconds"] / HOUR / GIB for r in pod_rows],
        }
        allocated = {
            "cpu": [max(q, r["cpu_usage_core_seconds"] / HOUR) for q, r in zip(reserved["cpu"], pod_rows, strict=True)],
            "memory": [
                max(q, r["memory_working_set_byte_seconds"] / HOUR / GIB)
                for q, r in zip(reserved["memory"], pod_rows, strict=True)
            ],
        }
        for i, row in enumerate(pod_rows):
            pod = by_uid[row["pod_uid"]]
            arn = f"arn:aws:eks:{REGION}:{ACCOUNT}:pod/{CLUSTER}/{pod.namespace}/{pod.name}/{pod.uid}"
            tags = {
                "aws_eks_cluster_name": CLUSTER,
                "aws_eks_namespace": pod.namespace,
                "aws_eks_node": node_name,
                **_workload(pod),
            }
            for resource, usage_type in (("cpu", "USE1-EKS-EC2-vCPU-Hours"), ("memory", "USE1-EKS-EC2-GB-Hours")):
                total = sum(allocated[resource])
                share = allocated[resource][i] / total if total else 0.0
                split = share * min(total, available[resource]) * price[resource]
                unused = share * max(available[resource] - total, 0.0) * price[resource]
                line = cur_line(
                    "Usage",
                    hour,
                    hour + HOUR,
                    "AmazonEKS",
                    usage_type,
                    "EKSPod-EC2",
                    arn,
                    round10(reserved[resource][i]),
                    None,
                    0.0,
                    "Split cost of an EC2 instance allocated to an EKS pod",
                    public_cost=0.0,
                    pricing_term=None,
                    tags=dict(sorted(tags.items())),
                )
                line.values |= {
                    "split_line_item_parent_resource_id": node.instance_id,
                    "split_line_item_split_cost": round10(split),
                    "split_line_item_unused_cost": round10(unused),
                }
                rows.append(line)
    return rows
