"""The allocation method a build applies, as data: what a bill states and a closed month keeps.

The method is every setting that decides who pays what for the same inputs (DESIGN.md, "Trust"): the cost
basis, the resource weights (as numbers, so a preset's change is seen too), the idle and shared modes, the
shared namespaces, the tenancy rules (label and tag keys, the virtual-cluster and namespace maps, in order)
and the tagged-resource rule, plus the currency of the bill. Settings that only say where data comes from or
goes to (endpoints, schedules, the dashboard) are not part of it.

``describe`` gives it as a plain dict (readable, stored as JSON), ``fingerprint`` as a short hash of that
dict, ``changes`` what differs between two of them, one line per setting.

A method is part of the result (docs/method.md#the-method-is-part-of-the-result): ``published_method`` reads
the one a warehouse recorded, ``method_effect`` what a new build does to each bill line's total, and
``refuse_method_change`` is the gate both engines pass before publishing: a build whose method differs from
the published one's is not published unless the change is accepted (``chargeback build
--accept-method-change``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from chargeback.build.warehouse import read_only
from chargeback.core.config import Config
from chargeback.core.errors import DataError, MethodChangeError
from chargeback.core.money import apportion, to_cents

# Bump when the meaning of a recorded method changes (a new setting or rule that moves money). 2: the whole
# cluster bill (storage, network, load balancers, cluster overhead; only instance lines give a node-hour its
# billed hours and purchase option).
METHOD_VERSION = 2
ACCEPT_FLAG = "--accept-method-change"  # what `chargeback build` takes to publish a new method

# Whether a warehouse records its method: one built before methods were recorded has no method_json column.
HAS_METHOD_SQL = (
    "select count(*) from information_schema.columns"
    " where table_schema = 'bookkeeping' and table_name = 'build_info' and column_name = 'method_json'"
)
METHOD_SQL = "select method_json from bookkeeping.build_info"
# Each bill line's exact total and each period's in-scope source total, over every cluster: apportioned with
# chargeback.core.money they are the line totals `chargeback bill` prints (the total is the source total
# rounded half-up, lines get cents by largest remainder, ties by name).
LINE_TOTALS_SQL = "select period, tenant, sum(total_cost) from marts.fct_tenant_costs_daily group by period, tenant"
SOURCE_TOTALS_SQL = "select period, coalesce(sum(cost), 0) from marts.fct_source_costs_daily group by period"


def describe(config: Config) -> dict[str, Any]:
    """The method ``config`` applies, as a JSON-ready dict with a stable key order."""
    allocation = config.allocation
    weights = allocation.weight_set()
    return {
        "version": METHOD_VERSION,
        "currency": config.currency,
        "cost_basis": allocation.cost_basis,
        "weights": {
            "preset": allocation.weights,
            "cpu_node": weights.cpu_node.model_dump(),
            "gpu_node": weights.gpu_node.model_dump(),
        },
        "idle": allocation.idle,
        "shared": allocation.shared,
        "shared_namespaces": list(allocation.shared_namespaces),
        "tenancy": {
            "namespace_label": config.tenancy.namespace_label,
            "node_label": config.tenancy.node_label,
            "node_tag": config.tenancy.node_tag,
            "virtual_cluster_tag": config.tenancy.virtual_cluster_tag,
            "virtual_clusters": dict(sorted(config.tenancy.virtual_clusters.items())),
            "namespaces": [[rule.pattern, rule.tenant] for rule in config.tenancy.namespaces],
        },
        "tagged": config.tagged.model_dump(),
    }


def canonical(method: dict[str, Any]) -> str:
    """The method as compact JSON with sorted keys: what is stored and hashed."""
    return json.dumps(method, sort_keys=True, separators=(",", ":"))


def fingerprint(method: dict[str, Any]) -> str:
    """A short, stable hash of a method (12 hex digits of SHA-256 over its canonical JSON)."""
    return hashlib.sha256(canonical(method).encode()).hexdigest()[:12]


def summary(method: dict[str, Any]) -> str:
    """One line a bill can print: basis, weights, idle, shared, and the fingerprint."""
    return (
        f"{method['cost_basis']} cost, {method['weights']['preset']} weights, idle {method['idle']},"
        f" shared {method['shared']} (method {fingerprint(method)})"
    )


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Each setting that differs, as ``key: old -> new`` (dotted keys, sorted)."""
    found: list[str] = []
    _diff(old, new, "", found)
    return sorted(found)


def _diff(old: Any, new: Any, prefix: str, found: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            _diff(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else key, found)
    elif old != new:
        found.append(f"{prefix}: {json.dumps(old)} -> {json.dumps(new)}")


# --- the published method, and what a new one does to the bills ------------------------------------------


def read_method(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The method the warehouse on ``con`` was built with; None when it was built before methods were recorded."""
    if not con.execute(HAS_METHOD_SQL).fetchall()[0][0]:
        return None
    rows = con.execute(METHOD_SQL).fetchall()
    return json.loads(rows[0][0]) if rows and rows[0][0] else None


def published_method(path: Path) -> dict[str, Any] | None:
    """The method of the warehouse at ``path``; None when there is none yet or it records none."""
    if not Path(path).is_file():
        return None
    try:
        with read_only(path) as con:
            return read_method(con)
    except duckdb.Error as exc:
        raise DataError(
            f"{path}: cannot read the published warehouse's method ({exc}); move the file aside to build afresh"
        ) from None


def bill_totals(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Decimal]]:
    """Per period, each bill line's total to the cent, as `chargeback bill --period P` prints it."""
    exact: dict[str, dict[str, Decimal]] = {}
    for period, tenant, total in con.execute(LINE_TOTALS_SQL).fetchall():
        exact.setdefault(period, {})[tenant] = total
    sources = dict(con.execute(SOURCE_TOTALS_SQL).fetchall())
    return {
        period: apportion(lines, to_cents(sources.get(period, Decimal(0))), order=sorted(lines))
        for period, lines in exact.items()
    }


@dataclass(frozen=True)
class LineEffect:
    """One bill line's total in one period, in the published warehouse and in a new build (None: no line)."""

    period: str
    tenant: str
    before: Decimal | None
    after: Decimal | None

    @property
    def difference(self) -> Decimal:
        return (self.after or Decimal("0.00")) - (self.before or Decimal("0.00"))

    def describe(self) -> str:
        def shown(amount: Decimal | None) -> str:
            return "none" if amount is None else f"{amount:,.2f}"

        return f"{self.period} {self.tenant}: {shown(self.before)} -> {shown(self.after)} ({self.difference:+,.2f})"


def method_effect(published: Path, built: Path, periods: Collection[str] | None = None) -> list[LineEffect]:
    """Every bill line of every period (``periods``: only these, e.g. the open ones) in the published warehouse
    or the new build at ``built``, with its total in each, in period and line order (lines of 0.00 in both
    left out)."""
    with read_only(published) as con:
        before = bill_totals(con)
    with read_only(built) as con:
        after = bill_totals(con)
    effects = []
    for period in sorted(set(before) | set(after)):
        if periods is not None and period not in periods:
            continue
        old, new = before.get(period, {}), after.get(period, {})
        effects += [
            LineEffect(period, t, old.get(t), new.get(t))
            for t in sorted(set(old) | set(new))
            if old.get(t) or new.get(t)  # a line of 0.00 in both is rounding dust the bill does not print
        ]
    return effects


@dataclass(frozen=True)
class MethodChange:
    """A new build's method against the published one's, and what it does to each bill line."""

    published: dict[str, Any]
    new: dict[str, Any]
    effects: tuple[LineEffect, ...]

    @property
    def changes(self) -> list[str]:
        return changes(self.published, self.new)

    @property
    def moved(self) -> list[LineEffect]:
        """The lines whose total changes."""
        return [e for e in self.effects if e.difference]

    def describe(self) -> str:
        """The changes, then each line whose total moves (published -> this build), one per line."""
        text = [f"method {fingerprint(self.published)} -> {fingerprint(self.new)}; what changed:"]
        text += [f"  {line}" for line in self.changes]
        text.append("bill totals, published -> this build (any data collected since is included):")
        text += [f"  {effect.describe()}" for effect in self.moved] or ["  none: no bill line moves"]
        unchanged = len(self.effects) - len(self.moved)
        if unchanged and self.moved:
            text.append(f"  ({unchanged} other line(s) unchanged)")
        return "\n".join(text)


def refuse_method_change(
    built: Path, config: Config, accept: bool, periods: Collection[str] | None = None
) -> MethodChange | None:
    """The gate before ``built`` replaces the published warehouse. None when the published warehouse has this
    build's method, or records none (a first build; one built before methods were recorded). Otherwise, with
    ``accept``, the change (for the caller to report); without, ``MethodChangeError`` listing the changes and
    each bill line's effect (``periods``: only these), so that nothing is published."""
    target = config.warehouse_path
    published = published_method(target)
    new = describe(config)
    if published is None or canonical(published) == canonical(new):
        return None
    change = MethodChange(published, new, tuple(method_effect(target, built, periods)))
    if not accept:
        raise MethodChangeError(
            f"the allocation method differs from the published build's; {target} left as it was.\n"
            f"{change.describe()}\nTo publish this method: `chargeback build {ACCEPT_FLAG}` with this configuration."
        )
    return change
