"""Configuration: one TOML file, validated strictly, with every option documented.

Where it comes from, in order (``discover``): ``--config FILE``, ``$CHARGEBACK_CONFIG``, ``./chargeback.toml``
when present, ``<data dir>/chargeback.toml`` when present (the data directory of ``--data-dir``, else
``./data``: a data directory remembers the configuration it is built with, as ``chargeback demo`` leaves it),
else the built-in defaults. ``chargeback.example.toml`` documents every key; a test fails when a key here is
missing from it.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from chargeback.core import cron
from chargeback.core.config_alerts import (  # noqa: F401 - re-exported: the configuration is one model
    AlertmanagerSettings,
    AlertSettings,
    AnomalySettings,
    Budget,
    SlackSettings,
    SmtpSettings,
)
from chargeback.core.config_collect import (  # noqa: F401 - re-exported: the configuration is one model
    AwsSettings,
    ClusterAwsSettings,
    ClusterSettings,
    CollectSettings,
    CostExplorerSettings,
    CurSettings,
    KubernetesSettings,
    PrometheusSettings,
    Strict,
)
from chargeback.core.errors import ConfigError
from chargeback.core.globs import glob_to_regex

CostBasis = Literal["amortized", "net_amortized", "on_demand"]
IdleMode = Literal["node", "cluster", "separate"]
SharedMode = Literal["weighted", "even", "separate"]
SENTINELS = ("__idle__", "__shared__", "__unallocated__")


_Strict = Strict


# Weights are relative, so their scale is free: each is 0 or within these bounds, which keep the build's
# unit price (cost / sum of weight x capacity) and every product with it finite in DOUBLE.
WEIGHT_RANGE = (1e-6, 1e6)


class ResourceWeights(_Strict):
    """Relative weight of one unit of each resource (vCPU, GiB, GPU) in a node's cost."""

    cpu: float = Field(ge=0, allow_inf_nan=False)
    memory: float = Field(ge=0, allow_inf_nan=False)
    gpu: float = Field(default=0.0, ge=0, allow_inf_nan=False)

    @field_validator("cpu", "memory", "gpu")
    @classmethod
    def _in_range(cls, weight: float) -> float:
        low, high = WEIGHT_RANGE
        if weight != 0 and not low <= weight <= high:
            raise ValueError(
                f"{weight:g} is not a weight: 0, or a number from {low:g} to {high:,.0f} (weights are relative:"
                " cpu 9 and memory 1 price a vCPU nine times a GiB)"
            )
        return weight

    @model_validator(mode="after")
    def _not_all_zero(self) -> ResourceWeights:
        if self.cpu == 0 and self.memory == 0:
            raise ValueError("cpu and memory weights cannot both be 0: a node's cost would have no unit price")
        return self


class CustomWeights(ResourceWeights):
    """Custom weights; ``gpu_node`` overrides them on nodes with GPUs (default: the same)."""

    gpu_node: ResourceWeights | None = None


class WeightSet(_Strict):
    """Weights for nodes without GPUs and for nodes with GPUs."""

    cpu_node: ResourceWeights
    gpu_node: ResourceWeights


PRESETS: dict[str, WeightSet] = {
    # AWS split cost allocation data: cpu:memory 9:1; on GPU nodes gpu:cpu:memory 9:0.9:0.1.
    "scad": WeightSet(
        cpu_node=ResourceWeights(cpu=9, memory=1, gpu=0),
        gpu_node=ResourceWeights(cpu=0.9, memory=0.1, gpu=9),
    ),
    # OpenCost's default list prices relative to one GiB-hour: vCPU 7.46, GPU 224.
    "opencost": WeightSet(
        cpu_node=ResourceWeights(cpu=7.46, memory=1, gpu=224),
        gpu_node=ResourceWeights(cpu=7.46, memory=1, gpu=224),
    ),
}


class Allocation(_Strict):
    cost_basis: CostBasis = "amortized"
    weights: Literal["scad", "opencost", "custom"] = "scad"
    custom_weights: CustomWeights | None = None
    idle: IdleMode = "node"
    shared: SharedMode = "weighted"
    shared_namespaces: tuple[str, ...] = ("kube-system", "monitoring")

    @model_validator(mode="after")
    def _custom_needs_weights(self) -> Allocation:
        if self.weights == "custom" and self.custom_weights is None:
            raise ValueError('weights = "custom" needs an [allocation.custom_weights] table (cpu, memory, gpu)')
        if self.weights != "custom" and self.custom_weights is not None:
            raise ValueError(
                f'[allocation.custom_weights] is set but weights = "{self.weights}": set weights = "custom" to use it'
            )
        return self

    def weight_set(self) -> WeightSet:
        if self.weights != "custom":
            return PRESETS[self.weights]
        custom = self.custom_weights
        assert custom is not None  # guaranteed by the validator
        base = ResourceWeights(cpu=custom.cpu, memory=custom.memory, gpu=custom.gpu)
        return WeightSet(cpu_node=base, gpu_node=custom.gpu_node or base)


class NamespaceRule(_Strict):
    """A glob pattern (``*``, ``?``, ``[abc]``) over namespace names and the tenant it maps to."""

    pattern: str = Field(min_length=1)
    tenant: str = Field(min_length=1)

    @field_validator("pattern")
    @classmethod
    def _a_glob(cls, pattern: str) -> str:
        glob_to_regex(pattern)  # raises GlobError (a ValueError) saying what is wrong
        return pattern

    @field_validator("tenant")
    @classmethod
    def _not_sentinel(cls, tenant: str) -> str:
        return _check_tenant(tenant)


def _check_tenant(tenant: str) -> str:
    if tenant in SENTINELS:
        raise ValueError(f"{tenant!r} is a reserved line name ({', '.join(SENTINELS)}), not a tenant")
    return tenant


class Tenancy(_Strict):
    namespace_label: str = "tenant"
    node_label: str = "chargeback.io/tenant"
    node_tag: str = "tenant"
    virtual_cluster_tag: str = "tenant"
    virtual_clusters: dict[str, str] = Field(default_factory=dict)
    namespaces: tuple[NamespaceRule, ...] = ()

    @field_validator("virtual_clusters")
    @classmethod
    def _tenants_not_sentinels(cls, mapping: dict[str, str]) -> dict[str, str]:
        for tenant in mapping.values():
            _check_tenant(tenant)
        return mapping


class Tagged(_Strict):
    enabled: bool = True
    tag: str = "tenant"
    cluster_tag: str = "eks_cluster_name"


class SparkSettings(_Strict):
    """``[build.spark]``: the Spark session of ``engine = "spark"`` builds, and where they read raw data."""

    # Used only when no master is set already (spark-submit sets one; then this is ignored).
    master: str = Field(default="local[*]", min_length=1)
    # Where the raw tables are read: <data_dir>/raw (None, the default), or a copy of it in S3 with the same
    # <source>/<table>/<part>=<value>/data*.parquet layout, e.g. "s3a://bucket/chargeback/raw".
    raw: str | None = Field(default=None, pattern=r"^s3a://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^?#]*)?$")
    # Extra Spark settings for a session this process creates, e.g. the s3a connector's endpoint.
    conf: dict[str, str] = Field(default_factory=dict)


class BuildSettings(_Strict):
    """How a build runs: its engine, and how it may use the machine (DuckDB session settings)."""

    # "duckdb" builds on this machine; "spark" runs the same models on a SparkSession ([build.spark]).
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkSettings = SparkSettings()

    # DuckDB's default is 80% of the machine's RAM, which in a pod is the node's, not the pod's limit: a
    # fixed cap lets large joins spill to <data_dir>/.tmp instead of being OOM-killed. A DuckDB size string.
    memory_limit: str = Field(default="3GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    threads: int | None = Field(default=None, ge=1, le=256)  # None: every core


class DashboardSettings(_Strict):
    """Who may see what. Identity headers are trusted only when ``identity`` says a proxy sets them."""

    address: str = "127.0.0.1"
    port: int = Field(default=8501, ge=1, le=65535)
    identity: Literal["none", "headers", "alb"] = "none"
    email_header: str = "X-Forwarded-Email"
    groups_header: str = "X-Forwarded-Groups"
    alb_region: str | None = None
    alb_arn: str | None = None  # the load balancer that must have signed x-amzn-oidc-data
    alb_public_keys_url: str = "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}"
    all_access_groups: tuple[str, ...] = ()  # finance, the platform team: every tenant
    all_access_users: tuple[str, ...] = ()
    tenant_groups: dict[str, str] = Field(default_factory=dict)  # group -> tenant
    tenant_users: dict[str, str] = Field(default_factory=dict)  # email -> tenant

    @model_validator(mode="after")
    def _alb_needs_region_and_arn(self) -> DashboardSettings:
        if self.identity == "alb" and not self.alb_region:
            raise ValueError('identity = "alb" needs alb_region (where the ALB\'s public keys are published)')
        if self.identity == "alb" and not self.alb_arn:
            raise ValueError(
                'identity = "alb" needs alb_arn, the ARN of the load balancer in front of the dashboard: without it'
                " a token signed by any ALB of the region would be accepted"
            )
        return self


class CapacitySettings(_Strict):
    """How quota and right-sizing recommendations are made (`chargeback quotas`, `chargeback rightsize`)."""

    quota_quantile: float = Field(default=0.95, gt=0, le=1)  # of the hourly sum of requests
    quota_headroom: float = Field(default=0.2, ge=0, le=10)  # added on top of that quantile
    near_limit_ratio: float = Field(default=0.9, gt=0, le=1)  # an hour at or above this share of hard is "near"
    # Of hourly usage per pod; the rightsizing mart keeps these quantiles (and the maximum, as 1.0).
    rightsize_quantile: Literal[0.5, 0.9, 0.95, 0.99, 1.0] = 0.95
    target_utilisation: float = Field(default=0.8, gt=0, le=1)  # recommended request = quantile / this
    min_cpu_cores: float = Field(default=0.05, ge=0)
    min_memory_gib: float = Field(default=0.125, ge=0)
    min_history_hours: int = Field(default=72, ge=1)  # less history: say so instead of recommending
    over_request_ratio: float = Field(default=2.0, ge=1)  # requests above usage by this much: right-size first


# CreateCustomLineItem's own patterns (botocore's billingconductor model).
BILLING_GROUP_ARN_PATTERN = r"^(arn:aws(-cn)?:billingconductor::[0-9]{12}:billinggroup/)?[a-zA-Z0-9]{10,12}$"
ACCOUNT_ID_PATTERN = r"^[0-9]{12}$"


class BillingGroupTarget(_Strict):
    """Where one bill line's custom line item goes: a billing group, and optionally one of its accounts."""

    billing_group_arn: str | None = Field(default=None, pattern=BILLING_GROUP_ARN_PATTERN)
    account_id: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN)


class BillingConductorExport(_Strict):
    """`chargeback export --to billing-conductor`: which billing group (and account) each bill line goes to.

    Tenants not in ``tenants`` go to ``billing_group_arn`` (and ``account_id``) when set; the sentinel lines
    (``__idle__``, ``__shared__``, ``__unallocated__``) only where ``tenants`` names them.
    """

    billing_group_arn: str | None = Field(default=None, pattern=BILLING_GROUP_ARN_PATTERN)
    account_id: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN)
    name_prefix: str = Field(default="chargeback", pattern=r"^[a-zA-Z0-9_+=.@-]{1,40}$")
    tenants: dict[str, BillingGroupTarget] = Field(default_factory=dict)


class FocusExport(_Strict):
    """`chargeback export --to focus`: the FOCUS columns that name who bills whom."""

    billing_account_id: str | None = None  # default: the CUR's payer account
    billing_account_name: str | None = None
    provider_name: str = Field(default="AWS", min_length=1)
    publisher_name: str = Field(default="AWS", min_length=1)
    invoice_issuer_name: str = Field(default="AWS", min_length=1)


class ExportSettings(_Strict):
    """`chargeback export`: where files go by default, and each format's settings."""

    out: str | None = None  # a directory (relative to data_dir) or s3://bucket/prefix; default <data_dir>/exports
    billing_conductor: BillingConductorExport = BillingConductorExport()
    focus: FocusExport = FocusExport()


JobKind = Literal["collect", "build", "alerts", "export"]
ExportFormat = Literal["billing-conductor", "focus", "finance", "statement"]
CollectSource = Literal["all", "prometheus", "kubernetes", "emr", "ec2", "elbv2", "cur", "cost-explorer"]
_EXPORT_ONLY = ("to", "out", "apply", "require_final_cur")


class ScheduleJob(_Strict):
    """One job of ``chargeback schedule``: what it runs and when (a cron expression, in UTC)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=63)  # in logs, metrics and the state file
    cron: str  # five fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @monthly ...
    run: JobKind
    timezone: Literal["UTC"] = "UTC"  # cron expressions are read in UTC, like every time in chargeback
    sources: tuple[CollectSource, ...] = ("all",)  # collect: what `chargeback collect --source` takes
    to: tuple[ExportFormat, ...] = ()  # export: the formats, each as `chargeback export --to`
    out: str | None = None  # export: a directory or s3://bucket/prefix (default: the export's own)
    apply: bool = False  # export: billing-conductor also creates/updates the custom line items
    require_final_cur: bool = True  # export: wait until every CUR line of the month has an invoice id

    @model_validator(mode="after")
    def _check(self) -> ScheduleJob:
        problem = cron.problem(self.cron)
        if problem:
            raise ValueError(f"job {self.name!r}: cron {self.cron!r} is not a cron expression: {problem}")
        if self.run == "export" and not self.to:
            raise ValueError(f'job {self.name!r} runs export: set to = ["billing-conductor", "focus", "finance"]')
        wrong = [key for key in _EXPORT_ONLY if key in self.model_fields_set] if self.run != "export" else []
        wrong += ["sources"] if self.run != "collect" and "sources" in self.model_fields_set else []
        if wrong:
            raise ValueError(f"job {self.name!r} runs {self.run}, which takes no {', '.join(wrong)}")
        return self


DEFAULT_JOBS = (
    ScheduleJob(name="collect", cron="15 * * * *", run="collect"),
    ScheduleJob(name="build", cron="15 * * * *", run="build"),
    # After each build: budget and anomaly figures to /metrics, alerts to the [alerts] channels (none: metrics only).
    ScheduleJob(name="alerts", cron="15 * * * *", run="alerts"),
    # On the 1st, for the month before; it waits until that month's CUR is final (see docs/scheduling.md). Billing
    # Conductor is left out: it needs [export.billing_conductor] billing groups to export to.
    ScheduleJob(name="export", cron="0 6 1 * *", run="export", to=("focus", "finance")),
)


class ScheduleSettings(_Strict):
    """``chargeback schedule``: its jobs, where it keeps their last runs, and its HTTP endpoint."""

    jobs: tuple[ScheduleJob, ...] = DEFAULT_JOBS  # run in this order when due at the same time
    state_file: Path = Path("state/schedule.json")  # relative to data_dir
    address: str = "127.0.0.1"  # /healthz and /metrics; a deployment sets 0.0.0.0
    port: int = Field(default=9090, ge=0, le=65535)  # 0: any free port (it is logged)
    tick_seconds: float = Field(default=30, gt=0, le=3600)  # longest sleep between two looks at the clock
    max_catch_up: int = Field(default=1, ge=0, le=1000)  # missed runs of a job to make up after a stop
    unhealthy_after_failures: int = Field(default=3, ge=1)  # a job failing this often in a row: /healthz 503

    @field_validator("jobs")
    @classmethod
    def _unique_names(cls, jobs: tuple[ScheduleJob, ...]) -> tuple[ScheduleJob, ...]:
        names = [job.name for job in jobs]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"job name(s) {', '.join(repeated)} used more than once; each job needs its own")
        return jobs


class Config(_Strict):
    data_dir: Path = Path("data")
    currency: str = "USD"
    allocation: Allocation = Allocation()
    tenancy: Tenancy = Tenancy()
    tagged: Tagged = Tagged()
    clusters: tuple[ClusterSettings, ...] = ()
    collect: CollectSettings = CollectSettings()
    aws: AwsSettings = AwsSettings()
    cur: CurSettings | None = None
    cost_explorer: CostExplorerSettings = CostExplorerSettings()
    dashboard: DashboardSettings = DashboardSettings()
    capacity: CapacitySettings = CapacitySettings()
    export: ExportSettings = ExportSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    build: BuildSettings = BuildSettings()
    budgets: tuple[Budget, ...] = ()
    anomalies: AnomalySettings = AnomalySettings()
    alerts: AlertSettings = AlertSettings()

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @field_validator("clusters")
    @classmethod
    def _unique_clusters(cls, clusters: tuple[ClusterSettings, ...]) -> tuple[ClusterSettings, ...]:
        names = [cluster.name for cluster in clusters]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(
                f"cluster name(s) {', '.join(repeated)} used more than once; each [[clusters]] needs its own"
            )
        return clusters

    @field_validator("budgets")
    @classmethod
    def _unique_budgets(cls, budgets: tuple[Budget, ...]) -> tuple[Budget, ...]:
        keys = [(b.tenant, b.cluster) for b in budgets]
        repeated = sorted({f"{t}{f' on {c}' if c else ''}" for t, c in keys if keys.count((t, c)) > 1})
        if repeated:
            raise ValueError(f"more than one budget for {', '.join(repeated)}")
        sentinels = sorted({b.tenant for b in budgets if b.tenant in SENTINELS})
        if sentinels:
            raise ValueError(f"{', '.join(sentinels)} is not a tenant: it cannot have a budget")
        return budgets

    def aws_for(self, cluster: ClusterSettings) -> AwsSettings:
        """How to reach ``cluster``'s member account: ``[aws]`` with the identity and region of ``[clusters.aws]``
        when it has one."""
        own = cluster.aws
        if own is None:
            return self.aws
        identity = {"role_arn": own.role_arn, "external_id": own.external_id, "profile": own.profile}
        return self.aws.model_copy(update=identity | {"region": own.region or self.aws.region})


def _describe(error: dict) -> str:
    where = ".".join(str(part) for part in error["loc"] if part not in ("function-after",)) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key (check the spelling against chargeback.example.toml)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "literal_error":
        return f"{where}: {error['input']!r} is not allowed; {message.lower()}"
    if error["type"] == "finite_number":
        return f"{where}: {error['input']!r} is not a finite number"
    if error["type"] == "path_type":
        return f'{where}: {error["input"]!r} is not a path; write it as a string, e.g. {error["loc"][-1]} = "data"'
    return f"{where}: {message}"


def parse(data: dict, origin: str = "configuration") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(err) for err in exc.errors()]
        if len(problems) == 1:  # the usual case: one line, like every other mistake
            raise ConfigError(f"{origin}: {problems[0]}") from None
        raise ConfigError(f"{origin} is invalid ({len(problems)} problems):\n  " + "\n  ".join(problems)) from None


CONFIG_FILE = "chargeback.toml"  # in the working directory, or in a data directory
CONFIG_ENV = "CHARGEBACK_CONFIG"


def discover(path: Path | None = None, data_dir: Path | None = None) -> Path | None:
    """The configuration file a command reads: ``path`` (``--config``), else ``$CHARGEBACK_CONFIG``, else
    ``./chargeback.toml``, else ``<data_dir>/chargeback.toml`` (``data_dir``: ``--data-dir``, else the default
    ``./data``) when they exist; None: the built-in defaults."""
    if path is not None:
        return Path(path)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    for candidate in (Path(CONFIG_FILE), Path(data_dir or Config().data_dir) / CONFIG_FILE):
        if candidate.is_file():
            return candidate
    return None


def load(path: Path | None = None, data_dir: Path | None = None) -> Config:
    """Load the configuration ``discover`` finds (the built-in defaults when it finds none); ``data_dir``
    (``--data-dir``) replaces its data directory."""
    config = _load(discover(path, data_dir))
    return config.model_copy(update={"data_dir": Path(data_dir)}) if data_dir else config


def _load(path: Path | None) -> Config:
    if path is None:
        return Config()
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); TOML files are UTF-8:"
            " save it as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    if isinstance(data.get("data_dir"), str) and not Path(data["data_dir"]).is_absolute():
        data["data_dir"] = str(path.parent / data["data_dir"])
    return parse(data, str(path))
