"""The CUR's columns: which file columns feed which ``cur/line_items`` columns, and how legacy and drifted
files (Athena spellings, product and tag columns, maps as structs or JSON) map onto them (see
``collectors.cur``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chargeback.core.errors import DataError
from collectors.streams import CUR_LINE_ITEMS, LABELS

PRODUCT_KEYS = ("vcpu", "memory", "gpu", "instance_family", "operating_system")
_ALIASES = {"product_region_code": ("product_region",)}
_MAP_COLUMNS = ("product", "resource_tags")
_TAG_PREFIX = "resource_tags_"


def athena_name(column: str) -> str:
    """AWS's Athena/Parquet spelling of a legacy CUR column: ``lineItem/UsageStartDate`` ->
    ``line_item_usage_start_date``, ``resourceTags/user:CostCenter`` -> ``resource_tags_user_cost_center``.
    CUR 2.0 names are already in this form and map to themselves."""
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column)
    return re.sub(r"[^A-Za-z0-9]+", "_", snake).strip("_").lower()


@dataclass(frozen=True)
class ColumnPlan:
    """Which file columns feed which CUR_LINE_ITEMS columns."""

    scalars: dict[str, str]  # target column -> file column
    maps: dict[str, str]  # "product"/"resource_tags" -> file column holding the map (or struct / JSON)
    entries: dict[str, dict[str, str]]  # "product"/"resource_tags" -> {entry key -> file column}

    @property
    def read(self) -> list[str]:
        columns = [*self.scalars.values(), *self.maps.values()]
        columns += [column for entries in self.entries.values() for column in entries.values()]
        return list(dict.fromkeys(columns))


def plan_columns(schema: pa.Schema, origin: str) -> ColumnPlan:
    """Match a file's columns to CUR_LINE_ITEMS; raise DataError naming required columns it lacks."""
    by_name: dict[str, str] = {}
    for name in schema.names:
        by_name.setdefault(name, name)
    for name in schema.names:
        by_name.setdefault(athena_name(name), name)
    scalars: dict[str, str] = {}
    maps: dict[str, str] = {}
    entries: dict[str, dict[str, str]] = {}
    for target in CUR_LINE_ITEMS.schema:
        if target.name in _MAP_COLUMNS:
            continue
        for candidate in (target.name, *_ALIASES.get(target.name, ())):
            if candidate in by_name:
                scalars[target.name] = by_name[candidate]
                break
    missing = [f.name for f in CUR_LINE_ITEMS.schema if not f.nullable and f.name not in scalars]
    if missing:
        raise DataError(
            f"{origin}: CUR file lacks required column(s) {', '.join(missing)}"
            f" (looked for the CUR 2.0 names and their legacy spellings, e.g. lineItem/UsageStartDate)"
        )
    for column in _MAP_COLUMNS:
        if column in by_name:
            maps[column] = by_name[column]
    if "product" not in maps:
        entries["product"] = {key: by_name[f"product_{key}"] for key in PRODUCT_KEYS if f"product_{key}" in by_name}
    if "resource_tags" not in maps:
        entries["resource_tags"] = {
            normal[len(_TAG_PREFIX) :]: original
            for normal, original in by_name.items()
            if normal.startswith(_TAG_PREFIX) and len(normal) > len(_TAG_PREFIX)
        }
    return ColumnPlan(scalars, maps, entries)


def _map_from_columns(keys: list[str], columns: list[pa.Array], rows: int) -> pa.MapArray:
    """One map per row from same-length columns (one entry key each), leaving out nulls and empty strings."""
    if not keys or rows == 0:
        return pa.MapArray.from_arrays(
            pa.array(np.zeros(rows + 1, dtype=np.int32)), pa.array([], pa.string()), pa.array([], pa.string())
        )
    width = len(keys)
    values = pa.concat_arrays([pc.cast(column, pa.string()) for column in columns])  # column after column
    names = pa.array(keys, pa.string()).take(pa.array(np.repeat(np.arange(width), rows)))
    # reorder to row after row: row i takes entries i, rows + i, 2*rows + i, ...
    order = pa.array((np.arange(rows)[:, None] + np.arange(width)[None, :] * rows).ravel())
    values, names = values.take(order), names.take(order)
    keep = pc.fill_null(pc.and_(pc.is_valid(values), pc.not_equal(values, "")), False)
    counts = keep.to_numpy(zero_copy_only=False).reshape(rows, width).sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.MapArray.from_arrays(pa.array(offsets), names.filter(keep), values.filter(keep))


def _normalise_tag_keys(array: pa.MapArray) -> pa.MapArray:
    """Rewrite tag keys spelt ``user:tenant`` (legacy) as ``user_tenant`` (CUR 2.0)."""
    first, last = array.offsets[0].as_py(), array.offsets[-1].as_py()
    keys = array.keys.slice(first, last - first)
    if not pc.any(pc.match_substring(keys, ":")).as_py():
        return array
    offsets = pc.subtract(array.offsets, first)
    keys = pc.replace_substring_regex(keys, pattern=r"^(user|aws):", replacement=r"\1_")
    items = array.items.slice(first, last - first)
    mask = array.is_null() if array.null_count else None
    return pa.MapArray.from_arrays(offsets, keys, items, mask=mask)


def _as_map(array: pa.Array, name: str, origin: str) -> pa.Array:
    """A map<string, string> from a map, struct or JSON-string column (see the module docstring)."""
    kind = array.type
    if pa.types.is_map(kind):
        first, last = array.offsets[0].as_py(), array.offsets[-1].as_py()
        keys = pc.cast(array.keys.slice(first, last - first), pa.string())
        items = pc.cast(array.items.slice(first, last - first), pa.string())
        mask = array.is_null() if array.null_count else None
        result = pa.MapArray.from_arrays(pc.subtract(array.offsets, first), keys, items, mask=mask)
    elif pa.types.is_struct(kind):
        fields = [kind.field(i).name for i in range(kind.num_fields)]
        children = [array.field(i) for i in range(kind.num_fields)]
        result = _map_from_columns(fields, children, len(array))
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        parsed = []
        for text in array.to_pylist():  # fallback for a map flattened to JSON text: row by row
            try:
                value = json.loads(text) if text else {}
            except json.JSONDecodeError as exc:
                raise DataError(f"{origin}: column {name!r} holds text that is not a JSON object: {exc}") from exc
            if not isinstance(value, dict):
                raise DataError(f"{origin}: column {name!r} holds JSON that is not an object: {text[:80]!r}")
            parsed.append([(str(k), None if v is None else str(v)) for k, v in value.items()])
        result = pa.array(parsed, LABELS)
    else:
        raise DataError(f"{origin}: column {name!r} is {kind}, expected a map<string, string> (or struct, or JSON)")
    return _normalise_tag_keys(result) if name == "resource_tags" else result


def transform(batch: pa.RecordBatch, plan: ColumnPlan, origin: str) -> pa.Table:
    columns: dict[str, pa.Array] = {target: batch.column(source) for target, source in plan.scalars.items()}
    for name in _MAP_COLUMNS:
        if name in plan.maps:
            columns[name] = _as_map(batch.column(plan.maps[name]), name, origin)
        else:
            entries = plan.entries.get(name, {})
            columns[name] = _map_from_columns(
                list(entries), [batch.column(column) for column in entries.values()], batch.num_rows
            )
    return pa.table(columns)
