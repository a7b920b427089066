"""The FOCUS 1.2 columns of ``chargeback export --to focus``: their order and types, which service a row is, and
the two files the rows are written as (docs/focus.md).

- **Parquet** (``focus-<period>.parquet``) carries FOCUS's column types: ``String`` as UTF-8 strings (so an
  account id such as ``BillingAccountId`` stays a string), ``Decimal`` as ``DECIMAL(38, 2)`` for money (whole
  cents, the bill's) and ``DECIMAL(38, 6)`` for ``PricingQuantity`` (FOCUS's "Extended" decimal: 128 bits),
  ``Date/Time`` as UTC timestamps (microseconds, adjusted to UTC). Columns FOCUS never allows to be null are
  declared required.
- **CSV** (``focus-<period>.csv``), for spreadsheets: the same rows and columns as text, times as
  ``YYYY-MM-DDTHH:mm:ssZ``, money with two decimals, null as an empty field. A CSV carries no types: a
  reader guesses them (a 12-digit account id becomes a number), so tools that check FOCUS read the Parquet.

FOCUS columns come first in alphabetical order, then the ``x_`` columns (FOCUS's column handling).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

FOCUS_VERSION = "1.2"

MONEY = pa.decimal128(38, 2)
QUANTITY = pa.decimal128(38, 6)
TIMESTAMP = pa.timestamp("us", tz="UTC")
_STRING = pa.string()

# (column, Parquet type, nullable): every FOCUS 1.2 column of the export, then the custom ones.
_FIELDS: tuple[tuple[str, pa.DataType, bool], ...] = (
    ("BilledCost", MONEY, False),
    ("BillingAccountId", _STRING, False),
    ("BillingAccountName", _STRING, False),
    ("BillingCurrency", _STRING, False),
    ("BillingPeriodEnd", TIMESTAMP, False),
    ("BillingPeriodStart", TIMESTAMP, False),
    ("ChargeCategory", _STRING, False),
    ("ChargeClass", _STRING, True),  # "Correction" or null
    ("ChargeDescription", _STRING, False),
    ("ChargeFrequency", _STRING, False),
    ("ChargePeriodEnd", TIMESTAMP, False),
    ("ChargePeriodStart", TIMESTAMP, False),
    ("ContractedCost", MONEY, False),
    ("EffectiveCost", MONEY, False),
    ("InvoiceId", _STRING, True),  # null until the month is invoiced
    ("InvoiceIssuerName", _STRING, False),
    ("ListCost", MONEY, False),
    ("PricingCategory", _STRING, False),
    ("PricingQuantity", QUANTITY, False),
    ("PricingUnit", _STRING, False),
    ("ProviderName", _STRING, False),
    ("PublisherName", _STRING, False),
    ("ServiceCategory", _STRING, False),
    ("ServiceName", _STRING, False),
    ("ServiceSubcategory", _STRING, False),
    ("x_TenantName", _STRING, False),
    ("x_ClusterName", _STRING, False),
    ("x_NamespaceName", _STRING, True),
    ("x_EmrJobRunId", _STRING, True),
    ("x_CostComponent", _STRING, False),
    ("x_AllocationMethod", _STRING, False),
    ("x_CostBasis", _STRING, False),
    ("x_MethodFingerprint", _STRING, True),  # null: a warehouse that recorded no method
)
COLUMNS = tuple(name for name, _, _ in _FIELDS)
SCHEMA = pa.schema(
    [pa.field(name, kind, nullable=nullable) for name, kind, nullable in _FIELDS],
    metadata={"FocusVersion": FOCUS_VERSION},
)

# --- services ---------------------------------------------------------------------------------------------

# Each ServiceName with its one ServiceCategory and one ServiceSubcategory (FOCUS 1.2's allowed values): a
# service is classified once, here, so a name never appears with two categories.
SERVICES: dict[str, tuple[str, str]] = {
    "Amazon Elastic Kubernetes Service": ("Compute", "Containers"),
    "Amazon Elastic Compute Cloud": ("Compute", "Virtual Machines"),
    "Amazon Elastic Block Store": ("Storage", "Block Storage"),
    "Amazon EMR": ("Analytics", "Data Processing"),
    "AWS Data Transfer": ("Networking", "Network Connectivity"),
    "Elastic Load Balancing": ("Networking", "Application Networking"),
    "Amazon Virtual Private Cloud": ("Networking", "Network Infrastructure"),
    "Amazon Simple Storage Service": ("Storage", "Object Storage"),
    "Amazon Elastic File System": ("Storage", "File Storage"),
    "Amazon Relational Database Service": ("Databases", "Relational Databases"),
    "Amazon DynamoDB": ("Databases", "NoSQL Databases"),
    "Amazon ElastiCache": ("Databases", "Caching"),
    "Amazon Managed Streaming for Apache Kafka": ("Analytics", "Streaming Analytics"),
    "Amazon SageMaker": ("AI and Machine Learning", "Machine Learning"),
    "Amazon CloudWatch": ("Management and Governance", "Observability"),
}
OTHER = ("Other", "Other (Other)")  # a service FOCUS has no category for
UNTRACED_TAGGED = "AWS"  # tagged cost not traced to a product (a rounding cent)

# The service of each bill part; the adjustment of a closed month is the service of the part it corrects.
COMPONENT_SERVICE = {
    "compute": "Amazon Elastic Kubernetes Service",
    "idle": "Amazon Elastic Kubernetes Service",
    "shared": "Amazon Elastic Kubernetes Service",  # the EKS fee, shared namespaces' pods, cluster overhead
    "storage": "Amazon Elastic Block Store",  # persistent volumes
    "network": "AWS Data Transfer",  # data transfer; load balancer lines: Elastic Load Balancing
    "emr": "Amazon EMR",
}
# Tagged CUR lines are whatever the tenant tagged: the service of their product code (a code not listed here
# is its own service name, category Other).
PRODUCT_SERVICE = {
    "AmazonEC2": "Amazon Elastic Compute Cloud",
    "AmazonEKS": "Amazon Elastic Kubernetes Service",
    "ElasticMapReduce": "Amazon EMR",
    "AmazonS3": "Amazon Simple Storage Service",
    "AmazonEFS": "Amazon Elastic File System",
    "AmazonRDS": "Amazon Relational Database Service",
    "AmazonDynamoDB": "Amazon DynamoDB",
    "AmazonElastiCache": "Amazon ElastiCache",
    "AmazonMSK": "Amazon Managed Streaming for Apache Kafka",
    "AmazonSageMaker": "Amazon SageMaker",
    "AWSELB": "Elastic Load Balancing",
    "AmazonVPC": "Amazon Virtual Private Cloud",
    "AWSDataTransfer": "AWS Data Transfer",
    "AmazonCloudWatch": "Amazon CloudWatch",
}


def service(component: str, product_code: str | None) -> tuple[str, str, str]:
    """(ServiceName, ServiceCategory, ServiceSubcategory) of a row of bill part ``component``: the part's
    service; a tagged line's by its product code; a network row traced to load balancer lines (``AWSELB``)
    is Elastic Load Balancing."""
    if component == "tagged":
        name = PRODUCT_SERVICE.get(product_code, product_code) if product_code else UNTRACED_TAGGED
    elif component == "network" and product_code == "AWSELB":
        name = PRODUCT_SERVICE["AWSELB"]
    else:
        name = COMPONENT_SERVICE[component]
    return (name, *SERVICES.get(name, OTHER))


# --- the two files --------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Decimal):
        return str(abs(value)) if value == 0 else str(value)  # never "-0.00"
    return str(value)


def to_csv(records: Sequence[dict[str, Any]]) -> bytes:
    """The rows as CSV text (``records``: one dict per row, every column, typed values)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow([_text(record[c]) for c in COLUMNS])
    return out.getvalue().encode()


def to_parquet(records: Sequence[dict[str, Any]]) -> bytes:
    """The rows as a Parquet file with FOCUS's column types (the same bytes for the same rows)."""
    table = pa.Table.from_pylist(list(records), schema=SCHEMA)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()
