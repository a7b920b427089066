"""The sample month built once per test process (the ``built_sample`` fixture in tests/conftest.py), copied
into each test's own data directory: what most modules reading the demo's bill start from."""

from __future__ import annotations

import shutil
from pathlib import Path

from chargeback.core import config as config_module

# The sample's history months (sample_data/history.py): their partitions, for copies of October alone.
HISTORY_PARTITIONS = ("day=2026-08-*", "day=2026-09-*", "billing_period=2026-08", "billing_period=2026-09")


def copy_built(built: Path, data_dir: Path) -> config_module.Config:
    """A copy of the built sample month (``built``: the ``built_sample`` fixture) at ``data_dir``, and its
    configuration (the demo's ``chargeback.toml`` there, ``data_dir = "."``), as ``run_demo`` would return it."""
    shutil.copytree(built, data_dir)
    return config_module.load(Path(data_dir) / config_module.CONFIG_FILE)
