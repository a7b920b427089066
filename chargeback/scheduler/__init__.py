"""``chargeback schedule``: collect, build and export on cron schedules, with /healthz and /metrics.

- ``core``: the scheduler: ``tick(now)`` decides what is due and runs it; ``serve`` loops on a clock.
- ``jobs``: what each kind of job runs (collect, build, export): the actions a test can replace.
- ``finality``: when a month's CUR is final, so its export may run.
- ``state``: the last run of every job, kept in a JSON file so a restart can catch up.
- ``metrics``, ``http``, ``logs``: Prometheus metrics, the HTTP endpoint, one-line JSON run logs.
"""
