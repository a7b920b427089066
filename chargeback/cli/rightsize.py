"""The `rightsize` and `limits` commands; `register(app)` adds them to the main CLI."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape
from rich.table import Table

from chargeback.cli.options import (
    ConfigOption,
    DataDirOption,
    LatestPeriodOption,
    ReportFormatOption,
    console,
)
from chargeback.core.config import load
from chargeback.reports.rightsize import (
    LimitViolation,
    QuotaFit,
    RightsizeReport,
    job_quota_fits,
    limit_violations,
    rightsize,
    shape_checks_to_json,
)


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _print_rightsize(report: RightsizeReport) -> None:
    table = Table(
        title=(
            f"Right-sizing {report.period}: recommended request per pod = max(floor, p{report.quantile * 100:g}"
            f" of hourly usage / {report.target_utilisation:g})"
        )
    )
    for name in (
        "workload",
        "namespace",
        "resource",
        "pod-hours",
        "request",
        "p-usage",
        "recommended",
        "$/unit-h",
        "saving/month",
        "verdict",
    ):
        justify = "left" if name in ("workload", "namespace", "resource", "verdict") else "right"
        table.add_column(name, justify=justify)
    for r in report.recommendations:
        workload = f"{r.workload_kind}/{r.workload_name}"
        if r.virtual_cluster_name or r.virtual_cluster_id:
            workload += f" @ {r.virtual_cluster_name or r.virtual_cluster_id}"
        verdict = r.verdict
        if r.verdict == "raise request":
            verdict += " (floor)" if "floor" in r.note else f" ({r.note.rsplit('; ', 1)[-1].split(':')[0]})"
        style = {"raise request": "yellow", "too little history": "dim"}.get(r.verdict)
        table.add_row(
            escape(workload),
            escape(r.namespace),
            f"{r.resource} ({r.unit})",
            f"{r.pod_hours:,.0f}",
            _number(r.request),
            _number(r.usage_quantile),
            _number(r.recommended),
            _number(r.price_per_unit_hour, 6),
            "-" if r.monthly_saving is None else f"{r.monthly_saving:,.2f}",
            escape(verdict),
            style=style,
        )
    out = console()
    out.print(table)
    out.print(
        f"lowering over-sized requests saves {report.total_saving:,.2f} a month;"
        f" raising under-sized ones costs {report.total_raise_cost:,.2f}"
    )


def _print_limits(violations: list[LimitViolation]) -> None:
    out = console()
    if not violations:
        out.print("no Spark job shape breaks a LimitRange")
        return
    table = Table(title="Spark job shapes that break a LimitRange (refused at submission)")
    for name in (
        "job",
        "virtual cluster",
        "namespace",
        "role",
        "resource",
        "shape",
        "limit",
        "bound",
        "runs",
        "shape from",
    ):
        table.add_column(name, justify="right" if name in ("shape", "limit", "runs") else "left")
    for v in violations:
        table.add_row(
            escape(v.job_name),
            escape(v.virtual_cluster_name or v.virtual_cluster_id or "-"),
            escape(v.namespace),
            v.spark_role,
            f"{v.resource} ({v.unit})",
            f"{v.shape_amount:,.0f}" if v.unit == "bytes" else f"{v.shape_amount:g}",
            f"{v.limit_amount:,.0f}" if v.unit == "bytes" else f"{v.limit_amount:g}",
            f"{v.limit_type} {v.bound} ({escape(v.limit_range)})",
            str(v.job_run_count),
            v.shape_source,
        )
    out.print(table)


def _print_quota_fits(fits: list[QuotaFit]) -> None:
    out = console()
    if not fits:
        out.print("no recurring Spark job runs in a namespace with a ResourceQuota")
        return
    misfits = [f for f in fits if not f.fits]
    jobs = {(f.cluster, f.namespace, f.job_name) for f in fits}
    if not misfits:
        out.print(f"every recurring Spark job fits its namespace's ResourceQuota at full scale ({len(jobs)} jobs)")
        return
    table = Table(title="Spark jobs that would not fit their namespace's ResourceQuota at full scale")
    for name in (
        "job",
        "namespace",
        "resource",
        "driver",
        "executors",
        "footprint",
        "hard",
        "executors admitted",
        "runs",
    ):
        table.add_column(name, justify="left" if name in ("job", "namespace", "resource") else "right")
    for f in misfits:
        table.add_row(
            escape(f.job_name),
            escape(f.namespace),
            f"{f.resource} ({f.unit})",
            f"{f.driver_amount:g}",
            f"{f.executors} × {f.executor_amount:g}",
            f"{f.footprint:g}",
            f"{f.hard:g} ({escape(f.quota)})",
            f"{f.executors_fitting} of {f.executors}",
            str(f.job_run_count),
        )
    out.print(table)
    out.print(f"{len(jobs) - len({(f.cluster, f.namespace, f.job_name) for f in misfits})} other jobs fit")


def register(app: typer.Typer) -> None:
    """Add `rightsize` and `limits` to ``app``."""

    @app.command("rightsize")
    def rightsize_command(
        period: LatestPeriodOption = None,
        fmt: ReportFormatOption = "table",
        config: ConfigOption = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """Recommend CPU and memory requests per pod for long-running workloads and recurring Spark jobs.

        Recommended request = max(floor, quantile of hourly usage / target utilisation) (`[capacity]`:
        rightsize_quantile, target_utilisation, min_cpu_cores, min_memory_gib). The monthly saving is
        (request − recommended) × pod-hours × the unit price the workload paid (its split cost per allocated
        core-hour or GiB-hour). A negative saving is "raise request", with the risk; workloads with fewer
        than min_history_hours pod-hours say "too little history".
        """
        report = rightsize(load(config, data_dir), period)
        if fmt == "json":
            sys.stdout.write(report.to_json() + "\n")
        else:
            _print_rightsize(report)

    @app.command("limits")
    def limits_command(
        fmt: ReportFormatOption = "table", config: ConfigOption = None, data_dir: DataDirOption = None
    ) -> None:
        """Check Spark job shapes against their namespace's LimitRanges and ResourceQuota.

        A shape is the driver's and executors' pod requests as observed, else the spark-submit parameters
        with memory overhead max(384 MiB, 10%). **LimitRange**: each pod is checked against the Container
        and Pod max and min of the current LimitRanges; a job that breaks one is refused at submission (CPU
        in cores, memory in bytes). **ResourceQuota**: the job at full scale (driver + executor instances)
        is checked against the current requests.cpu, requests.memory and pods hard limits; above one, the
        executors beyond it are refused. JSON lists every job's quota fit, fitting or not.
        """
        settings = load(config, data_dir)
        violations = limit_violations(settings)
        fits = job_quota_fits(settings)
        if fmt == "json":
            sys.stdout.write(shape_checks_to_json(violations, fits) + "\n")
        else:
            _print_limits(violations)
            _print_quota_fits(fits)
