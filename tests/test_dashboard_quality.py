"""The Data quality page on a cluster with bad raw rows (tests/test_validation.py's): the corrections and the raw
files the build did not read, as the marts hold them; a restricted viewer sees only its tenants' corrections."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chargeback.build.engines import build
from chargeback.core import config as config_module
from dashboards import runtime
from dashboards.identity import Viewer
from tests.dashboard_support import mart, open_app
from tests.test_validation import SETTINGS, every_rule

PAGE = "views/data_quality.py"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """The env fixture (conftest.py) points the app here; the configuration is written where the app looks."""
    root = tmp_path_factory.mktemp("quality")
    data_dir = root / "data"
    every_rule().write(data_dir)
    day = data_dir / "raw/prometheus/pod_hours/day=2026-10-01"
    shutil.copy(day / "data.parquet", day / "data (1).parquet")
    build(config_module.parse({"data_dir": str(data_dir), **SETTINGS}))
    return data_dir


def table(at, column: str):
    """The page's table with ``column`` (AppTest hands tables back as pandas)."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with a column {column!r}")


def test_the_page_lists_every_correction_and_the_stray_file(env, data_dir):
    at = open_app(PAGE, period="2026-10")
    shown = table(at, "row_key")
    corrected = mart(data_dir, "select row_key, cost_as_corrected from marts.fct_data_quality order by 1")
    assert len(corrected) == 10
    assert sorted(zip(shown["row_key"], shown["cost_as_corrected"].fillna(-1).round(6), strict=True)) == [
        (key, -1 if cost is None else round(float(cost), 6)) for key, cost in corrected
    ]
    summary = table(at, "rows").set_index("raw_table")
    # 5 pod-hours, all priced but a-nan's and a-inf's (raw NaN, infinity): with raw values -1 (b-neg) + 0.846...
    # (a-big) + 1 (a-time) = 0.846..., as corrected 0 + 0.5 + 1 = 1.5.
    assert summary.loc["prometheus/pod_hours", "rows"] == 5
    assert round(summary.loc["prometheus/pod_hours", "cost_as_corrected"], 6) == 1.5
    assert any("10 raw row(s) of 2026-10 broke a value rule" in w.value for w in at.warning)
    issues = table(at, "issue")
    assert list(issues["file"]) == ["raw/prometheus/pod_hours/day=2026-10-01/data (1).parquet"]
    assert any("1 stray file(s) under raw/ were not read" in w.value for w in at.warning)


def test_a_restricted_viewer_sees_only_its_tenants_corrections(env, data_dir):
    env.setattr(runtime, "viewer", lambda: Viewer("ann@example.com", frozenset({"team-a"})))
    at = open_app(PAGE, period="2026-10")
    shown = table(at, "row_key")
    # team-a's corrected rows: a-nan, a-big, a-inf and a-time's pod-hours, and a-label's namespace-hour.
    assert sorted(key.split(" ")[0] for key in shown["row_key"]) == [
        "a-big/api", "a-inf/api", "a-label", "a-nan/api", "a-time/api"
    ]  # fmt: skip
    assert set(shown["tenant"]) == {"team-a"}
    with pytest.raises(AssertionError):
        table(at, "issue")  # raw files: all-access viewers only
