"""The configuration as small tables the models join (``config.*``): no SQL is templated from config values.

Both engines register them with this code (Spark receives them as Arrow tables), so a model sees the same
settings, weights, tenancy rules and instance types whichever engine runs it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

from chargeback.core.config import Config
from chargeback.core.globs import glob_to_regex

INSTANCE_TYPES = Path(__file__).resolve().parents[1] / "data" / "instance_types.csv"


def register_config(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """Create the ``config`` schema's tables from ``config`` on ``con``."""
    allocation, tenancy, tagged = config.allocation, config.tenancy, config.tagged
    con.execute("create schema config")
    con.execute(
        """
        create table config.settings as select
            ?::varchar as cost_basis, ?::varchar as idle_mode, ?::varchar as shared_mode,
            ?::varchar as namespace_label, ?::varchar as node_label, ?::varchar as node_tag,
            ?::varchar as virtual_cluster_tag, ?::boolean as tagged_enabled, ?::varchar as tagged_tag,
            ?::varchar as tagged_cluster_tag, ?::varchar as currency
        """,
        [
            allocation.cost_basis,
            allocation.idle,
            allocation.shared,
            tenancy.namespace_label,
            tenancy.node_label,
            tenancy.node_tag,
            tenancy.virtual_cluster_tag,
            tagged.enabled,
            tagged.tag,
            tagged.cluster_tag,
            config.currency,
        ],
    )
    con.execute("create table config.weights (node_class varchar, cpu double, memory double, gpu double)")
    weights = allocation.weight_set()
    for node_class, w in (("cpu_node", weights.cpu_node), ("gpu_node", weights.gpu_node)):
        con.execute("insert into config.weights values (?, ?, ?, ?)", [node_class, w.cpu, w.memory, w.gpu])
    con.execute("create table config.shared_namespaces (namespace varchar)")
    if allocation.shared_namespaces:
        con.executemany("insert into config.shared_namespaces values (?)", [[n] for n in allocation.shared_namespaces])
    con.execute("create table config.namespace_rules (ordinal integer, pattern varchar, regex varchar, tenant varchar)")
    if tenancy.namespaces:
        con.executemany(
            "insert into config.namespace_rules values (?, ?, ?, ?)",
            [[i, r.pattern, glob_to_regex(r.pattern), r.tenant] for i, r in enumerate(tenancy.namespaces)],
        )
    con.execute("create table config.virtual_cluster_tenants (key varchar, tenant varchar)")
    if tenancy.virtual_clusters:
        con.executemany(
            "insert into config.virtual_cluster_tenants values (?, ?)",
            [list(i) for i in tenancy.virtual_clusters.items()],
        )
    with INSTANCE_TYPES.open() as handle:
        rows = [
            [
                r["instance_type"],
                float(r["vcpu"]),
                float(r["memory_gib"]),
                float(r["gpu"]),
                float(r["on_demand_usd_per_hour"]),
            ]
            for r in csv.DictReader(handle)
        ]
    con.execute(
        "create table config.instance_types (instance_type varchar, vcpu double, memory_gib double,"
        " gpu double, on_demand_usd_per_hour double)"
    )
    con.executemany("insert into config.instance_types values (?, ?, ?, ?, ?)", rows)
