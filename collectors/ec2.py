"""EC2: EBS volumes with their attachments and tags (``DescribeVolumes``), snapshotted at each collection.

The CUR bills a volume by its id (``vol-...``) but says neither which node it is attached to nor which
PersistentVolume it backs; EC2 says so, but only as it is now: a volume deleted since, or detached, is no
longer described as it was. So every collection lands a snapshot of every volume of each configured region,
stamped ``collected_at``, in that day's partition (``ec2/volumes``), and the models read the snapshots over
time (and prefer the CUR's own tags where they are activated).

One row per volume and attachment (an io2 Multi-Attach volume has several; a volume attached nowhere has one
row with a null instance): type, size (GiB), provisioned IOPS and throughput (MiB/s), state, zone, creation
time, the attachment's instance, device, state, time and ``DeleteOnTermination``, and the tags as a map (the
EBS CSI driver tags the volumes it creates ``kubernetes.io/created-for/pvc/namespace`` and ``.../name``,
and ``ebs.csi.aws.com/cluster``).

Pages come from boto3's ``describe_volumes`` paginator, ``MaxResults`` ``page_size`` (500, AWS's maximum):
without ``MaxResults`` EC2 answers every volume in one response, which a large account can make time out.
Each page is yielded as it comes. Errors name the source, the window, the region and the AWS error code with
its fix (``ec2:DescribeVolumes`` for an ``UnauthorizedOperation``), after botocore's retries (``[aws]``).
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
from collectors.streams import EC2_VOLUMES, Stream

log = logging.getLogger(__name__)

SERVICE = "ec2"
PAGE_SIZE = 500  # DescribeVolumes' MaxResults: 5 to 500


def utc_now() -> datetime:
    return datetime.now(UTC)


def volume_rows(volume: Mapping[str, Any], region: str, collected_at: datetime) -> list[dict[str, Any]]:
    """One volume as rows of ``ec2/volumes``: one per attachment, or one with no instance."""

    def number(name: str) -> float | None:
        return float(volume[name]) if volume.get(name) is not None else None

    common = {
        "collected_at": collected_at,
        "region": region,
        "volume_id": volume["VolumeId"],
        "volume_type": volume.get("VolumeType"),
        "size_gib": number("Size"),
        "iops": number("Iops"),
        "throughput_mibps": number("Throughput"),
        "state": volume.get("State"),
        "availability_zone": volume.get("AvailabilityZone"),
        "created_at": aws.utc(volume.get("CreateTime")),
        "tags": aws.tags(volume.get("Tags")),
    }
    attachments = volume.get("Attachments") or [{}]
    return [
        common
        | {
            "instance_id": attachment.get("InstanceId"),
            "device": attachment.get("Device"),
            "attachment_state": attachment.get("State"),
            "attached_at": aws.utc(attachment.get("AttachTime")),
            "delete_on_termination": attachment.get("DeleteOnTermination"),
        }
        for attachment in attachments
    ]


class Ec2VolumesCollector:
    """Every EBS volume of each region, as it is now, page by page (a snapshot source)."""

    source = "ec2"

    def __init__(
        self, clients: Mapping[str, Any], clock: Callable[[], datetime] = utc_now, *, page_size: int = PAGE_SIZE
    ):
        """``clients``: region -> a boto3 ``ec2`` client. ``page_size``: ``MaxResults`` per DescribeVolumes."""
        if not 5 <= page_size <= 500:
            raise ValueError(f"page_size must be between 5 and 500 (DescribeVolumes' MaxResults), not {page_size}")
        self.clients = dict(clients)
        self.clock = clock
        self.page_size = page_size
        self.requests_made = 0

    @classmethod
    def from_config(
        cls, config: Config, clock: Callable[[], datetime] = utc_now, *, settings: AwsSettings | None = None
    ) -> Ec2VolumesCollector:
        """The collector for ``[aws]`` (or ``settings``: a member account's, ``Config.aws_for``): its region,
        through its credentials, retries and endpoints."""
        settings = settings or config.aws
        return cls({settings.region: aws.client(settings, SERVICE)}, clock)

    def streams(self) -> tuple[Stream, ...]:
        return (EC2_VOLUMES,)

    def collect(self, window: Window) -> Iterator[Batch]:
        """Snapshot now; ``window`` only names errors (the orchestrator passes today)."""
        collected_at = self.clock().astimezone(UTC)
        for region, client in self.clients.items():
            volumes = 0
            try:
                pages = client.get_paginator("describe_volumes").paginate(PaginationConfig={"PageSize": self.page_size})
                for page in pages:
                    self.requests_made += 1
                    rows = [row for v in page.get("Volumes", ()) for row in volume_rows(v, region, collected_at)]
                    volumes += len(page.get("Volumes", ()))
                    if rows:
                        data = pa.Table.from_pylist(rows, schema=EC2_VOLUMES.schema)
                        yield Batch(EC2_VOLUMES, EC2_VOLUMES.conform(data, f"{self.source} {region} {window}"))
            except aws.AWS_ERRORS as exc:
                raise aws.collect_error(self.source, window, exc, SERVICE, f"volumes in {region}") from exc
            log.info("ec2 %s: %d volume(s) described in %d request(s)", region, volumes, self.requests_made)
