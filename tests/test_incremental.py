"""An incremental build reprices only the days whose inputs changed, and its marts equal a full rebuild's."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from benchmarks.generate import Size, generate, land_next_day
from chargeback.build.engines import build
from chargeback.build.engines import duckdb as duckdb_engine
from chargeback.build.incremental import uncovered
from chargeback.build.runner import Model, discover_models
from chargeback.build.warehouse import connect
from chargeback.core import config as config_module
from chargeback.core.errors import ChargebackError
from chargeback.raw.landing import land
from collectors import streams
from tests.factory import Scenario
from tests.test_sample_data import SAMPLE

TINY = Size("tiny", nodes=10, long_running_pods=60, spark_jobs_per_day=4, executors_per_job=3, days=2)
PRICED = "intermediate.int_pod_hours_priced"


def snapshot(config: config_module.Config) -> dict[str, list[tuple]]:
    """Every mart's rows (build_info, which says when, aside)."""
    with connect(config) as con:
        names = [
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
                " and table_name <> 'build_info' order by 1"
            ).fetchall()
        ]
        return {name: con.execute(f"select * from marts.{name} order by all").fetchall() for name in names}


def assert_same_marts(incremental: dict[str, list[tuple]], full: dict[str, list[tuple]]) -> None:
    """Row counts, keys and money (DECIMAL) exactly; doubles to 1e-9 relative (a parallel sum may add in
    another order)."""
    assert incremental.keys() == full.keys()
    for mart, rows in full.items():
        assert len(incremental[mart]) == len(rows), mart
        for index, (got, want) in enumerate(zip(incremental[mart], rows, strict=True)):
            for column, (a, b) in enumerate(zip(got, want, strict=True)):
                same = math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) if isinstance(b, float) else a == b
                assert same, f"marts.{mart} row {index} column {column}: incremental {a!r}, full {b!r}"


# --- the fingerprint covers what the model reads ------------------------------------------------------------


def test_the_day_fingerprint_covers_everything_a_model_built_by_day_reads():
    models = {m.relation: m for m in discover_models()}
    built_by_day = sorted(m.relation for m in models.values() if m.incremental)
    assert built_by_day == [
        "intermediate.int_duplicate_pod_hours", "intermediate.int_namespace_hours",
        "intermediate.int_network_pod_shares", "intermediate.int_node_hours_allocated", "intermediate.int_pod_days",
        "intermediate.int_pod_hour_corrections", PRICED, "intermediate.int_pod_labels", "intermediate.int_pods",
        "marts.fct_label_costs_daily", "marts.fct_tenant_requests_hourly",
        "marts.fct_workload_costs_daily",
    ]  # fmt: skip
    sql_of = {k: m.sql for k, m in models.items()}
    depends_on = {k: m.depends_on for k, m in models.items()}
    assert {relation: uncovered(relation, sql_of, depends_on) for relation in built_by_day} == dict.fromkeys(
        built_by_day, []
    )
    # A model built by day that also read the job runs (all days of them) would not be covered:
    depends_on[PRICED] = depends_on[PRICED] | {"intermediate.int_job_runs"}
    assert uncovered(PRICED, sql_of, depends_on) == ["intermediate.int_job_runs"]
    # ... nor one whose day-derived input started reading something else.
    depends_on = {k: m.depends_on for k, m in models.items()}
    sql_of["intermediate.int_pods"] += "\n-- reads raw.emr__job_runs"
    assert uncovered(PRICED, sql_of, depends_on) == ["raw.emr__job_runs"]


def test_a_build_refuses_an_incremental_model_its_fingerprint_does_not_cover(tmp_path, monkeypatch):
    models = discover_models()
    patched = []
    for model in models:
        if model.relation == PRICED:
            sql = model.sql.replace(
                "from shared_idle", "from shared_idle, (select count(*) from intermediate.int_job_runs)"
            )
            model = Model(model.layer, model.name, model.path, sql,
                                    model.depends_on | {"intermediate.int_job_runs"})  # fmt: skip
        patched.append(model)
    monkeypatch.setattr(duckdb_engine, "discover_models", lambda: patched)
    data_dir = Path(tmp_path) / "data"
    scenario(days=1).write(data_dir)
    with pytest.raises(
        ChargebackError, match=r"int_pod_hours_priced is built by day but reads intermediate.int_job_runs"
    ):
        build(config_module.parse({"data_dir": str(data_dir)}))


# --- incremental equals full --------------------------------------------------------------------------------


def test_the_next_day_reprices_one_day_and_equals_a_full_rebuild(tmp_path):
    data_dir = tmp_path / "data"
    generate(TINY, data_dir)
    config = config_module.load(SAMPLE / "chargeback.toml").model_copy(update={"data_dir": data_dir})
    first = build(config)
    assert first.refreshed[PRICED].whole and first.refreshed[PRICED].days == TINY.days

    land_next_day(TINY, data_dir)
    result = build(config)
    assert {
        relation: (refreshed.whole, refreshed.days, refreshed.rebuilt)
        for relation, refreshed in result.refreshed.items()
    } == dict.fromkeys((m.relation for m in discover_models() if m.incremental), (False, TINY.days + 1, 1))
    incremental = snapshot(config)

    assert build(config, full=True).refreshed[PRICED].reason == "--full"
    assert_same_marts(incremental, snapshot(config))
    assert len(incremental["fct_pod_costs_hourly"]) == result.row_counts["marts.fct_pod_costs_hourly"] > 0


def scenario(
    days: int = 3, day_two_cost: float = 0.40, day_two_label: str = "team-a", day_two_usage: float | None = None
) -> Scenario:
    """Two tenants' pods on two nodes for ``days`` days; day two's node price, namespace label and the usage of
    one of its pod-hours vary."""
    s = Scenario()
    hours = range(days * 24)
    node_a = s.node("node-a", "m5.xlarge", hours, None, vcpu=4, memory_gib=16)
    s.node("node-b", "m5.xlarge", hours, 0.20, vcpu=4, memory_gib=16)
    for h in hours:  # node-a's CUR line, priced differently on day two
        s.line(h, product_code="AmazonEC2", usage_type="BoxUsage:m5.xlarge", instance_type="m5.xlarge",
               resource_id=node_a,
               cost=day_two_cost if 24 <= h < 48 else 0.40, product={"vcpu": "4", "memory": "16 GiB"})  # fmt: skip
    s.pod("alpha", "api-1", "node-a", hours, cpu_request=1, cpu_usage=0.5, memory_request_gib=2, memory_usage_gib=1)
    s.pod("beta", "web-1", "node-a", hours, cpu_request=2, cpu_usage=1, memory_request_gib=4, memory_usage_gib=3)
    s.pod("beta", "db-1", "node-b", hours, cpu_request=1, cpu_usage=1, memory_request_gib=8, memory_usage_gib=6)
    for h in hours:
        s.label_namespace("alpha", [h], {"tenant": day_two_label if 24 <= h < 48 else "team-a"})
    if day_two_usage is not None:
        s.pod_hours[30]["cpu_usage_core_seconds"] = day_two_usage  # alpha's api-1, hour 30
    return s


def rebuild_with(data_dir: Path, table: streams.Stream, rows: list[dict]) -> None:
    land(data_dir, table, pa.Table.from_pylist(rows, schema=table.schema), origin="test restatement")


@pytest.mark.parametrize(
    "restated",
    [
        pytest.param({"day_two_cost": 0.52}, id="a restated CUR day"),
        pytest.param({"day_two_label": "team-b"}, id="a relabelled namespace for a day"),
        pytest.param({"day_two_usage": float("nan")}, id="a pod-hour whose usage is not a number"),
    ],
)
def test_a_restated_day_is_the_only_one_repriced_and_equals_a_full_rebuild(tmp_path, restated):
    data_dir = tmp_path / "data"
    scenario().write(data_dir)
    config = config_module.parse(
        {"data_dir": str(data_dir), "tenancy": {"namespace_label": "tenant"}, "allocation": {"idle": "node"}}
    )
    build(config)
    before = snapshot(config)

    changed = scenario(**restated)
    if "day_two_cost" in restated:
        rebuild_with(data_dir, streams.CUR_LINE_ITEMS, changed.cur)
    elif "day_two_label" in restated:
        rebuild_with(data_dir, streams.NAMESPACE_LABELS, changed.namespace_labels)
    else:
        day_two = [row for row in changed.pod_hours if row["hour"].day == 2]
        rebuild_with(data_dir, streams.POD_HOURS, day_two)
    result = build(config)
    assert (result.refreshed[PRICED].rebuilt, result.refreshed[PRICED].days) == (1, 3)
    incremental = snapshot(config)
    if "day_two_usage" in restated:  # usage falls back to the request: the same money, and the correction shows
        assert incremental["fct_tenant_costs_daily"] == before["fct_tenant_costs_daily"]
        assert [row[4] for row in incremental["fct_data_quality"]] == ["prometheus/pod_hours"]
        assert result.refreshed["intermediate.int_pod_hour_corrections"].rebuilt == 1
        assert before["fct_data_quality"] == []
    else:
        assert incremental["fct_tenant_costs_daily"] != before["fct_tenant_costs_daily"]  # the restatement shows

    build(config, full=True)
    assert_same_marts(incremental, snapshot(config))


def test_a_changed_configuration_reprices_every_day(tmp_path):
    data_dir = tmp_path / "data"
    scenario().write(data_dir)
    settings = {"data_dir": str(data_dir), "tenancy": {"namespace_label": "tenant"}}
    build(config_module.parse(settings))
    unchanged = build(config_module.parse(settings)).refreshed[PRICED]
    assert (unchanged.whole, unchanged.rebuilt) == (False, 0)
    other_method = config_module.parse(settings | {"allocation": {"idle": "cluster"}})
    changed = build(other_method, accept_method_change=True).refreshed[PRICED]
    assert changed.whole and changed.rebuilt == 3 and "configuration" in changed.reason


# --- the layout: day partitions outside the warehouse file ------------------------------------------------------


def priced_files(data_dir: Path) -> dict[str, dict[str, int]]:
    """Each build folder's priced pod-hour files, by day: the inode of each day's file."""
    found = {}
    for version in sorted((data_dir / "builds").iterdir()):
        days = {}
        for file in (version / PRICED).glob("day=*/cluster=*/*.parquet"):
            days[file.parent.parent.name] = file.stat().st_ino
        found[version.name] = days
    return found


def test_an_unchanged_day_is_linked_not_rewritten_and_two_builds_are_kept(tmp_path):
    data_dir = tmp_path / "data"
    scenario().write(data_dir)
    config = config_module.parse({"data_dir": str(data_dir), "tenancy": {"namespace_label": "tenant"}})
    build(config)
    (first,) = priced_files(data_dir).values()
    assert sorted(first) == ["day=2026-10-01", "day=2026-10-02", "day=2026-10-03"]

    rebuild_with(data_dir, streams.CUR_LINE_ITEMS, scenario(day_two_cost=0.52).cur)  # day two restated
    build(config)
    _, second = priced_files(data_dir).values()
    assert second["day=2026-10-01"] == first["day=2026-10-01"] and second["day=2026-10-03"] == first["day=2026-10-03"]
    assert second["day=2026-10-02"] != first["day=2026-10-02"], "the restated day is written afresh"

    build(config)  # nothing changed: every day linked; the first build's folder is pruned, two kept
    builds = priced_files(data_dir)
    assert len(builds) == 2 and list(builds.values())[-1] == second
    with connect(config) as con:
        kind = con.execute(
            "select table_type from information_schema.tables where table_schema = 'intermediate'"
            " and table_name = 'int_pod_hours_priced'"
        ).fetchall()
        rows = con.execute("select count(*), count(distinct cast(hour as date)) from marts.fct_pod_costs_hourly")
        assert kind == [("VIEW",)] and rows.fetchall() == [(3 * 72, 3)]  # 3 pods, 72 hours: read from the files


def test_a_day_whose_files_are_gone_is_computed_again(tmp_path):
    data_dir = tmp_path / "data"
    scenario().write(data_dir)
    config = config_module.parse({"data_dir": str(data_dir), "tenancy": {"namespace_label": "tenant"}})
    build(config)
    before = snapshot(config)
    (version,) = (data_dir / "builds").iterdir()
    shutil.rmtree(version / PRICED / "day=2026-10-02")  # someone deleted a day of the published build
    result = build(config)
    assert (result.refreshed[PRICED].rebuilt, result.refreshed[PRICED].whole) == (1, False)
    assert_same_marts(snapshot(config), before)


def test_a_build_with_nothing_changed_rebuilds_no_day_of_any_model_even_one_without_rows(tmp_path):
    # the corrections of a clean month have no rows, so a build writes no folder for them: that is not
    # "the earlier build's files are gone", which built them whole on every build
    data_dir = tmp_path / "data"
    scenario().write(data_dir)
    config = config_module.parse({"data_dir": str(data_dir), "tenancy": {"namespace_label": "tenant"}})
    build(config)
    with connect(config) as con:
        empty = con.execute("select count(*) from intermediate.int_pod_hour_corrections").fetchone()[0]
    assert empty == 0
    for _ in range(2):
        result = build(config)
        assert {relation: (r.whole, r.rebuilt, r.reason) for relation, r in result.refreshed.items()} == dict.fromkeys(
            (m.relation for m in discover_models() if m.incremental), (False, 0, "")
        )
