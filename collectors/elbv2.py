"""Elastic Load Balancing (v2): load balancers and their tags, snapshotted at each collection.

The CUR bills a load balancer by its ARN; which cluster and namespace it serves is in its tags (the AWS Load
Balancer Controller's ``elbv2.k8s.aws/cluster`` and ``service.k8s.aws/stack`` or ``ingress.k8s.aws/stack``;
the in-tree controller's ``kubernetes.io/service-name`` and ``kubernetes.io/cluster/<name>``). The CUR
carries those tags only where they are activated as cost-allocation tags, and the ELB API describes only the
load balancers that exist now, so every collection lands a snapshot of every application, network and
gateway load balancer of each configured region with its tags, stamped ``collected_at`` (``elbv2/
load_balancers``).

``DescribeLoadBalancers`` is paged with boto3's paginator (``PageSize`` ``page_size``, at most 400); the tags
of each page come from ``DescribeTags`` in batches of at most 20 ARNs (the API's limit). A load balancer
deleted between the two calls makes its batch fail with ``LoadBalancerNotFound``: that batch is asked again
one ARN at a time, and a load balancer that is gone is left out of the snapshot (it no longer exists; earlier
snapshots hold it), counted in ``vanished`` and logged. Errors name the source, the window, the region and the
AWS error code with its fix (``elasticloadbalancing:DescribeLoadBalancers``, ``elasticloadbalancing:DescribeTags``).
Classic load balancers (the ``elb`` API) are not read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from chargeback.core import aws
from chargeback.core.config import AwsSettings, Config
from collectors.base import Batch, Window
from collectors.streams import LOAD_BALANCERS, Stream

log = logging.getLogger(__name__)

SERVICE = "elbv2"
PAGE_SIZE = 400  # DescribeLoadBalancers' PageSize: 1 to 400
TAG_BATCH = 20  # DescribeTags: at most 20 ARNs a call
NOT_FOUND = "LoadBalancerNotFound"


def utc_now() -> datetime:
    return datetime.now(UTC)


def load_balancer_row(
    balancer: Mapping[str, Any], tags: list[Mapping[str, str]] | None, region: str, collected_at: datetime
) -> dict[str, Any]:
    return {
        "collected_at": collected_at,
        "region": region,
        "load_balancer_arn": balancer["LoadBalancerArn"],
        "name": balancer.get("LoadBalancerName"),
        "type": balancer.get("Type"),
        "scheme": balancer.get("Scheme"),
        "vpc_id": balancer.get("VpcId"),
        "state": (balancer.get("State") or {}).get("Code"),
        "created_at": aws.utc(balancer.get("CreatedTime")),
        "tags": aws.tags(tags),
    }


class LoadBalancersCollector:
    """Every elbv2 load balancer of each region with its tags, as it is now, page by page (a snapshot source)."""

    source = "elbv2"

    def __init__(
        self, clients: Mapping[str, Any], clock: Callable[[], datetime] = utc_now, *, page_size: int = PAGE_SIZE
    ):
        """``clients``: region -> a boto3 ``elbv2`` client. ``page_size``: ``PageSize`` per DescribeLoadBalancers."""
        if not 1 <= page_size <= 400:
            raise ValueError(f"page_size must be between 1 and 400 (DescribeLoadBalancers' PageSize), not {page_size}")
        self.clients = dict(clients)
        self.clock = clock
        self.page_size = page_size
        self.requests_made = 0
        self.vanished: list[str] = []  # ARNs described, then gone before their tags were read

    @classmethod
    def from_config(
        cls, config: Config, clock: Callable[[], datetime] = utc_now, *, settings: AwsSettings | None = None
    ) -> LoadBalancersCollector:
        """The collector for ``[aws]`` (or ``settings``: a member account's, ``Config.aws_for``): its region,
        through its credentials, retries and endpoints."""
        settings = settings or config.aws
        return cls({settings.region: aws.client(settings, SERVICE)}, clock)

    def streams(self) -> tuple[Stream, ...]:
        return (LOAD_BALANCERS,)

    def collect(self, window: Window) -> Iterator[Batch]:
        """Snapshot now; ``window`` only names errors (the orchestrator passes today)."""
        collected_at = self.clock().astimezone(UTC)
        for region, client in self.clients.items():
            described = 0
            try:
                pages = client.get_paginator("describe_load_balancers").paginate(
                    PaginationConfig={"PageSize": self.page_size}
                )
                for page in pages:
                    self.requests_made += 1
                    balancers = page.get("LoadBalancers", ())
                    described += len(balancers)
                    tags = self._tags(client, [b["LoadBalancerArn"] for b in balancers])
                    rows = [
                        load_balancer_row(b, tags.get(b["LoadBalancerArn"]), region, collected_at)
                        for b in balancers
                        if b["LoadBalancerArn"] not in self.vanished
                    ]
                    if rows:
                        data = pa.Table.from_pylist(rows, schema=LOAD_BALANCERS.schema)
                        yield Batch(LOAD_BALANCERS, LOAD_BALANCERS.conform(data, f"{self.source} {region} {window}"))
            except aws.AWS_ERRORS as exc:
                raise aws.collect_error(self.source, window, exc, SERVICE, f"load balancers in {region}") from exc
            log.info("elbv2 %s: %d load balancer(s) described in %d request(s)", region, described, self.requests_made)

    def _tags(self, client: Any, arns: list[str]) -> dict[str, list[Mapping[str, str]]]:
        """ARN -> its tags, for the load balancers that still exist."""
        found: dict[str, list[Mapping[str, str]]] = {}
        for i in range(0, len(arns), TAG_BATCH):
            batch = arns[i : i + TAG_BATCH]
            try:
                found.update(self._describe_tags(client, batch))
            except aws.AWS_ERRORS as exc:
                if aws.error_code(exc) != NOT_FOUND:
                    raise
                for arn in batch:  # one of them is gone: ask one by one
                    try:
                        found.update(self._describe_tags(client, [arn]))
                    except aws.AWS_ERRORS as gone:
                        if aws.error_code(gone) != NOT_FOUND:
                            raise
                        self.vanished.append(arn)
                        log.warning("elbv2: load balancer %s was deleted while collecting; left out", arn)
        return found

    def _describe_tags(self, client: Any, arns: list[str]) -> dict[str, list[Mapping[str, str]]]:
        self.requests_made += 1
        answer = client.describe_tags(ResourceArns=arns)
        return {d["ResourceArn"]: d.get("Tags", []) for d in answer.get("TagDescriptions", ())}
