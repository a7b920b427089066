"""Billing Conductor custom line items: the CSV, the names AWS accepts, and --apply checked request by request.

moto has no Billing Conductor, so ``--apply`` runs against a real botocore client whose HTTP layer is
replaced by botocore's Stubber: every request must match the expected parameters exactly.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from chargeback.build.engines import build
from chargeback.core import config as config_module
from chargeback.core.errors import ChargebackError
from chargeback.exports import run_export
from chargeback.exports.billing_conductor import accepted_periods
from tests.export_support import ARN, ML_ARN, PERIOD, sample  # noqa: F401 - sample is a fixture
from tests.factory import Scenario

# CreateCustomLineItem's constraints, from the API reference (docs.aws.amazon.com/billingconductor).
NAME = re.compile(r"^[a-zA-Z0-9_\+=\.\-@]+$")
TOKEN = re.compile(r"^[a-zA-Z0-9-]+$")
NOVEMBER = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)  # 2026-10 is the previous billing period
ITEM_ARN = "arn:aws:billingconductor::111122223333:customlineitem/abcdefghij"


def read_items(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def bc_config(sample, **tenants):  # noqa: F811
    return sample.with_export(billing_conductor={"billing_group_arn": ARN, "tenants": tenants})


def stubbed_client():
    client = boto3.client(
        "billingconductor", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return client, Stubber(client)


def test_one_item_per_tenant_with_the_bill_lines_amounts(sample, tmp_path):  # noqa: F811
    config = bc_config(sample, ml={"billing_group_arn": ML_ARN, "account_id": "444455556666"})
    result = run_export(config, PERIOD, "billing-conductor", tmp_path)
    items = read_items(Path(result.paths[0]))
    bill = {line["tenant"]: line for line in sample.bill_json()["lines"]}
    tenants = {t for t in bill if not t.startswith("__")}
    assert len(items) == len(tenants)
    by_name = {item["Name"]: item for item in items}
    for tenant in tenants:
        item = by_name[f"chargeback-{PERIOD}-{tenant}"]
        assert item["ChargeDetails.Flat.ChargeValue"] == bill[tenant]["total"]  # to the cent, as billed
        assert item["ChargeDetails.Type"] == "FEE"
        assert item["BillingPeriodRange.InclusiveStartBillingPeriod"] == PERIOD
        assert item["BillingPeriodRange.ExclusiveEndBillingPeriod"] == PERIOD
        assert tenant in item["Description"] and 1 <= len(item["Description"]) <= 255
        assert TOKEN.match(item["ClientToken"]) and len(item["ClientToken"]) <= 64
    assert by_name[f"chargeback-{PERIOD}-ml"]["BillingGroupArn"] == ML_ARN
    assert by_name[f"chargeback-{PERIOD}-ml"]["AccountId"] == "444455556666"
    assert by_name[f"chargeback-{PERIOD}-risk"]["BillingGroupArn"] == ARN
    assert by_name[f"chargeback-{PERIOD}-risk"]["AccountId"] == ""
    # The sentinel lines are not mapped: left out, and the manifest says so with their amounts.
    left = {entry["tenant"]: entry for entry in result.manifest["left_out"]}
    assert set(left) == {t for t in bill if t.startswith("__")}
    assert all(left[t]["amount"] == bill[t]["total"] for t in left)
    total = sum(Decimal(i["ChargeDetails.Flat.ChargeValue"]) for i in items)
    assert Decimal(result.manifest["totals"]["total"]) == total
    assert total + sum(Decimal(e["amount"]) for e in left.values()) == Decimal(sample.bill_json()["total"])


def test_sentinel_lines_are_exported_only_where_mapped(sample, tmp_path):  # noqa: F811
    config = bc_config(sample, __idle__={"billing_group_arn": ML_ARN})
    result = run_export(config, PERIOD, "billing-conductor", tmp_path)
    names = {item["Name"] for item in read_items(Path(result.paths[0]))}
    assert f"chargeback-{PERIOD}-__idle__" in names
    assert f"chargeback-{PERIOD}-__unallocated__" not in names
    assert [e["tenant"] for e in result.manifest["left_out"]] == ["__unallocated__"]


def test_tokens_and_file_are_deterministic(sample, tmp_path):  # noqa: F811
    config = bc_config(sample)
    first = Path(run_export(config, PERIOD, "billing-conductor", tmp_path / "a").paths[0]).read_bytes()
    second = Path(run_export(config, PERIOD, "billing-conductor", tmp_path / "b").paths[0]).read_bytes()
    assert first == second
    tokens = [
        item["ClientToken"]
        for item in read_items(tmp_path / "a" / "billing-conductor" / PERIOD / "v1" / f"custom-line-items-{PERIOD}.csv")
    ]
    assert len(set(tokens)) == len(tokens)


def test_names_are_valid_and_distinct_for_spaces_unicode_and_long_tenant_names(tmp_path):
    tenants = ["Équipe Données", "ml team", "机器学习", "equipe-donnees", "x" * 200, "a/b:c"]
    scenario = Scenario()
    scenario.node("n1", "m5.xlarge", range(2), 1.0, vcpu=4, memory_gib=16)
    for index, _tenant in enumerate(tenants):
        scenario.pod(
            f"ns{index}",
            f"p{index}",
            "n1",
            range(2),
            cpu_request=0.5,
            cpu_usage=0.5,
            memory_request_gib=2,
            memory_usage_gib=2,
        )
    data_dir = tmp_path / "data"
    scenario.write(data_dir)
    rules = [{"pattern": f"ns{i}", "tenant": t} for i, t in enumerate(tenants)]
    config = config_module.parse(
        {
            "data_dir": str(data_dir),
            "tenancy": {"namespaces": rules},
            "export": {"billing_conductor": {"billing_group_arn": ARN}},
        }
    )
    build(config)
    result = run_export(config, PERIOD, "billing-conductor", tmp_path / "out")
    items = read_items(Path(result.paths[0]))
    names = [item["Name"] for item in items]
    assert len(items) == len(tenants)
    assert all(NAME.match(n) and 1 <= len(n) <= 128 for n in names), names
    assert len(set(names)) == len(names), "lossy spellings of different tenants stay distinct"
    assert f"chargeback-{PERIOD}-ml-team-" in " ".join(names)
    by_name = {item["Name"]: item for item in items}
    by_tenant = {entry["tenant"]: by_name[entry["name"]] for entry in result.manifest["items"]}
    assert set(by_tenant) == set(tenants)
    method = result.manifest["source"]["method_fingerprint"]
    assert method and len(method) == 12
    for tenant, item in by_tenant.items():
        assert len(item["Description"]) <= 255
        assert item["Description"].startswith(f"Chargeback {PERIOD} for {tenant[:200]}"[:254])
        assert item["Description"].endswith(f"; method {method}"), "a long name never cuts the method off"
    # Amounts: the node's $2 (two hours) splits over six equal pods, each taking 0.5 vCPU and 2 GiB of
    # 4 vCPU and 16 GiB, with idle shared among them by the same shares: $0.3333 each; the two cents left
    # go to the first two lines by name (largest remainder, ties by name), as on the bill.
    expected = {t: "0.34" if t in sorted(tenants)[:2] else "0.33" for t in tenants}
    assert {t: by_tenant[t]["ChargeDetails.Flat.ChargeValue"] for t in tenants} == expected


def test_apply_twice_creates_once_then_changes_nothing(sample, tmp_path):  # noqa: F811
    config = bc_config(sample)
    exported = run_export(config, PERIOD, "billing-conductor", tmp_path)
    items = read_items(Path(exported.paths[0]))
    client, stub = stubbed_client()
    listing = {"BillingPeriod": PERIOD, "Filters": {"BillingGroups": [ARN]}}
    stub.add_response("list_custom_line_items", {"CustomLineItems": []}, listing)
    for item in items:
        stub.add_response(
            "create_custom_line_item",
            {"Arn": ITEM_ARN},
            {
                "ClientToken": item["ClientToken"],
                "Name": item["Name"],
                "Description": item["Description"],
                "BillingGroupArn": ARN,
                "BillingPeriodRange": {"InclusiveStartBillingPeriod": PERIOD, "ExclusiveEndBillingPeriod": PERIOD},
                "ChargeDetails": {
                    "Flat": {"ChargeValue": float(item["ChargeDetails.Flat.ChargeValue"])},
                    "Type": "FEE",
                },
            },
        )
    listed = [
        {
            "Arn": f"arn:aws:billingconductor::111122223333:customlineitem/abcdefghi{n}",
            "Name": item["Name"],
            "Description": item["Description"],
            "BillingGroupArn": ARN,
            "CurrencyCode": "USD",
            "ChargeDetails": {"Flat": {"ChargeValue": float(item["ChargeDetails.Flat.ChargeValue"])}, "Type": "FEE"},
        }
        for n, item in enumerate(items)
    ]
    # The second run pages through the listing (two pages) and finds every item as it should be.
    stub.add_response("list_custom_line_items", {"CustomLineItems": listed[:2], "NextToken": "page-2"}, listing)
    stub.add_response("list_custom_line_items", {"CustomLineItems": listed[2:]}, {**listing, "NextToken": "page-2"})
    with stub:
        first = run_export(config, PERIOD, "billing-conductor", tmp_path, apply=True, now=NOVEMBER, client=client)
        second = run_export(config, PERIOD, "billing-conductor", tmp_path, apply=True, now=NOVEMBER, client=client)
        stub.assert_no_pending_responses()
    assert len(first.applied.created) == len(items) and not first.applied.updated
    assert second.applied.unchanged == [i["Name"] for i in items]
    assert not (second.applied.created or second.applied.updated or second.applied.replaced)
    assert not first.changed and not second.changed, "the files were already exported as v1"


def test_apply_updates_a_changed_amount_and_replaces_a_fee_turned_credit(sample, tmp_path):  # noqa: F811
    config = bc_config(sample)
    items = read_items(Path(run_export(config, PERIOD, "billing-conductor", tmp_path).paths[0]))
    first, second = items[0], items[1]
    client, stub = stubbed_client()
    period_range = {"InclusiveStartBillingPeriod": PERIOD, "ExclusiveEndBillingPeriod": PERIOD}
    listed = [
        {"Arn": ITEM_ARN, "Name": first["Name"], "Description": first["Description"], "BillingGroupArn": ARN,
         "ChargeDetails": {"Flat": {"ChargeValue": 1.0}, "Type": "FEE"}},
        {"Arn": "arn:aws:billingconductor::111122223333:customlineitem/bcdefghijk", "Name": second["Name"],
         "Description": second["Description"], "BillingGroupArn": ARN,
         "ChargeDetails": {"Flat": {"ChargeValue": 5.0}, "Type": "CREDIT"}},
    ] + [
        {"Arn": ITEM_ARN, "Name": i["Name"], "Description": i["Description"], "BillingGroupArn": ARN,
         "ChargeDetails": {"Flat": {"ChargeValue": float(i["ChargeDetails.Flat.ChargeValue"])}, "Type": "FEE"}}
        for i in items[2:]
    ] + [
        {"Arn": ITEM_ARN, "Name": f"chargeback-{PERIOD}-gone", "Description": "a tenant no longer billed",
         "BillingGroupArn": ARN, "ChargeDetails": {"Flat": {"ChargeValue": 3.0}, "Type": "FEE"}},
    ]  # fmt: skip
    stub.add_response(
        "list_custom_line_items",
        {"CustomLineItems": listed},
        {"BillingPeriod": PERIOD, "Filters": {"BillingGroups": [ARN]}},
    )
    stub.add_response(
        "update_custom_line_item",
        {"Arn": ITEM_ARN},
        {
            "Arn": ITEM_ARN,
            "Description": first["Description"],
            "BillingPeriodRange": period_range,
            "ChargeDetails": {"Flat": {"ChargeValue": float(first["ChargeDetails.Flat.ChargeValue"])}},
        },
    )
    stub.add_response(
        "delete_custom_line_item",
        {"Arn": listed[1]["Arn"]},
        {"Arn": listed[1]["Arn"], "BillingPeriodRange": period_range},
    )
    stub.add_response(
        "create_custom_line_item",
        {"Arn": listed[1]["Arn"]},
        {
            "ClientToken": second["ClientToken"],
            "Name": second["Name"],
            "Description": second["Description"],
            "BillingGroupArn": ARN,
            "BillingPeriodRange": period_range,
            "ChargeDetails": {"Flat": {"ChargeValue": float(second["ChargeDetails.Flat.ChargeValue"])}, "Type": "FEE"},
        },
    )
    with stub:
        result = run_export(config, PERIOD, "billing-conductor", tmp_path, apply=True, now=NOVEMBER, client=client)
        stub.assert_no_pending_responses()
    assert result.applied.updated == [first["Name"]]
    assert result.applied.replaced == [second["Name"]]
    assert result.applied.stale == [f"chargeback-{PERIOD}-gone"]


@pytest.mark.parametrize(
    ("now", "accepted"),
    [
        (datetime(2026, 10, 31, 23, 59, tzinfo=UTC), True),
        (datetime(2026, 11, 30, 23, 59, tzinfo=UTC), True),
        (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), False),
        (datetime(2026, 9, 30, 12, 0, tzinfo=UTC), False),
    ],
)
def test_apply_refuses_periods_the_api_does_not_take(sample, tmp_path, now, accepted):  # noqa: F811
    config = bc_config(sample)
    client, stub = stubbed_client()
    if accepted:
        assert PERIOD in accepted_periods(now)
        return
    with stub, pytest.raises(ChargebackError, match=r"only takes custom line items for the current billing period"):
        run_export(config, PERIOD, "billing-conductor", tmp_path, apply=True, now=now, client=client)
    assert not (tmp_path / "billing-conductor").exists(), "nothing is written for a refused period"


def test_accepted_periods_across_the_new_year():
    assert accepted_periods(datetime(2027, 1, 3, tzinfo=UTC)) == ("2027-01", "2026-12")


def test_without_billing_groups_the_export_says_what_to_configure(sample, tmp_path):  # noqa: F811
    with pytest.raises(ChargebackError, match=r"needs \[export.billing_conductor\] billing_group_arn"):
        run_export(sample.config, PERIOD, "billing-conductor", tmp_path)


def test_config_rejects_a_billing_group_arn_aws_would_refuse():
    with pytest.raises(config_module.ConfigError, match=r"export\.billing_conductor\.billing_group_arn"):
        config_module.parse({"export": {"billing_conductor": {"billing_group_arn": "arn:aws:iam::1:role/x"}}})
    with pytest.raises(config_module.ConfigError, match=r"export\.billing_conductor\.tenants\.ml\.account_id"):
        config_module.parse({"export": {"billing_conductor": {"tenants": {"ml": {"account_id": "12"}}}}})


def test_manifest_lists_items_by_tenant(sample, tmp_path):  # noqa: F811
    result = run_export(bc_config(sample), PERIOD, "billing-conductor", tmp_path)
    manifest = json.loads(Path(result.paths[-1]).read_text())
    assert manifest == result.manifest
    assert {i["tenant"] for i in manifest["items"]} == {"payments", "data-eng", "ml", "risk"}
    assert manifest["source"]["cur_version"] == "20261103T054500Z-v2"
