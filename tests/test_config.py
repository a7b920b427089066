"""Configuration: strict validation with errors that name the key and the cause; a documented example."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from chargeback.core import config as config_module
from chargeback.core.config import Config, ConfigError, glob_to_regex

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "chargeback.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chargeback.toml"
    path.write_text(text)
    return path


def test_unknown_key_is_named(tmp_path):
    path = write(tmp_path, "[allocation]\nidel = 'node'\n")
    with pytest.raises(ConfigError, match=r"chargeback\.toml.*\n.*allocation\.idel: unknown key"):
        config_module.load(path)


def test_build_memory_limit_must_be_a_duckdb_size(tmp_path):
    assert config_module.load(write(tmp_path, "[build]\nmemory_limit = '512MiB'\n")).build.memory_limit == "512MiB"
    with pytest.raises(ConfigError, match=r"build\.memory_limit"):
        config_module.load(write(tmp_path, "[build]\nmemory_limit = 'lots'\n"))


def test_unknown_idle_mode_says_which_are_allowed(tmp_path):
    path = write(tmp_path, "[allocation]\nidle = 'nodes'\n")
    with pytest.raises(ConfigError, match=r"allocation\.idle: 'nodes' is not allowed.*'node', 'cluster' or 'separate'"):
        config_module.load(path)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ("cpu = -1\nmemory = 1", r"custom_weights\.cpu: .*greater than or equal to 0"),
        ("cpu = 0\nmemory = 0", r"cpu and memory weights cannot both be 0"),
        ("cpu = 'nine'\nmemory = 1", r"custom_weights\.cpu: .*valid number"),
    ],
)
def test_bad_weights_are_explained(tmp_path, weights, message):
    path = write(tmp_path, f"[allocation]\nweights = 'custom'\n[allocation.custom_weights]\n{weights}\n")
    with pytest.raises(ConfigError, match=message):
        config_module.load(path)


def test_custom_weights_without_table_and_table_without_custom(tmp_path):
    with pytest.raises(ConfigError, match=r"needs an \[allocation.custom_weights\] table"):
        config_module.load(write(tmp_path, "[allocation]\nweights = 'custom'\n"))
    with pytest.raises(ConfigError, match=r'set weights = "custom" to use it'):
        config_module.load(write(tmp_path, "[allocation.custom_weights]\ncpu = 1\nmemory = 1\n"))


def test_sentinel_cannot_be_a_tenant(tmp_path):
    path = write(tmp_path, "[[tenancy.namespaces]]\npattern = 'x-*'\ntenant = '__idle__'\n")
    with pytest.raises(ConfigError, match="reserved line name"):
        config_module.load(path)


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        config_module.load(write(tmp_path, "[allocation\n"))
    with pytest.raises(ConfigError, match="configuration file not found"):
        config_module.load(tmp_path / "nope.toml")


def test_lookup_order_env_then_local_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config_module.load() == Config()
    write(tmp_path, "currency = 'EUR'\n")
    assert config_module.load().currency == "EUR"
    other = tmp_path / "other.toml"
    other.write_text("currency = 'GBP'\n")
    monkeypatch.setenv("CHARGEBACK_CONFIG", str(other))
    assert config_module.load().currency == "GBP"


def test_data_dir_is_relative_to_the_config_file(tmp_path):
    sub = tmp_path / "etc"
    sub.mkdir()
    path = sub / "c.toml"
    path.write_text("data_dir = 'warehouse-data'\n")
    assert config_module.load(path).data_dir == sub / "warehouse-data"


def test_custom_weights_apply_to_gpu_nodes_unless_overridden():
    plain = config_module.parse({"allocation": {"weights": "custom", "custom_weights": {"cpu": 2, "memory": 1}}})
    assert plain.allocation.weight_set().gpu_node == plain.allocation.weight_set().cpu_node
    split = config_module.parse(
        {
            "allocation": {
                "weights": "custom",
                "custom_weights": {"cpu": 2, "memory": 1, "gpu_node": {"cpu": 1, "memory": 1, "gpu": 5}},
            }
        }
    )
    assert split.allocation.weight_set().gpu_node.gpu == 5


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("payments-*", ["payments-api", "payments-"], ["payment-api", "xpayments-a"]),
        ("team-?", ["team-a"], ["team-ab"]),
        ("ns-[ab]", ["ns-a"], ["ns-c"]),
        ("ns-[!ab]", ["ns-c"], ["ns-a"]),
        ("a.b", ["a.b"], ["axb"]),
    ],
)
def test_glob_translation(pattern, matches, misses):
    regex = re.compile(glob_to_regex(pattern))
    assert all(regex.match(m) for m in matches)
    assert not any(regex.match(m) for m in misses)


def _keys(model: type, prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        nested = [
            a
            for a in getattr(annotation, "__args__", (annotation,))
            if isinstance(a, type) and hasattr(a, "model_fields")
        ]
        keys.add(prefix + name)
        for sub in nested:
            keys |= _keys(sub, f"{prefix}{name}.")
    return keys


def test_example_file_documents_every_option_and_parses():
    text = EXAMPLE.read_text()
    uncommented = "\n".join(line.removeprefix("# ") for line in text.splitlines())
    for key in sorted(_keys(Config)):
        leaf = key.rsplit(".", 1)[-1]
        assert re.search(rf"^\[*{re.escape(key)}\]*\s*$|^{re.escape(leaf)}\s*=", uncommented, re.M), (
            f"{key} is not documented in chargeback.example.toml"
        )
    parsed = config_module.parse(tomllib.loads(text))
    assert parsed.allocation == Config().allocation
