"""The sample month built once per test process (the ``built_sample`` fixture in tests/conftest.py), copied
into each test's own data directory: what most modules reading the demo's bill start from.

``built_sample`` is the sample's October alone (``build_october``): the figures the tests check are October's, and
the history months (August and September, sample_data/history.py) would triple every build of it. The demo
itself, all three months, is ``built_demo``, for the tests of what the history adds (trends, month over month,
anomalies against September)."""

from __future__ import annotations

import shutil
from pathlib import Path

from chargeback.build.demo import CONFIG_HEADER, sample_data_dir
from chargeback.build.engines import build
from chargeback.core import config as config_module
from chargeback.raw.landing import DEMO_MARKER

# The sample's history months (sample_data/history.py): their partitions, for copies of October alone.
HISTORY_PARTITIONS = ("day=2026-08-*", "day=2026-09-*", "billing_period=2026-08", "billing_period=2026-09")


def copy_built(built: Path, data_dir: Path) -> config_module.Config:
    """A copy of the built sample month (``built``: the ``built_sample`` fixture) at ``data_dir``, and its
    configuration (the demo's ``chargeback.toml`` there, ``data_dir = "."``), as ``run_demo`` would return it."""
    shutil.copytree(built, data_dir)
    return config_module.load(Path(data_dir) / config_module.CONFIG_FILE)


def build_october(data_dir: Path) -> config_module.Config:
    """The sample's October alone, as ``chargeback demo`` builds the sample (its raw tables and its configuration
    in ``data_dir``) but without the history months' partitions."""
    sample = sample_data_dir()
    data_dir.mkdir(parents=True)
    (data_dir / DEMO_MARKER).write_text("raw/ is a copy of the bundled sample's October\n")  # as run_demo's
    shutil.copytree(sample / "raw", data_dir / "raw", ignore=shutil.ignore_patterns(*HISTORY_PARTITIONS))
    config_file = data_dir / config_module.CONFIG_FILE
    config_file.write_text(CONFIG_HEADER + (sample / config_module.CONFIG_FILE).read_text())
    config = config_module.load(config_file)
    build(config, accept_method_change=True)
    return config
