"""The ``validated`` layer: each raw table's value rules (``chargeback.raw.tables``) as one SQL view, between
raw and staging, which both engines run (like dbt tests on staging, except that a failing row is corrected
and recorded rather than only counted).

``validated.<source>__<table>`` has every column of the raw table, each value that breaks a rule replaced by
its fallback (docs/method.md#validation), and beside them:

- ``_file``: the raw file the row came from, relative to the data directory (``raw/<source>/<table>/...``);
- one column per tenant value (``TenantValue.name``: the label or tag, null where reserved or absent);
- for each rule, ``_raw_<column>`` (the value as landed) and ``_rule_<column>`` (the check it failed, or null);
- ``_corrected`` (a rule was broken), and for reports ``_rules``, ``_original_values`` and
  ``_corrected_values`` (``column: rule; ...`` and ``column=value; ...``, numbers in plain decimals so that
  both engines write the same text).

Staging reads only the raw columns and the tenant values; the models that record corrections (and the CUR's
stop rule, ``int_cur__rule_breaks``) read the rest. A rule whose fallback reads another checked column, or
whose bound reads the running time, runs in a later step than that column's rule (CTEs ``step_1``...), so a
usage falls back to its request as corrected. Everything is set-based SQL: no row leaves the engine.
"""

from __future__ import annotations

from pathlib import Path

from chargeback.core.errors import DataError
from chargeback.raw import rules as r
from chargeback.raw.rules import Rule, SettingRule, TenantValue, ValueRule
from chargeback.raw.tables import BY_KEY, RAW_TABLES, RawTable

SCHEMA = "validated"
SOURCE = Path(__file__)  # where the generated models come from, for messages naming a model's file
_INFINITY = "cast('Infinity' as double)"
_TIME = "running_seconds"  # the time a within_capacity bound is multiplied by


def relation(table: RawTable) -> str:
    """The validated view of a raw table: ``validated.<source>__<table>``."""
    return f"{SCHEMA}.{table.source}__{table.name}"


def _check(check: str, column: str, rule: ValueRule) -> str:
    if check == "finite":
        return f"isfinite({column})"
    if check == "non_negative":
        return f"{column} >= 0"
    if check == "within_hour":
        return f"{column} <= {r.HOUR_SECONDS}"
    return f"{column} <= _capacity_{rule.capacity} * ({_TIME} + {r.CAPACITY_SLACK_SECONDS}) * {r.CAPACITY_TOLERANCE}"


def is_nan(number: str) -> str:
    """NaN, in SQL both engines evaluate row by row. DuckDB folds ``isnan``, ``x = x`` and range comparisons to
    constants from a Parquet file's min/max statistics, which leave NaN out, so a NaN read from such a file
    passes them; ``isfinite`` it evaluates (Spark runs it as ``not isnan(x) and abs(x) <> Infinity``)."""
    return f"(not isfinite({number}) and abs({number}) <> {_INFINITY})"


def _clamped(column: str, not_a_number: float) -> str:
    return (
        f"case when {is_nan(column)} then {not_a_number} when {column} < 0 then 0.0"
        f" when {column} > {r.HOUR_SECONDS} then {r.HOUR_SECONDS} else {column} end"
    )


def _fallback(rule: ValueRule) -> str:
    column = rule.column
    found = {
        "zero": "0.0",
        "unknown": "null",
        "the_hour": _clamped(column, r.HOUR_SECONDS),
        "clamped_or_zero": _clamped(column, 0.0),
        "stop_in_scope": f"case when {_check('finite', column, rule)} then {column} end",
    }
    return found.get(rule.fallback, rule.fallback)


def text(number: str) -> str:
    """A double as the same text on DuckDB and Spark: plain decimals to 6 places, trailing zeros dropped;
    NaN, ±Infinity, beyond ±1e30 as words; null as ``null``."""
    return (
        f"(case when {number} is null then 'null' when {is_nan(number)} then 'NaN'"
        f" when {number} = {_INFINITY} then 'Infinity'"
        f" when {number} = -{_INFINITY} then '-Infinity'"
        f" when abs({number}) >= 1e30 then case when {number} > 0 then '>1e30' else '<-1e30' end"
        # the cast's argument kept finite and in range on every row: an engine may evaluate a branch for rows it
        # does not take, and DuckDB may fold the range test from Parquet statistics (see is_nan)
        f" else regexp_replace(cast(cast(case when isfinite({number}) and abs({number}) < 1e30 then {number}"
        " else 0 end as decimal(38, 6)) as varchar), '[.]?0+$', '') end)"
    )


def _tenant_lookup(value: TenantValue) -> str:
    key = f"'{value.prefix}' || _setting_{value.setting}" if value.prefix else f"_setting_{value.setting}"
    return f"nullif({value.column}[{key}], '')"


def _display(rule: Rule, table_rules: tuple[Rule, ...]) -> str:
    """The column a rule names, as SQL text: a tenant value names its map and the configured key, and its own
    name where another tenant value reads the same map (the CUR's node tag and tenant tag may be one tag)."""
    if isinstance(rule, TenantValue):
        shared = sum(isinstance(o, TenantValue) and o.column == rule.column for o in table_rules) > 1
        suffix = f" ({rule.name})" if shared else ""
        return f"'{rule.column}[{rule.prefix}' || _setting_{rule.setting} || ']{suffix}'"
    return f"'{rule.column}'"


def _key(rule: Rule) -> str:
    return rule.name if isinstance(rule, TenantValue) else rule.column


def _steps(table: RawTable) -> list[list[Rule]]:
    """The rules in steps: a rule runs after the rules of the columns its fallback or bound reads."""
    checked = {_key(rule): rule for rule in table.rules}
    step: dict[str, int] = {}

    def of(rule: Rule) -> int:
        key = _key(rule)
        if key not in step:
            reads = []
            if isinstance(rule, ValueRule):
                reads = [rule.fallback] + ([_TIME] if rule.capacity else [])
            step[key] = 1 + max((of(checked[c]) for c in reads if c in checked and c != key), default=0)
        return step[key]

    steps: list[list[Rule]] = [[] for _ in range(max((of(rule) for rule in table.rules), default=0))]
    for rule in table.rules:
        steps[of(rule) - 1].append(rule)
    return steps


def _rule_columns(rule: Rule) -> list[str]:
    """What one rule adds to its step: the raw value, the check it failed, the value read downstream."""
    if isinstance(rule, TenantValue):
        raw = _tenant_lookup(rule)
        reserved = f"regexp_matches({raw}, '{r.RESERVED_PATTERN}')"
        return [
            f"{raw} as _raw_{rule.name}",
            f"case when {reserved} then '{r.RESERVED}' end as _rule_{rule.name}",
            f"case when {reserved} then null else {raw} end as {rule.name}",
        ]
    column = rule.column
    if isinstance(rule, SettingRule):
        broken = f"not coalesce({column} = _setting_{rule.setting}, false)"
        return [f"{column} as _raw_{column}", f"case when {broken} then '{rule.rule}' end as _rule_{column}", column]
    checks = [f"({_check(check, column, rule)})" for check in rule.checks]
    failed = " ".join(
        f"when not coalesce({sql}, true) then '{check}'" for sql, check in zip(checks, rule.checks, strict=True)
    )
    value = f"case when coalesce({' and '.join(checks)}, true) then {column} else {_fallback(rule)} end"
    return [
        f"{column} as _raw_{column}",
        f"case {failed} end as _rule_{column}",
        f"cast({value} as double) as {column}",
    ]


def sql(table: RawTable) -> str:
    """The validated view of ``table`` (see the module's docstring)."""
    columns = [field.name for field in table.schema]
    settings = sorted({rule.setting for rule in table.rules if isinstance(rule, SettingRule | TenantValue)})
    capacities = sorted({rule.capacity for rule in table.rules if isinstance(rule, ValueRule) and rule.capacity})
    header = [
        f"-- grain: one row of {table.relation}, its values validated; key: the raw table's",
        f"-- Generated by chargeback/build/validation.py from the value rules of {table.key}",
        "-- (chargeback/raw/tables.py; docs/method.md#validation). A value that breaks a rule is replaced by its",
        "-- fallback, and kept as _raw_<column>.",
        "-- materialized: view",
    ]
    ctes = []
    if settings:
        ctes.append("settings as (\n    select * from config.settings\n)")
    joins = []
    extra = ["'raw/' || source_rows._file as _file"]
    extra += [f"settings.{name} as _setting_{name}" for name in settings]
    if settings:
        joins.append("cross join settings")
    if capacities:
        capacity = BY_KEY[table.capacity.table]
        hour = table.capacity.hour_column
        maxima = ",\n".join(f"        max({name}) as {name}" for name in capacities)
        # by node-hour (grouped, so that a duplicated node-hour cannot duplicate pod-hours); joining on the hour
        # itself costs a fraction of joining on its UTC day, which would convert every pod-hour's timestamp
        ctes.append(
            "capacity as (\n    select\n        cluster,\n        node,\n"
            f"        {hour},\n{maxima},\n"
            f"    from {relation(capacity)}\n    group by cluster, node, {hour}\n)"
        )
        extra += [f"capacity.{name} as _capacity_{name}" for name in capacities]
        joins.append(
            "left join capacity\n        on capacity.cluster = source_rows.cluster and capacity.node = source_rows.node"
            f"\n        and capacity.{hour} = source_rows.{hour}"
        )
    listed = ",\n".join(f"        {c}" for c in [*(f"source_rows.{c}" for c in columns), *extra])
    ctes.append(
        f"source as (\n    select\n{listed},\n    from {table.relation} as source_rows"
        + "".join(f"\n    {join}" for join in joins)
        + "\n)"
    )
    carried = [*columns, "_file", *(f"_setting_{s}" for s in settings), *(f"_capacity_{c}" for c in capacities)]
    previous = "source"
    for index, step in enumerate(_steps(table), start=1):
        changed = {rule.column for rule in step if not isinstance(rule, TenantValue)}
        selected = [c for c in carried if c not in changed]
        for rule in step:
            selected += _rule_columns(rule)
            if isinstance(rule, TenantValue):
                carried += [f"_raw_{rule.name}", f"_rule_{rule.name}", rule.name]
            else:
                carried += [f"_raw_{rule.column}", f"_rule_{rule.column}"]
        body = ",\n".join(f"        {c}" for c in selected)
        ctes.append(f"step_{index} as (\n    select\n{body},\n    from {previous}\n)")
        previous = f"step_{index}"
    outputs = [*columns, "_file", *(rule.name for rule in table.rules if isinstance(rule, TenantValue))]
    outputs += [f"_raw_{_key(rule)}" for rule in table.rules] + [f"_rule_{_key(rule)}" for rule in table.rules]
    outputs += _report_columns(table.rules)
    body = ",\n".join(f"        {c}" for c in outputs)
    ctes.append(f"final as (\n    select\n{body},\n    from {previous}\n)")
    return "\n".join(header) + "\nwith " + ",\n\n".join(ctes) + "\n\nselect * from final\n"


def _report_columns(table_rules: tuple[Rule, ...]) -> list[str]:
    """``_corrected`` and the report's text columns (``REPORT_TEXT``; ``_stop_rules`` where a rule stops the build)."""
    if not table_rules:
        return ["false as _corrected", *(f"cast(null as varchar) as {c}" for c in REPORT_TEXT)]
    broken = [f"_rule_{_key(rule)}" for rule in table_rules]
    rules, originals, corrected = [], [], []
    for rule in table_rules:
        key, name = _key(rule), _display(rule, table_rules)
        when = f"case when _rule_{key} is not null then {name} ||"
        rules.append(f"{when} ': ' || _rule_{key} end")
        if isinstance(rule, ValueRule):
            originals.append(f"{when} '=' || {text(f'_raw_{key}')} end")
            corrected.append(f"{when} '=' || {text(key)} end")
        elif isinstance(rule, SettingRule):
            originals.append(f"{when} '=' || coalesce(_raw_{key}, 'null') end")
            corrected.append(f"{when} ': kept' end")
        else:
            originals.append(f"{when} '=' || _raw_{key} end")
            corrected.append(f"{when} ': ignored' end")

    def joined(parts: list[str], name: str) -> str:
        return "nullif(concat_ws('; ', " + ", ".join(parts) + f"), '') as {name}"

    stops = [part for part, rule in zip(rules, table_rules, strict=True) if _stops(rule)]
    return [
        "(" + " or ".join(f"{b} is not null" for b in broken) + ") as _corrected",
        joined(rules, "_rules"),
        joined(originals, "_original_values"),
        joined(corrected, "_corrected_values"),
        *([joined(stops, "_stop_rules")] if stops else []),
    ]


def _stops(rule: Rule) -> bool:
    return not isinstance(rule, TenantValue) and rule.fallback == "stop_in_scope"


REPORT_TEXT = ("_rules", "_original_values", "_corrected_values")

# The model listing the in-scope CUR lines that break a value rule, per file and rule: the build reads it as soon
# as it is built and stops (refuse_invalid_cur) before anything is priced.
CUR_GATE = "intermediate.int_cur__rule_breaks"


def refuse_invalid_cur(rows: list[dict]) -> None:
    """Raise ``DataError`` (one line) naming each raw CUR file, rule, line count and amount of the in-scope
    lines that break a value rule; nothing is published, for any cluster (there is one CUR)."""
    if not rows:
        return
    parts = []
    for row in sorted(rows, key=lambda x: (x["file"] or "", x["rules"] or "", x["currency"] or "")):
        amount = (
            "not a number" if row["amount"] is None else f"{row['amount']:,.2f} {row['currency'] or '(no currency)'}"
        )
        parts.append(f"{row['file']}: {row['line_count']:,} line(s) breaking {row['rules']}, amount {amount}")
    lines = sum(row["line_count"] for row in rows)
    raise DataError(
        f"{lines:,} in-scope CUR line(s) break a value rule; nothing was published, for any cluster: "
        + "; ".join(parts)
        + f" (configured currency: {rows[0]['configured_currency']}); fix the export or the `currency` setting,"
        " then collect that billing period again"
    )


def models() -> list[tuple[str, str]]:
    """(name in the ``validated`` schema, SQL) of every raw table's validated view."""
    return [(relation(table).split(".", 1)[1], sql(table)) for table in RAW_TABLES]
