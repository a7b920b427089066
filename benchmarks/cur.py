"""The generated month's Cost and Usage Report (CUR 2.0), delivered and landed as the CUR collector would,
and Cost Explorer's daily view of it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.layout import (
    DAY,
    GIB,
    HOUR,
    MONTH_DAYS,
    MONTH_START,
    OTHER_GROUPS,
    SPARK_GROUP,
    Layout,
    Size,
    join,
    maps,
    ts,
)
from benchmarks.tables import day_rng
from chargeback.raw.collect import land_billing_period
from collectors import streams
from sample_data import generate as sample

ORIGIN = "benchmarks/generate.py"
SPLIT_ROWS_HOUR = 10  # EKSPod-EC2 rows of three payments-api pods at 10:00 on the third day (as the sample)

# --- lines -------------------------------------------------------------------------------------------------

CUR_DEFAULTS = {
    "bill_billing_period_start_date": sample.MONTH_START,
    "bill_billing_period_end_date": sample.MONTH_END,
    "bill_payer_account_id": sample.PAYER_ACCOUNT,
    "line_item_usage_account_id": sample.ACCOUNT,
    "line_item_currency_code": "USD",
    "pricing_term": "OnDemand",
    "product_region_code": sample.REGION,
}


def _cur_block(n: int, **columns) -> pa.Table:
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


def _spot_prices(size: Size, day: int) -> dict[str, float]:
    """Spot price per instance type that day: a share of on-demand in the sample's range."""
    rng = day_rng(size, day, 3)
    types = sorted({SPARK_GROUP[1]} | {g[1] for g in OTHER_GROUPS})
    return {
        t: round(sample.INSTANCE_TYPES[t].on_demand_usd_per_hour * float(rng.uniform(*sample.SPOT_SHARE_RANGE)), 4)
        for t in types
    }


def _node_lines(layout: Layout, day: int) -> list[pa.Table]:
    """One EC2 line per node-hour (and each covered line's negation), as ``sample.node_lines``."""
    lo = MONTH_START + day * DAY
    hours = np.arange(lo, lo + DAY, HOUR, dtype=np.int64)
    spot = _spot_prices(layout.size, day)
    kinds = {"spot": [], "sp": [], "od": []}
    for i, node in enumerate(layout.nodes):
        kinds["spot" if node.capacity_type == "SPOT" else "sp" if node.savings_plan else "od"].append(i)
    blocks = []
    for kind, members in kinds.items():
        if not members:
            continue
        nodes = [layout.nodes[i] for i in members]
        which = np.repeat(np.arange(len(nodes)), len(hours))
        take = pa.array(which)
        n = len(which)
        od = np.array([x.spec.on_demand_usd_per_hour for x in nodes])[which]
        itype = pa.array([x.instance_type for x in nodes]).take(take)
        products = maps([sample._ec2_product(x.spec) for x in nodes], which)
        tag_sets = [
            {"user_eks_cluster_name": sample.CLUSTER, **({"user_tenant": x.tenant} if x.tenant else {})} for x in nodes
        ]
        common = dict(
            line_item_usage_start_date=np.tile(hours, len(nodes)),
            line_item_usage_end_date=np.tile(hours, len(nodes)) + HOUR,
            line_item_product_code="AmazonEC2",
            line_item_operation="RunInstances",
            line_item_resource_id=pa.array([x.instance_id for x in nodes]).take(take),
            line_item_usage_amount=np.ones(n),
            product_instance_type=itype,
            product=products,
            resource_tags=maps(tag_sets, which),
        )
        box = join("BoxUsage:", itype)
        od_text = pa.array(
            [f"${x.spec.on_demand_usd_per_hour:g} per On Demand Linux {x.instance_type} Instance Hour" for x in nodes]
        ).take(take)
        if kind == "spot":
            rate = np.array([spot[x.instance_type] for x in nodes])[which]
            text = pa.array(
                [
                    f"${spot[x.instance_type]:g} per Linux/UNIX {x.instance_type} Spot Instance-hour in {x.zone}"
                    for x in nodes
                ]
            ).take(take)
            rates = pa.array([sample._rate(spot[x.instance_type]) for x in nodes]).take(take)
            blocks.append(
                _cur_block(
                    n,
                    **common,
                    line_item_line_item_type="Usage",
                    line_item_usage_type=join("SpotUsage:", itype),
                    line_item_unblended_rate=rates,
                    line_item_unblended_cost=np.round(rate, 10),
                    line_item_line_item_description=text,
                    pricing_public_on_demand_cost=np.round(od, 10),
                    pricing_term="Spot",
                )
            )
        elif kind == "sp":
            rates = pa.array([sample._rate(x.spec.on_demand_usd_per_hour) for x in nodes]).take(take)
            negated = pa.array([sample._rate(-x.spec.on_demand_usd_per_hour) for x in nodes]).take(take)
            sku = pa.array(
                [
                    f"SavingsPlanNegation used by AccountId : {sample.ACCOUNT} and UsageSku : "
                    f"{sample._token('sku/' + x.instance_type, 16, sample.BASE36).upper()}"
                    for x in nodes
                ]
            ).take(take)
            blocks.append(
                _cur_block(
                    n,
                    **common,
                    line_item_line_item_type="SavingsPlanCoveredUsage",
                    line_item_usage_type=box,
                    line_item_unblended_rate=rates,
                    line_item_unblended_cost=np.round(od, 10),
                    line_item_line_item_description=od_text,
                    savings_plan_savings_plan_effective_cost=np.round(od * sample.SP_EFFECTIVE_RATIO, 10),
                    savings_plan_net_savings_plan_effective_cost=np.round(od * sample.SP_NET_EFFECTIVE_RATIO, 10),
                )
            )
            blocks.append(
                _cur_block(
                    n,
                    **common,
                    line_item_line_item_type="SavingsPlanNegation",
                    line_item_usage_type=box,
                    line_item_unblended_rate=negated,
                    line_item_unblended_cost=np.round(-od, 10),
                    line_item_line_item_description=sku,
                    pricing_public_on_demand_cost=0.0,
                    pricing_term=None,
                )
            )
        else:
            rates = pa.array([sample._rate(x.spec.on_demand_usd_per_hour) for x in nodes]).take(take)
            blocks.append(
                _cur_block(
                    n,
                    **common,
                    line_item_line_item_type="Usage",
                    line_item_usage_type=box,
                    line_item_unblended_rate=rates,
                    line_item_unblended_cost=np.round(od, 10),
                    line_item_line_item_description=od_text,
                )
            )
    return blocks


def _hourly_lines(layout: Layout, day: int) -> list[pa.Table]:
    """Per hour: the EKS control plane, the Savings Plan fee and the bastion outside the cluster."""
    lo = MONTH_START + day * DAY
    hours = np.arange(lo, lo + DAY, HOUR, dtype=np.int64)
    n = len(hours)
    window = dict(
        line_item_usage_start_date=hours, line_item_usage_end_date=hours + HOUR, line_item_usage_amount=np.ones(n)
    )
    commitment = round(
        sum(x.spec.on_demand_usd_per_hour for x in layout.nodes if x.savings_plan) * sample.SP_EFFECTIVE_RATIO * 1.01, 2
    )
    bastion = sample.INSTANCE_TYPES[sample.BASTION_TYPE]
    return [
        _cur_block(
            n,
            **window,
            line_item_line_item_type="Usage",
            line_item_product_code="AmazonEKS",
            line_item_usage_type="USE1-AmazonEKS-Hours:perCluster",
            line_item_operation="CreateOperation",
            line_item_resource_id=sample.CLUSTER_ARN,
            line_item_unblended_rate=sample._rate(sample.EKS_USD_PER_HOUR),
            line_item_unblended_cost=sample.EKS_USD_PER_HOUR,
            line_item_line_item_description="Amazon EKS cluster usage",
            product={"product_name": "Amazon Elastic Kubernetes Service", "servicecode": "AmazonEKS"},
            resource_tags={"user_eks_cluster_name": sample.CLUSTER},
        ),
        _cur_block(
            n,
            **window,
            line_item_line_item_type="SavingsPlanRecurringFee",
            line_item_product_code="ComputeSavingsPlans",
            line_item_usage_type="ComputeSP:1yrNoUpfront",
            line_item_resource_id=sample.SP_ARN,
            line_item_unblended_rate=sample._rate(commitment),
            line_item_unblended_cost=commitment,
            line_item_line_item_description="1 year No Upfront Compute Savings Plan",
            pricing_public_on_demand_cost=0.0,
            pricing_term=None,
            product_region_code=None,
            product={"product_name": "Savings Plans for AWS Compute usage"},
        ),
        _cur_block(
            n,
            **window,
            line_item_line_item_type="Usage",
            line_item_product_code="AmazonEC2",
            line_item_usage_type=f"BoxUsage:{sample.BASTION_TYPE}",
            line_item_operation="RunInstances",
            line_item_resource_id="i-0" + sample._token("instance/bastion", 16, sample.HEX),
            line_item_unblended_rate=sample._rate(bastion.on_demand_usd_per_hour),
            line_item_unblended_cost=bastion.on_demand_usd_per_hour,
            line_item_line_item_description=f"${bastion.on_demand_usd_per_hour:g} per On Demand Linux"
            f" {sample.BASTION_TYPE} Instance Hour",
            product_instance_type=sample.BASTION_TYPE,
            product=sample._ec2_product(bastion),
        ),
    ]


def _emr_lines(layout: Layout, emr: pa.Table) -> list[pa.Table]:
    """EMR on EKS vCPU-hour and GB-hour lines per job run per hour its pods ran (``sample.emr_lines``)."""
    s = layout.spark
    job = emr.column("job").to_numpy()
    vcs = [sample.VIRTUAL_CLUSTERS[j.virtual_cluster] for j in sample.SPARK_JOBS]
    arn = join(
        pa.array([v.arn for v in vcs]).take(pa.array(s.template[job])),
        "/jobruns/",
        pa.array(s.run_id).take(pa.array(job)),
    )
    hours = emr.column("hour").to_numpy()
    product = {"product_name": "Amazon EMR", "servicecode": "ElasticMapReduce"}
    blocks = []
    for usage_type, amount, rate, text in (
        (
            "USE1-EMR-EKS-EC2-vCPUHours",
            emr.column("cpu_core_seconds").to_numpy() / HOUR,
            sample.EMR_VCPU_USD_PER_HOUR,
            "per vCPU-hour",
        ),
        (
            "USE1-EMR-EKS-EC2-GBHours",
            emr.column("memory_byte_seconds").to_numpy() / GIB / HOUR,
            sample.EMR_GB_USD_PER_HOUR,
            "per GB-hour",
        ),
    ):
        amount = np.round(amount, 10)
        blocks.append(
            _cur_block(
                len(job),
                line_item_line_item_type="Usage",
                line_item_usage_start_date=hours,
                line_item_usage_end_date=hours + HOUR,
                line_item_product_code="ElasticMapReduce",
                line_item_usage_type=usage_type,
                line_item_operation="StartJobRun",
                line_item_resource_id=arn,
                line_item_usage_amount=amount,
                line_item_unblended_rate=sample._rate(rate),
                line_item_unblended_cost=np.round(amount * rate, 10),
                line_item_line_item_description=f"${rate:g} {text} for Amazon EMR on EKS (EC2)",
                product=product,
            )
        )
    return blocks


def _daily_lines(day: int) -> list[pa.Table]:
    """The ml team's tagged gp3 volume and the untagged S3 bucket (``sample.daily_lines``)."""
    start = np.array([MONTH_START + day * DAY])
    window = dict(line_item_usage_start_date=start, line_item_usage_end_date=start + DAY)
    amount = sample._r(sample.EBS_SIZE_GB / MONTH_DAYS)
    s3_amount = sample._r(sample.S3_GB / MONTH_DAYS)
    return [
        _cur_block(
            1,
            **window,
            line_item_line_item_type="Usage",
            line_item_product_code="AmazonEC2",
            line_item_usage_type="EBS:VolumeUsage.gp3",
            line_item_operation="CreateVolume-Gp3",
            line_item_resource_id=sample.EBS_VOLUME_ID,
            line_item_usage_amount=amount,
            line_item_unblended_rate=sample._rate(sample.EBS_USD_PER_GB_MONTH),
            line_item_unblended_cost=sample._r(amount * sample.EBS_USD_PER_GB_MONTH),
            line_item_line_item_description=f"${sample.EBS_USD_PER_GB_MONTH:g} per GB-month of General Purpose"
            " (gp3) provisioned storage",
            product={
                "product_name": "Amazon Elastic Compute Cloud",
                "servicecode": "AmazonEC2",
                "volume_api_name": "gp3",
            },
            resource_tags={"user_eks_cluster_name": sample.CLUSTER, "user_tenant": "ml"},
        ),
        _cur_block(
            1,
            **window,
            line_item_line_item_type="Usage",
            line_item_product_code="AmazonS3",
            line_item_usage_type="TimedStorage-ByteHrs",
            line_item_operation="StandardStorage",
            line_item_resource_id=sample.S3_BUCKET,
            line_item_usage_amount=s3_amount,
            line_item_unblended_rate=sample._rate(sample.S3_USD_PER_GB_MONTH),
            line_item_unblended_cost=sample._r(s3_amount * sample.S3_USD_PER_GB_MONTH),
            line_item_line_item_description=f"${sample.S3_USD_PER_GB_MONTH:g} per GB - first 50 TB / month"
            " of storage used",
            product={"product_name": "Amazon Simple Storage Service", "servicecode": "AmazonS3"},
        ),
    ]


def _split_rows(layout: Layout, day: int) -> list[pa.Table]:
    """A few of AWS's own EKSPod-EC2 rows (``sample.split_rows``), on the third day (or the first)."""
    if day != min(2, layout.size.days - 1):
        return []
    hour = MONTH_START + day * DAY + SPLIT_ROWS_HOUR * HOUR
    pods = [p for p in layout.pods if p.namespace.startswith("payments-api")][:3]
    blocks = []
    for pod in pods:
        arn = f"arn:aws:eks:{sample.REGION}:{sample.ACCOUNT}:pod/{sample.CLUSTER}/{pod.namespace}/{pod.name}/{pod.uid}"
        for usage_type, amount, cost in (
            ("USE1-EKS-EC2-vCPU-Hours", 1.0, 0.041472),
            ("USE1-EKS-EC2-GB-Hours", 2.0, 0.010368),
        ):
            blocks.append(
                _cur_block(
                    1,
                    line_item_line_item_type="Usage",
                    line_item_usage_start_date=np.array([hour]),
                    line_item_usage_end_date=np.array([hour + HOUR]),
                    line_item_product_code="AmazonEC2",
                    line_item_usage_type=usage_type,
                    line_item_operation="EKSPod-EC2",
                    line_item_resource_id=arn,
                    line_item_usage_amount=amount,
                    line_item_unblended_cost=cost,
                    line_item_line_item_description="Split cost of an EC2 instance allocated to an EKS pod",
                    product_instance_type=pod.node.instance_type,
                    product=sample._ec2_product(pod.node.spec),
                    resource_tags={"user_eks_cluster_name": sample.CLUSTER},
                )
            )
    return blocks


CUR_ORDER = [
    (c, "ascending")
    for c in (
        "line_item_usage_start_date",
        "line_item_product_code",
        "line_item_resource_id",
        "line_item_usage_type",
        "line_item_line_item_type",
    )
]


def cur_day_table(layout: Layout, day: int, emr: pa.Table) -> pa.Table:
    """One day's CUR lines, in the sample's line order."""
    blocks = (
        _node_lines(layout, day)
        + _hourly_lines(layout, day)
        + _emr_lines(layout, emr)
        + _daily_lines(day)
        + _split_rows(layout, day)
    )
    return pa.concat_tables(blocks).sort_by(CUR_ORDER)


def _tax_line(lines: pa.Table) -> pa.Table:
    tax = sample._r(round(sample.TAX_RATE * pc.sum(lines.column("line_item_unblended_cost")).as_py(), 2))
    return _cur_block(
        1,
        line_item_line_item_type="Tax",
        line_item_usage_start_date=sample.MONTH_START,
        line_item_usage_end_date=sample.MONTH_END,
        line_item_product_code="AmazonEC2",
        line_item_unblended_cost=tax,
        line_item_line_item_description="Tax for product code AmazonEC2",
        pricing_public_on_demand_cost=0.0,
        pricing_term=None,
        product_region_code=None,
    )


def _execution_id(days: int) -> str:
    delivered = datetime.fromtimestamp(MONTH_START + days * DAY + 6 * HOUR, UTC)
    return f"{delivered:%Y%m%dT%H%M%SZ}-d{days:02d}"


def export_dir(out: Path) -> Path:
    return out / "cur_export" / sample.EXPORT_NAME


def cur_file(out: Path, execution_id: str) -> Path:
    return export_dir(out) / "data" / f"BILLING_PERIOD={sample.BILLING_PERIOD}" / execution_id / sample.CUR_DATA_FILE


def deliver_cur(out: Path, lines: pa.Table, days: int) -> Path:
    """Write a CUR 2.0 export version of the period holding ``lines`` (landed columns, plus tax), point the
    manifest at it and land it, as the CUR collector would; returns the export's data file."""
    execution_id = _execution_id(days)
    data = cur_file(out, execution_id)
    data.parent.mkdir(parents=True, exist_ok=True)
    table = streams.CUR_LINE_ITEMS.conform(pa.concat_tables([lines, _tax_line(lines)]), ORIGIN)
    # AWS leaves bill_invoice_id blank until the month's report is final; month to date, it is not
    column = table.schema.get_field_index("bill_invoice_id")
    table = table.set_column(column, table.schema.field(column), pa.repeat("", table.num_rows).cast(pa.string()))
    pq.write_table(table, data, compression="snappy")
    metadata = export_dir(out) / "metadata" / f"BILLING_PERIOD={sample.BILLING_PERIOD}"
    metadata.mkdir(parents=True, exist_ok=True)
    manifest = metadata / f"{sample.EXPORT_NAME}-Manifest.json"
    temporary = manifest.with_name(f".{manifest.name}.tmp")  # replaced, never rewritten: a copy may share its inode
    temporary.write_text(sample._manifest(execution_id))
    temporary.replace(manifest)
    land_billing_period(out, export_dir(out), sample.BILLING_PERIOD)
    return data


def cost_explorer_table(cur_file: Path, collected_at: int) -> pa.Table:
    """Cost Explorer's daily view of a CUR file, by the sample's query."""
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        return con.sql(sample.COST_EXPLORER_SQL, params=[str(cur_file), collected_at]).to_arrow_table()
    finally:
        con.close()
