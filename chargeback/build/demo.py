"""The demo: the bundled sample month (2026-10) copied into a data directory and built."""

from __future__ import annotations

import shutil
from pathlib import Path

from chargeback.build.engines import build
from chargeback.build.runner import BuildResult, Progress
from chargeback.core import config as config_module
from chargeback.core.errors import ChargebackError
from chargeback.raw.landing import DEMO_MARKER

SAMPLE_PERIOD = "2026-10"


def sample_data_dir() -> Path:
    """The sample month: beside the package in a source checkout, or installed inside it."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package.parent / "sample_data", package / "sample_data"):
        if (candidate / "raw").is_dir():
            return candidate
    raise ChargebackError("the bundled sample month is missing (expected sample_data/raw beside the package)")


def run_demo(data_dir: Path, progress: Progress | None = None) -> tuple[config_module.Config, BuildResult]:
    """Copy the sample month's raw tables into ``data_dir`` and build them with the sample config.

    A data directory that holds collected (non-demo) raw data is never overwritten.
    """
    sample = sample_data_dir()
    data_dir = Path(data_dir)
    raw = data_dir / "raw"
    if raw.exists() and not (data_dir / DEMO_MARKER).exists():
        raise ChargebackError(f"{data_dir} already holds collected data; run the demo elsewhere with --data-dir DIR")
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / DEMO_MARKER).write_text(
        "raw/ is a copy of the bundled sample month; `chargeback demo` may replace it\n"
    )
    if raw.exists():
        shutil.rmtree(raw)
    shutil.copytree(sample / "raw", raw)
    config = config_module.load(sample / "chargeback.toml").model_copy(update={"data_dir": data_dir})
    return config, build(config, progress)
