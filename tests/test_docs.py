"""The documentation: the site's configuration is strict, every page is in its navigation, and what the docs
promise about the code holds (every command in the CLI reference, every configuration key, every section of
the method the code cites). `make docs` builds the site itself (mkdocs build --strict); these tests run
without building it.
"""

from __future__ import annotations

import html
import importlib.util
import re
import sys
from pathlib import Path

import markdown
import mkdocs_click
import yaml
from markdown.extensions.toc import slugify

from chargeback.core.config import Config
from tests.test_config import _keys

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Where docs/method.md#<section> may be cited: the models' and the code's comments, the tests, the pages.
CITING = ("chargeback", "collectors", "dashboards", "benchmarks", "tests", "docs")
CITATION = re.compile(r"docs/([a-z0-9_-]+\.md)(?:#([a-z0-9_-]+))?")
LINK = re.compile(r"\]\(([^)\s]+)\)")


class _Loader(yaml.SafeLoader):
    """mkdocs.yml with its Python-specific tags (``!!python/name:``, ``!relative``) read as plain nulls."""


_Loader.add_multi_constructor("", lambda loader, suffix, node: None)


def site() -> dict:
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Loader)


def nav_pages(entries) -> list[str]:
    pages = []
    for entry in entries:
        for value in entry.values() if isinstance(entry, dict) else [entry]:
            pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def anchors(page: Path) -> set[str]:
    """The heading anchors of a page, as mkdocs' table of contents makes them (inline code and emphasis marks
    dropped, then slugified)."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    headings = re.findall(r"^#{1,6} (.+?)\s*$", text, re.M)
    return {slugify(re.sub(r"[`*]", "", heading), "-") for heading in headings}


def test_every_page_is_in_the_navigation_and_every_entry_exists():
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    nav = nav_pages(site()["nav"])
    assert sorted(set(nav)) == sorted(nav), "a page is in the navigation twice"
    assert set(nav) == pages, f"not in nav: {sorted(pages - set(nav))}; in nav, no file: {sorted(set(nav) - pages)}"


def test_the_site_is_built_strictly_and_by_make_test():
    config = site()
    assert config["strict"] is True
    validation = config["validation"]
    for check in ("omitted_files", "not_found", "absolute_links", "unrecognized_links", "anchors"):
        assert validation[check] == "warn", f"validation.{check} must warn (and so fail a strict build)"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test:.*\bdocs\b", makefile, re.M), "make test does not build the docs"
    assert re.search(r"^docs:\n\t.*mkdocs build --strict", makefile, re.M)


def test_the_cli_reference_renders_every_command_and_option():
    """docs/cli.md, rendered by the mkdocs-click extension with the command the build hook
    (docs/hooks/cli_reference.py) exposes, shows every command's usage and help and every option."""
    assert "docs/hooks/cli_reference.py" in site()["hooks"]
    spec = importlib.util.spec_from_file_location("docs_hook_cli_reference", DOCS / "hooks" / "cli_reference.py")
    hook = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = hook
    spec.loader.exec_module(hook)
    extensions = ["attr_list", "tables", mkdocs_click.makeExtension()]
    rendered = html.unescape(markdown.markdown((DOCS / "cli.md").read_text(), extensions=extensions))
    for name, command in hook.command.commands.items():
        assert f"chargeback {name} [OPTIONS]" in rendered, name
        assert command.help.splitlines()[0].replace("`", "") in re.sub(r"</?code>", "", rendered), name
        for param in command.params:
            assert param.opts[0] in rendered, (name, param.opts)


def test_every_configuration_key_is_on_the_configuration_page():
    page = (DOCS / "configuration.md").read_text()
    missing = sorted(key for key in _keys(Config) if not any(f"`{form}`" in page for form in (key, f"[{key}]")))
    assert not missing, f"docs/configuration.md does not document {', '.join(missing)}"


def test_every_cited_page_and_section_exists():
    """A comment citing docs/<page>.md#<section> (the models cite the method's sections) points at a heading
    that exists: renaming a cited section fails here, not silently."""
    wrong = []
    for folder in CITING:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".sql", ".md", ".toml") or ".venv" in path.parts:
                continue
            for page, anchor in CITATION.findall(path.read_text()):
                target = DOCS / page
                if not target.is_file():
                    wrong.append(f"{path.relative_to(ROOT)}: docs/{page} does not exist")
                elif anchor and anchor not in anchors(target):
                    wrong.append(f"{path.relative_to(ROOT)}: docs/{page} has no section #{anchor}")
    assert not wrong, "\n".join(wrong)


def test_the_readmes_links_resolve():
    """The README is read on GitHub without the site: its relative links must reach a file (and a heading)."""
    readme = (ROOT / "README.md").read_text()
    links = [link for link in LINK.findall(readme) if not re.match(r"[a-z]+:", link)]
    assert links, "the README links nowhere"
    for link in links:
        file, _, anchor = link.partition("#")
        target = ROOT / file
        assert target.exists(), f"README links to {file}, which does not exist"
        if anchor:
            assert anchor in anchors(target), f"README links to {link}, which has no such heading"
