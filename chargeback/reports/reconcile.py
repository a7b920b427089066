"""From the CUR's total to the bill: the reconciliation of a billing period (docs/reconciliation.md).

A waterfall of rows, each CUR dollar in exactly one of them (``marts.fct_cost_waterfall``, checked on every
build): the CUR's unblended total; out of scope by reason; with ``--cluster``, the other clusters' in-scope lines;
the cost basis (the configured basis minus unblended, over the in-scope lines); the in-scope subtotal and its
categories; the estimates for node-days the CUR does not cover yet; the source total; the adjustments booked for
closed months; the billed total and its lines, which are `chargeback bill`'s own (``monthly_bill``).

Money is exact to the cent the way the bill is (``chargeback.core.money``): the CUR total rounds half-up; the
lines are the bill's; every other figure gets whole cents by largest remainder within the figure it breaks down,
so each row adds up to the next subtotal to the cent. Beside it: the Nodes page's figures explained by these
rows, the coverage (the share of what the bill distributes that reached a tenant's line), and AWS's split cost
allocation data compared with this allocation per namespace and day (``marts.fct_split_comparison_daily``).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chargeback.build.warehouse import connect, records
from chargeback.core.config import SENTINELS, Config
from chargeback.core.errors import DataError
from chargeback.core.money import apportion, to_cents
from chargeback.core.periods import parse_period
from chargeback.reports import queries
from chargeback.reports.bill import Bill, monthly_bill

ZERO = Decimal(0)
# Out-of-scope reasons and in-scope categories in the order the waterfall lists them (a reason or category the
# models add later follows, under its own name).
REASONS = {
    "tax": "Tax",
    "credits_refunds": "Credits, refunds and discounts",
    "commitments": "Savings Plan and RI fees and negation",
    "aws_split_rows": "AWS's split rows (EKSPod-EC2)",
    "no_cluster": "No cluster and no tenant tag",
}
CATEGORIES = {
    "nodes": "Nodes (instances and their other lines)",
    "node_volumes": "Node volumes (root and data)",
    "pv_volumes": "PersistentVolume volumes",
    "data_transfer": "Data transfer",
    "load_balancers": "Load balancers",
    "overhead": "Cluster overhead (NAT gateways, endpoints, ...)",
    "cluster_fee": "EKS control-plane fee",
    "emr": "EMR on EKS charges",
    "tagged": "Tagged to a tenant",
}
SENTINEL_NAMES = {
    "__idle__": "__idle__ (idle, unshared)",
    "__shared__": "__shared__ (shared, kept)",
    "__unallocated__": "__unallocated__",
}
# Why AWS's split cost allocation data says something else than this allocation (docs/reconciliation.md).
SPLIT_DIFFERENCES = (
    (
        "usage source",
        "AWS measures each pod's CPU and memory itself; this product reads Prometheus (cAdvisor usage,"
        " kube-state-metrics requests). Both charge max(request, usage) per hour, so the two differ where their"
        " samples of a pod's usage or life differ.",
    ),
    (
        "idle handling",
        "AWS always shares a node's unused capacity among its pods by allocation (split_line_item_unused_cost),"
        " which is this product's `node` idle mode; `cluster` pools it per cluster-hour, `separate` leaves it on"
        " __idle__, and a dedicated node's unused cost goes to its tenant.",
    ),
    (
        "shared costs",
        "AWS charges the pods of kube-system and monitoring to their namespaces; here shared namespaces go to"
        " __shared__ (billed_to) and are spread over tenants by the shared mode, with the EKS fee, volumes, data"
        " transfer, load balancers and cluster overhead, none of which AWS's split covers.",
    ),
    (
        "node cost",
        "AWS splits the instance's amortized cost; here a node-hour costs its instance lines on the configured basis"
        " plus its root and data volumes and other node lines.",
    ),
)


@dataclass(frozen=True)
class Row:
    """One row of the waterfall. ``kind``: ``start`` (the CUR total), ``step`` (changes the running total),
    ``subtotal`` (the running total there) or ``part`` (a share of the subtotal above it). ``amount`` in cents,
    ``exact`` as the marts hold it; ``line_items``: how many CUR lines the row holds (None: not CUR lines)."""

    section: str
    name: str
    label: str
    kind: str
    amount: Decimal
    exact: Decimal
    line_items: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "amount": str(self.amount),
            "exact": str(self.exact),
            "line_items": None if self.line_items is None else round(self.line_items, 6),
        }


@dataclass(frozen=True)
class Figure:
    """A figure shown elsewhere (the Nodes page) with the rows that explain it: ``terms`` are (label, cents),
    signed, adding up to ``amount``."""

    name: str
    label: str
    amount: Decimal
    terms: tuple[tuple[str, Decimal], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "amount": str(self.amount),
            "terms": [{"label": label, "amount": str(value)} for label, value in self.terms],
        }


@dataclass(frozen=True)
class Coverage:
    """What the bill distributes (``attributable``, the source total) and the part that reached a tenant's line;
    what stays on ``__shared__`` (kept), ``__idle__`` and ``__unallocated__`` did not."""

    attributable: Decimal
    tenants: Decimal
    shared_kept: Decimal
    idle: Decimal
    unallocated: Decimal

    @property
    def share(self) -> Decimal | None:
        """The tenants' share of ``attributable``, to four places (None when nothing is attributable)."""
        if self.attributable == 0:
            return None
        return (self.tenants / self.attributable).quantize(Decimal("0.0001"))

    def to_json(self) -> dict[str, Any]:
        return {
            "attributable": str(self.attributable),
            "tenants": str(self.tenants),
            "shared_kept": str(self.shared_kept),
            "idle": str(self.idle),
            "unallocated": str(self.unallocated),
            "share": None if self.share is None else str(self.share),
        }


@dataclass(frozen=True)
class Reconciliation:
    period: str
    currency: str
    cluster: str | None
    cost_basis: str
    idle_mode: str
    shared_mode: str
    rows: tuple[Row, ...]
    coverage: Coverage
    nodes: tuple[Figure, ...]
    split: tuple[dict[str, Any], ...] = ()  # per cluster and namespace over the period, in cents
    split_daily: tuple[dict[str, Any], ...] = field(default=(), repr=False)  # per day, as the mart holds them
    closed_at: str | None = None

    def row(self, section: str, name: str = "total") -> Row:
        """The row ``section``/``name`` (a subtotal's name is ``total``)."""
        for row in self.rows:
            if row.section == section and row.name == name:
                return row
        raise KeyError(f"{section}/{name}")

    def figure(self, name: str) -> Figure:
        return next(f for f in self.nodes if f.name == name)

    def to_json(self) -> str:
        body = {
            "period": self.period,
            "currency": self.currency,
            "cluster": self.cluster,
            "cost_basis": self.cost_basis,
            "idle_mode": self.idle_mode,
            "shared_mode": self.shared_mode,
            "rows": [row.to_json() for row in self.rows],
            "coverage": self.coverage.to_json(),
            "nodes": [figure.to_json() for figure in self.nodes],
            "aws_split": {
                "namespaces": [_json_values(row) for row in self.split],
                "daily": [_json_values(row) for row in self.split_daily],
                "differences": dict(SPLIT_DIFFERENCES),
            },
            "closed_at": self.closed_at,
        }
        return json.dumps(body, indent=2)

    def to_csv(self) -> str:
        """The waterfall, one row per line; amounts in cents as the table prints them."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["period", "currency", "cluster", "section", "name", "label", "kind", "amount", "line_items"])
        for row in self.rows:
            items = "" if row.line_items is None else f"{row.line_items:g}"
            writer.writerow(
                [self.period, self.currency, self.cluster or "", row.section, row.name, row.label, row.kind,
                 row.amount, items]
            )  # fmt: skip
        return out.getvalue()


def _json_values(row: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Decimal) or hasattr(v, "isoformat") else v for k, v in row.items()}


def _ordered(found: dict[str, Decimal], known: dict[str, str]) -> list[str]:
    return [*known, *sorted(k for k in found if k not in known)]


def _bill_or_none(config: Config, period: str, cluster: str | None) -> Bill | None:
    try:
        return monthly_bill(config, period, cluster=cluster)
    except DataError as exc:
        if str(exc).startswith("no costs for period"):
            return None
        raise


def reconcile(config: Config, period: str, cluster: str | None = None) -> Reconciliation:
    """The reconciliation of ``period`` (``cluster``: that cluster's in-scope lines and bill lines, from the
    whole CUR's total)."""
    parse_period(period)
    params = {"period": period, "cluster": cluster}
    with connect(config) as con:
        for name in ("fct_cost_waterfall", "fct_split_comparison_daily"):
            if not con.execute(queries.TABLE_EXISTS, ["marts", name]).fetchall()[0][0]:
                raise DataError("the warehouse was built before the reconciliation; run `chargeback build`")
        rows = records(con, queries.RECONCILE_ROWS, {"period": period})
        node_cost, node_idle = con.execute(queries.RECONCILE_NODES, params).fetchall()[0]
        shared_idle = con.execute(queries.RECONCILE_SHARED_IDLE, params).fetchall()[0][0]
        split_daily = records(con, queries.RECONCILE_SPLIT, params)
        basis, idle_mode, shared_mode = con.execute(queries.BUILD_SETTINGS).fetchall()[0][:3]
        currency = con.execute(queries.BILL_CURRENCY).fetchall()[0][0]
        built = [r[0] for r in con.execute(queries.RECONCILE_PERIODS).fetchall()]
    bill = _bill_or_none(config, period, cluster)
    if not rows and bill is None:
        raise DataError(
            f"no CUR lines and no costs for period {period} (periods with CUR lines or costs:"
            f" {', '.join(built) or 'none'}); run `chargeback collect --source cur`, then `chargeback build`"
        )
    if cluster is not None and bill is None:
        clusters = sorted({r["cluster"] for r in rows if r["cluster"] and r["row_kind"] != "out_of_scope"})
        raise DataError(
            f"no costs for period {period} in cluster {cluster} (clusters with costs in {period}:"
            f" {', '.join(clusters) or 'none'})"
        )
    rows_out = _waterfall(rows, bill, cluster, basis)
    figures = _node_figures(rows_out, bill, Decimal(node_cost), Decimal(node_idle), Decimal(shared_idle))
    return Reconciliation(
        period,
        currency,
        cluster,
        basis,
        idle_mode,
        shared_mode,
        tuple(rows_out),
        _coverage(bill),
        figures,
        _split_by_namespace(split_daily),
        tuple(split_daily),
        bill.closed_at if bill else None,
    )


def _waterfall(rows: list[dict], bill: Bill | None, cluster: str | None, basis: str) -> list[Row]:
    """The rows in order, each in cents that add up to the next subtotal (the module's docstring)."""
    mine = [r for r in rows if r["row_kind"] == "out_of_scope" or cluster is None or r["cluster"] == cluster]
    cur_total = sum((r["unblended_cost"] for r in rows if r["row_kind"] != "estimated"), ZERO)
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    out_items: dict[str, float] = defaultdict(float)
    for r in rows:
        if r["row_kind"] == "out_of_scope":
            out[r["category"]] += r["unblended_cost"]
            out_items[r["category"]] += r["line_items"]
    others = [r for r in rows if r["row_kind"] == "in_scope" and cluster is not None and r["cluster"] != cluster]
    in_scope: dict[str, Decimal] = defaultdict(lambda: ZERO)
    in_items: dict[str, float] = defaultdict(float)
    basis_step = estimated = ZERO
    for r in mine:
        if r["row_kind"] == "in_scope":
            in_scope[r["category"]] += r["cost"]
            in_items[r["category"]] += r["line_items"]
            basis_step += r["cost"] - r["unblended_cost"]
        elif r["row_kind"] == "estimated":
            estimated += r["cost"]
    in_scope_exact = sum(in_scope.values(), ZERO)

    billed = bill.total if bill else Decimal("0.00")
    adjustments = bill.adjustment_total if bill else Decimal("0.00")
    source = billed - adjustments
    tail = {"in_scope": in_scope_exact, "estimated": estimated}
    if bill is not None and bill.closed_at:
        tail["restated"] = bill.source_total - in_scope_exact - estimated
    tail_cents = apportion(tail, source, order=list(tail))

    cur_cents = to_cents(cur_total)
    steps = {f"out_of_scope:{k}": -out[k] for k in _ordered(out, REASONS)}
    if cluster is not None:
        steps["other_clusters:in_scope"] = -sum((r["unblended_cost"] for r in others), ZERO)
    steps["basis:cost_basis"] = basis_step
    step_cents = apportion(steps, tail_cents["in_scope"] - cur_cents, order=list(steps))
    categories = {k: in_scope[k] for k in _ordered(in_scope, CATEGORIES)}
    category_cents = apportion(categories, tail_cents["in_scope"], order=list(categories))

    result = [Row("cur", "total", "CUR total (unblended cost of every line)", "start", cur_cents, cur_total)]
    for key in _ordered(out, REASONS):
        label = f"Out of scope: {REASONS.get(key, key)}"
        result.append(
            Row("out_of_scope", key, label, "step", step_cents[f"out_of_scope:{key}"], -out[key], out_items[key])
        )
    if cluster is not None:
        other = steps["other_clusters:in_scope"]
        items = sum(r["line_items"] for r in others)
        cents = step_cents["other_clusters:in_scope"]
        result.append(Row("other_clusters", "in_scope", "In scope of other clusters", "step", cents, other, items))
    label = f"Cost basis: {basis} minus unblended, in scope"
    result.append(Row("basis", "cost_basis", label, "step", step_cents["basis:cost_basis"], basis_step))
    result.append(Row("in_scope", "total", f"In scope ({basis})", "subtotal", tail_cents["in_scope"], in_scope_exact))
    for key, exact in categories.items():
        label = CATEGORIES.get(key, key)
        result.append(Row("in_scope", key, label, "part", category_cents[key], exact, in_items.get(key, 0.0)))
    label = "Estimated: node-days the CUR does not cover yet"
    result.append(Row("estimated", "nodes", label, "step", tail_cents["estimated"], estimated))
    if "restated" in tail:
        label = "Changed since the month was closed (billed later as adjustments)"
        result.append(Row("restated", "since_closed", label, "step", tail_cents["restated"], tail["restated"]))
    exact_source = bill.source_total if bill else ZERO
    result.append(Row("source", "total", "Source total: what the bill distributes", "subtotal", source, exact_source))
    exact_adjustments = bill.adjustments if bill else ZERO
    label = "Adjustments for closed months"
    result.append(Row("adjustments", "closed_months", label, "step", adjustments, exact_adjustments))
    result.append(Row("billed", "total", "Billed", "subtotal", billed, exact_source + exact_adjustments))
    for line in bill.lines if bill else ():
        label = SENTINEL_NAMES.get(line.tenant, line.tenant)
        result.append(Row("bill", line.tenant, label, "part", line.total, line.exact_total))
    return result


def _node_figures(
    rows: list[Row], bill: Bill | None, node_cost: Decimal, node_idle: Decimal, shared_idle: Decimal
) -> tuple[Figure, ...]:
    """The Nodes page's *Cost* and *Idle* as the waterfall explains them: the node cost is the rows Nodes, Node
    volumes and Estimated (less node lines on no node-hour, which go to __idle__); its idle, the unused capacity
    before sharing, is the bill's idle part plus the idle share of shared namespaces' pods (which goes to
    __shared__ and is billed as part shared) less the other lines kept on __idle__."""
    by_name = {(r.section, r.name): r for r in rows}
    parts = [by_name[("in_scope", "nodes")], by_name[("in_scope", "node_volumes")], by_name[("estimated", "nodes")]]
    cost_cents = to_cents(node_cost)
    cost_terms = [(f"row {r.label}", r.amount) for r in parts]
    cost_terms.append(("node lines on no node-hour (to __idle__)", cost_cents - sum((r.amount for r in parts), ZERO)))
    idle_cents = to_cents(node_idle)
    lines = bill.lines if bill else ()
    bill_idle = sum((line.parts.get("idle", ZERO) for line in lines), ZERO)
    bill_idle_exact = sum((line.exact_parts.get("idle", ZERO) for line in lines), ZERO)
    moves = {"shared": shared_idle, "other": -(bill_idle_exact - node_idle + shared_idle)}
    moved = apportion(moves, idle_cents - bill_idle, order=["shared", "other"])
    idle_terms = (
        ("the bill's idle part (every line's idle column)", bill_idle),
        ("idle share of shared namespaces' pods (to __shared__, billed as part shared)", moved["shared"]),
        ("other lines kept on __idle__ (transfer of node-hours without pods, volumes on no node-hour)", moved["other"]),
    )
    return (
        Figure("node_cost", "Node cost (Nodes page: Cost)", cost_cents, tuple(cost_terms)),
        Figure("node_idle", "Idle before sharing (Nodes page: Idle)", idle_cents, idle_terms),
    )


def _coverage(bill: Bill | None) -> Coverage:
    """Each bill line's cents without its adjustment part, by kind of line (docs/reconciliation.md#coverage)."""
    sums = {"tenants": ZERO, "__shared__": ZERO, "__idle__": ZERO, "__unallocated__": ZERO}
    for line in bill.lines if bill else ():
        amount = line.total - line.parts.get("adjustment", ZERO)
        sums["tenants" if line.tenant not in SENTINELS else line.tenant] += amount
    attributable = sum(sums.values(), Decimal("0.00"))
    return Coverage(attributable, sums["tenants"], sums["__shared__"], sums["__idle__"], sums["__unallocated__"])


def _split_by_namespace(daily: list[dict]) -> tuple[dict[str, Any], ...]:
    """The comparison per cluster and namespace over the period, each figure rounded half-up to the cent (not a
    bill: figures are not apportioned); the largest difference first."""
    money = ("aws_split_cost", "aws_unused_cost", "aws_cost", "split_cost", "idle_cost", "cost", "difference")
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for row in daily:
        key = (row["cluster"], row["namespace"])
        found = grouped.setdefault(
            key,
            {"cluster": key[0], "namespace": key[1], "billed_to": set(), "days": 0, "aws_pod_hours": 0,
             **dict.fromkeys(money, ZERO)},
        )  # fmt: skip
        found["days"] += 1
        found["aws_pod_hours"] += row["aws_pod_hours"]
        if row["billed_to"]:
            found["billed_to"].add(row["billed_to"])
        for name in money:
            found[name] += row[name]
    result = []
    for found in grouped.values():
        billed_to = sorted(found.pop("billed_to"))
        found["billed_to"] = billed_to[0] if len(billed_to) == 1 else ("several" if billed_to else None)
        result.append({**found, **{name: to_cents(found[name]) for name in money}})
    result.sort(key=lambda r: (-abs(r["difference"]), r["cluster"], r["namespace"]))
    return tuple(result)
