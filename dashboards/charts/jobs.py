"""EMR on EKS job runs: cost per virtual cluster, the most expensive runs, a recurring job over time, the EMR
charge against compute, and executors' requested against used resources."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import polars as pl

from dashboards.charts.common import LAYOUT, PART_COLORS, PART_LABELS, empty_figure, with_total

UNKNOWN_JOB = "(unknown job)"
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
    "emr",
    "total",
]


def _virtual_cluster() -> pl.Expr:
    return pl.coalesce("virtual_cluster_name", "virtual_cluster_id", pl.lit("(none)")).alias("virtual_cluster")


def _job() -> pl.Expr:
    return pl.col("job_name").fill_null(UNKNOWN_JOB)


def totals(jobs: pl.DataFrame) -> dict[str, float]:
    """The page's headline figures: runs, total cost, EMR charges, compute and idle."""
    return {
        "runs": jobs.height,
        "total": jobs["total"].sum(),
        "emr": jobs["emr"].sum(),
        "compute_and_idle": (jobs["compute"] + jobs["idle"]).sum(),
    }


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
            job_runs=pl.col("job_run_id").count().cast(pl.Int64),
            compute=pl.col("compute").sum(),
            idle=pl.col("idle").sum(),
            emr=pl.col("emr").sum(),
            total=pl.col("total").sum(),
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
    """Compute, idle share and EMR charges summed per ``key``, as bars."""
    long = (
        frame.group_by(key)
        .agg(pl.col("compute", "idle", "emr").sum())
        .sort(key)
        .unpivot(index=key, on=["compute", "idle", "emr"], variable_name="part", value_name="amount")
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
        hover_data=["job_run_id", "state", "compute", "idle", "emr"],
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
