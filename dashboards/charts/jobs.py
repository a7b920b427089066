"""EMR on EKS job runs: cost per virtual cluster, the most expensive runs, a recurring job over time, the EMR
charge against compute, executors' requested against used resources, and where the runs sit in the bill.

A run's money is what the bill charges for it (``dashboards.data.emr_jobs``): cents that add up, with the tenant's
other workloads, to its bill parts; sums here are sums of cents."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import polars as pl

from chargeback.reports.bill import Bill
from dashboards.charts.common import LAYOUT, PART_COLORS, PART_LABELS, empty_figure, line_labels, with_total

UNKNOWN_JOB = "(unknown job)"
JOB_PARTS = ("compute", "idle", "storage", "network", "emr")  # what a job run's cost is made of
JOB_TABLE_COLUMNS = [
    "job_run_id",
    "job_name",
    "virtual_cluster_name",
    "tenant",
    "state",
    "created_at",
    "duration_min",
    "executor_instances",
    "cpu_used_share",
    "compute",
    "idle",
    "storage",
    "network",
    "emr",
    "total",
]


def _virtual_cluster() -> pl.Expr:
    return pl.coalesce("virtual_cluster_name", "virtual_cluster_id", pl.lit("(none)")).alias("virtual_cluster")


def _job() -> pl.Expr:
    return pl.col("job_name").fill_null(UNKNOWN_JOB)


def _cents(column: str | pl.Expr) -> pl.Expr:
    column = pl.col(column) if isinstance(column, str) else column
    return (column * 100).round().cast(pl.Int64)


def totals(jobs: pl.DataFrame) -> dict[str, float]:
    """The page's headline figures: runs, total cost, EMR charges, compute and idle (sums of the runs' cents)."""
    sums = jobs.select(
        total=_cents("total").sum(),
        emr=_cents("emr").sum(),
        compute_and_idle=(_cents("compute") + _cents("idle")).sum(),
    ).row(0, named=True)
    return {"runs": jobs.height, **{k: (v or 0) / 100 for k, v in sums.items()}}


IN_THE_BILL_COLUMNS = {
    "runs_compute_idle": "Job runs: compute and idle",
    "other_compute_idle": "Other workloads: compute and idle",
    "bill_compute_idle": "Bill: compute + idle share",
    "runs_storage_network": "Job runs: storage and network",
    "other_storage_network": "Other: storage and network",
    "bill_storage_network": "Bill: storage + network",
    "runs_emr": "Job runs: EMR",
    "other_emr": "Other EMR lines",
    "bill_emr": "Bill: EMR charges",
}
IN_THE_BILL_GROUPS = {  # each group of columns: the bill parts it adds up to
    "compute_idle": ("compute", "idle"),
    "storage_network": ("storage", "network"),
    "emr": ("emr",),
}


def in_the_bill(jobs: pl.DataFrame, bill: Bill) -> pl.DataFrame:
    """Per tenant with job runs, for compute and idle share, storage and network, and EMR charges: the runs' cents
    beside the tenant's other workloads and lines, adding up to those parts of its bill. Then a total row."""
    billed = {
        line.tenant: {
            group: int(sum(line.parts.get(part, 0) for part in parts) * 100)
            for group, parts in IN_THE_BILL_GROUPS.items()
        }
        for line in bill.lines
    }
    runs = (
        jobs.group_by("tenant")
        .agg(
            pl.len().cast(pl.Int64).alias("job_runs"),
            *(
                pl.sum_horizontal(*(_cents(part) for part in parts)).sum().alias(group)
                for group, parts in IN_THE_BILL_GROUPS.items()
            ),
        )
        .sort("tenant")
    )
    rows = []
    for r in runs.iter_rows(named=True):
        row = {"tenant": r["tenant"], "job_runs": r["job_runs"]}
        for group in IN_THE_BILL_GROUPS:
            on_bill = billed.get(r["tenant"], {}).get(group, 0)
            row |= {
                f"runs_{group}": r[group] / 100,
                f"other_{group}": (on_bill - r[group]) / 100,
                f"bill_{group}": on_bill / 100,
            }
        rows.append(row)
    schema = {"tenant": pl.String, "job_runs": pl.Int64, **dict.fromkeys(IN_THE_BILL_COLUMNS, pl.Float64)}
    return with_total(pl.DataFrame(rows, schema=schema).with_columns(line_labels("tenant")), "tenant")


def job_names(jobs: pl.DataFrame) -> dict[str, int]:
    """Named jobs and their number of runs, the most frequent first (ties: the first seen first)."""
    counts = (
        jobs.filter(pl.col("job_name").is_not_null())
        .group_by("job_name", maintain_order=True)
        .len()
        .sort("len", descending=True, maintain_order=True)
    )
    return dict(counts.iter_rows())


def by_virtual_cluster(jobs: pl.DataFrame) -> pl.DataFrame:
    frame = (
        jobs.with_columns(_virtual_cluster())
        .group_by("virtual_cluster", "tenant")
        .agg(
            pl.col("job_run_id").count().cast(pl.Int64).alias("job_runs"),
            *(pl.col(part).sum() for part in JOB_PARTS),
            pl.col("total").sum(),
        )
        .sort("virtual_cluster", "tenant")
        .sort("total", descending=True, maintain_order=True)
    )
    return with_total(frame, "virtual_cluster")


def virtual_cluster_costs(jobs: pl.DataFrame, currency: str = "USD") -> go.Figure:
    if jobs.is_empty():
        return empty_figure("Cost per virtual cluster", "no job runs")
    frame = jobs.with_columns(_virtual_cluster())
    return _parts_bar(frame, "virtual_cluster", "Cost per virtual cluster", currency, barmode="stack")


def _parts_bar(frame: pl.DataFrame, key: str, title: str, currency: str, barmode: str) -> go.Figure:
    """Compute, idle share, storage, network and EMR charges summed per ``key``, as bars."""
    long = (
        frame.group_by(key)
        .agg(pl.col(*JOB_PARTS).sum())
        .sort(key)
        .unpivot(index=key, on=list(JOB_PARTS), variable_name="part", value_name="amount")
        .with_columns(pl.col("part").replace_strict(PART_LABELS))
    )
    fig = px.bar(
        long,
        x=key,
        y="amount",
        color="part",
        barmode=barmode,
        color_discrete_map=PART_COLORS,
        labels={"amount": f"Cost ({currency})", key: ""},
        title=title,
    )
    fig.update_layout(**LAYOUT)
    return fig


def top_jobs(jobs: pl.DataFrame, currency: str = "USD", n: int = 10) -> go.Figure:
    if jobs.is_empty():
        return empty_figure("Most expensive job runs", "no job runs")
    frame = (
        jobs.sort("total", descending=True, nulls_last=True, maintain_order=True)
        .head(n)
        .with_columns(run=pl.concat_str([_job(), pl.lit(" · "), pl.col("job_run_id").str.slice(-6)]))
    )
    fig = px.bar(
        frame.sort("total", maintain_order=True),
        x="total",
        y="run",
        color="state",
        orientation="h",
        hover_data=["job_run_id", "created_at", "virtual_cluster_name"],
        labels={"total": f"Cost ({currency})", "run": ""},
        title=f"Most expensive job runs (top {min(n, frame.height)})",
    )
    fig.update_layout(**LAYOUT)
    return fig


def job_cost_over_time(jobs: pl.DataFrame, job_name: str, currency: str = "USD") -> go.Figure:
    frame = jobs.filter(pl.col("job_name") == job_name).sort("created_at", nulls_last=True, maintain_order=True)
    if frame.is_empty():
        return empty_figure(f"{job_name}: cost per run", "no runs")
    fig = px.line(
        frame,
        x="created_at",
        y="total",
        markers=True,
        hover_data=["job_run_id", "state", *JOB_PARTS],
        labels={"total": f"Cost per run ({currency})", "created_at": ""},
        title=f"{job_name}: cost per run",
    )
    failed = frame.filter(pl.col("state").ne_missing("COMPLETED"))
    if not failed.is_empty():
        fig.add_scatter(
            x=failed["created_at"],
            y=failed["total"],
            mode="markers",
            name="not completed",
            marker={"symbol": "x", "size": 11, "color": "#d62728"},
        )
    fig.update_layout(**LAYOUT)
    return fig


def emr_against_compute(jobs: pl.DataFrame, currency: str = "USD") -> go.Figure:
    """Per job name: the EMR on EKS charge beside the compute and idle it ran on."""
    if jobs.is_empty():
        return empty_figure("EMR charge against compute", "no job runs")
    frame = jobs.with_columns(job=_job())
    return _parts_bar(frame, "job", "EMR charge against compute, per job", currency, barmode="group")


def requested_vs_used(jobs: pl.DataFrame) -> go.Figure:
    """Executor CPU and memory requested against used, one point per run; the diagonal is a perfect fit."""
    if jobs.is_empty():
        return empty_figure("Executors: requested against used", "no job runs")
    resources = {
        "CPU (core-hours)": ("executor_cpu_request_core_hours", "executor_cpu_usage_core_hours"),
        "Memory (GiB-hours)": ("executor_memory_request_gib_hours", "executor_memory_usage_gib_hours"),
    }
    frame = pl.concat(
        [
            jobs.select(
                "job_run_id",
                job=_job(),
                resource=pl.lit(resource),
                requested=pl.col(requested).cast(pl.Float64),
                used=pl.col(used).cast(pl.Float64),
            )
            for resource, (requested, used) in resources.items()
        ]
    )
    fig = px.scatter(
        frame,
        x="requested",
        y="used",
        color="job",
        facet_col="resource",
        hover_data=["job_run_id"],
        title="Executors: requested against used",
    )
    fig.update_xaxes(matches=None)
    fig.update_yaxes(matches=None)
    for column, resource in enumerate(resources, start=1):
        top = frame.filter(pl.col("resource") == resource).select(pl.max_horizontal(pl.col("requested", "used").max()))
        top = top.item()
        if top is not None and top > 0:
            fig.add_scatter(
                x=[0, top],
                y=[0, top],
                mode="lines",
                line={"dash": "dot", "color": "grey"},
                showlegend=False,
                hoverinfo="skip",
                row=1,
                col=column,
            )
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_layout(**LAYOUT)
    return fig


def jobs_table(jobs: pl.DataFrame) -> pl.DataFrame:
    return jobs.with_columns(
        duration_min=(pl.col("finished_at") - pl.col("created_at")).dt.total_microseconds() / 1_000_000 / 60,
        cpu_used_share=pl.col("executor_cpu_usage_core_hours") / pl.col("executor_cpu_request_core_hours"),
    ).select(JOB_TABLE_COLUMNS)
