"""Every source, by the name ``chargeback collect --source`` takes: what kind it is, what configuration it
needs, and how to build its collectors (one per cluster, or one per member account: ``member_accounts``).

The factories import their collector module when they run: each pulls in its own client library (the
Kubernetes client, boto3, prometheus-api-client), which commands that collect nothing should not load.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from chargeback.core import aws
from chargeback.core.config import AwsSettings, Config
from chargeback.core.errors import ChargebackError
from collectors.base import Collector, PeriodCollector

ACCOUNT = "-"  # the target of account-wide sources (EMR, EC2, ELBv2, CUR, Cost Explorer): state file, file names

Kind = Literal["window", "snapshot", "period"]


@dataclass(frozen=True)
class Source:
    """One source. ``kind``: read by UTC day from a watermark (``window``), a snapshot of now landed in
    today's partition (``snapshot``), or whole billing periods by version (``period``)."""

    name: str
    kind: Kind
    needs: Callable[[Config], str | None]  # why this configuration cannot run it (None: it can)
    make: Callable[[Config, bool], list[tuple[str, Collector | PeriodCollector]]]  # (config, refresh) -> collectors


def _clusters_with(table: str) -> Callable[[Config], str | None]:
    def needs(config: Config) -> str | None:
        if any(getattr(cluster, table) for cluster in config.clusters):
            return None
        return f"no [[clusters]] entry has a [clusters.{table}] table (see chargeback.example.toml)"

    return needs


def member_accounts(config: Config) -> list[tuple[str, AwsSettings, list[str]]]:
    """Where the clusters' EMR virtual clusters, EBS volumes and load balancers are read: (target, how to reach
    it, the names of its clusters), one per account and region. While no cluster has its own ``[clusters.aws]``
    that is ``[aws]``'s account, the account-wide target ``-``; else each is named by its role's account (or its
    profile, or ``default``) and region, e.g. ``222222222222.eu-west-1``."""
    if not any(cluster.aws for cluster in config.clusters):
        return [(ACCOUNT, config.aws, [cluster.name for cluster in config.clusters])]
    groups: dict[tuple[str | None, ...], tuple[AwsSettings, list[str]]] = {}
    for cluster in config.clusters:
        settings = config.aws_for(cluster)
        key = (settings.profile, settings.role_arn, settings.external_id, settings.region)
        groups.setdefault(key, (settings, []))[1].append(cluster.name)
    found: list[tuple[str, AwsSettings, list[str]]] = []
    for settings, names in groups.values():
        who = (
            settings.role_arn.split(":")[4]
            if settings.role_arn
            else re.sub(r"[^A-Za-z0-9_-]", "-", settings.profile or "default")
        )
        target, taken = f"{who}.{settings.region}", {t for t, _, _ in found}
        while target in taken:  # the same account and region through two roles
            target += "-2"
        found.append((target, settings, names))
    return found


def _prometheus(config: Config, refresh: bool) -> list[tuple[str, Collector | PeriodCollector]]:
    from collectors.prometheus import PrometheusCollector

    keys = (config.tenancy.namespace_label, config.tenancy.node_label)
    collectors: list[tuple[str, Collector | PeriodCollector]] = []
    for cluster in config.clusters:
        if cluster.prometheus is None:
            continue
        credentials = None
        if cluster.prometheus.auth == "sigv4":  # Amazon Managed Prometheus: sign as the cluster's account
            credentials = aws.session(config.aws_for(cluster)).get_credentials()
        # The retry policy's tries: the cluster's max_attempts (the collector's default).
        collector = PrometheusCollector(cluster, label_keys=keys, credentials=credentials)
        collectors.append((cluster.name, collector))
    return collectors


def _kubernetes(config: Config, refresh: bool) -> list[tuple[str, Collector | PeriodCollector]]:
    from collectors.kubernetes import from_settings

    return [(cluster.name, from_settings(cluster)) for cluster in config.clusters if cluster.kubernetes]


def _emr(config: Config, refresh: bool) -> list[tuple[str, Collector | PeriodCollector]]:
    from collectors.emr import EmrCollector

    return [
        (target, EmrCollector.from_config(config, settings=settings, eks_clusters=names))
        for target, settings, names in member_accounts(config)
    ]


def _cur(config: Config, refresh: bool) -> list[tuple[str, Collector | PeriodCollector]]:
    from collectors.cur import CurCollector

    return [(ACCOUNT, CurCollector.from_config(config))]


def _cost_explorer(config: Config, refresh: bool) -> list[tuple[str, Collector | PeriodCollector]]:
    from collectors.cost_explorer import CostExplorerCollector

    return [(ACCOUNT, CostExplorerCollector.from_config(config, refresh=refresh))]


def _ec2(config: Config, refresh: bool) -> list[tuple[str, Collector | PeriodCollector]]:
    from collectors.ec2 import Ec2VolumesCollector

    return [
        (target, Ec2VolumesCollector.from_config(config, settings=settings))
        for target, settings, _ in member_accounts(config)
    ]


def _elbv2(config: Config, refresh: bool) -> list[tuple[str, Collector | PeriodCollector]]:
    from collectors.elbv2 import LoadBalancersCollector

    return [
        (target, LoadBalancersCollector.from_config(config, settings=settings))
        for target, settings, _ in member_accounts(config)
    ]


def _needs_clusters(config: Config) -> str | None:
    if config.clusters:
        return None
    return "no [[clusters]] entry: EBS volumes and load balancers are read for the clusters' bills"


def _needs_cur(config: Config) -> str | None:
    return None if config.cur is not None else "no [cur] table with the CUR's location (see chargeback.example.toml)"


def _needs_cost_explorer(config: Config) -> str | None:
    return None if config.cost_explorer.enabled else "[cost_explorer] enabled = false"


SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        Source("prometheus", "window", _clusters_with("prometheus"), _prometheus),
        Source("kubernetes", "snapshot", _clusters_with("kubernetes"), _kubernetes),
        Source("emr", "window", lambda config: None, _emr),
        Source("ec2", "snapshot", _needs_clusters, _ec2),
        Source("elbv2", "snapshot", _needs_clusters, _elbv2),
        Source("cur", "period", _needs_cur, _cur),
        Source("cost-explorer", "window", _needs_cost_explorer, _cost_explorer),
    )
}


def resolve(names: list[str]) -> list[Source]:
    """The sources ``names`` asks for (``all``: every one), in registry order."""
    if "all" in names:
        return list(SOURCES.values())
    unknown = [name for name in names if name not in SOURCES]
    if unknown:
        raise ChargebackError(f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(SOURCES)} or all")
    return [SOURCES[name] for name in names]
