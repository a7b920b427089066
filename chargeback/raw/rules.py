"""The value rules a raw table declares: what its rows' values must satisfy before the models read them, and
what takes the place of a value that breaks one (DESIGN "Trust: validated inputs"; docs/method.md#validation).

Rules are data. Each raw table lists its own in ``chargeback.raw.tables``; ``chargeback.build.validation``
turns them into the ``validated`` layer's SQL (one view per raw table, between raw and staging), which both
engines run. A rule never drops a row: a measure falls back to a documented value, a reserved tenant name is
ignored (the next tenancy rule applies), and every such correction is recorded with its file and row. A CUR
line that breaks a rule stops the build if the line is in scope.
"""

from __future__ import annotations

from dataclasses import dataclass

HOUR_SECONDS = 3600.0
# A measure of a pod-hour is at most its node's capacity for the time the pod ran, plus CAPACITY_SLACK_SECONDS
# (a sample stands for up to one scrape interval, so a pod's integrals can straddle its running time by one),
# with CAPACITY_TOLERANCE to spare for counter jitter: 10% and a minute catch units off by a factor (bytes for
# KiB, millicores for cores, ×10⁶) without ever correcting a pod that really used its whole node.
CAPACITY_SLACK_SECONDS = 60.0
CAPACITY_TOLERANCE = 1.1

# The checks a numeric value can be held to, in the order they are tried (the first one it fails is recorded).
CHECKS: dict[str, str] = {
    "finite": "a number: not NaN, not ±infinity",
    "non_negative": "zero or more",
    "within_hour": f"at most {HOUR_SECONDS:,.0f} seconds, the length of the hour",
    "within_capacity": (
        f"at most the node's capacity × (the pod's running seconds + {CAPACITY_SLACK_SECONDS:.0f} s)"
        f" × {CAPACITY_TOLERANCE}"
    ),
}
# What takes the place of a value that fails a check (a ValueRule's ``fallback``, or a column's name: the value
# of that column, after its own rule).
FALLBACKS: dict[str, str] = {
    "zero": "0",
    "unknown": "unknown (null): the next source of the figure is used",
    "the_hour": "clamped to 0–3,600 s; not a number: 3,600 s (the whole hour)",
    "clamped_or_zero": "clamped to 0–3,600 s; not a number: 0 s (it counts for nothing)",
    "stop_in_scope": "the build stops if the line is in scope; out of scope it is kept (not a number: null)",
}
RESERVED = "reserved_value"  # the rule a TenantValue breaks: a name of the form __*__, which only bill lines use
RESERVED_PATTERN = "^__.*__$"
IGNORED = "ignored: the next tenancy rule applies"


@dataclass(frozen=True)
class ValueRule:
    """A numeric column's checks, in order, and its fallback (a FALLBACKS key or another column's name).

    ``capacity`` names the column of the node-hours that bounds it for ``within_capacity`` (per second of the
    pod's running time); a null value is never checked (the column says "unknown")."""

    column: str
    checks: tuple[str, ...]
    fallback: str
    capacity: str | None = None

    def __post_init__(self) -> None:
        unknown = [c for c in self.checks if c not in CHECKS]
        if unknown or ("within_capacity" in self.checks) != (self.capacity is not None):
            raise ValueError(f"rule of {self.column}: checks {self.checks} and capacity {self.capacity} disagree")


@dataclass(frozen=True)
class SettingRule:
    """A column that must hold the value of a configuration setting (``config.settings.<setting>``): the CUR's
    currency. Breaking it stops the build if the line is in scope."""

    column: str
    setting: str
    rule: str
    fallback: str = "stop_in_scope"


@dataclass(frozen=True)
class TenantValue:
    """A label or tag that names a tenant: the value at ``<column>[<prefix><config.settings.<setting>>]``,
    exposed as the validated column ``name``; a reserved value (``__idle__``, ``__shared__``, any ``__*__``) is
    ignored, as if the label were absent, so the next tenancy rule applies."""

    name: str
    column: str
    setting: str
    prefix: str = ""


Rule = ValueRule | SettingRule | TenantValue


@dataclass(frozen=True)
class Capacity:
    """Where a table's ``within_capacity`` bounds come from: the node-hour of the same cluster, node and hour
    (the capacity the node reported then). A pod-hour on a node-hour Prometheus did not see has no bound."""

    table: str = "prometheus/node_hours"
    hour_column: str = "hour"


def describe(rule: Rule) -> str:
    """One line for a person: the column, what it must satisfy and what replaces a value that does not."""
    if isinstance(rule, ValueRule):
        fallback = FALLBACKS.get(rule.fallback, f"the value of {rule.fallback} (after its own rule)")
        return f"{rule.column}: {'; '.join(CHECKS[c] for c in rule.checks)}. Otherwise: {fallback}."
    if isinstance(rule, SettingRule):
        return f"{rule.column}: equals the `{rule.setting}` setting. Otherwise: {FALLBACKS[rule.fallback]}."
    return f"{rule.column}[{rule.prefix}<{rule.setting}>]: not a reserved __*__ name. Otherwise: {IGNORED}."
