"""A build publishes atomically and only when every invariant holds."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chargeback.build import engines
from chargeback.build.engines import duckdb as duckdb_engine
from chargeback.core import config as config_module
from chargeback.core.errors import DataError, InvariantError
from chargeback.raw.landing import partitions
from chargeback.reports.bill import monthly_bill
from collectors.streams import POD_HOURS
from tests.factory import Scenario

TEAMS = {"namespaces": [{"pattern": "a-*", "tenant": "team-a"}, {"pattern": "b-*", "tenant": "team-b"}]}


def two_teams() -> Scenario:
    s = Scenario()
    for name, ns in (("n1", "a-api"), ("n2", "b-api")):
        s.node(name, "m5.xlarge", [0], 1.0, vcpu=4, memory_gib=16)
        s.pod(ns, f"{ns}-pod", name, [0], cpu_request=1, cpu_usage=1, memory_request_gib=4, memory_usage_gib=4)
    return s


def test_a_build_that_loses_a_dollar_fails_loudly_and_keeps_the_published_warehouse(tmp_path, monkeypatch):
    config = config_module.parse({"data_dir": str(tmp_path), "tenancy": TEAMS})
    two_teams().write(tmp_path)
    engines.build(config)
    published = config.warehouse_path.read_bytes()

    real = duckdb_engine.discover_models

    def dropping_team_a():  # a model bug: one tenant's lines vanish from the daily mart
        return [
            dataclasses.replace(m, sql=m.sql.replace("from unioned\n", "from unioned where tenant <> 'team-a'\n"))
            if m.relation == "marts.fct_tenant_costs_daily"
            else m
            for m in real()
        ]

    monkeypatch.setattr(duckdb_engine, "discover_models", dropping_team_a)
    with pytest.raises(InvariantError, match=r"conservation test-cluster 2026-10: expected 2\.0+, got 1\.0+"):
        engines.build(config)
    assert config.warehouse_path.read_bytes() == published, "the published warehouse is untouched"
    assert not list(tmp_path.glob(".warehouse.*")), "the failed build leaves no files behind"
    bill = monthly_bill(config, "2026-10")
    assert {line.tenant: str(line.total) for line in bill.lines} == {"team-a": "1.00", "team-b": "1.00"}


@pytest.mark.parametrize("other_namespace", [False, True], ids=["as-is", "under-another-namespace"])
def test_a_pod_hour_landed_twice_fails_the_build(tmp_path, other_namespace):
    """Two collectors landing the same cluster's day (two targets named differently) duplicate its
    pod-hours: the unique_pod_hours invariant names it rather than billing the pods twice; also when the
    second copy names another namespace (so the copies are pod-days of two tenants)."""
    config = config_module.parse({"data_dir": str(tmp_path), "tenancy": TEAMS})
    two_teams().write(tmp_path)
    (partition,) = partitions(tmp_path, POD_HOURS)
    landed = pq.read_table(partition)
    table = landed.slice(0, 1)  # one of the two pods' hour, landed again
    if other_namespace:
        others = sorted(set(landed["namespace"].to_pylist()) - set(table["namespace"].to_pylist()))
        table = table.set_column(table.schema.get_field_index("namespace"), "namespace", pa.array(others[:1]))
    pq.write_table(table, partition.with_name("data-second-collector.parquet"))
    with pytest.raises(InvariantError, match=r"unique_pod_hours test-cluster 2026-10: expected 0E-12, got 1\.0+"):
        engines.build(config)


def test_models_are_ordered_by_what_they_read():
    order = [m.relation for m in duckdb_engine.discover_models()]
    for model in duckdb_engine.discover_models():
        for dependency in model.depends_on:
            assert order.index(dependency) < order.index(model.relation)


def test_a_bad_partition_is_named_and_the_published_warehouse_kept(tmp_path):
    config = config_module.parse({"data_dir": str(tmp_path), "tenancy": TEAMS})
    two_teams().write(tmp_path)
    engines.build(config)
    published = config.warehouse_path.read_bytes()
    (partition,) = partitions(tmp_path, POD_HOURS)
    table = pq.read_table(partition)
    index = table.schema.get_field_index("running_seconds")
    pq.write_table(table.set_column(index, "running_seconds", pa.array(["3600"] * table.num_rows)), partition)
    with pytest.raises(DataError, match=rf"{partition}: column 'running_seconds' is string, expected double"):
        engines.build(config)
    partition.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=rf"{partition}: not a readable Parquet file"):
        engines.build(config)
    assert config.warehouse_path.read_bytes() == published
