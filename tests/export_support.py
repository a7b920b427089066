"""Shared by the export tests: the sample month built once per module, and its bill as the CLI prints it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chargeback.cli import app
from chargeback.core import config as config_module
from tests.sample_support import copy_built

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CONFIG = ROOT / "sample_data" / "chargeback.toml"
PERIOD = "2026-10"
ARN = "arn:aws:billingconductor::111122223333:billinggroup/ABCDEFGHIJ"
ML_ARN = "arn:aws:billingconductor::111122223333:billinggroup/MLGROUP123"


@dataclass(frozen=True)
class SampleMonth:
    config: config_module.Config
    data_dir: Path

    def cli(self, *args: str) -> str:
        """Run a chargeback command on the sample month in-process; its stdout."""
        result = CliRunner().invoke(app, [*args, "--config", str(SAMPLE_CONFIG), "--data-dir", str(self.data_dir)])
        assert result.exit_code == 0, result.output
        return result.stdout

    def bill_json(self) -> dict[str, Any]:
        return json.loads(self.cli("bill", "--period", PERIOD, "--format", "json"))

    def with_export(self, **export: Any) -> config_module.Config:
        """The sample config with an ``[export]`` section."""
        return self.config.model_copy(update={"export": config_module.ExportSettings.model_validate(export)})


def build_sample(built: Path, data_dir: Path) -> SampleMonth:
    """A copy of the built sample month (``built``: the ``built_sample`` fixture) at ``data_dir``."""
    return SampleMonth(copy_built(built, data_dir), data_dir)


@pytest.fixture(scope="module")
def sample(tmp_path_factory, built_sample) -> SampleMonth:
    return build_sample(built_sample, tmp_path_factory.mktemp("sample") / "data")
