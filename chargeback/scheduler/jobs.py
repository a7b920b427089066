"""What each kind of job runs. The scheduler calls these through its ``actions`` table, which is where a test
puts a recording fake instead (the scheduler's own logic — due times, catch-up, locks, waiting for the CUR —
is the same either way)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chargeback.build.engines import build as build_warehouse
from chargeback.core.config import Config, JobKind, ScheduleJob
from chargeback.core.errors import ChargebackError
from chargeback.exports import run_export
from chargeback.exports.alert_rules import evaluate
from chargeback.exports.alerts import deliver
from chargeback.raw.collect import run
from chargeback.scheduler.metrics import Metrics


@dataclass(frozen=True)
class RunRequest:
    config: Config
    job: ScheduleJob
    now: datetime  # the scheduler's clock when the run started
    period: str | None = None  # export: the billing month, YYYY-MM
    metrics: Metrics | None = None  # alerts: where the budget and anomaly figures go


Action = Callable[[RunRequest], str | None]  # returns a one-line summary; raises when the run failed


def collect(request: RunRequest) -> str:
    """``chargeback collect --source ...``: each source from its watermark to now (the scheduler's clock)."""
    outcomes = run(request.config, list(request.job.sources), now=request.now)
    failed = [o for o in outcomes if o.error]
    if failed:
        raise ChargebackError("; ".join(f"{o.source} {o.target}: {o.error}" for o in failed))
    ran = [o for o in outcomes if not o.skipped]
    rows = sum(sum(o.rows.values()) for o in ran)
    skipped = [o.source for o in outcomes if o.skipped]
    summary = f"{len(ran)} source target(s), {rows:,} rows"
    return summary + (f"; not configured: {', '.join(skipped)}" if skipped else "")


def build(request: RunRequest) -> str:
    """``chargeback build`` (the scheduler already holds the build lock; ``build`` takes it again).

    Never with ``--accept-method-change``: the scheduler does not change a method by itself. A configuration
    whose method differs from the published build's fails every run (``MethodChangeError``: what changed and
    each bill line's effect, in the run's log and state) until an operator runs that build with the flag.
    """
    result = build_warehouse(request.config, accept_method_change=False)
    return "; ".join([f"built {result.warehouse} in {result.seconds:.1f} s", *result.notes])


def alerts(request: RunRequest) -> str:
    """``chargeback alerts --send``: the budget and anomaly figures of the published warehouse to ``/metrics``, the
    active alerts to the ``[alerts]`` channels (resolving those that cleared). A channel that failed fails the run
    (the others were delivered; it is retried next run)."""
    evaluation = evaluate(request.config, request.now)
    if request.metrics is not None:
        request.metrics.set_costs(evaluation.months, evaluation.scores)
    delivery = deliver(request.config, evaluation.alerts, request.now)
    summary = f"{len(evaluation.alerts)} alert(s) active; " + ("; ".join(delivery.lines()) or "no channel configured")
    if not delivery.ok:
        raise ChargebackError(summary)
    return summary


def export(request: RunRequest) -> str:
    """``chargeback export --period P --to F [--out ...] [--apply]`` for each of the job's formats."""
    assert request.period is not None, "the scheduler passes the billing month to export jobs"
    for target in request.job.to:
        run_export(
            request.config, request.period, target, out=request.job.out, apply=request.job.apply, now=request.now
        )
    return f"exported {request.period} as {', '.join(request.job.to)}"


ACTIONS: dict[JobKind, Action] = {"collect": collect, "build": build, "alerts": alerts, "export": export}
