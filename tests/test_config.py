"""Configuration: strict validation with errors that name the key and the cause; a documented example."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargeback.core import config as config_module
from chargeback.core.config import Config, ConfigError
from chargeback.core.globs import GlobError, glob_to_regex
from tests.factory import Scenario

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "chargeback.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chargeback.toml"
    path.write_text(text)
    return path


def test_unknown_key_is_named(tmp_path):
    path = write(tmp_path, "[allocation]\nidel = 'node'\n")
    with pytest.raises(ConfigError, match=r"^\S*chargeback\.toml: allocation\.idel: unknown key \(check the spelling"):
        config_module.load(path)  # one mistake, one line
    path = write(tmp_path, "[allocation]\nidel = 'node'\n[dashboard]\nprot = 1\n")
    with pytest.raises(ConfigError, match=r"is invalid \(2 problems\):\n  allocation\.idel: .*\n  dashboard\.prot: "):
        config_module.load(path)  # several: a list


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


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ("cpu = inf\nmemory = 1", r"allocation\.custom_weights\.cpu: inf is not a finite number"),
        ("cpu = nan\nmemory = 1", r"allocation\.custom_weights\.cpu: nan is not a finite number"),
        ("cpu = 1e308\nmemory = 1", r"allocation\.custom_weights\.cpu: 1e\+308 is not a weight: 0, or a number"),
        ("cpu = 9\nmemory = 5e-324", r"allocation\.custom_weights\.memory: 4\.94066e-324 is not a weight"),
        (
            "cpu = 9\nmemory = 1\n[allocation.custom_weights.gpu_node]\ncpu = 1\nmemory = 1\ngpu = 2e9",
            r"allocation\.custom_weights\.gpu_node\.gpu: 2e\+09 is not a weight",
        ),
    ],
)
def test_weights_must_be_finite_and_in_range_at_load(tmp_path, weights, message):
    """Such weights used to load and then fail the build (inf: a DECIMAL cast of NaN in a model; 1e308: the
    node's split no longer adding up to its cost) without naming the key."""
    path = write(tmp_path, f"[allocation]\nweights = 'custom'\n[allocation.custom_weights]\n{weights}\n")
    with pytest.raises(ConfigError, match=message):
        config_module.load(path)


def test_weights_at_the_ends_of_their_range_price_a_node_exactly(build_scenario):
    """1e6 and 1e-6 are far apart yet price in DOUBLE without overflow: one m5.xlarge (4 vCPU, 16 GiB) at
    $1/h and one pod requesting 1 vCPU and 8 GiB, idle kept separate.
    cpu 1e6, memory 1e-6: u = 1 / (4e6 + 16e-6); the pod's split (1e6 + 8e-6) u = 0.25 (to 1e-11).
    cpu 1e-6, memory 1e6: the pod's split (1e-6 + 8e6) / (4e-6 + 16e6) = 0.5 (to 1e-12); idle the rest."""
    for cpu, memory, share in ((1e6, 1e-6, 0.25), (1e-6, 1e6, 0.5)):
        s = Scenario()
        s.node("n1", "m5.xlarge", [0], 1.0, vcpu=4, memory_gib=16)
        s.pod("a-api", "api-0", "n1", [0], cpu_request=1, cpu_usage=0.5, memory_request_gib=8, memory_usage_gib=4)
        built = build_scenario(
            s,
            allocation={"weights": "custom", "custom_weights": {"cpu": cpu, "memory": memory}, "idle": "separate"},
            tenancy={"namespaces": [{"pattern": "a-*", "tenant": "team-a"}]},
            accept_method_change=True,  # the second weights rebuild the same data directory on purpose
        )
        assert built.tenant_totals() == pytest.approx({"team-a": share, "__idle__": 1 - share}, abs=1e-9)


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


def test_a_config_file_that_is_not_utf8_names_the_byte(tmp_path):
    path = tmp_path / "chargeback.toml"
    # ü is 0xfc in Latin-1, after "currency = 'EUR'\n" (17 bytes) and "# Z" (3): offset 20.
    path.write_bytes("currency = 'EUR'\n# Zürich\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"chargeback\.toml: not UTF-8 text \(byte 0xfc at offset 20\).*save it"):
        config_module.load(path)


@pytest.mark.parametrize(("value", "shown"), [("5", "5"), ("['data']", r"\['data'\]"), ("true", "True")])
def test_data_dir_that_is_not_a_string_is_named(tmp_path, value, shown):
    """``data_dir = 5`` used to crash (``Path(5)``) before validation."""
    with pytest.raises(ConfigError, match=rf"data_dir: {shown} is not a path; write it as a string"):
        config_module.load(write(tmp_path, f"data_dir = {value}\n"))


def test_lookup_order_env_then_local_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config_module.load() == Config()
    write(tmp_path, "currency = 'EUR'\n")
    assert config_module.load().currency == "EUR"
    other = tmp_path / "other.toml"
    other.write_text("currency = 'GBP'\n")
    monkeypatch.setenv("CHARGEBACK_CONFIG", str(other))
    assert config_module.load().currency == "GBP"


def test_a_data_directorys_own_file_comes_after_the_local_file(tmp_path, monkeypatch):
    """--config, $CHARGEBACK_CONFIG, ./chargeback.toml, then <data dir>/chargeback.toml (--data-dir, else ./data),
    then the defaults: a data directory remembers the configuration it was built with."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHARGEBACK_CONFIG", raising=False)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "chargeback.toml").write_text("data_dir = '.'\ncurrency = 'EUR'\n")
    found = config_module.load()
    assert (found.currency, found.data_dir) == ("EUR", Path("data"))
    assert config_module.discover() == Path("data") / "chargeback.toml"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "chargeback.toml").write_text("currency = 'CHF'\n")
    found = config_module.load(data_dir=elsewhere)
    assert (found.currency, found.data_dir) == ("CHF", elsewhere)
    assert config_module.load(data_dir=tmp_path / "bare") == Config(data_dir=tmp_path / "bare"), "not ./data's"
    write(tmp_path, "currency = 'GBP'\n")  # ./chargeback.toml comes first
    assert config_module.load().currency == config_module.load(data_dir=elsewhere).currency == "GBP"
    other = tmp_path / "other.toml"
    other.write_text("currency = 'JPY'\n")
    monkeypatch.setenv("CHARGEBACK_CONFIG", str(other))
    assert config_module.load(data_dir=elsewhere).currency == "JPY"
    assert config_module.load(elsewhere / "chargeback.toml").currency == "CHF"


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


def duckdb_matches(names: list[str], regex: str) -> list[bool]:
    return [duckdb.execute("select regexp_matches(?, ?)", [name, regex]).fetchall()[0][0] for name in names]


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("payments-*", ["payments-api", "payments-"], ["payment-api", "xpayments-a"]),
        ("team-?", ["team-a"], ["team-ab"]),
        ("ns-[ab]", ["ns-a"], ["ns-c"]),
        ("ns-[!ab]", ["ns-c"], ["ns-a"]),
        ("a.b", ["a.b"], ["axb"]),
        ("[]a]", ["]", "a"], ["b"]),  # a ] first in the class is a member, as in fnmatch
        ("[!]a]", ["b"], ["]", "a"]),
        ("x[[]", ["x["], ["x"]),
        ("a&&b", ["a&&b"], ["ab"]),  # Java's class intersection never applies: & is literal
        ("[a&&b]", ["&", "a"], ["c"]),
        ("[^a]", ["^", "a"], ["b"]),  # as in fnmatch: ^ is a member, [!a] negates
    ],
)
def test_glob_translation(pattern, matches, misses):
    """Python's re and DuckDB's (the build's) read the translation alike."""
    regex = glob_to_regex(pattern)
    assert all(re.match(regex, m) for m in matches)
    assert not any(re.match(regex, m) for m in misses)
    assert duckdb_matches(matches + misses, regex) == [True] * len(matches) + [False] * len(misses)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("team-[z-a]", r"tenancy\.namespaces\.1\.pattern: the range z-a in \[z-a\] runs backwards; write a-z"),
        ("team-[ab", r"tenancy\.namespaces\.1\.pattern: the \[ at position 6 opens a class that is never closed"),
        ("[]", r"tenancy\.namespaces\.1\.pattern: the \[ at position 1 opens a class that is never closed"),
        ("[!]", r"tenancy\.namespaces\.1\.pattern: the \[ at position 1 opens a class that is never closed"),
    ],
)
def test_an_invalid_glob_is_refused_at_load_naming_the_rule(tmp_path, pattern, message):
    """These used to load and then fail the build in int_namespace_tenants_hourly (DuckDB: "invalid character
    class range: z-a"), or (an unclosed [) silently match a literal [."""
    rules = f"[[tenancy.namespaces]]\npattern = 'ok-*'\ntenant = 'a'\n[[tenancy.namespaces]]\npattern = '{pattern}'\n"
    with pytest.raises(ConfigError, match=message):
        config_module.load(write(tmp_path, rules + "tenant = 'b'\n"))


@given(pattern=st.text(alphabet="ab-]![*?^\\&.", max_size=8), names=st.lists(st.text("ab-]![^\\&.", max_size=4)))
@settings(max_examples=150, deadline=None)
def test_a_glob_that_loads_matches_as_fnmatch_does_in_python_and_duckdb(pattern, names):
    try:
        regex = glob_to_regex(pattern)
    except GlobError:
        return
    expected = [fnmatch.fnmatchcase(name, pattern) for name in names]
    assert [re.match(regex, name) is not None for name in names] == expected
    assert duckdb_matches(names, regex) == expected


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
