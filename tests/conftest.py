"""Shared fixtures: build a scenario through the real pipeline and query its marts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chargeback.build.engines import build
from chargeback.build.warehouse import connect
from chargeback.core import config as config_module
from tests.factory import Scenario


class Built:
    """A scenario built into a warehouse, with a helper to run read-only queries on its marts."""

    def __init__(self, config: config_module.Config):
        self.config = config

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        with connect(self.config) as con:
            return con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: list | None = None):
        return self.rows(sql, params)[0][0]

    def tenant_totals(self) -> dict[str, float]:
        """Each bill line's exact total; lines holding only sub-micro-cent rounding dust are left out."""
        rows = self.rows("select tenant, sum(total_cost) from marts.fct_tenant_costs_daily group by tenant")
        return {t: float(v) for t, v in rows if abs(v) > 1e-9}


# The longest test files first, in this order: `make pytest` runs pytest-xdist with --dist loadfile and
# --no-loadscope-reorder, which hands whole files to its workers in collection order, two to each worker at the
# start (the first and third to the first worker, the second and fourth to the second). So the Spark engine's
# tests (one SparkSession: the `spark` fixture below) start at once on one worker and the property test on the
# other, and every other file follows on whichever worker is free; neither starts last and runs alone while the
# other worker idles. (The sample month's Spark parity, tests/test_spark_build.py, runs on Spark 3.5 beside the
# suite: see the Makefile.)
SLOWEST_FIRST = ("test_spark_engine.py", "test_property.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: every file's own order, and the rest's, is kept


@pytest.fixture
def build_scenario(tmp_path: Path) -> Callable[..., Built]:
    def run(scenario: Scenario, *, accept_method_change: bool = False, **settings) -> Built:
        data_dir = tmp_path / "data"
        scenario.write(data_dir)
        config = config_module.parse({"data_dir": str(data_dir), **settings})
        build(config, accept_method_change=accept_method_change)
        return Built(config)

    return run


@pytest.fixture
def env(data_dir, monkeypatch, tmp_path):
    """For the dashboard's AppTests: the app reads the module's ``data_dir`` fixture (and no stray
    config), with Streamlit's caches empty before and after."""
    from tests.services.dashboard import clear_streamlit_caches

    monkeypatch.setenv("CHARGEBACK_DATA_DIR", str(data_dir))
    monkeypatch.delenv("CHARGEBACK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    clear_streamlit_caches()
    yield monkeypatch
    clear_streamlit_caches()


@pytest.fixture
def downloads(monkeypatch):
    """For the dashboard's AppTests: ``downloads(at)`` is the text behind the page's one download button."""
    from tests.dashboard_support import record_downloads

    return record_downloads(monkeypatch)


# --- the sample month, built once per test process ------------------------------------------------------------


@pytest.fixture(scope="session")
def built_sample(tmp_path_factory) -> Path:
    """The bundled sample's October as `chargeback demo` builds it, without the history months
    (``tests.sample_support.build_october``), built once per test process (about ten seconds here): a test takes a
    copy of its own (``tests.sample_support.copy_built``) and never changes this one. A copy reads as the original
    (its views name their files relative to the data directory)."""
    from tests.sample_support import build_october

    data_dir = tmp_path_factory.mktemp("built-sample") / "data"
    build_october(data_dir)
    return data_dir


@pytest.fixture(scope="session")
def built_demo(tmp_path_factory) -> Path:
    """The whole demo, August to October, as `chargeback demo` builds it, once per test process that asks."""
    from chargeback.build.demo import run_demo

    data_dir = tmp_path_factory.mktemp("built-demo") / "data"
    run_demo(data_dir)
    return data_dir


# --- the Spark build's tests (tests/test_spark_build.py, tests/test_spark_engine.py; see tests/spark_support.py) ---


@pytest.fixture(scope="session")
def moto_s3():
    """moto's server over HTTP on a free loopback port, for the process's tests that read S3."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def spark(moto_s3):
    """The process's one SparkSession, as `chargeback build --engine spark` gets it, with the s3a connector
    pointed at ``moto_s3`` (a session's jars and Hadoop settings are fixed when it starts)."""
    from pyspark.sql import SparkSession  # the test extra installs pyspark: missing, the suite fails

    from chargeback.build.engines import spark as spark_engine
    from chargeback.core.config import SparkSettings
    from tests.spark_support import S3A_COMPATIBILITY, s3a_jars

    if SparkSession.getActiveSession() is not None:
        pytest.fail("a SparkSession was already started in this process without the s3a connector")
    conf = {**S3A_COMPATIBILITY, "spark.jars": ",".join(s3a_jars()), "spark.hadoop.fs.s3a.endpoint": moto_s3}
    session = spark_engine.session(SparkSettings(master="local[2]", conf=conf))
    yield session
    session.stop()
