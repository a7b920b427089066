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
