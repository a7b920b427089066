"""Kubernetes API snapshots: namespaces, nodes, ResourceQuotas, LimitRanges, PriorityClasses and
PersistentVolumes (the fallback for kube-state-metrics' PV series: EBS volume id, claimRef and phase).

One ``collect`` call takes one snapshot, stamped ``collected_at`` with the collector's clock, and
yields one Arrow batch per list page per table. Every list is paged with ``limit``/``continue``.

Responses are read as the API's own JSON (``_preload_content=False``) rather than through the
client's generated models: the wire names (``providerID``, ``metadata.continue``) are the API's
contract and do not move between client generations, and no model object is built per item.

Quantities become floats in the unit the column names: CPU in cores ("3920m" -> 3.92), memory and
storage in bytes ("15896560Ki" -> 16278077440.0), counts as plain numbers ("2k" -> 2000.0).

Failure handling, one policy for every list call:
- HTTP 429 and 5xx, connection errors and timeouts are retried by the client itself, under the retry
  policy of ``chargeback.core.http`` set as its ``Configuration.retries`` (``from_settings`` does it):
  a bounded number of tries with jittered exponential backoff, honouring ``Retry-After``; when the tries
  run out the error says how many were made, with the timeouts and the last error;
- 410 Gone on a stale ``continue`` token restarts that list once; objects already yielded from the
  first pass are not yielded again;
- 401, 403 and 404 raise ``CollectError`` saying what is missing (for 403, the RBAC rule that grants it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.utils import parse_quantity

from chargeback.core.config import ClusterSettings
from chargeback.core.errors import CollectError, ConfigError
from chargeback.core.http import RETRY_STATUSES, RetryPolicy, attempts
from collectors.base import Batch, Window
from collectors.ebs import pv_volume_id
from collectors.streams import (
    K8S_LIMIT_RANGES,
    K8S_NAMESPACES,
    K8S_NODES,
    K8S_PERSISTENT_VOLUMES,
    K8S_PRIORITY_CLASSES,
    K8S_RESOURCE_QUOTAS,
    Stream,
)

log = logging.getLogger(__name__)

SOURCE = "kubernetes"
# Node labels naming the EC2 instance type: the GA label, then the one kubelets before 1.17 set.
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
GPU_RESOURCE = "nvidia.com/gpu"
# The collector's retry policy: 5 tries, 0.5 s doubling to at most 30 s, Retry-After obeyed up to 120 s.
RETRY = RetryPolicy(attempts=5, backoff_seconds=0.5, max_backoff_seconds=30.0, max_retry_after_seconds=120.0)
# The one ClusterRole the collector needs; quoted in every permission error.
RBAC_HINT = (
    "kubectl create clusterrole chargeback-reader --verb=get,list "
    "--resource=namespaces,nodes,resourcequotas,limitranges,persistentvolumes,priorityclasses.scheduling.k8s.io && "
    "kubectl create clusterrolebinding chargeback-reader --clusterrole=chargeback-reader "
    "--serviceaccount=<namespace>:<service-account> (or --user=/--group= for a kubeconfig identity; "
    "on EKS, the group an access entry maps the IAM principal to)"
)

Row = dict[str, Any]


class _Malformed(ValueError):
    """An object whose field cannot be read (a quantity that does not parse)."""


@dataclass(frozen=True)
class _Resource:
    """One list call: what it reads, where it lands, and what RBAC must allow."""

    stream: Stream
    api_group: str  # "" for the core group
    resource: str  # the plural name RBAC rules use
    call: Callable[[k8s.ApiClient], Callable[..., Any]]  # ApiClient -> bound list method
    rows: Callable[[dict], list[Row]]  # one API object -> its rows (without cluster, collected_at)


# --- Arithmetic on API objects (no I/O) -------------------------------------------------------------


def quantity(value: str | int | float | None) -> float | None:
    """A Kubernetes quantity ("500m", "16Gi", "1.5", "100M", "2k", "1e3") as a float; None stays None."""
    if value is None:
        return None
    try:
        number: Decimal = parse_quantity(value)
    except ValueError as exc:
        raise _Malformed(f"quantity {value!r} does not parse ({exc})") from None
    return float(number)


def _timestamp(value: str | None) -> datetime | None:
    """An RFC 3339 API timestamp ("2026-10-01T08:15:02Z") as an aware UTC datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _pairs(mapping: dict[str, str] | None) -> list[tuple[str, str]] | None:
    return None if mapping is None else sorted(mapping.items())


def taint_string(taint: dict) -> str:
    """A taint as kubectl prints it: ``key=value:Effect``, or ``key:Effect`` when it has no value."""
    key, value, effect = taint.get("key", ""), taint.get("value"), taint.get("effect", "")
    return f"{key}={value}:{effect}" if value else f"{key}:{effect}"


def namespace_rows(item: dict) -> list[Row]:
    meta = item.get("metadata", {})
    return [
        {
            "namespace": meta.get("name"),
            "uid": meta.get("uid"),
            "created_at": _timestamp(meta.get("creationTimestamp")),
            "labels": _pairs(meta.get("labels") or {}),
            "annotations": _pairs(meta.get("annotations") or {}),
        }
    ]


def node_rows(item: dict) -> list[Row]:
    meta, spec, status = item.get("metadata", {}), item.get("spec", {}), item.get("status", {})
    labels = meta.get("labels") or {}
    capacity, allocatable = status.get("capacity"), status.get("allocatable")

    def resource(amounts: dict | None, name: str, absent: float | None) -> float | None:
        # A node that reports its resources but not a GPU has 0 GPUs; one that reports nothing is unknown.
        if amounts is None:
            return None
        return quantity(amounts[name]) if name in amounts else absent

    instance_type = next((labels[key] for key in INSTANCE_TYPE_LABELS if labels.get(key)), None)
    return [
        {
            "node": meta.get("name"),
            "provider_id": spec.get("providerID"),
            "instance_type": instance_type,
            "created_at": _timestamp(meta.get("creationTimestamp")),
            "labels": _pairs(labels),
            "taints": [taint_string(taint) for taint in spec.get("taints") or []],
            "cpu_capacity_cores": resource(capacity, "cpu", None),
            "memory_capacity_bytes": resource(capacity, "memory", None),
            "gpu_capacity": resource(capacity, GPU_RESOURCE, 0.0),
            "cpu_allocatable_cores": resource(allocatable, "cpu", None),
            "memory_allocatable_bytes": resource(allocatable, "memory", None),
            "gpu_allocatable": resource(allocatable, GPU_RESOURCE, 0.0),
        }
    ]


def resource_quota_rows(item: dict) -> list[Row]:
    """One row per resource the quota limits: hard as enforced (status, else spec) and used."""
    meta, spec, status = item.get("metadata", {}), item.get("spec", {}), item.get("status", {})
    hard = status.get("hard") or spec.get("hard") or {}
    used = status.get("used") or {}
    return [
        {
            "namespace": meta.get("namespace"),
            "quota": meta.get("name"),
            "resource": name,
            "hard": quantity(hard.get(name)),
            "used": quantity(used.get(name)),
        }
        for name in sorted(set(hard) | set(used))
    ]


def limit_range_rows(item: dict) -> list[Row]:
    """One row per limit item type (Container, Pod, PersistentVolumeClaim) and resource."""
    meta = item.get("metadata", {})
    rows = []
    for limit in (item.get("spec") or {}).get("limits") or []:
        parts = {
            "default_limit": limit.get("default") or {},
            "default_request": limit.get("defaultRequest") or {},
            "min": limit.get("min") or {},
            "max": limit.get("max") or {},
        }
        for name in sorted(set().union(*parts.values())):
            row: Row = {
                "namespace": meta.get("namespace"),
                "limit_range": meta.get("name"),
                "type": limit.get("type"),
                "resource": name,
            }
            row.update({column: quantity(amounts.get(name)) for column, amounts in parts.items()})
            rows.append(row)
    return rows


def priority_class_rows(item: dict) -> list[Row]:
    return [
        {
            "priority_class": item.get("metadata", {}).get("name"),
            "value": item.get("value"),
            "global_default": bool(item.get("globalDefault", False)),  # omitted by the API when false
            "preemption_policy": item.get("preemptionPolicy"),
        }
    ]


def persistent_volume_rows(item: dict) -> list[Row]:
    """A PV with its EBS volume id (CSI ``volumeHandle``, else in-tree ``volumeID`` without ``aws://<zone>/``), its
    claimRef (a Released PV keeps its last claim's) and phase."""
    meta, spec, status = item.get("metadata", {}), item.get("spec", {}), item.get("status", {})
    claim = spec.get("claimRef") or {}
    csi, in_tree = spec.get("csi") or {}, spec.get("awsElasticBlockStore") or {}
    return [
        {
            "persistent_volume": meta.get("name"),
            "volume_handle": pv_volume_id(csi.get("volumeHandle"), in_tree.get("volumeID")),
            "storage_class": spec.get("storageClassName") or None,
            "capacity_bytes": quantity((spec.get("capacity") or {}).get("storage")),
            "phase": status.get("phase"),
            "claim_namespace": claim.get("namespace"),
            "claim_name": claim.get("name"),
            "created_at": _timestamp(meta.get("creationTimestamp")),
        }
    ]


RESOURCES: tuple[_Resource, ...] = (
    _Resource(K8S_NAMESPACES, "", "namespaces", lambda api: k8s.CoreV1Api(api).list_namespace, namespace_rows),
    _Resource(K8S_NODES, "", "nodes", lambda api: k8s.CoreV1Api(api).list_node, node_rows),
    _Resource(
        K8S_RESOURCE_QUOTAS,
        "",
        "resourcequotas",
        lambda api: k8s.CoreV1Api(api).list_resource_quota_for_all_namespaces,
        resource_quota_rows,
    ),
    _Resource(
        K8S_LIMIT_RANGES,
        "",
        "limitranges",
        lambda api: k8s.CoreV1Api(api).list_limit_range_for_all_namespaces,
        limit_range_rows,
    ),
    _Resource(
        K8S_PRIORITY_CLASSES,
        "scheduling.k8s.io",
        "priorityclasses",
        lambda api: k8s.SchedulingV1Api(api).list_priority_class,
        priority_class_rows,
    ),
    _Resource(
        K8S_PERSISTENT_VOLUMES,
        "",
        "persistentvolumes",
        lambda api: k8s.CoreV1Api(api).list_persistent_volume,
        persistent_volume_rows,
    ),
)


# --- The collector ------------------------------------------------------------------------------------


class _ContinueExpired(Exception):
    """The server answered 410 Gone to a ``continue`` token."""


class KubernetesCollector:
    """Snapshots one cluster's API objects. Construct with an ``ApiClient``; no I/O until ``collect``.

    Requests are retried by the client, under its ``configuration.retries`` (``from_settings`` sets the retry
    policy there); ``attempts`` is read from it for messages.
    """

    source = SOURCE

    def __init__(
        self,
        cluster_name: str,
        api_client: k8s.ApiClient,
        page_size: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        timeout: tuple[float, float] = (10.0, 30.0),
    ):
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        self.cluster_name = cluster_name
        self.api_client = api_client
        self.page_size = page_size
        self.clock = clock
        self.timeout = timeout  # (connect, read) seconds, per request
        self.attempts = attempts(api_client.configuration.retries)

    def streams(self) -> tuple[Stream, ...]:
        return tuple(resource.stream for resource in RESOURCES)

    def collect(self, window: Window) -> Iterator[Batch]:
        """Take one snapshot now; yield one batch per page per table. ``window`` only names errors."""
        collected_at = self.clock()
        if collected_at.tzinfo is None:
            raise ValueError("the collector's clock must return timezone-aware datetimes")
        for resource in RESOURCES:
            for page, items in enumerate(self._pages(resource, window), start=1):
                yield Batch(resource.stream, self._table(resource, items, collected_at, window, page))

    # -- rows --------------------------------------------------------------------------------------------

    def _table(
        self, resource: _Resource, items: list[dict], collected_at: datetime, window: Window, page: int
    ) -> pa.Table:
        rows: list[Row] = []
        for item in items:
            try:
                produced = resource.rows(item)
            except _Malformed as exc:
                meta = item.get("metadata", {})
                name = "/".join(part for part in (meta.get("namespace"), meta.get("name")) if part)
                raise CollectError(self.source, window, f"{resource.resource} {name}: {exc}") from None
            for row in produced:
                row["cluster"] = self.cluster_name
                row["collected_at"] = collected_at
                rows.append(row)
        schema = resource.stream.schema
        data = pa.Table.from_pylist(rows, schema=schema)
        return resource.stream.conform(data, f"{self.source} {self.cluster_name} {resource.resource} page {page}")

    # -- paging --------------------------------------------------------------------------------------------

    def _pages(self, resource: _Resource, window: Window) -> Iterator[list[dict]]:
        """Every page of one list; on 410 Gone restart once, skipping objects already yielded."""
        seen: set[tuple[str, str]] = set()
        restarted = False
        while True:
            try:
                for items in self._list(resource, window):
                    fresh = [item for item in items if _key(item) not in seen]
                    seen.update(_key(item) for item in fresh)
                    if fresh:  # an empty list yields no batch; streams() still replaces its partition
                        yield fresh
                return
            except _ContinueExpired as exc:
                if restarted:
                    raise CollectError(
                        self.source,
                        window,
                        f"listing {resource.resource} on {self._host()}: the continue token expired (410 Gone) "
                        f"twice; the list is changing faster than it can be paged at limit={self.page_size} "
                        f"(raise page_size). Server said: {exc}",
                    ) from None
                restarted = True
                log.warning(
                    "%s: continue token for %s expired; restarting the list", self.cluster_name, resource.resource
                )

    def _list(self, resource: _Resource, window: Window) -> Iterator[list[dict]]:
        method = resource.call(self.api_client)
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": self.page_size}
            if token:
                kwargs["_continue"] = token
            body = self._request(resource, window, method, kwargs)
            yield body.get("items") or []
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return

    def _request(self, resource: _Resource, window: Window, method: Callable[..., Any], kwargs: dict) -> dict:
        """One list request (the client retries it under its policy); returns the decoded list body."""
        try:
            response = method(**kwargs, _preload_content=False, _request_timeout=self.timeout)
            try:
                return json.loads(response.data)
            finally:
                response.release_conn()
        except ApiException as exc:
            if exc.status == 410 and "_continue" in kwargs:
                raise _ContinueExpired(_status_message(exc)) from None
            if exc.status in RETRY_STATUSES:  # the retry policy's tries ran out on it
                last = f"HTTP {exc.status} {exc.reason}: {_status_message(exc)}"
                raise CollectError(self.source, window, self._gave_up(resource, last)) from None
            raise CollectError(self.source, window, self._explain(resource, exc)) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            cause = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason else exc
            raise CollectError(
                self.source, window, self._gave_up(resource, f"{type(cause).__name__}: {cause}")
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # something other than the API server answered
            raise CollectError(
                self.source,
                window,
                f"listing {resource.resource} on {self._host()}: the answer is not JSON ({exc})",
            ) from None

    # -- messages ------------------------------------------------------------------------------------------

    def _gave_up(self, resource: _Resource, last: str) -> str:
        return (
            f"listing {resource.resource} on {self._host()} failed after {self.attempts} attempts "
            f"(timeouts: connect {self.timeout[0]}s, read {self.timeout[1]}s); last error: {last}"
        )

    def _host(self) -> str:
        return getattr(self.api_client.configuration, "host", "the API server")

    def _explain(self, resource: _Resource, exc: ApiException) -> str:
        said = _status_message(exc)
        group = resource.api_group or '"" (core)'
        if exc.status == 403:
            return (
                f"forbidden (HTTP 403) to list {resource.resource} (API group {group}, cluster-wide) on "
                f"{self._host()}: the identity lacks the RBAC permission 'list' on '{resource.resource}'. "
                f'Add the ClusterRole rule {{apiGroups: ["{resource.api_group}"], resources: '
                f'["{resource.resource}"], verbs: ["get", "list"]}} bound by a ClusterRoleBinding, e.g.: '
                f"{RBAC_HINT}. Server said: {said}"
            )
        if exc.status == 401:
            return (
                f"unauthorized (HTTP 401) listing {resource.resource} on {self._host()}: the API server rejected "
                f"the credentials (an expired token, the wrong kubeconfig context or user, or on EKS an IAM "
                f"principal with no access entry). Server said: {said}"
            )
        if exc.status == 404:
            return (
                f"not found (HTTP 404) listing {resource.resource} (API group {group}) on {self._host()}: "
                f"the server does not serve this API. Server said: {said}"
            )
        status = f"HTTP {exc.status} {exc.reason}" if exc.status else f"{exc.reason}"
        return f"listing {resource.resource} on {self._host()} failed: {status}. Server said: {said}"


def _key(item: dict) -> tuple[str, str]:
    meta = item.get("metadata", {})
    return meta.get("namespace") or "", meta.get("name") or ""


def _status_message(exc: ApiException) -> str:
    """The ``message`` of the Status object the API server sends with an error, else the raw body."""
    body = exc.body.decode() if isinstance(exc.body, bytes) else exc.body
    raw = (body or "").strip()[:500] or "(no body)"
    try:
        status = json.loads(body or "")
    except ValueError:
        return raw
    return (status.get("message") if isinstance(status, dict) else None) or raw


# --- Construction from configuration ----------------------------------------------------------------


def from_settings(
    cluster: ClusterSettings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> KubernetesCollector:
    """Build the collector for ``[[clusters]]`` ``cluster``: in-cluster service account or kubeconfig.

    Reads the kubeconfig (or the service-account files) but does not contact the API server.
    """
    settings = cluster.kubernetes
    if settings is None:
        raise ConfigError(f"cluster {cluster.name!r} has no [clusters.kubernetes] table")
    configuration = k8s.Configuration()
    try:
        if settings.in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            kubeconfig = str(settings.kubeconfig.expanduser()) if settings.kubeconfig else None
            k8s_config.load_kube_config(
                config_file=kubeconfig,
                context=settings.context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (ConfigException, OSError) as exc:
        where = (
            "in-cluster service account" if settings.in_cluster else f"kubeconfig {settings.kubeconfig or '(default)'}"
        )
        raise ConfigError(f"cluster {cluster.name!r}: cannot load the {where}: {exc}") from None
    configuration.retries = RETRY.retry()  # the client retries 429, 5xx and connection errors under the policy
    connect = min(10.0, settings.timeout_seconds)
    return KubernetesCollector(
        cluster.name,
        k8s.ApiClient(configuration),
        page_size=settings.page_size,
        clock=clock,
        timeout=(connect, settings.timeout_seconds),
    )
