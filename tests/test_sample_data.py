"""The committed sample (October 2026 and its history months, August and September) is exactly what its deterministic
generator writes; each month's in-scope cost read from the raw files without the models is what its bill distributes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from chargeback.core import config as config_module
from chargeback.raw.landing import partitions
from chargeback.raw.tables import RAW_TABLES
from chargeback.reports.bill import monthly_bill
from sample_data import generate as sample

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
PERIODS = ("2026-08", "2026-09", "2026-10")
CENT = Decimal("0.01")


def in_scope(period: str) -> dict[str, Decimal]:
    """``IN_SCOPE_V2`` (docs/method.md's rules in plain SQL over the raw files, no model) on ``period``'s landed CUR
    and its days' partitions."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for view, table, key in (
        ("node_hours", "prometheus/node_hours", "day"),
        ("cur_v2", "cur/line_items", "billing_period"),
    ):
        files = f"{SAMPLE}/raw/{table}/{key}={period}*/*.parquet"
        con.execute(f"create view {view} as select * from read_parquet('{files}', hive_partitioning = false)")
    sample.scope_views(con, SAMPLE / "raw", period)
    return {part: Decimal(str(cost)) for part, cost in con.execute(sample.IN_SCOPE_V2, [sample.CLUSTER_ARN]).fetchall()}


def digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in ("raw", "cur_export")
        for path in sorted((root / folder).rglob("*"))
        if path.is_file()
    }


def test_generator_reproduces_the_committed_files_byte_for_byte(tmp_path):
    subprocess.run([sys.executable, str(SAMPLE / "generate.py"), str(tmp_path)], check=True, capture_output=True)
    assert digests(tmp_path) == digests(SAMPLE)


def test_every_raw_table_is_present_and_matches_its_schema():
    for table in RAW_TABLES:
        files = partitions(SAMPLE, table)
        assert files, f"sample month has no {table.key}"
        for file in files:
            assert pq.read_schema(file).remove_metadata() == table.schema, f"{file} does not match {table.key}"


def test_the_scope_read_from_the_raw_files_is_the_bills_source_total():
    """The generator's own reading of October's scope on its landed CUR: each scope's amortized cost, and their sum is
    the source total the README's sample bill prints. Storage (PV and node volumes) and network (data transfer and
    load balancers) are about a sixth of it: (166.000768 + 100.142585 + 119.471073 + 89.581440) / 2,928.070646 =
    16.2%."""
    parts = in_scope("2026-10")
    assert parts == {
        "ec2 nodes": Decimal("2280.748174"),
        "pv volumes": Decimal("166.000768"),
        "node volumes": Decimal("100.142585"),
        "data transfer": Decimal("119.471073"),
        "load balancers": Decimal("89.581440"),
        "eks": Decimal("74.400000"),
        "emr": Decimal("7.169106"),
        "tagged": Decimal("40.000000"),
        "overhead": Decimal("50.557500"),  # the NAT gateway
    }
    total = sum(parts.values()).quantize(Decimal("0.01"))
    assert total == Decimal("2928.07")
    readme = (SAMPLE.parent / "README.md").read_text()
    assert f"source total (in-scope CUR cost): {total:,}" in readme


def test_only_october_has_a_first_version_and_the_history_months_one_final_version():
    export = SAMPLE / "cur_export" / sample.EXPORT_NAME
    deliveries = {p.name: sorted(d.name for d in p.iterdir()) for p in sorted((export / "data").iterdir())}
    assert deliveries == {
        "BILLING_PERIOD=2026-08": ["20260903T054500Z-v1"],
        "BILLING_PERIOD=2026-09": ["20261003T054500Z-v1"],
        "BILLING_PERIOD=2026-10": ["20261028T061500Z-v1", "20261103T054500Z-v2"],
    }
    for period, invoice in (("2026-08", "2625183904"), ("2026-09", "2658311742")):
        landed = pq.read_table(SAMPLE / f"raw/cur/line_items/billing_period={period}/data.parquet")
        assert set(landed.column("bill_invoice_id").to_pylist()) == {invoice}  # final


def test_history_months_by_hand():
    """The figures of August (31 days, 744 hours) and September (30 days, 720 hours) one can check by hand: the EKS
    control plane is $0.10 an hour; the ml team's tagged 500 GB gp3 volume ($0.08 per GB-month) was created on 08-04
    10:12:45, so August bills (31 days - 3 days 10:12:45) / 31 days of $40.00 = $35.579973 and September all $40.00;
    no AWS split rows before 10-30; one job run per schedule slot (daily 02:00 and 03:00, 06:00/12:00/18:00, Sundays
    04:00: five Sundays in August, four in September)."""
    august, september = in_scope("2026-08"), in_scope("2026-09")
    assert (august["eks"], september["eks"]) == (Decimal("74.400000"), Decimal("72.000000"))
    assert august["tagged"] == Decimal(
        str(round(40 * (31 * 86400 - (3 * 86400 + 10 * 3600 + 12 * 60 + 45)) / (31 * 86400), 6))
    )
    assert september["tagged"] == Decimal("40.000000")
    con = duckdb.connect()
    for period, runs in (("2026-08", 31 * 5 + 5), ("2026-09", 30 * 5 + 4)):
        files = f"{SAMPLE}/raw/emr/job_runs/day={period}-*/*.parquet"
        assert con.execute(f"select count(*) from read_parquet('{files}')").fetchone()[0] == runs
        cur = f"{SAMPLE}/raw/cur/line_items/billing_period={period}/data.parquet"
        assert con.execute(f"select count(*) from '{cur}' where line_item_operation = 'EKSPod-EC2'").fetchone()[0] == 0


def test_each_month_s_bill_distributes_its_in_scope_cost(built_demo):
    """Each month's bill (as `chargeback demo` builds the three) totals the in-scope cost read without the models, to
    the cent, and its lines add up to it; October's is the README's."""
    config = config_module.load(built_demo / config_module.CONFIG_FILE)
    totals = {}
    for period in PERIODS:
        bill = monthly_bill(config, period)
        scope = sum(in_scope(period).values())  # each part rounded to 6 places
        assert abs(bill.source_total - scope) <= Decimal("0.00001"), period
        assert bill.total == bill.source_total.quantize(Decimal("0.01"), ROUND_HALF_UP) == scope.quantize(CENT), period
        assert sum(line.total for line in bill.lines) == bill.total, period
        totals[period] = bill.total
    assert totals == {"2026-08": Decimal("2573.81"), "2026-09": Decimal("2612.81"), "2026-10": Decimal("2928.07")}
