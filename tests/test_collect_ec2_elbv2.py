"""EBS volumes (EC2 DescribeVolumes) and load balancers (ELBv2 DescribeLoadBalancers + DescribeTags), snapshotted.

The data path runs on moto's server over HTTP (volumes, attachments, load balancers and tags created through the
API). What moto does not do is checked on the exact requests: DescribeVolumes' paging (moto ignores MaxResults)
and a load balancer deleted between DescribeLoadBalancers and DescribeTags with botocore's Stubber; DescribeTags'
batches of at most 20 ARNs on the calls the client really made (moto accepts more).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import get_args

import pyarrow.parquet as pq
import pytest
from botocore.stub import Stubber

from chargeback.core import aws
from chargeback.core import config as config_module
from chargeback.core.errors import ChargebackError, CollectError
from chargeback.raw.collect import run
from chargeback.raw.landing import partitions
from collectors.base import Window
from collectors.ec2 import Ec2VolumesCollector
from collectors.elbv2 import LoadBalancersCollector
from collectors.registry import SOURCES
from collectors.streams import EC2_VOLUMES, LOAD_BALANCERS
from tests.services.aws import REGION, error_response, inject, moto, record_calls  # noqa: F401 - moto: a fixture

NOW = datetime(2026, 10, 28, 9, 0, 12, tzinfo=UTC)
TODAY = Window(datetime(2026, 10, 28, tzinfo=UTC), NOW)
CLUSTER = "prod-use1"


def rows(collector, window: Window = TODAY) -> list[dict]:
    found = []
    for batch in collector.collect(window):
        assert batch.data.schema == batch.stream.schema
        found += batch.data.to_pylist()
    return found


def volumes(moto, **options) -> Ec2VolumesCollector:  # noqa: F811
    return Ec2VolumesCollector({REGION: moto.client("ec2", **options)}, clock=lambda: NOW)


def balancers(moto, **options) -> LoadBalancersCollector:  # noqa: F811
    page_size = options.pop("page_size", 400)
    return LoadBalancersCollector({REGION: moto.client("elbv2", **options)}, clock=lambda: NOW, page_size=page_size)


# --- EBS volumes ---------------------------------------------------------------------------------------------

CSI_TAGS = {
    "CSIVolumeName": "pvc-0b8e6f2a-7c1d-4e5f-9a3b-2d4c6e8f0a11",
    "ebs.csi.aws.com/cluster": "true",
    "kubernetes.io/cluster/prod-use1": "owned",
    "kubernetes.io/created-for/pv/name": "pvc-0b8e6f2a-7c1d-4e5f-9a3b-2d4c6e8f0a11",
    "kubernetes.io/created-for/pvc/name": "data-ledger-db-0",
    "kubernetes.io/created-for/pvc/namespace": "payments-api",
}


def test_volumes_land_with_their_attachments_and_tags(moto):  # noqa: F811
    node = moto.run_instance("m5.xlarge")  # with its root volume, attached at /dev/sda1
    pv = moto.create_volume(100, "gp3", tags=CSI_TAGS, Iops=4000, Throughput=250)
    moto.client("ec2").attach_volume(VolumeId=pv, InstanceId=node, Device="/dev/xvdba")
    released = moto.create_volume(500, "gp2", "us-east-1b", {"kubernetes.io/created-for/pvc/namespace": "emr-data-eng"})

    collector = volumes(moto)
    got = {row["volume_id"]: row for row in rows(collector)}

    assert len(got) == 3 and collector.requests_made == 1
    (root,) = [row for vid, row in got.items() if vid not in (pv, released)]
    assert (root["instance_id"], root["device"], root["attachment_state"]) == (node, "/dev/sda1", "attached")
    attached = got[pv]
    assert (attached["volume_type"], attached["size_gib"], attached["iops"], attached["throughput_mibps"]) == (
        "gp3",
        100.0,
        4000.0,
        250.0,
    )
    assert (attached["instance_id"], attached["device"], attached["state"]) == (node, "/dev/xvdba", "in-use")
    assert dict(attached["tags"]) == CSI_TAGS
    assert attached["availability_zone"] == "us-east-1a" and attached["attached_at"].tzinfo is not None
    loose = got[released]  # attached nowhere: one row, no instance
    assert (loose["instance_id"], loose["device"], loose["attachment_state"], loose["state"]) == (
        None,
        None,
        None,
        "available",
    )
    assert dict(loose["tags"]) == {"kubernetes.io/created-for/pvc/namespace": "emr-data-eng"}
    assert {(row["collected_at"], row["region"]) for row in got.values()} == {(NOW, REGION)}


def volume(volume_id: str, attachments: list[dict] | None = None) -> dict:
    return {
        "VolumeId": volume_id,
        "Size": 20,
        "VolumeType": "gp3",
        "State": "in-use" if attachments else "available",
        "AvailabilityZone": "us-east-1a",
        "CreateTime": datetime(2026, 10, 1, 8, tzinfo=UTC),
        "Attachments": attachments or [],
        "Iops": 3000,
        "Throughput": 125,
    }


def test_describe_volumes_is_paged_by_max_results_and_next_token(moto):  # noqa: F811
    """moto answers every volume at once, so the paging is checked on the exact requests (Stubber)."""
    client = aws.client(moto.settings(), "ec2")
    attach = {"InstanceId": "i-0a1f3c5e7b9d20001", "Device": "/dev/xvda", "State": "attached"}
    multi = [attach | {"AttachTime": datetime(2026, 10, 1, 8, 1, tzinfo=UTC), "DeleteOnTermination": True}]
    multi.append({"InstanceId": "i-0a1f3c5e7b9d20002", "Device": "/dev/sdf", "State": "attached"})  # io2 Multi-Attach
    with Stubber(client) as stub:
        stub.add_response(
            "describe_volumes",
            {"Volumes": [volume("vol-01"), volume("vol-02", multi)], "NextToken": "page-2"},
            {"MaxResults": 500},
        )
        stub.add_response(
            "describe_volumes", {"Volumes": [volume("vol-03")]}, {"MaxResults": 500, "NextToken": "page-2"}
        )
        collector = Ec2VolumesCollector({REGION: client}, clock=lambda: NOW)
        batches = list(collector.collect(TODAY))
        stub.assert_no_pending_responses()

    assert [b.data.num_rows for b in batches] == [3, 1]  # each page landed as it came; vol-02 is on two nodes
    assert collector.requests_made == 2
    got = [(r["volume_id"], r["instance_id"], r["delete_on_termination"]) for b in batches for r in b.data.to_pylist()]
    assert got == [
        ("vol-01", None, None),
        ("vol-02", "i-0a1f3c5e7b9d20001", True),
        ("vol-02", "i-0a1f3c5e7b9d20002", None),
        ("vol-03", None, None),
    ]


def test_denied_describe_volumes_names_the_iam_action_and_region(moto):  # noqa: F811
    collector = volumes(moto)
    inject(collector.clients[REGION], "DescribeVolumes", [error_response(403, "UnauthorizedOperation", protocol="ec2")])
    with pytest.raises(CollectError) as caught:
        rows(collector)
    message = str(caught.value)
    assert message.startswith(f"ec2 {TODAY}: DescribeVolumes volumes in {REGION} failed: UnauthorizedOperation")
    assert "grant IAM action ec2:DescribeVolumes" in message


def test_throttled_describe_volumes_is_retried(moto):  # noqa: F811
    moto.create_volume(10)
    collector = volumes(moto, max_attempts=3)
    attempts = inject(
        collector.clients[REGION], "DescribeVolumes", [error_response(503, "RequestLimitExceeded", protocol="ec2")]
    )
    assert len(rows(collector)) == 1
    assert attempts == ["injected", "sent"]


# --- load balancers ------------------------------------------------------------------------------------------

CONTROLLER = {"elbv2.k8s.aws/cluster": CLUSTER}
TAGGED = {  # name -> (type, scheme, tags): what the controllers create
    "k8s-teama-web-7c1e2a4f9b": (
        "application",
        "internet-facing",
        CONTROLLER | {"ingress.k8s.aws/stack": "team-a/web"},
    ),
    "k8s-sharededge-3f9a1c7e2d": ("application", "internet-facing", CONTROLLER | {"ingress.k8s.aws/stack": "edge"}),
    "k8s-payments-api-5d2b8e": ("network", "internal", CONTROLLER | {"service.k8s.aws/stack": "payments-api/api"}),
    "a1b2c3d4e5f60718293a4b5c6d7e8f90": (  # the in-tree service controller's NLB
        "network",
        "internet-facing",
        {"kubernetes.io/service-name": "monitoring/grafana", f"kubernetes.io/cluster/{CLUSTER}": "owned"},
    ),
}


@pytest.fixture
def load_balancers(moto) -> dict[str, str]:  # noqa: F811
    """23 load balancers: the four kinds of TAGGED and 19 more of team-a's; name -> ARN."""
    subnets = moto.subnets()
    made = {}
    for name, (kind, scheme, tags) in TAGGED.items():
        made[name] = moto.create_load_balancer(name, subnets, tags, kind, scheme)
    for i in range(19):
        name = f"k8s-teama-batch{i:02d}"
        made[name] = moto.create_load_balancer(name, subnets, CONTROLLER | {"ingress.k8s.aws/stack": f"team-a/b{i}"})
    return made


def test_load_balancers_land_with_their_tags(moto, load_balancers):  # noqa: F811
    collector = balancers(moto)
    got = {row["name"]: row for row in rows(collector)}

    assert len(got) == 23
    for name, (kind, scheme, tags) in TAGGED.items():
        row = got[name]
        assert (row["load_balancer_arn"], row["type"], row["scheme"]) == (load_balancers[name], kind, scheme)
        assert dict(row["tags"]) == tags
        assert row["vpc_id"].startswith("vpc-") and row["state"] and row["created_at"].tzinfo is not None
    assert {(row["collected_at"], row["region"]) for row in got.values()} == {(NOW, REGION)}
    # One page of 23, then DescribeTags for 20 and for 3: 3 requests.
    assert collector.requests_made == 3


def test_pages_and_tag_batches_of_at_most_20(moto, load_balancers):  # noqa: F811
    collector = balancers(moto, page_size=10)
    client = collector.clients[REGION]
    listed, tagged = record_calls(client, "DescribeLoadBalancers"), record_calls(client, "DescribeTags")
    batches = list(collector.collect(TODAY))

    assert [b.data.num_rows for b in batches] == [10, 10, 3]
    order = [row["load_balancer_arn"] for b in batches for row in b.data.to_pylist()]
    assert sorted(order) == sorted(load_balancers.values())
    assert [call.get("Marker") is None for call in listed] == [True, False, False]
    assert {call["PageSize"] for call in listed} == {10}
    assert [call["ResourceArns"] for call in tagged] == [order[:10], order[10:20], order[20:]]

    whole = balancers(moto)
    tagged = record_calls(whole.clients[REGION], "DescribeTags")
    rows(whole)
    assert [len(call["ResourceArns"]) for call in tagged] == [20, 3]  # the API's limit, which moto does not enforce


def described(arn: str) -> dict:
    return {
        "LoadBalancerArn": arn,
        "LoadBalancerName": arn.rsplit("/", 2)[1],
        "Type": "application",
        "Scheme": "internet-facing",
        "VpcId": "vpc-0a1b2c3d",
        "State": {"Code": "active"},
        "CreatedTime": datetime(2026, 9, 1, tzinfo=UTC),
    }


def test_a_load_balancer_deleted_while_collecting_is_left_out(moto):  # noqa: F811
    """Deleted between DescribeLoadBalancers and DescribeTags: AWS fails the whole batch; it is asked one by one."""
    client = aws.client(moto.settings(), "elbv2")
    arn = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:loadbalancer/app/%s/0123456789abcdef"
    a, b, c = (arn % name for name in ("k8s-a", "k8s-b", "k8s-c"))
    tags = [{"Key": "elbv2.k8s.aws/cluster", "Value": CLUSTER}]
    with Stubber(client) as stub:
        stub.add_response(
            "describe_load_balancers", {"LoadBalancers": [described(x) for x in (a, b, c)]}, {"PageSize": 400}
        )
        stub.add_client_error("describe_tags", "LoadBalancerNotFound", "One or more load balancers not found", 400,
                              expected_params={"ResourceArns": [a, b, c]})  # fmt: skip
        stub.add_response(
            "describe_tags", {"TagDescriptions": [{"ResourceArn": a, "Tags": tags}]}, {"ResourceArns": [a]}
        )
        stub.add_client_error("describe_tags", "LoadBalancerNotFound", expected_params={"ResourceArns": [b]})
        stub.add_response("describe_tags", {"TagDescriptions": [{"ResourceArn": c}]}, {"ResourceArns": [c]})
        collector = LoadBalancersCollector({REGION: client}, clock=lambda: NOW)
        got = rows(collector)
        stub.assert_no_pending_responses()

    assert [(r["name"], r["tags"]) for r in got] == [("k8s-a", [("elbv2.k8s.aws/cluster", CLUSTER)]), ("k8s-c", None)]
    assert collector.vanished == [b]


def test_denied_describe_tags_names_the_iam_action(moto, load_balancers):  # noqa: F811
    collector = balancers(moto)
    inject(collector.clients[REGION], "DescribeTags", [error_response(403, "AccessDenied", protocol="query")])
    with pytest.raises(CollectError, match=r"DescribeTags load balancers in us-east-1 failed: AccessDenied") as caught:
        rows(collector)
    assert "grant IAM action elasticloadbalancing:DescribeTags" in str(caught.value)


def test_page_sizes_are_checked():
    with pytest.raises(ValueError, match="between 5 and 500"):
        Ec2VolumesCollector({}, page_size=1000)
    with pytest.raises(ValueError, match="between 1 and 400"):
        LoadBalancersCollector({}, page_size=0)


# --- as `chargeback collect` runs them ------------------------------------------------------------------------


def test_collect_lands_todays_snapshots_of_both(moto, load_balancers, tmp_path):  # noqa: F811
    moto.create_volume(100, tags=CSI_TAGS)
    config = config_module.parse(
        {"data_dir": str(tmp_path / "data"), "clusters": [{"name": CLUSTER}], "aws": moto.settings().model_dump()}
    )
    outcomes = run(config, ["ec2", "elbv2"], now=NOW)

    assert [(o.source, o.target, o.error) for o in outcomes] == [("ec2", "-", None), ("elbv2", "-", None)]
    assert [o.rows for o in outcomes] == [{"ec2/volumes": 1}, {"elbv2/load_balancers": 23}]
    for table, count in ((EC2_VOLUMES, 1), (LOAD_BALANCERS, 23)):
        (path,) = partitions(config.data_dir, table)
        assert path.parent.name == "day=2026-10-28" and pq.read_table(path).num_rows == count
    # Collected again later that day, after one load balancer is deleted: the day keeps both snapshots, so the
    # deleted one is still described as it was while it lived.
    moto.client("elbv2").delete_load_balancer(LoadBalancerArn=load_balancers["k8s-sharededge-3f9a1c7e2d"])
    (again,) = run(config, ["elbv2"], now=NOW + timedelta(hours=1))
    assert again.rows == {"elbv2/load_balancers": 22}
    (path,) = partitions(config.data_dir, LOAD_BALANCERS)
    landed = pq.read_table(path).to_pylist()
    first, second = sorted({row["collected_at"] for row in landed})
    assert [sum(row["collected_at"] == at for row in landed) for at in (first, second)] == [23, 22]
    assert [row["collected_at"] for row in landed if row["name"] == "k8s-sharededge-3f9a1c7e2d"] == [first]


def test_without_clusters_they_are_refused_saying_why(tmp_path):
    config = config_module.parse({"data_dir": str(tmp_path / "data")})
    for source in ("ec2", "elbv2"):
        with pytest.raises(ChargebackError, match=rf"cannot collect {source}: no \[\[clusters\]\] entry: EBS volumes"):
            run(config, [source], now=NOW)


def test_a_scheduled_collect_job_can_name_every_source():
    assert set(get_args(config_module.CollectSource)) == {"all", *SOURCES}
