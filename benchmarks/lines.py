"""CUR rows as columns, filled as ``sample_data.month.cur_line`` fills one row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from benchmarks.basics import maps, ts
from collectors import streams
from sample_data import generate as sample

CUR_DEFAULTS = {
    "bill_billing_period_start_date": sample.MONTH_START,
    "bill_billing_period_end_date": sample.MONTH_END,
    "bill_payer_account_id": sample.PAYER_ACCOUNT,
    "line_item_usage_account_id": sample.ACCOUNT,
    "line_item_currency_code": "USD",
    "pricing_term": "OnDemand",
    "product_region_code": sample.REGION,
}


def cur_block(n: int, **columns) -> pa.Table:
    """``n`` CUR rows: each column an array of ``n`` or a scalar (times in epoch seconds), as ``sample._line``
    fills them."""
    values = {**CUR_DEFAULTS, **columns}
    values.setdefault("line_item_net_unblended_cost", values["line_item_unblended_cost"])
    values.setdefault("pricing_public_on_demand_cost", values["line_item_unblended_cost"])
    arrays = []
    for field in streams.CUR_LINE_ITEMS.schema:
        value = values.get(field.name)
        if isinstance(value, pa.Array | pa.ChunkedArray):
            arrays.append(value.cast(field.type))
        elif isinstance(value, np.ndarray):
            arrays.append(ts(value) if field.type == streams.TS else pa.array(value).cast(field.type))
        elif isinstance(value, dict) or (value is None and field.type == streams.LABELS):
            arrays.append(maps([value or {}], np.zeros(n, np.int64)))
        elif field.type == streams.TS:
            arrays.append(ts(np.full(n, value, np.int64)))
        else:
            arrays.append(pa.repeat(pa.scalar(value, field.type), n))
    return pa.Table.from_arrays(arrays, schema=streams.CUR_LINE_ITEMS.schema)
