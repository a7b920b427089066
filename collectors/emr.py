"""EMR on EKS (``emr-containers``): virtual clusters and job runs, with each job's requested Spark shape.

For a window the collector yields:

- ``emr/virtual_clusters``: every virtual cluster the account has in the region (all states), one row per
  cluster stamped with ``collected_at``: id, name, state, the EKS cluster (``containerProvider.id``) and
  namespace (``containerProvider.info.eksInfo.namespace``) it runs in, and its tags.
- ``emr/job_runs``: for every virtual cluster created before the window's end, the job runs created in the
  window, plus every job run still ``PENDING``/``SUBMITTED``/``RUNNING``/``CANCEL_PENDING`` (created
  before the window's end), so a long job shows up in each collection until it finishes. Pages come from
  boto3's ``list_job_runs`` paginator and are yielded one by one.

The requested shape (``executor_instances``, ``executor_cores``, ``executor_memory_bytes``, ``driver_cores``,
``driver_memory_bytes``) is read from the job driver with Spark's own precedence: spark-submit flags
(``--num-executors``, ``--executor-cores``, ``--executor-memory``, ``--driver-cores``, ``--driver-memory``)
over ``--conf key=value`` in ``sparkSubmitParameters`` (or ``sparkSqlParameters``), over the
``spark-defaults`` classification of ``configurationOverrides``. Where Kubernetes CPU requests are set
explicitly (``spark.kubernetes.{executor,driver}.request.cores``, e.g. ``500m``) they are the cores the
pods request, so they win over ``spark.{executor,driver}.cores``. Memory is the JVM size as Spark reads it
(``4g``, ``4096m``, ``512k``; a bare number is MiB), in bytes (binary units: 1g = 2^30). A setting the job
does not make stays null (Spark's or EMR's defaults then apply). A value that cannot be parsed also stays
null, and is listed in ``EmrCollector.problems`` (and logged) rather than dropped in silence.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from chargeback.core import aws
from chargeback.core.config import AwsSettings, Config
from collectors.base import Batch, Window
from collectors.streams import EMR_JOB_RUNS, EMR_VIRTUAL_CLUSTERS, Stream

log = logging.getLogger(__name__)

SERVICE = "emr-containers"
ACTIVE_STATES = ("PENDING", "SUBMITTED", "RUNNING", "CANCEL_PENDING")

# spark-submit flags that set a property, and the property they set (they win over --conf).
_SUBMIT_FLAGS = {
    "--num-executors": "spark.executor.instances",
    "--executor-cores": "spark.executor.cores",
    "--executor-memory": "spark.executor.memory",
    "--driver-cores": "spark.driver.cores",
    "--driver-memory": "spark.driver.memory",
}
_CONF_FLAGS = ("--conf", "-c")
# Spark's byte suffixes (JavaUtils.byteStringAs): binary multiples, case-insensitive.
_BYTE_UNITS = {
    "b": 1,
    "k": 2**10,
    "kb": 2**10,
    "m": 2**20,
    "mb": 2**20,
    "g": 2**30,
    "gb": 2**30,
    "t": 2**40,
    "tb": 2**40,
    "p": 2**50,
    "pb": 2**50,
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")
_K8S_CPU = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)(m?)\s*$")


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- parsing the job driver ------------------------------------------------------------------------------


def memory_bytes(value: str) -> float:
    """A Spark memory size as bytes: ``4g`` -> 4 * 2^30; a bare number means MiB (Spark's default unit)."""
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a size like 4g or 4096m")
    number, unit = float(match.group(1)), match.group(2).lower() or "m"
    if unit not in _BYTE_UNITS:
        raise ValueError(f"{value!r} has an unknown unit {unit!r} (use b, k, m, g, t or p)")
    return number * _BYTE_UNITS[unit]


def cores(value: str) -> float:
    """A CPU count: ``2``, ``1.5`` or a Kubernetes quantity such as ``500m``."""
    match = _K8S_CPU.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a CPU count like 2, 0.5 or 500m")
    number = float(match.group(1))
    return number / 1000 if match.group(2) else number


def instances(value: str) -> int:
    if not value.strip().isdigit():
        raise ValueError(f"{value!r} is not a whole number of executors")
    return int(value)


def submit_properties(parameters: str) -> dict[str, str]:
    """Spark properties set by a spark-submit argument string (flags applied over ``--conf``)."""
    tokens = shlex.split(parameters or "")
    confs: dict[str, str] = {}
    flags: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, _, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        if name in _CONF_FLAGS or name in _SUBMIT_FLAGS:
            if inline:
                value = inline
            elif i + 1 < len(tokens):
                i += 1
                value = tokens[i]
            else:
                break
            if name in _CONF_FLAGS:
                key, sep, conf_value = value.partition("=")
                if sep:
                    confs[key.strip()] = conf_value.strip()
            else:
                flags[_SUBMIT_FLAGS[name]] = value.strip()
        i += 1
    return confs | flags


def spark_properties(job: Mapping[str, Any]) -> dict[str, str]:
    """The job's effective Spark properties: spark-defaults, then spark-submit parameters over them."""
    properties: dict[str, str] = {}
    overrides = job.get("configurationOverrides") or {}
    for classification in overrides.get("applicationConfiguration") or ():
        if classification.get("classification") == "spark-defaults":
            properties.update({k: str(v) for k, v in (classification.get("properties") or {}).items()})
    driver = job.get("jobDriver") or {}
    submit = (driver.get("sparkSubmitJobDriver") or {}).get("sparkSubmitParameters")
    sql = (driver.get("sparkSqlJobDriver") or {}).get("sparkSqlParameters")
    for parameters in (submit, sql):
        if parameters:
            properties.update(submit_properties(parameters))
    return properties


# (output column, properties in order of precedence, parser)
_SHAPE: tuple[tuple[str, tuple[str, ...], Callable[[str], float | int]], ...] = (
    ("executor_instances", ("spark.executor.instances",), instances),
    ("executor_cores", ("spark.kubernetes.executor.request.cores", "spark.executor.cores"), cores),
    ("executor_memory_bytes", ("spark.executor.memory",), memory_bytes),
    ("driver_cores", ("spark.kubernetes.driver.request.cores", "spark.driver.cores"), cores),
    ("driver_memory_bytes", ("spark.driver.memory",), memory_bytes),
)


def requested_shape(job: Mapping[str, Any], problems: list[str] | None = None) -> dict[str, float | int | None]:
    """Executor and driver shape a job run requests; unparseable values become None (and a problem)."""
    properties = spark_properties(job)
    shape: dict[str, float | int | None] = {}
    for column, keys, parse in _SHAPE:
        shape[column] = None
        key = next((k for k in keys if properties.get(k, "") != ""), None)
        if key is None:
            continue
        try:
            shape[column] = parse(properties[key])
        except ValueError as exc:
            message = f"job run {job.get('id')}: {key} {exc}; {column} left null"
            log.warning(message)
            if problems is not None:
                problems.append(message)
    return shape


# --- the collector -----------------------------------------------------------------------------------------


def _tags(tags: Mapping[str, str] | None) -> list[tuple[str, str]] | None:
    return sorted(tags.items()) if tags else None


class EmrCollector:
    """Virtual clusters and job runs of EMR on EKS for one window, page by page."""

    source = "emr"

    def __init__(
        self,
        client: Any,
        clock: Callable[[], datetime] = utc_now,
        *,
        eks_clusters: Iterable[str] = (),
        page_size: int | None = None,
    ):
        """``client``: a boto3 ``emr-containers`` client. ``eks_clusters``: keep only virtual clusters on these
        EKS clusters (all when empty). ``page_size``: ``maxResults`` per list call (AWS's default when None)."""
        self.client = client
        self.clock = clock
        self.eks_clusters = frozenset(eks_clusters)
        self.page_size = page_size
        self.problems: list[str] = []
        self.requests_made = 0

    @classmethod
    def from_config(
        cls,
        config: Config,
        clock: Callable[[], datetime] = utc_now,
        *,
        settings: AwsSettings | None = None,
        eks_clusters: Iterable[str] | None = None,
    ) -> EmrCollector:
        """The collector for ``[aws]`` (or ``settings``: a member account's, ``Config.aws_for``), limited to the
        virtual clusters of the configured EKS clusters (or of ``eks_clusters``: that account's)."""
        names = [cluster.name for cluster in config.clusters] if eks_clusters is None else list(eks_clusters)
        return cls(aws.client(settings or config.aws, SERVICE), clock, eks_clusters=names)

    def streams(self) -> tuple[Stream, ...]:
        return (EMR_VIRTUAL_CLUSTERS, EMR_JOB_RUNS)

    def collect(self, window: Window) -> Iterator[Batch]:
        collected_at = self.clock().astimezone(UTC)
        virtual_clusters: list[dict[str, Any]] = []
        for page in self._pages(window, "list_virtual_clusters", "virtual clusters"):
            kept = [vc for vc in page.get("virtualClusters", ()) if self._wanted(vc)]
            virtual_clusters.extend(kept)
            if kept:
                rows = [self._virtual_cluster_row(vc, collected_at) for vc in kept]
                yield self._batch(EMR_VIRTUAL_CLUSTERS, rows, window)
        for vc in virtual_clusters:
            created = aws.utc(vc.get("createdAt"))
            if created is not None and created >= window.end:
                continue  # no job of the window can run on a virtual cluster created after it
            yield from self._job_runs(window, vc["id"], collected_at)

    # -- internals --

    def _wanted(self, vc: Mapping[str, Any]) -> bool:
        return not self.eks_clusters or (vc.get("containerProvider") or {}).get("id") in self.eks_clusters

    def _pages(self, window: Window, operation: str, what: str, **params: Any) -> Iterator[dict[str, Any]]:
        config = {"PageSize": self.page_size} if self.page_size else {}
        try:
            pages = self.client.get_paginator(operation).paginate(**params, PaginationConfig=config)
            for page in pages:
                self.requests_made += 1
                yield page
        except aws.AWS_ERRORS as exc:
            raise aws.collect_error(self.source, window, exc, SERVICE, what) from exc

    def _job_runs(self, window: Window, virtual_cluster_id: str, collected_at: datetime) -> Iterator[Batch]:
        seen: set[str] = set()
        what = f"job runs of virtual cluster {virtual_cluster_id}"
        # createdBefore is inclusive at AWS; the window is half-open, so the exact end instant is filtered out.
        listings = (
            {"createdAfter": window.start, "createdBefore": window.end},
            {"createdBefore": window.end, "states": list(ACTIVE_STATES)},
        )
        for params in listings:
            for page in self._pages(window, "list_job_runs", what, virtualClusterId=virtual_cluster_id, **params):
                rows = []
                for job in page.get("jobRuns", ()):
                    created = aws.utc(job.get("createdAt"))
                    if job["id"] in seen or (created is not None and created >= window.end):
                        continue
                    seen.add(job["id"])
                    if "jobDriver" not in job:  # ListJobRuns normally includes it; older APIs did not
                        job = self._describe(window, virtual_cluster_id, job["id"])
                    rows.append(self._job_run_row(job, virtual_cluster_id, collected_at))
                if rows:
                    yield self._batch(EMR_JOB_RUNS, rows, window)

    def _describe(self, window: Window, virtual_cluster_id: str, job_run_id: str) -> dict[str, Any]:
        try:
            self.requests_made += 1
            return self.client.describe_job_run(id=job_run_id, virtualClusterId=virtual_cluster_id)["jobRun"]
        except aws.AWS_ERRORS as exc:
            raise aws.collect_error(self.source, window, exc, SERVICE, f"job run {job_run_id}") from exc

    @staticmethod
    def _virtual_cluster_row(vc: Mapping[str, Any], collected_at: datetime) -> dict[str, Any]:
        provider = vc.get("containerProvider") or {}
        eks_info = (provider.get("info") or {}).get("eksInfo") or {}
        return {
            "collected_at": collected_at,
            "virtual_cluster_id": vc["id"],
            "name": vc.get("name"),
            "arn": vc.get("arn"),
            "state": vc.get("state"),
            "eks_cluster": provider.get("id"),
            "namespace": eks_info.get("namespace"),
            "created_at": aws.utc(vc.get("createdAt")),
            "tags": _tags(vc.get("tags")),
        }

    def _job_run_row(self, job: Mapping[str, Any], virtual_cluster_id: str, collected_at: datetime) -> dict[str, Any]:
        return {
            "collected_at": collected_at,
            "job_run_id": job["id"],
            "virtual_cluster_id": job.get("virtualClusterId") or virtual_cluster_id,
            "arn": job.get("arn"),
            "name": job.get("name"),
            "state": job.get("state"),
            "created_at": aws.utc(job.get("createdAt")),
            "finished_at": aws.utc(job.get("finishedAt")),
            "release_label": job.get("releaseLabel"),
            "execution_role_arn": job.get("executionRoleArn"),
            **requested_shape(job, self.problems),
            "tags": _tags(job.get("tags")),
            "failure_reason": job.get("failureReason"),
            "state_details": job.get("stateDetails"),
        }

    def _batch(self, table: Stream, rows: list[dict[str, Any]], window: Window) -> Batch:
        data = pa.Table.from_pylist(rows, schema=table.schema)
        return Batch(table, table.conform(data, f"{self.source} {window}"))
