"""The import rule of docs/architecture.md, checked on every import statement of the code (ast; imports inside
functions and under ``TYPE_CHECKING`` too), with no list of exceptions.

Layers, each importing only the layers before it and its own package: base → sources → the raw-table contract
→ the build → reports → exports → the scheduler → the dashboard → the CLI. Benchmarks, the EMR job's entry
point and the Grafana dashboard's generator are tools on top. No module imports another module's private
(``_``-prefixed) names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("chargeback", "collectors", "dashboards", "benchmarks")

# (layer, the packages that make it up), in order: a module may import its own layer and the layers above it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("chargeback.core", "chargeback")),  # "chargeback": the package itself (its version)
    ("sources", ("collectors",)),
    ("raw-table contract", ("chargeback.raw",)),
    ("build", ("chargeback.build",)),
    ("reports", ("chargeback.reports",)),
    ("exports", ("chargeback.exports",)),
    ("scheduler", ("chargeback.scheduler",)),
    ("dashboard", ("dashboards",)),
    ("cli", ("chargeback.cli", "chargeback.__main__")),
    ("tools", ("benchmarks", "deploy")),
)
SOURCES = ("chargeback", "collectors", "dashboards", "benchmarks", "deploy/emr", "deploy/grafana")
MAX_LINES = 500
# Modules that generate data (a month of a cluster, written row by row for the tests and benchmarks) may be
# longer; everything else is split into modules of one reason to change.
GENERATORS = ("benchmarks/generate.py", "benchmarks/layout.py", "benchmarks/tables.py", "benchmarks/cur.py")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts).replace("deploy.emr", "deploy")


def python_files() -> list[Path]:
    return sorted(p for folder in SOURCES for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts)


def layer_of(module: str) -> int:
    """The index of the layer ``module`` belongs to: its longest matching package."""
    best, found = -1, None
    for index, (_, packages) in enumerate(LAYERS):
        for package in packages:
            if (module == package or module.startswith(package + ".")) and len(package) > best:
                best, found = len(package), index
    if found is None:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {Path(__file__).name}")
    return found


def project_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names imported from it) for every import of a project module in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] in PROJECT]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import; import by the absolute name"
            if node.module and node.module.split(".")[0] in PROJECT:
                found.append((node.lineno, node.module, [a.name for a in node.names]))
    return found


def imported_module(module: str, names: list[str]) -> list[str]:
    """What ``from module import names`` imports: the submodules it names, else the module itself."""
    subs = []
    for name in names:
        path = ROOT / Path(*module.split("."), name)
        if path.is_dir() or path.with_suffix(".py").is_file():
            subs.append(f"{module}.{name}")
    return subs or [module]


def test_every_import_follows_the_layers():
    wrong = []
    for path in python_files():
        here = module_name(path)
        mine = layer_of(here)
        for line, module, names in project_imports(path):
            for target in imported_module(module, names):
                theirs = layer_of(target)
                if theirs > mine:
                    wrong.append(
                        f"{path.relative_to(ROOT)}:{line}: {here} ({LAYERS[mine][0]}) imports {target}"
                        f" ({LAYERS[theirs][0]}, a later layer)"
                    )
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def exists(module: str) -> bool:
    path = ROOT / Path(*module.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def test_every_imported_project_module_exists():
    """A stale name (a module that moved) would otherwise be found in an older installed copy, if any."""
    missing = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in python_files()
        for line, module, _ in project_imports(path)
        if not exists(module)
    ]
    assert not missing, "imports of modules that do not exist:\n" + "\n".join(missing)


def test_no_module_imports_private_names_of_another():
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: from {module} import {name}"
        for path in python_files()
        for line, module, names in project_imports(path)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not wrong, "private names imported across modules:\n" + "\n".join(wrong)


@pytest.mark.parametrize("layer", [name for name, _ in LAYERS])
def test_each_layer_has_code(layer):
    """A layer that lost all its modules is a sign the rule no longer says where things are."""
    index = [name for name, _ in LAYERS].index(layer)
    assert any(layer_of(module_name(path)) == index for path in python_files())


def test_the_checker_catches_an_upward_import(tmp_path):
    """The rule is not vacuous: a collector importing the build, or a report importing the CLI, is caught."""
    assert layer_of("collectors.prometheus") < layer_of("chargeback.build.engines")
    assert layer_of("chargeback.reports.bill") < layer_of("chargeback.cli.bill")
    assert layer_of("chargeback.core.config") < layer_of("collectors.base") < layer_of("chargeback.raw.landing")
    sample = tmp_path / "upward.py"
    sample.write_text("def f():\n    from chargeback.build.engines import build\n    from chargeback.cli import _x\n")
    imports = project_imports(sample)
    assert [(line, module) for line, module, _ in imports] == [(2, "chargeback.build.engines"), (3, "chargeback.cli")]
    assert imported_module("chargeback.build", ["engines"]) == ["chargeback.build.engines"]


def test_modules_stay_small():
    long = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in python_files()
        if str(path.relative_to(ROOT)) not in GENERATORS and (lines := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert not long, f"modules over {MAX_LINES} lines (split them by what they do):\n" + "\n".join(long)
