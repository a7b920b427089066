"""The owners of pods' owners, reshaped from the Prometheus collector's answers: ``prometheus/owners``.

A pod's own owner is in ``kube_pod_info`` (``created_by_kind``, ``created_by_name``); what owns that owner is
not. kube-state-metrics' ``kube_replicaset_owner`` and ``kube_job_owner`` give every ownerReference of a
ReplicaSet or a Job with its ``owner_is_controller`` flag; the queries (``collectors.prometheus_queries``'
``REPLICASET_OWNERS``, ``JOB_OWNERS``) keep the objects that owned a pod seen in the chunk. Here, merged over a
day's chunks, each object gets one row: its controlling owner (``owner_is_controller="true"``; if it had two in
the day, the one seen longest, ties by kind and name), or null owner columns where it had none: no
ownerReferences (``"<none>"`` in all three labels before kube-state-metrics 2.8, the labels absent since) or only
ones that are not its controller. Nothing here is priced.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pyarrow as pa

from collectors.prometheus_answers import finite, none_if_empty
from collectors.streams import OWNERS

ObjectKey = tuple[str, str, str]  # namespace, kind, name
Owner = tuple[str, str]  # kind, name

# The chunk query of each kind and the label naming the object in it.
QUERIES = {"ReplicaSet": ("replicaset_owners", "replicaset"), "Job": ("job_owners", "job_name")}


class Owners:
    """The controlling owners of ReplicaSets and Jobs, merged over the chunks of one UTC day."""

    def __init__(self) -> None:
        self.seen: dict[ObjectKey, dict[Owner | None, float]] = {}

    def merge(self, results: dict[str, list[dict]]) -> None:
        for kind, (query, label) in QUERIES.items():
            for series in results[query]:
                metric = series["metric"]
                key = (metric.get("namespace", ""), kind, metric.get(label, ""))
                owners = self.seen.setdefault(key, defaultdict(float))
                kind_, name = none_if_empty(metric.get("owner_kind")), none_if_empty(metric.get("owner_name"))
                if metric.get("owner_is_controller") == "true" and kind_ and name:
                    owners[(kind_, name)] += finite(series["value"][1]) or 0.0

    def table(self, cluster: str, day: date) -> pa.Table:
        rows = []
        for (namespace, kind, name), owners in sorted(self.seen.items()):
            if not namespace or not name:
                continue
            owner = max(owners.items(), key=lambda s: (s[1], s[0]))[0] if owners else None
            rows.append(
                {
                    "cluster": cluster,
                    "date": day,
                    "namespace": namespace,
                    "kind": kind,
                    "name": name,
                    "owner_kind": owner[0] if owner else None,
                    "owner_name": owner[1] if owner else None,
                }
            )
        return pa.Table.from_pylist(rows, schema=OWNERS.schema)
