"""One way to reach AWS: a boto3 session and clients built from ``[aws]`` in the configuration.

Every AWS collector (EMR on EKS, the CUR in S3, Cost Explorer, EBS volumes, load balancers) gets its client
from :func:`client`, so all of them share one retry policy (botocore's ``standard`` mode: throttling and 5xx
errors are retried with exponential backoff and jitter, up to ``aws.max_attempts`` attempts in all), explicit
connect and read timeouts, and the per-service endpoint overrides (S3-compatible stores, tests against moto).

Credentials come from the usual chain (environment, ``aws.profile``, instance or pod role). With
``aws.role_arn`` the session assumes that role through STS (with ``aws.external_id`` when set) and
refreshes the temporary credentials before they expire, so a long collection never fails half-way
on an expired token. Nothing here does I/O until a client makes its first call.

:func:`collect_error` turns botocore's exceptions into a :class:`~chargeback.core.errors.CollectError` that
names the source, the window, the AWS error code and what to do about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from chargeback.core.config import AwsSettings
from chargeback.core.errors import CollectError

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config as BotocoreConfig

ROLE_SESSION_NAME = "chargeback"
ROLE_SESSION_SECONDS = 3600

# IAM action names that differ from the API operation name (the rest are "<service>:<Operation>").
_IAM_ACTIONS = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
}
# botocore service name -> IAM service prefix, where they differ.
_IAM_PREFIX = {
    "ce": "ce",
    "ec2": "ec2",
    "elbv2": "elasticloadbalancing",
    "emr-containers": "emr-containers",
    "s3": "s3",
    "sts": "sts",
}

_THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "LimitExceededException",
    "ProvisionedThroughputExceededException",
}
_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden", "403"}
# Hints for service-specific error codes.
_HINTS = {
    "DataUnavailableException": "Cost Explorer has no data for this period yet (or is not enabled for the account)",
    "BillExpirationException": "Cost Explorer only keeps about 13 months (14 with monthly data)",
    "RequestChangedException": "the data changed while paging; run the collection again",
    "InvalidNextTokenException": "the page token expired; run the collection again",
    "ResourceNotFoundException": "it no longer exists (deleted virtual cluster or job run?)",
    "OptInRequired": "the region is not enabled for the account (check aws.region)",
}
_BAD_CREDENTIALS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidToken",
}


def client_config(settings: AwsSettings, service_name: str | None = None) -> BotocoreConfig:
    """Retries (standard mode), timeouts and region; path-style S3 addressing behind an endpoint override."""
    # boto3 and botocore's client machinery take about 0.25 s to load: loaded when an AWS client is made, so
    # the commands that call no AWS service start without them.
    from botocore.config import Config as BotocoreConfig

    options: dict[str, Any] = {
        "region_name": settings.region,
        "retries": {"mode": "standard", "total_max_attempts": settings.max_attempts},
        "connect_timeout": settings.connect_timeout_seconds,
        "read_timeout": settings.read_timeout_seconds,
        "user_agent_extra": "chargeback",
    }
    if service_name == "s3" and "s3" in settings.endpoints:
        options["s3"] = {"addressing_style": "path"}  # S3-compatible stores rarely serve bucket subdomains
    return BotocoreConfig(**options)


def session(settings: AwsSettings) -> boto3.Session:
    """A boto3 session: ``profile`` if set; with ``role_arn``, that role's auto-refreshed credentials."""
    import boto3
    import botocore.session
    from botocore.credentials import DeferredRefreshableCredentials

    base = boto3.Session(profile_name=settings.profile, region_name=settings.region)
    if not settings.role_arn:
        return base
    sts = base.client(
        "sts",
        endpoint_url=settings.endpoints.get("sts"),
        config=client_config(settings, "sts"),
    )
    role_arn, external_id = settings.role_arn, settings.external_id

    def assume_role() -> dict[str, str]:
        params: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": ROLE_SESSION_NAME,
            "DurationSeconds": ROLE_SESSION_SECONDS,
        }
        if external_id:
            params["ExternalId"] = external_id
        credentials = sts.assume_role(**params)["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].astimezone(UTC).isoformat(),
        }

    # Deferred: the first AssumeRole happens on the first real call, and again shortly before expiry.
    credentials = DeferredRefreshableCredentials(refresh_using=assume_role, method="sts-assume-role")
    core = botocore.session.Session(profile=settings.profile)
    # botocore has no public setter for refreshable credentials; this is how boto3's own docs and
    # botocore's AssumeRoleProvider wire them into a session.
    core._credentials = credentials
    return boto3.Session(botocore_session=core, region_name=settings.region)


def client(settings: AwsSettings, service_name: str, aws_session: boto3.Session | None = None) -> Any:
    """A client for ``service_name`` (botocore's name: ``s3``, ``emr-containers``, ``ce``, ``sts``)."""
    aws_session = aws_session or session(settings)
    return aws_session.client(
        service_name,
        endpoint_url=settings.endpoints.get(service_name),
        config=client_config(settings, service_name),
    )


def iam_action(service_name: str, operation: str) -> str:
    """The IAM action an API call needs, e.g. ``ce:GetCostAndUsage`` or ``s3:ListBucket``."""
    return _IAM_ACTIONS.get((service_name, operation), f"{_IAM_PREFIX.get(service_name, service_name)}:{operation}")


def error_code(exc: BaseException) -> str | None:
    if not isinstance(exc, ClientError):
        return None
    code = exc.response.get("Error", {}).get("Code")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(code or status or "") or None


def describe(exc: BaseException, service_name: str, what: str = "") -> str:
    """A one-line cause with the AWS error code and a hint at the fix."""
    target = f" {what}" if what else ""
    if isinstance(exc, ClientError):
        code = error_code(exc) or "unknown"
        operation = exc.operation_name
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        retries = exc.response.get("ResponseMetadata", {}).get("RetryAttempts")
        head = f"{operation}{target} failed: {code}: {message}"
        if operation == "AssumeRole" and (code in _ACCESS_DENIED or status == 403):
            return (
                f"{head} (hint: the caller needs sts:AssumeRole on aws.role_arn, and the role's trust policy"
                " must allow it, with the same aws.external_id)"
            )
        if code in _ACCESS_DENIED or status == 403:
            note = ""
            if service_name == "s3" and operation in ("GetObject", "HeadObject"):
                note = "; S3 also answers 403 for a missing object when s3:ListBucket is not granted"
            action = iam_action(service_name, operation)
            return f"{head} (hint: grant IAM action {action} to the credentials in use{note})"
        if code in _THROTTLING or status == 429:
            return f"{head} (still throttled after {retries} retries; raise aws.max_attempts or run less often)"
        if code in _BAD_CREDENTIALS:
            return f"{head} (hint: the AWS credentials are invalid or expired; check aws.profile / aws.role_arn)"
        if code in ("NoSuchBucket", "NoSuchKey", "404", "NotFound"):
            return f"{head} (hint: check the location; the object or bucket does not exist)"
        if code in _HINTS:
            return f"{head} (hint: {_HINTS[code]})"
        if status is not None and status >= 500:
            return f"{head} (AWS-side error, still failing after {retries} retries; try again later)"
        return head
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return f"no usable AWS credentials{target}: {exc} (hint: set aws.profile, environment credentials or a role)"
    if isinstance(exc, ProfileNotFound):
        return f"{exc} (hint: aws.profile names a profile missing from ~/.aws/config)"
    if isinstance(exc, (ConnectTimeoutError, EndpointConnectionError)):
        return f"cannot reach {service_name}{target}: {exc} (hint: check aws.region, aws.endpoints and the network)"
    if isinstance(exc, ReadTimeoutError):
        return f"{service_name}{target} did not answer in time: {exc} (hint: raise aws.read_timeout_seconds)"
    return f"{service_name}{target}: {type(exc).__name__}: {exc}"


def collect_error(source: str, window: object, exc: BaseException, service_name: str, what: str = "") -> CollectError:
    """Wrap a botocore exception into a CollectError naming the source, window, error code and hint."""
    return CollectError(source, window, describe(exc, service_name, what))


AWS_ERRORS: tuple[type[BaseException], ...] = (ClientError, BotoCoreError)
"""What to catch around AWS calls: API errors and transport / credential errors."""


def utc(value: datetime | None) -> datetime | None:
    """An AWS timestamp as a UTC-aware datetime (botocore gives tzlocal or tzutc; naive means UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def tags(pairs: list[Mapping[str, str]] | None) -> list[tuple[str, str]] | None:
    """EC2's and Elastic Load Balancing's ``[{"Key": k, "Value": v}]`` as sorted map entries (None: no tags)."""
    return sorted((tag["Key"], tag.get("Value", "")) for tag in pairs) if pairs else None
