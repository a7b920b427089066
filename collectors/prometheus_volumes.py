"""PersistentVolumes per hour and the claims pods mount, reshaped from the Prometheus collector's answers.

kube-state-metrics' ``kube_persistentvolume_info`` (with the EBS volume id: ``csi_volume_handle``, else the
in-tree ``ebs_volume_id``, both as ``collectors.ebs`` reads them), ``kube_persistentvolume_claim_ref``,
``kube_persistentvolume_status_phase`` and ``kube_persistentvolume_capacity_bytes`` become
``prometheus/persistent_volume_hours``: per PV and UTC hour, one row per claim its claimRef named, with the
seconds it did and when it last did, and one row with a null claim for the seconds the PV existed with no
claimRef (a PV that never had one: the whole hour). ``kube_pod_spec_volumes_persistentvolumeclaims_info``
(and ``..._readonly``) become ``prometheus/pod_volume_claims``, merged over a day's chunks like the pods.
The queries are ``collectors.prometheus_queries``' ``PV_*`` and ``POD_CLAIMS*``; nothing here is priced.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pyarrow as pa

from collectors.ebs import pv_volume_id
from collectors.prometheus_answers import finite, hourly, none_if_empty, timestamp
from collectors.streams import PERSISTENT_VOLUME_HOURS, POD_VOLUME_CLAIMS

HOUR_SECONDS = 3600.0

PvHour = tuple[str, float]  # persistent volume, hour start
Claim = tuple[str, str]  # the claimRef's namespace and name
ClaimKey = tuple[str, str, str, str, str]  # namespace, pod, uid, volume, claim


def _per_hour(result: list[dict], *labels: str) -> dict[tuple[PvHour, tuple[str, ...]], float]:
    """(PV, hour) and the values of ``labels`` -> the finite, non-zero value of the hour (series added up)."""
    values: dict[tuple[PvHour, tuple[str, ...]], float] = defaultdict(float)
    for metric, points in hourly(result):
        for hour, raw in points:
            value = finite(raw)
            if value:
                key = ((metric.get("persistentvolume", ""), hour), tuple(metric.get(name, "") for name in labels))
                values[key] += value
    return values


def persistent_volume_hours(cluster: str, results: dict[str, list[dict]]) -> pa.Table:
    """The rows of ``prometheus/persistent_volume_hours`` from one chunk's answers (not yet conformed)."""
    existed: dict[PvHour, float] = defaultdict(float)
    described: dict[PvHour, dict[tuple[str | None, str | None], float]] = defaultdict(lambda: defaultdict(float))
    for (k, (storage_class, csi, in_tree)), seconds in _per_hour(
        results["pv_seconds"], "storageclass", "csi_volume_handle", "ebs_volume_id"
    ).items():
        existed[k] += seconds
        described[k][(none_if_empty(storage_class), pv_volume_id(csi, in_tree))] += seconds
    claims: dict[PvHour, dict[Claim, float]] = defaultdict(dict)
    for (k, (namespace, name)), seconds in _per_hour(results["pv_claim_seconds"], "claim_namespace", "name").items():
        claims[k][(namespace, name)] = min(seconds, HOUR_SECONDS)
    last_seen = {
        (k, claim): seen
        for (k, claim), seen in _per_hour(results["pv_claim_last_seen"], "claim_namespace", "name").items()
        if seen > k[1]  # a sample before the hour, lent by the subquery's lookback, is not this hour's
    }
    phases: dict[PvHour, dict[str, float]] = defaultdict(dict)
    for (k, (phase,)), seconds in _per_hour(results["pv_phase_seconds"], "phase").items():
        phases[k][phase] = seconds
    capacity = {k: value for (k, _), value in _per_hour(results["pv_capacity"]).items()}

    rows = []
    for k in sorted(set(existed) | set(claims)):
        labels = described.get(k)  # the label set seen longest (they change only if the PV is recreated)
        storage_class, volume = max(labels.items(), key=lambda s: s[1])[0] if labels else (None, None)
        phase = max(phases[k].items(), key=lambda s: (s[1], s[0]))[0] if phases.get(k) else None
        named = claims.get(k, {})
        unclaimed = min(existed.get(k, 0.0), HOUR_SECONDS) - sum(named.values())
        entries: list[tuple[Claim | None, float]] = sorted(named.items())
        if unclaimed > 0 or not named:
            entries.append((None, max(unclaimed, 0.0)))
        for claim, seconds in entries:
            rows.append(
                {
                    "cluster": cluster,
                    "persistent_volume": k[0],
                    "hour": timestamp(k[1]),
                    "volume_handle": volume,
                    "storage_class": storage_class,
                    "capacity_bytes": capacity.get(k),
                    "phase": phase,
                    "claim_namespace": claim[0] if claim else None,
                    "claim_name": claim[1] if claim else None,
                    "claim_seconds": seconds,
                    "claim_last_seen": timestamp(last_seen.get((k, claim))) if claim else None,
                }
            )
    return pa.Table.from_pylist(rows, schema=PERSISTENT_VOLUME_HOURS.schema)


class PodClaims:
    """The claims each pod mounts, merged over the chunks of one UTC day."""

    def __init__(self) -> None:
        self.read_only: dict[ClaimKey, bool | None] = {}

    @staticmethod
    def _key(metric: dict[str, str]) -> ClaimKey:
        names = ("namespace", "pod", "uid", "volume", "persistentvolumeclaim")
        return tuple(metric.get(name, "") for name in names)  # type: ignore[return-value]

    def merge(self, results: dict[str, list[dict]]) -> None:
        for series in results["pod_claims"]:
            self.read_only.setdefault(self._key(series["metric"]), None)
        for series in results["pod_claims_read_only"]:
            value = finite(series["value"][1])
            if value is not None:
                key = self._key(series["metric"])
                self.read_only[key] = bool(self.read_only.get(key)) or value > 0

    def table(self, cluster: str, day: date) -> pa.Table:
        keys = sorted(k for k in self.read_only if k[4])
        rows = [
            {
                "cluster": cluster,
                "date": day,
                "namespace": namespace,
                "pod": pod,
                "pod_uid": none_if_empty(uid),
                "volume": none_if_empty(volume),
                "claim": claim,
                "read_only": self.read_only[(namespace, pod, uid, volume, claim)],
            }
            for namespace, pod, uid, volume, claim in keys
        ]
        return pa.Table.from_pylist(rows, schema=POD_VOLUME_CLAIMS.schema)
