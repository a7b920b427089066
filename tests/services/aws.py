"""AWS for tests: moto's server on 127.0.0.1 (S3, STS, EMR containers, Cost Explorer, EC2, ELBv2) over real HTTP.

One ``ThreadedMotoServer`` per test process, started on first use on a free loopback port; the
``moto`` fixture resets its state before each test and points the AWS environment at fake
credentials (never the machine's own: no profile, no credentials file, no metadata service).

Helpers fill the server the way AWS would have:

- S3: buckets and whole local folders uploaded under a prefix (the sample CUR export).
- EMR on EKS: virtual clusters and job runs are created through the API, then given realistic
  histories by setting state and times on moto's in-process backend objects (moto keeps jobs RUNNING
  and truncates ``createdAt`` to midnight; its objects hold naive UTC datetimes).
- Cost Explorer: GetCostAndUsage answers are queued through moto's own API; each distinct request
  body takes the next queued answer (so two queued pages test ``NextPageToken``), and the same body
  gets the same answer again.
- EC2 and ELBv2: instances (each with its root volume), volumes with tags and attachments, a VPC with
  subnets in two zones, and load balancers with tags, all through the API. moto's DescribeVolumes ignores
  MaxResults and DescribeTags accepts more than 20 ARNs: those limits are checked on the requests made.
- Faults moto cannot produce (throttling, 5xx, AccessDenied) are injected with botocore's
  ``before-send`` event, so the client's real retry logic handles them and a later attempt reaches moto.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.awsrequest import AWSResponse

from chargeback.core import aws
from chargeback.core.config import AwsSettings

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
SERVICES = ("s3", "sts", "emr-containers", "ce", "ec2", "elbv2")
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/emr-job-execution"
RELEASE = "emr-7.2.0-latest"

_lock = threading.Lock()
_server: Any = None
_url: str | None = None


def server_url() -> str:
    """The moto server's URL, starting it on first use (stopped when the process exits)."""
    global _server, _url
    with _lock:
        if _url is None:
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per request
            _server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            _server.start()
            host, port = _server.get_host_and_port()
            _url = f"http://{host}:{port}"
            atexit.register(_server.stop)
        return _url


@dataclass
class MotoAws:
    """A reset moto server plus helpers; ``settings()`` gives AwsSettings pointing every service at it."""

    url: str
    _clients: dict[str, Any] = field(default_factory=dict)

    # -- settings and clients --

    def settings(self, **overrides: Any) -> AwsSettings:
        values: dict[str, Any] = {
            "region": REGION,
            "endpoints": {service: self.url for service in SERVICES},
            "max_attempts": 3,
            "connect_timeout_seconds": 2,
            "read_timeout_seconds": 20,
        }
        values.update(overrides)
        return AwsSettings(**values)

    def client(self, service_name: str, **overrides: Any) -> Any:
        """A client through the project's factory (a fresh one when settings are overridden)."""
        if overrides:
            return aws.client(self.settings(**overrides), service_name)
        if service_name not in self._clients:
            self._clients[service_name] = aws.client(self.settings(), service_name)
        return self._clients[service_name]

    def reset(self) -> None:
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    # -- S3 --

    def create_bucket(self, bucket: str) -> Any:
        s3 = self.client("s3")
        s3.create_bucket(Bucket=bucket)
        return s3

    def upload_tree(self, bucket: str, prefix: str, folder: Path) -> list[str]:
        """Upload every file under ``folder`` to ``s3://bucket/prefix/<relative path>``; return the keys."""
        s3 = self.client("s3")
        keys = []
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                key = f"{prefix.strip('/')}/{path.relative_to(folder).as_posix()}"
                s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
                keys.append(key)
        return keys

    def put(self, bucket: str, key: str, body: bytes | str | Mapping[str, Any]) -> None:
        if isinstance(body, Mapping):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.client("s3").put_object(Bucket=bucket, Key=key, Body=body)

    # -- EMR on EKS --

    @staticmethod
    def emr_backend(account: str = ACCOUNT) -> Any:
        from moto.emrcontainers.models import emrcontainers_backends

        return emrcontainers_backends[account][REGION]

    def create_virtual_cluster(
        self,
        name: str,
        namespace: str,
        eks_cluster: str = "prod-analytics",
        tags: Mapping[str, str] | None = None,
        created_at: datetime | None = None,
        role_arn: str | None = None,
    ) -> str:
        """``role_arn``: create it in that role's account (moto acts in the account of assumed credentials)."""
        emr = self.client("emr-containers", role_arn=role_arn) if role_arn else self.client("emr-containers")
        provider = {"id": eks_cluster, "type": "EKS", "info": {"eksInfo": {"namespace": namespace}}}
        virtual_cluster_id = emr.create_virtual_cluster(name=name, containerProvider=provider, tags=dict(tags or {}))[
            "id"
        ]
        if created_at is not None:
            self.emr_backend(_account(role_arn)).virtual_clusters[virtual_cluster_id].created_at = _naive_utc(
                created_at
            )
        return virtual_cluster_id

    def start_job_run(
        self,
        virtual_cluster_id: str,
        name: str,
        created_at: datetime,
        *,
        state: str = "COMPLETED",
        finished_at: datetime | None = None,
        failure_reason: str | None = None,
        state_details: str | None = None,
        submit_parameters: str | None = None,
        spark_defaults: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        role_arn: str | None = None,
    ) -> str:
        """Start a job run through the API (in ``role_arn``'s account when given), then give it this state and these
        times (naive UTC in moto)."""
        driver: dict[str, Any] = {"entryPoint": f"s3://jobs/{name}.py"}
        if submit_parameters is not None:
            driver["sparkSubmitParameters"] = submit_parameters
        params: dict[str, Any] = {
            "name": name,
            "virtualClusterId": virtual_cluster_id,
            "executionRoleArn": EXECUTION_ROLE,
            "releaseLabel": RELEASE,
            "jobDriver": {"sparkSubmitJobDriver": driver},
            "tags": dict(tags or {}),
        }
        if spark_defaults is not None:
            classification = {"classification": "spark-defaults", "properties": dict(spark_defaults)}
            params["configurationOverrides"] = {"applicationConfiguration": [classification]}
        emr = self.client("emr-containers", role_arn=role_arn) if role_arn else self.client("emr-containers")
        job_run_id = emr.start_job_run(**params)["id"]
        job = self.emr_backend(_account(role_arn)).job_runs[job_run_id]
        job.created_at = _naive_utc(created_at)
        job.state = state
        job.finished_at = _naive_utc(finished_at) if finished_at else None
        job.failure_reason = failure_reason
        job.state_details = state_details
        return job_run_id

    # -- Cost Explorer --

    def queue_cost_and_usage(self, *results: Mapping[str, Any]) -> None:
        """Queue GetCostAndUsage answers: each new distinct request body takes the next one."""
        response = requests.post(
            f"{self.url}/moto-api/static/ce/cost-and-usage-results",
            json={"results": list(results), "account_id": ACCOUNT},
            timeout=10,
        )
        assert response.status_code == 201, response.text

    # -- EC2 and ELBv2 --

    def run_instance(self, instance_type: str = "m5.xlarge", zone: str = "us-east-1a") -> str:
        """A node: an instance (with the root volume moto attaches at /dev/sda1); returns its id."""
        ec2 = self.client("ec2")
        image = ec2.describe_images()["Images"][0]["ImageId"]
        placement = {"AvailabilityZone": zone}
        reservation = ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, InstanceType=instance_type, Placement=placement
        )
        return reservation["Instances"][0]["InstanceId"]

    def create_volume(
        self,
        size_gib: int,
        volume_type: str = "gp3",
        zone: str = "us-east-1a",
        tags: Mapping[str, str] | None = None,
        role_arn: str | None = None,
        **options: Any,
    ) -> str:
        if tags:
            options["TagSpecifications"] = [
                {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ]
        ec2 = self.client("ec2", role_arn=role_arn) if role_arn else self.client("ec2")
        volume = ec2.create_volume(AvailabilityZone=zone, Size=size_gib, VolumeType=volume_type, **options)
        return volume["VolumeId"]

    def subnets(self) -> list[str]:
        """A VPC with one subnet in each of two zones (a load balancer needs two)."""
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        return [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
            for i, zone in enumerate(("us-east-1a", "us-east-1b"), start=1)
        ]

    def create_load_balancer(
        self,
        name: str,
        subnets: list[str],
        tags: Mapping[str, str],
        kind: str = "application",
        scheme: str = "internet-facing",
    ) -> str:
        answer = self.client("elbv2").create_load_balancer(
            Name=name,
            Subnets=subnets,
            Type=kind,
            Scheme=scheme,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        return answer["LoadBalancers"][0]["LoadBalancerArn"]

    # -- STS --

    @staticmethod
    def assumed_roles() -> list[Any]:
        from moto.sts.models import sts_backends

        return list(sts_backends[ACCOUNT]["aws"].assumed_roles)


def _account(role_arn: str | None) -> str:
    """The account moto acts in for a role's assumed credentials (moto's default without one)."""
    return role_arn.split(":")[4] if role_arn else ACCOUNT


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


# --- fault injection ----------------------------------------------------------------------------------


class _Body:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def error_response(status: int, code: str, message: str = "injected by the test", protocol: str = "json") -> Any:
    """An AWS error as the wire carries it for the service's protocol: ``json`` (JSON 1.1, ``__type``: Cost
    Explorer), ``rest-json`` (an ``x-amzn-ErrorType`` header: EMR containers), ``rest-xml`` (S3), ``ec2``
    (``<Response><Errors>``) or ``query`` (``<ErrorResponse>``: ELBv2, STS)."""
    if protocol == "json":
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        body = json.dumps({"__type": code, "message": message}).encode()
    elif protocol == "rest-json":
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": f"{code}:"}
        body = json.dumps({"message": message}).encode()
    elif protocol == "ec2":
        headers = {"Content-Type": "text/xml"}
        error = f"<Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        body = f"<Response>{error}<RequestID>r-1</RequestID></Response>".encode()
    elif protocol == "query":
        headers = {"Content-Type": "text/xml"}
        error = f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        body = f"<ErrorResponse>{error}<RequestId>r-1</RequestId></ErrorResponse>".encode()
    else:
        headers = {"Content-Type": "application/xml"}
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    return lambda url: AWSResponse(url, status, headers, _Body(body))


def inject(client: Any, operation: str, failures: list[Callable[[str], Any]]) -> list[str]:
    """Answer the next attempts of ``operation`` with ``failures`` (one each) before letting calls reach
    moto. Returns a log of what each attempt got ("injected" or "sent")."""
    pending = list(failures)
    attempts: list[str] = []
    service = client.meta.service_model.service_id.hyphenize()

    def before_send(request: Any, **_: Any) -> Any:
        if pending:
            attempts.append("injected")
            return pending.pop(0)(request.url)
        attempts.append("sent")
        return None

    client.meta.events.register(f"before-send.{service}.{operation}", before_send)
    return attempts


def record_calls(client: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every ``operation`` call the client makes from now on (retries not repeated)."""
    calls: list[dict[str, Any]] = []
    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(
        f"provide-client-params.{service}.{operation}", lambda params, **_: calls.append(dict(params))
    )
    return calls


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MotoAws:
    """A freshly reset moto server and an AWS environment that can only reach it."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    service = MotoAws(server_url())
    service.reset()
    return service


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)
