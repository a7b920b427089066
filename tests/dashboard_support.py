"""What the dashboard's AppTests share: opening a page, reading its metrics, its downloads and the marts."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import app_test as app_test_module

from chargeback.build.warehouse import read_only

APP = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"


def cli(data_dir: Path, *args: str) -> str:
    """Run ``chargeback ARGS --data-dir DATA_DIR`` from the data directory's parent; its stdout (exit 0 asserted)."""
    done = subprocess.run(
        [sys.executable, "-m", "chargeback", *args, "--data-dir", str(data_dir)],
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def open_app(page: str | None = None, **query: str) -> AppTest:
    """The app run with ``query`` in its address, then switched to ``page`` (a path such as
    ``views/capacity.py``), failing on any exception the script raised."""
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if page is not None:
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def table(at: AppTest, first_column: str, having: str | None = None):
    """The page's table whose first column is ``first_column`` (and which has a column ``having``, when given:
    a tenant's namespace table, not its efficiency table; AppTest hands tables back as pandas)."""
    for frame in at.dataframe:
        if frame.value.columns[0] == first_column and (having is None or having in frame.value.columns):
            return frame.value
    raise AssertionError(f"no table starting with {first_column!r}: {[f.value.columns[0] for f in at.dataframe]}")


def values(array) -> list:
    """A plotly array from a chart's JSON: a list, or plotly 6's typed array ({"dtype", "bdata"})."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"])).tolist()
    return list(array)


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r}; metrics: {[m.label for m in at.metric]}"
    return values[0]


def mart(data_dir: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of a plain SQL query over the published warehouse: the reference a page is checked against."""
    with read_only(data_dir / "warehouse.duckdb") as con:
        return con.execute(sql, params or []).fetchall()


def record_downloads(monkeypatch: pytest.MonkeyPatch) -> Callable[[AppTest], str]:
    """A reader of the text behind an AppTest's one download button: AppTest keeps downloads in a media
    file storage, which this records (the ``downloads`` fixture in conftest.py)."""
    storages: list[MemoryMediaFileStorage] = []

    class Recording(MemoryMediaFileStorage):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            storages.append(self)

    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", Recording)

    def content(at: AppTest) -> str:
        (button,) = at.download_button
        return storages[-1].get_file(button.proto.url.rsplit("/", 1)[1]).content.decode()

    return content
