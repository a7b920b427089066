"""Configuration of collection: the clusters (their Prometheus, Kubernetes API and member account), AWS access,
the CUR and Cost Explorer, and how a collection runs. Part of ``chargeback.core.config``, which re-exports every
name here; a key added here is documented in ``chargeback.example.toml`` like every other."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrometheusSettings(Strict):
    """A Prometheus-compatible query endpoint (Prometheus, Thanos, Mimir, Amazon Managed Prometheus)."""

    url: str
    auth: Literal["none", "bearer", "basic", "sigv4"] = "none"
    bearer_token: str | None = None
    bearer_token_file: Path | None = None
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None
    sigv4_region: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    step_seconds: int = Field(default=30, ge=1, le=3600)
    max_concurrency: int = Field(default=4, ge=1, le=64)
    timeout_seconds: float = Field(default=60, gt=0)
    max_attempts: int = Field(default=6, ge=1, le=20)
    verify_tls: bool = True

    @model_validator(mode="after")
    def _auth_has_credentials(self) -> PrometheusSettings:
        if self.auth == "bearer" and not (self.bearer_token or self.bearer_token_file):
            raise ValueError('auth = "bearer" needs bearer_token or bearer_token_file')
        if self.auth == "basic" and not (self.username and (self.password or self.password_file)):
            raise ValueError('auth = "basic" needs username and password or password_file')
        if self.auth == "sigv4" and not self.sigv4_region:
            raise ValueError('auth = "sigv4" needs sigv4_region (the Amazon Managed Prometheus workspace region)')
        return self


class KubernetesSettings(Strict):
    """How to reach the cluster's API server: in-cluster service account, or a kubeconfig context."""

    in_cluster: bool = False
    kubeconfig: Path | None = None
    context: str | None = None
    page_size: int = Field(default=500, ge=1, le=10_000)
    timeout_seconds: float = Field(default=30, gt=0)


class AwsSettings(Strict):
    """AWS access shared by the EMR, CUR (S3) and Cost Explorer collectors."""

    region: str = "us-east-1"
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    # Endpoint override per service (botocore service name -> URL): S3-compatible stores, tests.
    endpoints: dict[str, str] = Field(default_factory=dict)
    max_attempts: int = Field(default=8, ge=1, le=20)
    connect_timeout_seconds: float = Field(default=10, gt=0)
    read_timeout_seconds: float = Field(default=60, gt=0)


class CurSettings(Strict):
    """Where the CUR is delivered: ``s3://bucket/prefix/<export-name>`` or a local directory."""

    location: str
    format: Literal["cur2", "legacy"] = "cur2"


class CostExplorerSettings(Strict):
    enabled: bool = False
    tag_keys: tuple[str, ...] = ()
    metric: Literal["AmortizedCost", "UnblendedCost", "NetAmortizedCost", "NetUnblendedCost"] = "AmortizedCost"


ROLE_ARN_PATTERN = r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$"


class ClusterAwsSettings(Strict):
    """``[clusters.aws]``: the member account a cluster runs in, where its EMR virtual clusters, EBS volumes, load
    balancers (and Amazon Managed Prometheus workspace) are read. The CUR and Cost Explorer stay with ``[aws]``
    (the payer). Set, it replaces ``[aws]``'s identity for the cluster (profile, role_arn, external_id: one not
    set here is not used); the region defaults to ``[aws]``'s; endpoints, retries and timeouts are ``[aws]``'s."""

    role_arn: str | None = Field(default=None, pattern=ROLE_ARN_PATTERN)
    external_id: str | None = None
    profile: str | None = None
    region: str | None = None

    @property
    def account_id(self) -> str | None:
        """The account of ``role_arn``, when it names one."""
        return self.role_arn.split(":")[4] if self.role_arn else None


class ClusterSettings(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")  # EKS: letters, digits, - and _
    prometheus: PrometheusSettings | None = None
    kubernetes: KubernetesSettings | None = None
    aws: ClusterAwsSettings | None = None


class CollectSettings(Strict):
    """``[collect]``: how ``chargeback collect`` (and the scheduler's collect job) runs its sources."""

    # Collections run at once: each (source, cluster or account) is one; a fleet's clusters are collected side
    # by side, each cluster's Prometheus queries bounded by its own max_concurrency.
    parallel: int = Field(default=4, ge=1, le=64)
    # A cluster whose Prometheus data ends this many hours before the newest cluster's (or whose last collection
    # failed) is shown as stale by `chargeback status`, the build's notes and every dashboard page.
    stale_after_hours: int = Field(default=3, ge=1, le=24 * 31)
