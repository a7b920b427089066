"""The generated month's Cost and Usage Report (CUR 2.0), delivered and landed as the CUR collector would,
and Cost Explorer's daily view of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks import network
from benchmarks.basics import DAY, GIB, HOUR, MONTH_DAYS, MONTH_START, Size, join, maps
from benchmarks.layout import OTHER_GROUPS, SPARK_GROUP, Layout
from benchmarks.lines import cur_block
from benchmarks.storage import Storage
from benchmarks.tables import day_rng
from chargeback.raw.collect import land_billing_period
from collectors import streams
from sample_data import generate as sample

ORIGIN = "benchmarks/generate.py"
SPLIT_ROWS_HOUR = 10  # EKSPod-EC2 rows of three payments-api pods at 10:00 on the third day (as the sample)

# --- lines -------------------------------------------------------------------------------------------------


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
    all_tags = network.node_tags(layout)
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
        tag_sets = [all_tags[i] for i in members]
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
                cur_block(
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
                cur_block(
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
                cur_block(
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
                cur_block(
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
    """Per hour: the EKS control plane, the Savings Plan fee and the bastion outside the cluster (the account's
    fee and bastion with a fleet's first cluster only; its Savings Plan covers that cluster's general-sp nodes)."""
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
    blocks = [
        cur_block(
            n,
            **window,
            line_item_line_item_type="Usage",
            line_item_product_code="AmazonEKS",
            line_item_usage_type="USE1-AmazonEKS-Hours:perCluster",
            line_item_operation="CreateOperation",
            line_item_resource_id=layout.cluster_arn,
            line_item_unblended_rate=sample._rate(sample.EKS_USD_PER_HOUR),
            line_item_unblended_cost=sample.EKS_USD_PER_HOUR,
            line_item_line_item_description="Amazon EKS cluster usage",
            product={"product_name": "Amazon Elastic Kubernetes Service", "servicecode": "AmazonEKS"},
            resource_tags={"user_eks_cluster_name": layout.cluster},
        ),
        cur_block(
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
        cur_block(
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
    return blocks[:1] if layout.size.member else blocks


def _emr_lines(layout: Layout, emr: pa.Table) -> list[pa.Table]:
    """EMR on EKS vCPU-hour and GB-hour lines per job run per hour its pods ran (``sample.emr_lines``)."""
    s = layout.spark
    job = emr.column("job").to_numpy()
    vcs = layout.virtual_clusters
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
            cur_block(
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
        cur_block(
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
        cur_block(
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
        arn = f"arn:aws:eks:{sample.REGION}:{sample.ACCOUNT}:pod/{layout.cluster}/{pod.namespace}/{pod.name}/{pod.uid}"
        for usage_type, amount, cost in (
            ("USE1-EKS-EC2-vCPU-Hours", 1.0, 0.041472),
            ("USE1-EKS-EC2-GB-Hours", 2.0, 0.010368),
        ):
            blocks.append(
                cur_block(
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
                    resource_tags={"user_eks_cluster_name": layout.cluster},
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


def cur_day_table(layout: Layout, day: int, emr: pa.Table, crossed: np.ndarray, storage: Storage) -> pa.Table:
    """One day's CUR lines, in the sample's line order (``crossed``: the bytes ``network.transfer_lines`` bills)."""
    blocks = (
        _node_lines(layout, day)
        + _hourly_lines(layout, day)
        + _emr_lines(layout, emr)
        + (_daily_lines(day) if not layout.size.member else [])  # the account's, with a fleet's first cluster
        + _split_rows(layout, day)
        + storage.cur_lines(day)
        + [network.transfer_lines(layout, day, crossed)]
        + network.load_balancer_lines(layout, day)
    )
    return pa.concat_tables(blocks).sort_by(CUR_ORDER)


def _tax_line(total: float) -> pa.Table:
    tax = sample._r(round(sample.TAX_RATE * total, 2))
    return cur_block(
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


class CurVersion:
    """A CUR 2.0 export version of the period, written as its lines come (a day, a cluster's day at a time, so
    they are never all in memory), then delivered: the tax line, the manifest pointing at it, and its landing, as
    the CUR collector would land it."""

    def __init__(self, out: Path, days: int):
        self.out = Path(out)
        self.execution_id = _execution_id(days)
        self.path = cur_file(self.out, self.execution_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._temporary = self.path.with_name(f".{self.path.name}.tmp")
        self._writer = pq.ParquetWriter(self._temporary, streams.CUR_LINE_ITEMS.schema, compression="snappy")
        self._total = 0.0

    def add(self, lines: pa.Table) -> None:
        """Append lines (landed columns); AWS leaves bill_invoice_id blank until the month's report is final."""
        table = streams.CUR_LINE_ITEMS.conform(lines, ORIGIN)
        column = table.schema.get_field_index("bill_invoice_id")
        table = table.set_column(column, table.schema.field(column), pa.repeat("", table.num_rows).cast(pa.string()))
        self._writer.write_table(table)
        self._total += pc.sum(table.column("line_item_unblended_cost")).as_py() or 0.0

    def deliver(self) -> Path:
        """Add the tax line, publish the file and the manifest, land the period; returns the export's data file."""
        self.add(_tax_line(self._total))
        self._writer.close()
        self._temporary.replace(self.path)
        metadata = export_dir(self.out) / "metadata" / f"BILLING_PERIOD={sample.BILLING_PERIOD}"
        metadata.mkdir(parents=True, exist_ok=True)
        manifest = metadata / f"{sample.EXPORT_NAME}-Manifest.json"
        temporary = manifest.with_name(f".{manifest.name}.tmp")  # replaced, never rewritten: a copy may share its inode
        temporary.write_text(sample._manifest(self.execution_id))
        temporary.replace(manifest)
        land_billing_period(self.out, export_dir(self.out), sample.BILLING_PERIOD)
        return self.path


def current_cur_file(out: Path) -> Path:
    """The data file of the period's version the manifest points at."""
    metadata = export_dir(out) / "metadata" / f"BILLING_PERIOD={sample.BILLING_PERIOD}"
    manifest = metadata / f"{sample.EXPORT_NAME}-Manifest.json"
    return cur_file(out, json.loads(manifest.read_text())["executionId"])


def cost_explorer_table(cur_file: Path, collected_at: int) -> pa.Table:
    """Cost Explorer's daily view of a CUR file, by the sample's query."""
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        # October's last two days still estimated, as in the sample
        return con.sql(sample.COST_EXPLORER_SQL, params=[str(cur_file), collected_at, "2026-10-30"]).to_arrow_table()
    finally:
        con.close()
