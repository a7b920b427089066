"""The SQL models: found on disk, ordered so each runs after what it reads.

A model is ``models/<layer>/<name>.sql``: the folder is the schema, the file name the relation. ``validated``
(one view per raw table, generated from its value rules by ``chargeback.build.validation``) ► ``staging`` (one
model per raw table: rename, cast, units) ► ``intermediate`` (one business step each) ► ``marts`` (what
readers query). A model may say how it is materialised in a header line (``-- materialized: view|table``;
staging defaults to views, the rest to tables) and whether it is built by day (``-- incremental: day``, see
``chargeback.build.incremental``). Both engines run the same files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from chargeback.build import validation
from chargeback.build.method import MethodChange
from chargeback.core.errors import ChargebackError

MODELS_DIR = Path(__file__).parent / "models"
LAYERS = ("validated", "staging", "intermediate", "marts")
VIEW_LAYERS = ("validated", "staging")  # views unless a model's header says otherwise
_REFERENCE = re.compile(r"\b(validated|staging|intermediate|marts)\.([a-z0-9_]+)\b")
_MATERIALIZED = re.compile(r"^-- materialized: (view|table)\s*$", re.MULTILINE)
# ``-- incremental: day`` (days selected on ``hour`` where the model has one, else on ``date``) or
# ``-- incremental: day by <column>`` (a date column of the model's own, e.g. a pod's first day).
_INCREMENTAL = re.compile(r"^-- incremental: day(?: by ([a-z_]+))?\s*$", re.MULTILINE)

# A build's progress: (the relation being built, its position, how many there are).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Model:
    layer: str
    name: str
    path: Path
    sql: str
    depends_on: frozenset[str]

    @property
    def relation(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def materialized(self) -> str:
        """``view`` or ``table``: the model's ``-- materialized:`` header, else views for staging only.

        A mart that only renames and adds a column to a large intermediate table is a view over it, so the
        build does not write the same rows twice."""
        found = _MATERIALIZED.search(self.sql)
        if found:
            return found.group(1)
        return "view" if self.layer in VIEW_LAYERS else "table"

    @property
    def incremental(self) -> bool:
        """A ``-- incremental: day`` model is a table kept from the previous build and rebuilt by day."""
        return bool(_INCREMENTAL.search(self.sql))

    @property
    def day_column(self) -> str | None:
        """The date column named by ``-- incremental: day by <column>`` (None: ``hour``, else ``date``)."""
        found = _INCREMENTAL.search(self.sql)
        return found.group(1) if found else None


@dataclass(frozen=True)
class Refresh:
    """What building a model by day did: days in the model, days computed, whether it was built whole."""

    days: int
    rebuilt: int
    whole: bool
    reason: str

    def describe(self) -> str:
        if self.whole:
            return f"built whole ({self.reason})"
        return f"{self.rebuilt} of {self.days} days rebuilt, {self.days - self.rebuilt} kept"


@dataclass
class BuildResult:
    warehouse: Path
    seconds: float
    row_counts: dict[str, int] = field(default_factory=dict)
    checks: list[dict] = field(default_factory=list)
    refreshed: dict[str, Refresh] = field(default_factory=dict)  # models built by day
    method_change: MethodChange | None = None  # the published method it replaced, when accepted
    notes: list[str] = field(default_factory=list)  # what the operator should know: closed months held back,
    # raw rows corrected, raw files not read


def discover_models(models_dir: Path = MODELS_DIR) -> list[Model]:
    """Every ``<layer>/<name>.sql`` model and the generated ``validated`` views, in an order where each runs after
    what it reads."""
    models: dict[str, Model] = {}
    for name, sql in validation.models():
        depends = frozenset(f"{a}.{b}" for a, b in _REFERENCE.findall(sql)) - {f"{validation.SCHEMA}.{name}"}
        model = Model(validation.SCHEMA, name, validation.SOURCE, sql, depends)
        models[model.relation] = model
    for layer in LAYERS:
        for path in sorted((models_dir / layer).glob("*.sql")):
            sql = path.read_text()
            depends = frozenset(f"{a}.{b}" for a, b in _REFERENCE.findall(sql)) - {f"{layer}.{path.stem}"}
            model = Model(layer, path.stem, path, sql, depends)
            models[model.relation] = model
    for model in models.values():
        unknown = sorted(dep for dep in model.depends_on if dep not in models)
        if unknown:
            raise ChargebackError(f"{model.path}: reads {', '.join(unknown)}, which no model defines")
    try:
        order = list(TopologicalSorter({k: m.depends_on for k, m in models.items()}).static_order())
    except CycleError as exc:
        raise ChargebackError(f"models depend on each other in a cycle: {exc.args[1]}") from None
    return [models[name] for name in order]


def closure(model: Model, models: dict[str, Model]) -> dict[str, str]:
    """The SQL of ``model`` and of every model it reads, directly or not."""
    found, pending = {}, [model.relation]
    while pending:
        relation = pending.pop()
        if relation not in found:
            found[relation] = models[relation].sql
            pending.extend(models[relation].depends_on)
    return found
