"""A real Prometheus (Debian's ``prometheus`` 2.42) backfilled with a synthetic cluster whose truth is known.

The generator describes a small EKS cluster over two days: two nodes (one joins mid-morning), a
long-running Deployment with a sidecar and a counter reset, a StatefulSet pod that moves to the other
node (a new pod uid, as in Kubernetes), an EMR on EKS Spark job (a driver, a 90-second executor across
an hour boundary, a 7-minute one and a 61-second one), a GPU training pod, and a namespace whose tenant
label changes mid-day. Usage is piecewise constant with change points that do not line up with scrapes,
so the *exact* integrals (``SyntheticCluster.pod_hour_truth`` and friends) are computed analytically and
independently of the scraped samples; the collector is judged against them.

The samples are what cAdvisor and kube-state-metrics would expose, scraped every 30 s (cAdvisor per node
with its own offset, kube-state-metrics with another), written as OpenMetrics text (timestamps in
seconds, each series in time order, validated before use), turned into TSDB blocks with
``promtool tsdb create-blocks-from openmetrics`` and served by ``prometheus`` on a free loopback port.

Backfilled series carry no staleness markers (a scraped series gets one when it disappears), so an
instant selector keeps returning a finished pod's last sample for the 5-minute lookback; the collector's
queries must not depend on staleness markers, and this data would catch them if they did.

Run ``python -m tests.services.prometheus --pods 300`` (or ``--pods 1000``) to measure collection throughput
on a bigger generated cluster.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests

from benchmarks.prometheus_server import (  # noqa: F401 - re-exported for the tests
    KSM,
    KSM_OFFSET,
    MISSING_BINARIES,
    PrometheusServer,
    backfill,
    binaries,
    cgroup_id,
    free_port,
)
from tests.services import send_json

STEP = 30  # the scrape interval, seconds
START = datetime(2025, 3, 10, tzinfo=UTC)
DAYS = 2
GIB = 1024**3
MIB = 1024**2
KSM_AFTER_RESTART = "10.0.4.7:8080"  # a restarted kube-state-metrics pod: every series gets a new instance label


# --- signals whose integrals are exact ------------------------------------------------------------


@dataclass(frozen=True)
class Piecewise:
    """A piecewise-constant signal: ``values[i]`` holds on ``[edges[i], edges[i + 1])``."""

    edges: tuple[float, ...]
    values: tuple[float, ...]

    @staticmethod
    def random(rng: random.Random, start: float, end: float, low: float, high: float) -> Piecewise:
        """Change points every 2 to 15 minutes at arbitrary (non-scrape-aligned) instants."""
        edges, values = [start], []
        while edges[-1] < end:
            values.append(rng.uniform(low, high))
            edges.append(min(end, edges[-1] + rng.uniform(120.0, 900.0)))
        return Piecewise(tuple(edges), tuple(values))

    @staticmethod
    def constant(start: float, end: float, value: float) -> Piecewise:
        return Piecewise((start, end), (value,))

    def _cumulative(self) -> list[float]:
        cached = self.__dict__.get("_cum")
        if cached is None:
            cached = [0.0]
            for i, value in enumerate(self.values):
                cached.append(cached[-1] + value * (self.edges[i + 1] - self.edges[i]))
            object.__setattr__(self, "_cum", cached)
        return cached

    def at(self, t: float) -> float:
        i = min(max(bisect.bisect_right(self.edges, t) - 1, 0), len(self.values) - 1)
        return self.values[i]

    def antiderivative(self, t: float) -> float:
        """The integral from the first edge to ``t`` (clamped to the signal's span)."""
        t = min(max(t, self.edges[0]), self.edges[-1])
        i = min(bisect.bisect_right(self.edges, t) - 1, len(self.values) - 1)
        return self._cumulative()[i] + self.values[i] * (t - self.edges[i])

    def integral(self, a: float, b: float) -> float:
        return self.antiderivative(b) - self.antiderivative(a) if b > a else 0.0


def overlap(a: float, b: float, c: float, d: float) -> float:
    return max(0.0, min(b, d) - max(a, c))


# --- the cluster ----------------------------------------------------------------------------------


@dataclass
class Container:
    name: str
    cpu_request: float  # cores
    memory_request: float  # bytes
    cpu: Piecewise  # cores used
    memory: Piecewise  # working-set bytes
    gpu_request: float = 0.0
    resets: tuple[float, ...] = ()  # instants the CPU counter restarts from zero (same series)

    def counter(self, start: float, t: float) -> float:
        """container_cpu_usage_seconds_total at ``t``: CPU seconds since the container (or its reset) began."""
        origin = max([start, *[r for r in self.resets if r <= t]])
        return self.cpu.integral(origin, t)


@dataclass
class Network:
    """Bytes per second received and sent on each interface of a network namespace (piecewise constant), and
    the instants its counters restart from zero (in the same series)."""

    receive: dict[str, Piecewise]  # interface -> bytes/s
    transmit: dict[str, Piecewise]
    resets: tuple[float, ...] = ()

    def counter(self, rates: Piecewise, since: float, t: float) -> float:
        """container_network_*_bytes_total at ``t``: bytes since the namespace (or its last reset) began."""
        origin = max([since, *[r for r in self.resets if r <= t]])
        return rates.integral(origin, t)


@dataclass
class Pod:
    namespace: str
    name: str
    node: str
    start: float  # running from
    end: float  # running until (exclusive)
    containers: list[Container]
    owner_kind: str | None = None
    owner_name: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    created: float | None = None  # exists (Pending) from; default: start
    deleted: float | None = None  # exists (Succeeded) until; default: end
    completes: bool = False  # kube_pod_completion_time is exported after ``end``
    uid: str = ""
    network: Network | None = None  # the pod's own network namespace (None: cAdvisor reports none)
    host_network: bool = False  # hostNetwork: its sandbox reports the node's interfaces
    claims: tuple[tuple[str, str, bool], ...] = ()  # (volume, claim, read-only) it mounts

    def __post_init__(self) -> None:
        if not self.uid:
            self.uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.namespace}/{self.name}/{self.start}"))
        self.created = self.start if self.created is None else self.created
        self.deleted = self.end if self.deleted is None else self.deleted

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Node:
    name: str
    provider_id: str
    instance_type: str
    cpu: float
    memory: float
    gpu: float
    up: float
    down: float
    labels: dict[str, str]
    cadvisor_offset: float  # this node's kubelet is scraped at its own offset
    systemd_cgroups: bool = False  # cgroup ids in the systemd driver's form
    pod_cgroup_network: bool = False  # cAdvisor reports each pod's network on its pod cgroup too, not only its sandbox
    network: Network | None = None  # the node's own interfaces (its root cgroup, and host-network pods)


@dataclass
class Namespace:
    name: str
    # (from, labels) in time order: the labels in force from that instant until the next entry
    labels: list[tuple[float, dict[str, str]]]


@dataclass
class PersistentVolume:
    """A PV: its EBS volume (CSI volume handle, or an in-tree volume id), its life, and its claimRef and phase
    over time: ``bindings`` (from, claim namespace, claim name, phase), a claim of None when the claimRef is
    empty. ``capacity`` (from, bytes) likewise."""

    name: str
    storage_class: str | None
    csi_volume_handle: str | None
    in_tree_volume_id: str | None
    created: float
    deleted: float
    bindings: list[tuple[float, str | None, str | None, str]]
    capacity: list[tuple[float, float]]

    def at(self, changes: list, t: float) -> tuple:
        """The entry of ``changes`` (from, ...) in force at ``t``."""
        return [c for c in changes if c[0] <= t][-1]


@dataclass
class OwnedObject:
    """A ReplicaSet or a Job as kube-state-metrics' ``kube_replicaset_owner`` / ``kube_job_owner`` show it, from
    ``created`` until ``deleted``: one series per ownerReference (kind, name, controller). With none, one series
    whose owner labels say so: ``"<none>"`` before the cluster's kube-state-metrics restart (an upgrade from 2.7),
    absent (empty) after it (2.8 and later)."""

    namespace: str
    kind: str  # ReplicaSet or Job
    name: str
    created: float
    deleted: float
    references: tuple[tuple[str, str, bool], ...] = ()


@dataclass
class SyntheticCluster:
    start: float
    end: float
    nodes: list[Node]
    pods: list[Pod]
    namespaces: list[Namespace]
    step: int = STEP
    ksm_restart: float | None = None  # kube-state-metrics restarts (a new pod IP) at this instant
    ksm_offset: float = KSM_OFFSET  # kube-state-metrics is scraped at this offset past each interval
    volumes: list[PersistentVolume] = field(default_factory=list)
    owned: list[OwnedObject] = field(default_factory=list)

    @property
    def hours(self) -> list[float]:
        return [self.start + 3600 * h for h in range(int((self.end - self.start) // 3600))]

    def pod(self, name: str, *, node: str | None = None) -> Pod:
        return next(p for p in self.pods if p.name == name and (node is None or p.node == node))

    def pod_hour_truth(self) -> dict[tuple[str, float], dict[str, float]]:
        """Exact integrals per (pod uid, hour start) over the part of the hour the pod ran."""
        truth: dict[tuple[str, float], dict[str, float]] = {}
        for pod in self.pods:
            for hour in self.hours:
                a, b = max(pod.start, hour, self.start), min(pod.end, hour + 3600, self.end)
                if b <= a:
                    continue
                truth[(pod.uid, hour)] = {
                    "running_seconds": b - a,
                    "cpu_request_core_seconds": sum(c.cpu_request for c in pod.containers) * (b - a),
                    "cpu_usage_core_seconds": sum(c.cpu.integral(a, b) for c in pod.containers),
                    "memory_request_byte_seconds": sum(c.memory_request for c in pod.containers) * (b - a),
                    "memory_working_set_byte_seconds": sum(c.memory.integral(a, b) for c in pod.containers),
                    "gpu_request_seconds": sum(c.gpu_request for c in pod.containers) * (b - a),
                }
        return truth

    def network_truth(self) -> dict[tuple[str, float], tuple[float, float] | None]:
        """Exact bytes (received, sent) per (pod uid, hour start) over the part of the hour the pod ran: the
        rates' integrals on every interface; None for a host-network pod (its counters are the node's)."""
        truth: dict[tuple[str, float], tuple[float, float] | None] = {}
        for pod in self.pods:
            if pod.network is None and not pod.host_network:
                continue
            for hour in self.hours:
                a, b = max(pod.start, hour, self.start), min(pod.end, hour + 3600, self.end)
                if b <= a:
                    continue
                if pod.host_network or pod.network is None:
                    truth[(pod.uid, hour)] = None
                    continue
                received = sum(rate.integral(a, b) for rate in pod.network.receive.values())
                sent = sum(rate.integral(a, b) for rate in pod.network.transmit.values())
                truth[(pod.uid, hour)] = (received, sent)
        return truth

    def volume_truth(self) -> dict[tuple[str, float], dict]:
        """Per (PV, hour start) it existed: the seconds its claimRef named each claim ((namespace, name), or
        None for no claimRef), the phase in force longest, the mean capacity, and its volume id and class."""
        truth: dict[tuple[str, float], dict] = {}
        for pv in self.volumes:
            for hour in self.hours:
                a, b = max(pv.created, hour, self.start), min(pv.deleted, hour + 3600, self.end)
                if b <= a:
                    continue
                claims: dict[tuple[str, str] | None, float] = defaultdict(float)
                phases: dict[str, float] = defaultdict(float)
                for i, (since, namespace, name, phase) in enumerate(pv.bindings):
                    until = pv.bindings[i + 1][0] if i + 1 < len(pv.bindings) else math.inf
                    seconds = overlap(since, until, a, b)
                    if seconds > 0:
                        claims[(namespace, name) if name else None] += seconds
                        phases[phase] += seconds
                capacity = 0.0
                for i, (since, size) in enumerate(pv.capacity):
                    until = pv.capacity[i + 1][0] if i + 1 < len(pv.capacity) else math.inf
                    capacity += size * overlap(since, until, a, b) / (b - a)
                truth[(pv.name, hour)] = {
                    "claims": dict(claims),
                    "phase": max(phases.items(), key=lambda p: p[1])[0],
                    "capacity_bytes": capacity,
                    # the EBS volume id: the CSI handle, else the in-tree id without its aws://<zone>/ prefix
                    "volume_handle": pv.csi_volume_handle or (pv.in_tree_volume_id or "").rsplit("/", 1)[-1] or None,
                    "storage_class": pv.storage_class,
                }
        return truth

    def namespace_label_truth(self) -> dict[tuple[str, float, tuple], float]:
        """Seconds in force per (namespace, hour start, sorted label items)."""
        truth: dict[tuple[str, float, tuple], float] = {}
        for ns in self.namespaces:
            for i, (since, labels) in enumerate(ns.labels):
                until = ns.labels[i + 1][0] if i + 1 < len(ns.labels) else self.end
                for hour in self.hours:
                    seconds = overlap(max(since, self.start), until, hour, hour + 3600)
                    if seconds > 0:
                        truth[(ns.name, hour, tuple(sorted(labels.items())))] = seconds
        return truth

    def node_hour_truth(self) -> dict[tuple[str, float], float]:
        """Seconds each node was up per (node, hour start)."""
        return {
            (node.name, hour): seconds
            for node in self.nodes
            for hour in self.hours
            if (seconds := overlap(node.up, node.down, hour, hour + 3600)) > 0
        }


def _sanitize(key: str) -> str:
    """kube-state-metrics' label name: ``label_`` + the key with every character outside [a-zA-Z0-9_] as ``_``."""
    return "label_" + "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_" for ch in key)


def _usage(
    rng: random.Random,
    name: str,
    start: float,
    end: float,
    cpu: tuple[float, float],
    mem_mib: tuple[int, int],
    cpu_request: float,
    mem_request_mib: int,
    **extra,
) -> Container:
    return Container(
        name=name,
        cpu_request=cpu_request,
        memory_request=mem_request_mib * MIB,
        cpu=Piecewise.random(rng, start, end, *cpu),
        memory=Piecewise.random(rng, start, end, mem_mib[0] * MIB, mem_mib[1] * MIB),
        **extra,
    )


def small_cluster(start: datetime = START, days: int = DAYS, seed: int = 20250310) -> SyntheticCluster:
    """Two nodes, nine pod uids and four namespaces over ``days`` days from ``start``: the cases in the docstring."""
    rng = random.Random(seed)
    t0 = start.timestamp()
    t1 = t0 + days * 86400
    h = 3600.0
    node_a, node_b = "ip-10-0-1-10.ec2.internal", "ip-10-0-2-20.ec2.internal"
    nodes = [
        Node(node_a, "aws:///us-east-1a/i-0a1b2c3d4e5f60001", "m5.2xlarge", 8, 32_386_244_608, 0, t0 - 7 * 86400,
             t1 + 86400, {"eks.amazonaws.com/nodegroup": "general", "eks.amazonaws.com/capacityType": "ON_DEMAND",
                          "topology.kubernetes.io/zone": "us-east-1a"}, cadvisor_offset=7.0),
        Node(node_b, "aws:///us-east-1b/i-0a1b2c3d4e5f60002", "g5.2xlarge", 8, 33_094_451_200, 1, t0 + 6 * h + 1200,
             t1 + 86400, {"eks.amazonaws.com/nodegroup": "gpu", "eks.amazonaws.com/capacityType": "SPOT",
                          "topology.kubernetes.io/zone": "us-east-1b", "chargeback.io/tenant": "ml"},
             cadvisor_offset=19.0, systemd_cgroups=True),
    ]  # fmt: skip
    for node in nodes:
        node.labels |= {
            "node.kubernetes.io/instance-type": node.instance_type,
            "beta.kubernetes.io/instance-type": node.instance_type,
            "kubernetes.io/hostname": node.name,
        }
    before, after = t0 - 3 * 86400, t1 + 86400  # long-running pods began before the data and outlive it
    web_reset = t0 + 13 * h + 17 * 60 + 10
    moved = t0 + 10 * h + 20 * 60 + 15
    spark = {
        "emr-containers.amazonaws.com/job.id": "0000000349ab1cdef2g",
        "emr-containers.amazonaws.com/virtual-cluster-id": "b3k7p9x2m4q8r1s5t6u0v",
        "spark-app-name": "spark-pi",
        "spark-app-selector": "spark-7f3c1e2d4b5a",
    }
    driver = t0 + 14 * h + 52 * 60 + 5
    exec1, exec2, exec3 = t0 + 14 * h + 59 * 60 + 20, t0 + 15 * h + 2 * 60 + 11, t0 + 15 * h + 5 * 60 + 3
    train = t0 + 86400 + 2 * h + 13 * 60
    pods = [
        Pod("kube-system", "coredns-5d78c9869d-x7k2p", node_a, before, after,
            [_usage(rng, "coredns", before, after, (0.002, 0.03), (18, 40), 0.1, 70)],
            "ReplicaSet", "coredns-5d78c9869d", {"k8s-app": "kube-dns", "pod-template-hash": "5d78c9869d"}),
        Pod("team-a", "web-6b7c9d8f5-xk2lp", node_a, before, after,
            [_usage(rng, "app", before, after, (0.1, 0.8), (300, 700), 0.5, 512, resets=(web_reset,)),
             _usage(rng, "proxy", before, after, (0.01, 0.05), (40, 90), 0.1, 128)],
            "ReplicaSet", "web-6b7c9d8f5", {"app.kubernetes.io/name": "web", "tenant": "alpha"}),
        Pod("team-a", "db-0", node_a, before, moved,
            [_usage(rng, "postgres", before, moved, (0.2, 1.5), (2000, 3500), 1.0, 4096)],
            "StatefulSet", "db", {"app.kubernetes.io/name": "db"}),
        Pod("team-a", "db-0", node_b, moved + 85, after,
            [_usage(rng, "postgres", moved + 85, after, (0.2, 1.5), (2000, 3500), 1.0, 4096)],
            "StatefulSet", "db", {"app.kubernetes.io/name": "db"}, created=moved + 30),
        Pod("spark-jobs", "spark-pi-driver", node_a, driver, driver + 25 * 60 + 30,
            [_usage(rng, "spark-kubernetes-driver", driver, driver + 1530, (0.3, 1.0), (900, 1800), 1.0, 2432)],
            None, None, spark | {"spark-role": "driver"}, created=driver - 20, deleted=driver + 1530 + 600,
            completes=True),
        Pod("spark-jobs", "spark-pi-exec-1", node_b, exec1, exec1 + 90,
            [_usage(rng, "spark-kubernetes-executor", exec1, exec1 + 90, (1.2, 2.0), (2500, 4000), 2.0, 4505)],
            "Pod", "spark-pi-driver", spark | {"spark-role": "executor", "spark-exec-id": "1"},
            created=exec1 - 15, deleted=exec1 + 90 + 120, completes=True),
        Pod("spark-jobs", "spark-pi-exec-2", node_b, exec2, exec2 + 7 * 60 + 2,
            [_usage(rng, "spark-kubernetes-executor", exec2, exec2 + 422, (1.0, 2.0), (2500, 4000), 2.0, 4505)],
            "Pod", "spark-pi-driver", spark | {"spark-role": "executor", "spark-exec-id": "2"},
            created=exec2 - 15, deleted=exec2 + 422 + 120, completes=True),
        Pod("spark-jobs", "spark-pi-exec-3", node_a, exec3, exec3 + 61,
            [_usage(rng, "spark-kubernetes-executor", exec3, exec3 + 61, (1.0, 2.0), (2500, 4000), 2.0, 4505)],
            "Pod", "spark-pi-driver", spark | {"spark-role": "executor", "spark-exec-id": "3"},
            created=exec3 - 15, deleted=exec3 + 61 + 120, completes=True),
        Pod("ml", "trainer-7xk9q", node_b, train, train + 3 * h + 27 * 60 + 20,
            [_usage(rng, "trainer", train, train + 12440, (2.0, 3.8), (9000, 14000), 4.0, 16384, gpu_request=1.0)],
            "Job", "trainer", {"job-name": "trainer"}, created=train - 40, deleted=train + 12440 + 300,
            completes=True),
    ]  # fmt: skip
    network, volumes = _network_and_volumes(random.Random(seed + 1), t0, t1, nodes, pods)
    relabel = t0 + 12 * h + 40 * 60
    namespaces = [
        Namespace("kube-system", [(before, {"kubernetes.io/metadata.name": "kube-system"})]),
        Namespace("team-a", [(before, {"kubernetes.io/metadata.name": "team-a", "tenant": "alpha"}),
                             (relabel, {"kubernetes.io/metadata.name": "team-a", "tenant": "beta"})]),
        Namespace("spark-jobs", [(before, {"kubernetes.io/metadata.name": "spark-jobs", "tenant": "analytics"})]),
        Namespace("ml", [(before, {"kubernetes.io/metadata.name": "ml", "tenant": "ml"})]),
    ]  # fmt: skip
    ksm_restart = t0 + 86400 + 9 * h + 41 * 60 + 1  # between the scrapes at 09:40:43 and 09:41:13 of day 2
    legacy, owned = _owned_objects(random.Random(seed + 2), t0, t1, node_a)
    return SyntheticCluster(
        t0, t1, nodes, pods + network + legacy, namespaces, ksm_restart=ksm_restart, volumes=volumes, owned=owned
    )


def _owned_objects(rng: random.Random, t0: float, t1: float, node: str) -> tuple[list[Pod], list[OwnedObject]]:
    """The owners of the pods' ReplicaSets and Jobs, and one more pod (its own random stream, so the other pods'
    usage is what it was before it was added):

    - coredns's ReplicaSet belongs to the Deployment ``coredns``; an older ReplicaSet of it has no pods;
    - web's ReplicaSet ``web-6b7c9d8f5`` belongs to an Argo Rollout ``storefront`` (the name's guess would be a
      Deployment ``web``);
    - ``legacy-proxy`` is a bare ReplicaSet (no ownerReferences) with one pod on day 2, 08:00:13 to 11:02:41, across
      kube-state-metrics' restart: "<none>" owner labels before it, none after;
    - the trainer's Job ``trainer`` belongs to the CronJob ``trainer-nightly`` (its controller) and names a
      Workflow ``ml-nightly`` as a second, non-controlling owner.
    """
    h, before, after, day2 = 3600.0, t0 - 3 * 86400, t1 + 86400, t0 + 86400
    start, end = day2 + 8 * h + 13, day2 + 11 * h + 2 * 60 + 41
    legacy = Pod(
        "kube-system", "legacy-proxy-q8w2z", node, start, end,
        [_usage(rng, "proxy", start, end, (0.05, 0.3), (60, 120), 0.25, 256)],
        "ReplicaSet", "legacy-proxy", {"app": "legacy-proxy"}, created=start - 5, deleted=end + 30,
    )  # fmt: skip
    coredns = (("Deployment", "coredns", True),)
    owned = [
        OwnedObject("kube-system", "ReplicaSet", "coredns-5d78c9869d", before, after, coredns),
        OwnedObject("kube-system", "ReplicaSet", "coredns-7db6d8ff4d", before, after, coredns),
        OwnedObject("team-a", "ReplicaSet", "web-6b7c9d8f5", before, after, (("Rollout", "storefront", True),)),
        OwnedObject("kube-system", "ReplicaSet", "legacy-proxy", start - 60, end + 600),
        OwnedObject("ml", "Job", "trainer", day2 + 2 * h + 12 * 60, after,
                    (("CronJob", "trainer-nightly", True), ("Workflow", "ml-nightly", False))),
    ]  # fmt: skip
    return [legacy], owned


def _network_and_volumes(
    rng: random.Random, t0: float, t1: float, nodes: list[Node], pods: list[Pod]
) -> tuple[list[Pod], list[PersistentVolume]]:
    """Network traffic for ``pods`` (bytes per second on eth0), the nodes' own interfaces, a host-network
    DaemonSet pod, and three PersistentVolumes with the claims pods mount. Its own random stream, so the
    usage of the other pods is what it was before these were added.

    - web's counters restart from zero at 09:05:07 on day 1 (in the same series); node A's cAdvisor reports
      each pod's network on its pod cgroup as well as on its pause container (the same bytes twice);
    - the trainer has a second interface (net1); kube-proxy uses the host network: its sandbox reports the
      node's eth0;
    - data-db-0's PV (EBS CSI, gp3) grows from 100 GiB to 200 GiB at 16:20:00 on day 1;
    - the Spark shuffle PV (in-tree, ``aws://us-east-1b/vol-...``, Retain): claim spark-jobs/shuffle-spark-pi
      until its claim is deleted at 15:40:00 (Released, claimRef kept), the claimRef cleared at 17:10:00
      (Available), bound to ml/trainer-scratch at 17:25:30, then re-bound at 09:30:00 on day 2 straight to
      spark-jobs/shuffle-spark-pi-2 (1800 s each in that hour: the later binding wins the tie);
    - an unclaimed PV, created at 08:12:00 and deleted at 20:05:00 on day 1.
    """
    h, before, after = 3600.0, t0 - 3 * 86400, t1 + 86400

    def rates(start: float, end: float, low_mib: float, high_mib: float) -> Piecewise:
        return Piecewise.random(rng, start, end, low_mib * MIB, high_mib * MIB)

    traffic = {  # pod -> (received, sent) MiB/s ranges
        "coredns-5d78c9869d-x7k2p": ((0.02, 0.2), (0.02, 0.2)),
        "web-6b7c9d8f5-xk2lp": ((0.2, 2.0), (0.5, 4.0)),
        "db-0": ((1.0, 5.0), (0.5, 3.0)),
        "spark-pi-driver": ((0.5, 3.0), (0.2, 2.0)),
        "spark-pi-exec-1": ((20.0, 80.0), (20.0, 80.0)),
        "spark-pi-exec-2": ((20.0, 80.0), (20.0, 80.0)),
        "spark-pi-exec-3": ((20.0, 80.0), (20.0, 80.0)),
        "trainer-7xk9q": ((5.0, 30.0), (0.1, 1.0)),
    }
    for pod in pods:
        receive, transmit = traffic[pod.name]
        resets = (t0 + 9 * h + 5 * 60 + 7,) if pod.name.startswith("web-") else ()
        nics = ("eth0", "net1") if pod.name.startswith("trainer-") else ("eth0",)  # net1: a second (Multus) NIC
        pod.network = Network(
            {nic: rates(pod.start, pod.end, *receive) for nic in nics},
            {nic: rates(pod.start, pod.end, *transmit) for nic in nics},
            resets,
        )
    for node in nodes:
        node.network = Network({"eth0": rates(before, after, 5.0, 60.0)}, {"eth0": rates(before, after, 5.0, 60.0)})
    node_a = nodes[0]
    node_a.pod_cgroup_network = True
    proxy = Pod(
        "kube-system",
        "kube-proxy-7vq2m",
        node_a.name,
        before,
        after,
        [_usage(rng, "kube-proxy", before, after, (0.001, 0.01), (15, 30), 0.1, 50)],
        "DaemonSet",
        "kube-proxy",
        {"k8s-app": "kube-proxy"},
        host_network=True,
    )
    claims = {
        "db-0": (("data", "data-db-0", False),),
        "web-6b7c9d8f5-xk2lp": (("static", "static-assets", True),),
        "spark-pi-driver": (("spark-local-dir-1", "shuffle-spark-pi", False),),
        "spark-pi-exec-1": (("spark-local-dir-1", "shuffle-spark-pi", False),),
        "trainer-7xk9q": (("scratch", "trainer-scratch", False),),
    }
    for pod in pods:
        pod.claims = claims.get(pod.name, ())
    gib = 1024.0**3
    day2 = t0 + 86400
    volumes = [
        PersistentVolume("pvc-5a1e0c2d-4f1b-4c7e-9d3a-8b2f6e4c1a90", "gp3", "vol-0db5f3e1a2c4b6d80", None,
                         before, after, [(before, "team-a", "data-db-0", "Bound")],
                         [(before, 100 * gib), (t0 + 16 * h + 20 * 60, 200 * gib)]),
        PersistentVolume("pvc-9c7d3b1a-2e4f-4a6b-8c0d-1f3e5a7b9c20", "gp2", None, "aws://us-east-1b/vol-0a7c9e1b3d5f70246",
                         before, after,
                         [(before, "spark-jobs", "shuffle-spark-pi", "Bound"),
                          (t0 + 15 * h + 40 * 60, "spark-jobs", "shuffle-spark-pi", "Released"),
                          (t0 + 17 * h + 10 * 60, None, None, "Available"),
                          (t0 + 17 * h + 25 * 60 + 30, "ml", "trainer-scratch", "Bound"),
                          (day2 + 9 * h + 30 * 60, "spark-jobs", "shuffle-spark-pi-2", "Bound")],
                         [(before, 500 * gib)]),
        PersistentVolume("pvc-e2b4d6f8-0a1c-4e3b-9d5f-7a9c1e3b5d70", "gp3", "vol-0f1e2d3c4b5a69788", None,
                         t0 + 8 * h + 12 * 60, t0 + 20 * h + 5 * 60, [(t0 + 8 * h + 12 * 60, None, None, "Available")],
                         [(t0 + 8 * h + 12 * 60, 50 * gib)]),
    ]  # fmt: skip
    return [proxy], volumes


def scale_cluster(pods: int, start: datetime = START, days: int = 1, seed: int = 7) -> SyntheticCluster:
    """A bigger cluster for throughput: ``pods`` pods over ``pods // 10 + 1`` nodes, a quarter of them short."""
    rng = random.Random(seed)
    t0 = start.timestamp()
    t1 = t0 + days * 86400
    nodes = [
        Node(f"ip-10-1-{i // 250}-{i % 250}.ec2.internal", f"aws:///us-east-1a/i-{i:017x}", "m5.4xlarge", 16,
             66_000_000_000, 0, t0 - 86400, t1 + 86400, {}, cadvisor_offset=float(i % 30))
        for i in range(pods // 10 + 1)
    ]  # fmt: skip
    all_pods = []
    for i in range(pods):
        if i % 4 == 3:  # a Spark executor of a few minutes somewhere in the day
            a = t0 + rng.uniform(0, t1 - t0 - 900)
            b = a + rng.uniform(60, 900)
        else:
            a, b = t0 - 86400, t1 + 86400
        all_pods.append(
            Pod(
                "load",
                f"worker-{i}",
                nodes[i % len(nodes)].name,
                a,
                b,
                [_usage(rng, "main", a, b, (0.05, 1.5), (100, 2000), 0.5, 1024)],
                "ReplicaSet",
                "worker",
            )
        )
    return SyntheticCluster(t0, t1, nodes, all_pods, [Namespace("load", [(t0 - 86400, {"tenant": "load"})])])


# --- OpenMetrics ----------------------------------------------------------------------------------


def _labels(labels: dict[str, str]) -> str:
    body = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return "{" + body + "}"


def _times(cluster: SyntheticCluster, offset: float, a: float, b: float) -> Iterator[float]:
    """Scrape instants at ``offset`` past each 30 s mark, within [a, b) and the data's span."""
    a, b = max(a, cluster.start), min(b, cluster.end)
    k = math.ceil((a - cluster.start - offset) / cluster.step)
    t = cluster.start + offset + k * cluster.step
    while t < b:
        yield t
        k += 1
        t = cluster.start + offset + k * cluster.step


class _Writer:
    """Writes series to OpenMetrics text, checking that every timestamp is in seconds and in order.

    kube-state-metrics series are split at its restart: from then on they carry its new ``instance``.
    """

    def __init__(self, path: Path, ksm_restart: float | None = None):
        self.file = path.open("w")
        self.samples = 0
        self.series = 0
        self.ksm_restart = ksm_restart

    def series_of(self, name: str, labels: dict[str, str], points: Iterable[tuple[float, float]]) -> None:
        if self.ksm_restart is not None and labels.get("job") == KSM["job"]:
            points = list(points)
            self._series(name, labels, [p for p in points if p[0] < self.ksm_restart])
            self._series(
                name, labels | {"instance": KSM_AFTER_RESTART}, [p for p in points if p[0] >= self.ksm_restart]
            )
        else:
            self._series(name, labels, points)

    def _series(self, name: str, labels: dict[str, str], points: Iterable[tuple[float, float]]) -> None:
        prefix = name + _labels(labels) + " "
        last = -math.inf
        lines = []
        for t, value in points:
            if not 1e9 < t < 1e10:
                raise ValueError(f"{prefix}: timestamp {t} is not in seconds")
            if t <= last:
                raise ValueError(f"{prefix}: timestamp {t} is not after {last}")
            last = t
            lines.append(f"{prefix}{value!r} {t:.3f}\n")
        if lines:
            self.file.writelines(lines)
            self.samples += len(lines)
            self.series += 1

    def close(self) -> None:
        self.file.write("# EOF\n")
        self.file.close()


def _cgroup_id(node: Node, pod: Pod, container: str) -> str:
    return cgroup_id(pod.uid, container, node.systemd_cgroups)


def write_openmetrics(cluster: SyntheticCluster, path: Path) -> tuple[int, int]:
    """Write every series of the cluster; return (series, samples)."""
    out = _Writer(path, cluster.ksm_restart)
    nodes = {node.name: node for node in cluster.nodes}
    ksm = lambda a, b: _times(cluster, cluster.ksm_offset, a, b)  # noqa: E731
    for node in cluster.nodes:
        info = KSM | {
            "node": node.name,
            "provider_id": node.provider_id,
            "internal_ip": "10.0.0.1",
            "kernel_version": "6.1.0",
            "kubelet_version": "v1.29.3-eks-ae9a62a",
            "container_runtime_version": "containerd://1.7.11",
        }
        out.series_of("kube_node_info", info, ((t, 1.0) for t in ksm(node.up, node.down)))
        out.series_of("kube_node_created", KSM | {"node": node.name}, ((t, node.up) for t in ksm(node.up, node.down)))
        labels = KSM | {"node": node.name} | {_sanitize(k): v for k, v in node.labels.items()}
        out.series_of("kube_node_labels", labels, ((t, 1.0) for t in ksm(node.up, node.down)))
        for resource, unit, value in (
            ("cpu", "core", node.cpu),
            ("memory", "byte", node.memory),
            ("pods", "integer", 58.0),
            ("nvidia_com_gpu", "integer", node.gpu),
        ):
            if resource == "nvidia_com_gpu" and not value:
                continue
            out.series_of(
                "kube_node_status_capacity",
                KSM | {"node": node.name, "resource": resource, "unit": unit},
                ((t, float(value)) for t in ksm(node.up, node.down)),
            )
    for ns in cluster.namespaces:
        for i, (since, labels) in enumerate(ns.labels):
            until = ns.labels[i + 1][0] if i + 1 < len(ns.labels) else cluster.end
            series = KSM | {"namespace": ns.name} | {_sanitize(k): v for k, v in labels.items()}
            out.series_of("kube_namespace_labels", series, ((t, 1.0) for t in ksm(since, until)))
    for pod in cluster.pods:
        node = nodes[pod.node]
        who = {"namespace": pod.namespace, "pod": pod.name, "uid": pod.uid}
        life = (pod.created, pod.deleted)
        owner = {"created_by_kind": pod.owner_kind or "<none>", "created_by_name": pod.owner_name or "<none>"}
        info = (
            KSM
            | who
            | owner
            | {
                "node": pod.node,
                "host_ip": "10.0.0.1",
                "pod_ip": "10.0.9.9",
                "host_network": "true" if pod.host_network else "false",
            }
        )
        out.series_of("kube_pod_info", info, ((t, 1.0) for t in ksm(*life)))
        labels = KSM | who | {_sanitize(k): v for k, v in pod.labels.items()}
        out.series_of("kube_pod_labels", labels, ((t, 1.0) for t in ksm(*life)))
        out.series_of("kube_pod_start_time", KSM | who, ((t, pod.start) for t in ksm(pod.start, pod.deleted)))
        if pod.completes:
            out.series_of("kube_pod_completion_time", KSM | who, ((t, pod.end) for t in ksm(pod.end, pod.deleted)))
        phases = {
            "Pending": lambda t, p=pod: p.created <= t < p.start,
            "Running": lambda t, p=pod: p.start <= t < p.end,
            "Succeeded": lambda t, p=pod: p.end <= t,
        }
        for phase, active in phases.items():
            out.series_of(
                "kube_pod_status_phase",
                KSM | who | {"phase": phase},
                ((t, 1.0 if active(t) else 0.0) for t in ksm(*life)),
            )
        for c in pod.containers:
            for resource, unit, value in (
                ("cpu", "core", c.cpu_request),
                ("memory", "byte", c.memory_request),
                ("nvidia_com_gpu", "integer", c.gpu_request),
            ):
                if value:
                    series = KSM | who | {"container": c.name, "node": pod.node, "resource": resource, "unit": unit}
                    out.series_of("kube_pod_container_resource_requests", series, ((t, value) for t in ksm(*life)))
        for volume, claim, read_only in pod.claims:
            series = KSM | who | {"volume": volume, "persistentvolumeclaim": claim}
            out.series_of("kube_pod_spec_volumes_persistentvolumeclaims_info", series, ((t, 1.0) for t in ksm(*life)))
            out.series_of(
                "kube_pod_spec_volumes_persistentvolumeclaims_readonly",
                series,
                ((t, 1.0 if read_only else 0.0) for t in ksm(*life)),
            )
        kubelet = _kubelet(node) | {"namespace": pod.namespace, "pod": pod.name}
        scrapes = list(_times(cluster, node.cadvisor_offset, pod.start, pod.end))
        for c in pod.containers:
            series = kubelet | {"container": c.name, "id": _cgroup_id(node, pod, c.name), "image": f"{c.name}:1"}
            out.series_of("container_cpu_usage_seconds_total", series, ((t, c.counter(pod.start, t)) for t in scrapes))
            out.series_of("container_memory_working_set_bytes", series, ((t, c.memory.at(t)) for t in scrapes))
        # The pod's own cgroup (container="") sums its containers: a query that kept it would double count.
        pod_cgroup = kubelet | {"container": "", "id": _cgroup_id(node, pod, "").rsplit("/", 1)[0]}
        out.series_of(
            "container_cpu_usage_seconds_total",
            pod_cgroup,
            ((t, sum(c.cpu.integral(pod.start, t) for c in pod.containers)) for t in scrapes),
        )
        out.series_of(
            "container_memory_working_set_bytes",
            pod_cgroup,
            ((t, sum(c.memory.at(t) for c in pod.containers)) for t in scrapes),
        )
        _write_pod_network(out, cluster, node, pod, kubelet, scrapes)
    for node in cluster.nodes:  # the node's root cgroup (pod=""): its own interfaces, never a pod's
        if node.network is not None:
            scrapes = list(_times(cluster, node.cadvisor_offset, node.up, node.down))
            _write_network(out, _kubelet(node) | {"id": "/"}, node.network, node.up, scrapes)
    for pv in cluster.volumes:
        _write_volume(out, pv, list(ksm(pv.created, pv.deleted)))
    for owned in cluster.owned:
        _write_owned(out, cluster, owned, list(ksm(owned.created, owned.deleted)))
    out.close()
    return out.series, out.samples


def _write_owned(out: _Writer, cluster: SyntheticCluster, owned: OwnedObject, scrapes: list[float]) -> None:
    """kube-state-metrics' ``kube_replicaset_owner`` or ``kube_job_owner`` series of one object."""
    name, label = {"ReplicaSet": ("kube_replicaset_owner", "replicaset"), "Job": ("kube_job_owner", "job_name")}[
        owned.kind
    ]
    who = KSM | {"namespace": owned.namespace, label: owned.name}
    for kind, owner, controller in owned.references:
        labels = who | {"owner_kind": kind, "owner_name": owner, "owner_is_controller": str(controller).lower()}
        out.series_of(name, labels, ((t, 1.0) for t in scrapes))
    if not owned.references:  # "<none>" up to kube-state-metrics 2.7, empty (no label) from 2.8
        upgrade = cluster.ksm_restart if cluster.ksm_restart is not None else math.inf
        none = {"owner_kind": "<none>", "owner_name": "<none>", "owner_is_controller": "<none>"}
        out.series_of(name, who | none, ((t, 1.0) for t in scrapes if t < upgrade))
        out.series_of(name, who, ((t, 1.0) for t in scrapes if t >= upgrade))


PAUSE_IMAGE = "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/pause:3.5"


def _kubelet(node: Node) -> dict[str, str]:
    """The target labels kube-prometheus-stack's kubelet ServiceMonitor gives cAdvisor's series."""
    return {
        "job": "kubelet",
        "metrics_path": "/metrics/cadvisor",
        "endpoint": "https-metrics",
        "service": "kube-prometheus-stack-kubelet",
        "instance": f"{node.name}:10250",
        "node": node.name,
    }


def _write_network(out: _Writer, labels: dict[str, str], network: Network, since: float, scrapes: list[float]) -> None:
    for name, rates in (("receive", network.receive), ("transmit", network.transmit)):
        for interface, rate in rates.items():
            out.series_of(
                f"container_network_{name}_bytes_total",
                labels | {"interface": interface},
                ((t, network.counter(rate, since, t)) for t in scrapes),
            )


def _write_pod_network(
    out: _Writer, cluster: SyntheticCluster, node: Node, pod: Pod, kubelet: dict[str, str], scrapes: list[float]
) -> None:
    """cAdvisor's network series of a pod under containerd: on its pause container (``container=""``, the
    pause image, the sandbox's cgroup), and on nodes that report it there, on its pod cgroup too. A
    host-network pod's sandbox reports the node's interfaces."""
    network, since = (node.network, node.up) if pod.host_network else (pod.network, pod.start)
    if network is None:
        return
    sandbox = _cgroup_id(node, pod, "sandbox")
    name = sandbox.rsplit("-", 1)[-1].removesuffix(".scope").rsplit("/", 1)[-1]
    _write_network(
        out, kubelet | {"container": "", "id": sandbox, "image": PAUSE_IMAGE, "name": name}, network, since, scrapes
    )
    if node.pod_cgroup_network:
        _write_network(out, kubelet | {"container": "", "id": sandbox.rsplit("/", 1)[0]}, network, since, scrapes)


def _write_volume(out: _Writer, pv: PersistentVolume, scrapes: list[float]) -> None:
    """kube-state-metrics' series of a PersistentVolume (labels it leaves empty are left out, as Prometheus does)."""
    who = {"persistentvolume": pv.name}
    info = KSM | who | ({"storageclass": pv.storage_class} if pv.storage_class else {})
    if pv.csi_volume_handle:
        info |= {"csi_driver": "ebs.csi.aws.com", "csi_volume_handle": pv.csi_volume_handle}
    if pv.in_tree_volume_id:
        info |= {"ebs_volume_id": pv.in_tree_volume_id}
    out.series_of("kube_persistentvolume_info", info | {"reclaim_policy": "Retain"}, ((t, 1.0) for t in scrapes))
    claims = list(dict.fromkeys((ns, name) for _, ns, name, _ in pv.bindings if name))
    for namespace, name in claims:
        out.series_of(
            "kube_persistentvolume_claim_ref",
            KSM | who | {"name": name, "claim_namespace": namespace},
            ((t, 1.0) for t in scrapes if pv.at(pv.bindings, t)[1:3] == (namespace, name)),
        )
    for phase in ("Pending", "Available", "Bound", "Released", "Failed"):
        out.series_of(
            "kube_persistentvolume_status_phase",
            KSM | who | {"phase": phase},
            ((t, 1.0 if pv.at(pv.bindings, t)[3] == phase else 0.0) for t in scrapes),
        )
    out.series_of("kube_persistentvolume_capacity_bytes", KSM | who, ((t, pv.at(pv.capacity, t)[1]) for t in scrapes))


# --- the server (benchmarks/prometheus_server.py) ----------------------------------------------


@dataclass
class Backfilled:
    """A synthetic cluster, the TSDB blocks holding it, and a running server over a copy of them."""

    cluster: SyntheticCluster
    blocks: Path  # pristine blocks: copy them before serving (prometheus rewrites its directory)
    server: PrometheusServer
    series: int
    samples: int

    @property
    def url(self) -> str:
        return self.server.url

    def serve_copy(self, where: Path) -> PrometheusServer:
        """Another server over a private copy of the blocks (for tests that stop it)."""
        shutil.copytree(self.blocks, where)
        return PrometheusServer(where).start()


def build(cluster: SyntheticCluster, workdir: Path) -> Backfilled:
    """Generate, validate and backfill ``cluster`` under ``workdir``, then start a server over a copy."""
    binaries()
    openmetrics = workdir / "series.om"
    series, samples = write_openmetrics(cluster, openmetrics)
    blocks = workdir / "blocks"
    backfill(openmetrics, blocks)
    openmetrics.unlink()
    data = workdir / "tsdb"
    shutil.copytree(blocks, data)
    return Backfilled(cluster, blocks, PrometheusServer(data).start(), series, samples)


@pytest.fixture(scope="session")
def synthetic_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    """The small synthetic cluster over two days, served by a real Prometheus. Fails if it is not installed."""
    problem = None
    try:
        backfilled = build(small_cluster(), tmp_path_factory.mktemp("prometheus"))
    except RuntimeError as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    try:
        yield backfilled
    finally:
        backfilled.server.stop()


# --- a proxy in front of it, for throttling, errors and authentication -----------------------------


@dataclass(frozen=True)
class Seen:
    """One request the proxy received."""

    method: str
    path: str  # without the query string
    headers: dict[str, str]
    form: dict[str, str]  # the parameters, from the query string and a form body alike
    status: int


class FaultProxy:
    """Forwards to a Prometheus, first answering with the queued faults: ``(status, Retry-After or None)``,
    or a queued JSON body (``answer``).

    Records every request (method, path, headers, parameters) so tests can check retries and authentication.
    """

    def __init__(self, upstream: str, rewrite: Callable[[bytes], bytes] | None = None):
        """``rewrite``: applied to every answer forwarded from the upstream (another cluster's ids, say)."""
        self.upstream = upstream
        self.rewrite = rewrite
        self.faults: deque[tuple[int, str | None, dict | None]] = deque()
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def fail(self, status: int, retry_after: str | None = None, *, times: int = 1) -> None:
        self.faults.extend([(status, retry_after, None)] * times)

    def answer(self, body: dict, status: int = 200) -> None:
        """Answer the next request with ``body`` instead of forwarding it."""
        self.faults.append((status, None, body))

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    fault = proxy.faults.popleft() if proxy.faults else None
                if fault is None:
                    forward = {"Content-Type": self.headers["Content-Type"]} if "Content-Type" in self.headers else {}
                    upstream = requests.request(self.command, proxy.upstream + self.path, data=body, headers=forward)
                    status, payload, headers = upstream.status_code, upstream.content, {}
                    if proxy.rewrite is not None:
                        payload = proxy.rewrite(payload)
                else:
                    status, retry_after, answer = fault
                    error = {"status": "error", "errorType": "bad_data" if status == 400 else "unavailable"}
                    payload = json.dumps(answer or error | {"error": f"injected {status}"}).encode()
                    headers = {"Retry-After": retry_after} if retry_after is not None else {}
                path, _, query = self.path.partition("?")
                with proxy.lock:
                    form = dict(parse_qsl(query)) | dict(parse_qsl(body.decode()))
                    proxy.seen.append(Seen(self.command, path, dict(self.headers.items()), form, status))
                send_json(self, status, payload, headers)

            do_GET = do_POST  # noqa: N815 (the http.server API)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- throughput -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Measure collection throughput (pod-hours per second) against a local Prometheus."""
    from chargeback.core.config import PrometheusSettings
    from collectors.base import Window
    from collectors.prometheus import PrometheusCollector
    from collectors.streams import POD_HOURS

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        backfilled = build(scale_cluster(args.pods), Path(tmp))
        print(
            f"generated and backfilled {backfilled.series} series, {backfilled.samples} samples"
            f" in {time.perf_counter() - began:.1f} s"
        )
        try:
            collector = PrometheusCollector(
                "scale", PrometheusSettings(url=backfilled.url, max_concurrency=args.concurrency)
            )
            window = Window(START, START + timedelta(days=1))
            began = time.perf_counter()
            pod_hours = sum(b.data.num_rows for b in collector.collect(window) if b.stream is POD_HOURS)
            elapsed = time.perf_counter() - began
        finally:
            backfilled.server.stop()
    print(f"collected {pod_hours} pod-hours in {elapsed:.2f} s: {pod_hours / elapsed:,.0f} pod-hours/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
