"""The queries of the reports over time: budgets and forecasts, anomalies, efficiency, and costs over any date range
grouped by any dimension (``chargeback.reports.costs``). ``chargeback.reports.queries`` holds the rest; the same
rules: no SQL built from inputs (parameters are ``?`` or ``$name``).
"""

from __future__ import annotations

from chargeback.reports.queries import PART_SUMS

# --- budgets and anomalies (``chargeback.reports.budgets``, ``chargeback.reports.anomalies``) -----------------

# Each tenant's daily cost per cluster (every part of its line), days $since to $until included.
TENANT_DAILY_COSTS = """
select cluster, tenant, date, sum(total_cost) as cost,
from marts.fct_tenant_costs_daily
where date between $since and $until and not is_sentinel
group by all
order by all
"""

# Each namespace's: its pods' compute and idle share, and its workloads' and its own storage and network.
NAMESPACE_DAILY_COSTS = """
with parts as (
    select cluster, tenant, namespace, date, total_cost as cost from marts.fct_workload_costs_daily
    where date between $since and $until
    union all
    select cluster, tenant, namespace, date, storage_cost + network_cost from marts.fct_workload_storage_network_daily
    where date between $since and $until
)
select cluster, tenant, namespace, date, sum(cost) as cost,
from parts
where tenant is not null and tenant not in ('__idle__', '__shared__', '__unallocated__')
group by all
order by all
"""

LAST_COST_DAY = "select max(date) from marts.fct_tenant_costs_daily"
LAST_COST_HOUR = "select max(hour) + interval 1 hour from marts.fct_node_costs_hourly"  # where costs end

# Each tenant's first day with cost on each cluster (a forecast counts days without cost as zero only after it).
TENANT_FIRST_DAYS = """
select cluster, tenant, min(date) from marts.fct_tenant_costs_daily where not is_sentinel group by all
"""

# Where each cluster's costs of the period end (exclusive): the hour after its last node-hour.
COST_HOURS_END = """
select cluster, max(hour) + interval 1 hour from marts.fct_node_costs_hourly where period = $period group by cluster
"""

# --- efficiency (``chargeback.reports.efficiency``) ---------------------------------------------------------

EFFICIENCY_KEYS = {
    "tenant": ("tenant",),
    "namespace": ("tenant", "namespace"),
    "workload": ("tenant", "namespace", "workload_kind", "workload_name"),
}
_EFFICIENCY = """
select {columns},
    sum(cpu_request_core_hours), sum(cpu_usage_core_hours), sum(memory_request_gib_hours), sum(memory_usage_gib_hours),
    sum(cpu_unused_request_cost + memory_unused_request_cost),
from marts.fct_workload_costs_daily
where period = $period and ($cluster::varchar is null or cluster = $cluster::varchar)
    and ($tenant::varchar is null or tenant = $tenant::varchar)
    and tenant not in ('__idle__', '__shared__', '__unallocated__')
group by {columns}
"""
# Per grain: its key columns, requests and usage, unused requests; parameters period, cluster, tenant (or nulls).
EFFICIENCY = {grain: _EFFICIENCY.format(columns=", ".join(keys)) for grain, keys in EFFICIENCY_KEYS.items()}
# The drill-down's leaves whose cents give a namespace's or workload's compute and idle share; same parameters.
EFFICIENCY_WORKLOADS = """
select tenant, namespace, workload_kind, workload_name, emr_job_run_id,
    sum(compute_cost) as compute, sum(idle_cost) as idle, sum(storage_cost) as storage, sum(network_cost) as network,
from marts.fct_workload_costs_monthly
where period = $period and ($cluster::varchar is null or cluster = $cluster::varchar)
    and ($tenant::varchar is null or tenant = $tenant::varchar)
group by all
"""

# --- costs over a date range (``chargeback.reports.costs``) --------------------------------------------------

# Each bill line's exact parts per cluster and day of a period; parameters period, cluster (or null).
COSTS_DAILY = f"""
select tenant, cluster, date,
    {PART_SUMS}
from marts.fct_tenant_costs_daily
where period = $period and ($cluster::varchar is null or cluster = $cluster::varchar)
group by tenant, cluster, date
"""

# The drill-down's leaves by day, per namespace or per workload (the dimension's columns): compute and idle share,
# storage and network; same parameters.
_COSTS_LEAVES_DAILY = """
with parts as (
    select tenant, {columns}, date, compute_cost as compute, idle_cost as idle,
        cast(0 as decimal(38, 12)) as storage, cast(0 as decimal(38, 12)) as network,
    from marts.fct_workload_costs_daily
    where period = $period and ($cluster::varchar is null or cluster = $cluster::varchar)
    union all
    select tenant, {columns}, date, cast(0 as decimal(38, 12)), cast(0 as decimal(38, 12)), storage_cost,
        network_cost,
    from marts.fct_workload_storage_network_daily
    where period = $period and ($cluster::varchar is null or cluster = $cluster::varchar)
)
select tenant, {columns}, date,
    sum(compute) as compute, sum(idle) as idle, sum(storage) as storage, sum(network) as network,
from parts
group by tenant, {columns}, date
"""
COSTS_LEAVES_DAILY = {
    "namespace": _COSTS_LEAVES_DAILY.format(columns="namespace"),
    "workload": _COSTS_LEAVES_DAILY.format(columns="namespace, workload_kind, workload_name"),
}

# The compute and idle share of the pods with label $label_key, by its value and day; parameters as above.
COSTS_LABEL_DAILY = """
select tenant, label_value, date, sum(compute_cost) as compute, sum(idle_cost) as idle,
from marts.fct_label_costs_daily
where period = $period and ($cluster::varchar is null or cluster = $cluster::varchar) and label_key = $label_key
group by tenant, label_value, date
"""

# The label keys of the pods that ran between $since and $until (included), with how many values each has.
COSTS_LABEL_KEYS = """
select label_key, count(distinct label_value) as label_values,
from marts.fct_label_costs_daily
where date between $since and $until
group by label_key
order by label_key
"""
