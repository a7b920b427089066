"""The allocation method a build applies, as data: what a bill states and a closed month keeps.

The method is every setting that decides who pays what for the same inputs (DESIGN.md, "Trust"): the cost
basis, the resource weights (as numbers, so a preset's change is seen too), the idle and shared modes, the
shared namespaces, the tenancy rules (label and tag keys, the virtual-cluster and namespace maps, in order)
and the tagged-resource rule, plus the currency of the bill. Settings that only say where data comes from or
goes to (endpoints, schedules, the dashboard) are not part of it.

``describe`` gives it as a plain dict (readable, stored as JSON), ``fingerprint`` as a short hash of that
dict, ``changes`` what differs between two of them, one line per setting.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from chargeback.core.config import Config

# Bump when the meaning of a recorded method changes (a new setting that moves money).
METHOD_VERSION = 1


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
