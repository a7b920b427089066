"""The DuckDB models as Spark SQL, transpiled at build time with sqlglot: one source of truth.

Spark's temporary views cannot live in a schema, so ``staging.stg_x`` (and ``raw.``, ``config.``, ``closed.``,
``validated.``, ``intermediate.``, ``marts.``) become views named ``staging__stg_x``. A model that sqlglot cannot carry
over raises ``NotPortableError`` naming it; the fix is a portable rewrite of the model, never a fork.
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from chargeback.build.runner import Model
from chargeback.core.errors import ChargebackError

SCHEMAS = ("raw", "config", "closed", "validated", "staging", "intermediate", "marts")


class NotPortableError(ChargebackError):
    """A model uses DuckDB SQL that Spark cannot run; the message names the model and the construct."""


def view_name(relation: str) -> str:
    """The Spark temporary view of a warehouse relation: ``staging.stg_x`` -> ``staging__stg_x``."""
    schema, _, name = relation.partition(".")
    return f"{schema}__{name}"


def _rename_relations(node: exp.Expression) -> exp.Expression:
    """``schema.name`` -> the view ``schema__name``, aliased to ``name`` so ``name.column`` still resolves."""
    if isinstance(node, exp.Table) and node.db in SCHEMAS and not node.catalog:
        renamed = exp.to_table(view_name(f"{node.db}.{node.name}"))
        alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
        renamed.set("alias", alias)
        return renamed
    return node


def _positional_ids(node: exp.Expression) -> exp.Expression:
    """``row_number() over ()`` numbers rows in scan order, which only says "a unique id per row"; Spark
    refuses an unordered row_number, and ordering the whole table would sort it on one task."""
    if (
        isinstance(node, exp.Window)
        and isinstance(node.this, exp.RowNumber)
        and not node.args.get("partition_by")
        and not node.args.get("order")
        and not node.args.get("spec")
    ):
        return exp.Add(this=exp.Anonymous(this="monotonically_increasing_id"), expression=exp.Literal.number(1))
    return node


def _exact_quantiles(node: exp.Expression) -> exp.Expression:
    """DuckDB's exact, interpolating ``quantile_cont(x, level or [levels])`` (and the standard
    ``percentile_cont(level) within group (order by x)``) is Spark's ``percentile(x, level or array)``.
    sqlglot writes the first as a two-argument ``percentile_cont``, which Spark refuses, and the second as
    ``percentile_approx``, which is not the same number."""
    if isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.PercentileCont):
        order = node.expression
        keys = order.expressions if isinstance(order, exp.Order) else []
        if len(keys) == 1 and not keys[0].args.get("desc"):
            return exp.Anonymous(this="percentile", expressions=[keys[0].this, node.this.this])
    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
    return node


def _finite(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``isfinite(x)`` (not NaN, not ±infinity) is Spark's ``not isnan(x) and abs(x) <> Infinity``;
    Spark has no ``isfinite``. (On DuckDB the validation layer must use ``isfinite``: it folds ``isnan`` and
    range comparisons to constants from Parquet statistics, which leave NaN out.)"""
    if isinstance(node, exp.Anonymous) and node.name.lower() == "isfinite" and len(node.expressions) == 1:
        value = node.expressions[0]
        infinity = exp.cast(exp.Literal.string("Infinity"), "double")
        return exp.paren(
            exp.and_(
                exp.not_(exp.IsNan(this=value.copy())),
                exp.NEQ(this=exp.Abs(this=value.copy()), expression=infinity),
            )
        )
    return node


# Rewrites of DuckDB constructs whose meaning Spark spells differently; each one documented above.
PORTABILITY_RULES = (_positional_ids, _exact_quantiles, _finite)


@lru_cache(maxsize=512)
def to_spark(model: Model) -> str:
    """The model's SQL in Spark's dialect, reading and naming relations as Spark views. Kept per model (its layer,
    name, file and SQL): a process that builds again (the scheduler, the tests) transpiles each model once; about
    5 s of sqlglot per build of the 90 models."""
    try:
        statements = sqlglot.parse(model.sql, read="duckdb")
        if len(statements) != 1 or statements[0] is None:
            raise NotPortableError(f"model {model.relation} ({model.path.name}) is not one SQL statement")
        tree = statements[0].transform(_rename_relations)
        for rule in PORTABILITY_RULES:
            tree = tree.transform(rule)
        return tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE, pretty=True)
    except SqlglotError as exc:
        raise NotPortableError(
            f"model {model.relation} ({model.path.name}) cannot be transpiled to Spark SQL: {exc}; "
            "rewrite it in portable SQL (see docs/spark.md)"
        ) from None
