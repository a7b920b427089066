"""The demo: the bundled sample (2026-10, after its history months 2026-08 and 2026-09) copied into a data
directory and built; the demo prints October's bill (``SAMPLE_PERIOD``).

The data directory keeps the sample's configuration as ``<data_dir>/chargeback.toml`` (``data_dir = "."``), which
every command run with that data directory finds (``chargeback.core.config.discover``), so a plain
``chargeback build`` there rebuilds the demo's bill, not one with the built-in defaults.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from chargeback.build.engines import build
from chargeback.build.runner import BuildResult, Progress
from chargeback.core import config as config_module
from chargeback.core.errors import ChargebackError
from chargeback.raw.landing import DEMO_MARKER

SAMPLE_PERIOD = "2026-10"
CONFIG_HEADER = (
    "# Written by `chargeback demo`: the configuration of the bundled sample month (sample_data/chargeback.toml).\n"
    "# Commands run with this data directory read it (unless --config, $CHARGEBACK_CONFIG or ./chargeback.toml\n"
    "# says otherwise), so they bill the sample month as the demo did. `chargeback demo` may replace it.\n\n"
    'data_dir = "."\n\n'
)


def sample_data_dir() -> Path:
    """The sample month: beside the package in a source checkout, or installed inside it."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package.parent / "sample_data", package / "sample_data"):
        if (candidate / "raw").is_dir():
            return candidate
    raise ChargebackError("the bundled sample month is missing (expected sample_data/raw beside the package)")


def run_demo(data_dir: Path, progress: Progress | None = None) -> tuple[config_module.Config, BuildResult]:
    """Copy the sample month's raw tables and configuration into ``data_dir`` and build them with it.

    A data directory that holds collected (non-demo) raw data or a configuration of its own is never
    overwritten. The demo's build publishes whatever method a previous build there used: the directory is
    the demo's, and the demo puts the sample month back.
    """
    sample = sample_data_dir()
    data_dir = Path(data_dir)
    raw, config_file = data_dir / "raw", data_dir / config_module.CONFIG_FILE
    if not (data_dir / DEMO_MARKER).exists():
        for mine in (raw, config_file):
            if mine.exists():
                raise ChargebackError(
                    f"{data_dir} already holds {'collected data' if mine == raw else f'a configuration ({mine})'};"
                    " run the demo elsewhere with --data-dir DIR"
                )
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / DEMO_MARKER).write_text(
        "raw/ is a copy of the bundled sample month and chargeback.toml its configuration;"
        " `chargeback demo` may replace them\n"
    )
    if raw.exists():
        shutil.rmtree(raw)
    shutil.copytree(sample / "raw", raw)
    config_file.write_text(CONFIG_HEADER + (sample / config_module.CONFIG_FILE).read_text())
    config = config_module.load(config_file)
    return config, build(config, progress, accept_method_change=True)
