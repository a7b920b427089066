"""EBS volume ids as the CUR and EC2 name them (``vol-0123456789abcdef0``), from what a PersistentVolume holds.

A PV of the EBS CSI driver (``ebs.csi.aws.com``) holds the volume id as its ``volumeHandle``. An in-tree PV
(``awsElasticBlockStore``, also after the CSI migration, which keeps the PV's spec as it is) holds a
``volumeID`` that may carry the zone as a URL: ``aws://us-east-1a/vol-0123456789abcdef0``, or just the id.
"""

from __future__ import annotations

import re

_VOLUME_ID = re.compile(r"(?:^|/)(vol-[0-9a-f]+)$")


def volume_id(handle: str | None) -> str | None:
    """The EBS volume id in a CSI volume handle or an in-tree volume id; any other handle (EFS, a host
    path) is returned as it is, and an empty one as None."""
    if not handle:
        return None
    match = _VOLUME_ID.search(handle.strip())
    return match.group(1) if match else handle


def pv_volume_id(csi_volume_handle: str | None, in_tree_volume_id: str | None) -> str | None:
    """A PV's volume: the CSI volume handle, else the in-tree volume id."""
    return volume_id(csi_volume_handle) or volume_id(in_tree_volume_id)
