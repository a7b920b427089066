-- grain: one cluster, billing period, tenant, namespace, workload and EMR job run; key all of those
-- The drill-down's leaves for a month (tenant -> namespace -> workload -> EMR job run): the daily marts'
-- compute and idle share (fct_workload_costs_daily) and storage and network (fct_workload_storage_network_daily)
-- summed over the period's days, so the Tenant bill and EMR jobs pages read one row per leaf rather than
-- summing a month of days on every view. Exact sums of exact amounts: the same figures as the daily marts'.
-- pods: pod-days (a pod counted once per day it ran), as the daily mart's sum over days.
with daily as (
    select
        cluster, period, tenant, namespace, workload_kind, workload_name, emr_job_run_id, pods, pod_hours,
        compute_cost, idle_cost,
        cast(0 as decimal(38, 12)) as storage_cost,
        cast(0 as decimal(38, 12)) as network_cost,
    from marts.fct_workload_costs_daily
    union all
    select
        cluster, period, tenant, namespace, workload_kind, workload_name, emr_job_run_id, 0, 0,
        cast(0 as decimal(38, 12)), cast(0 as decimal(38, 12)), storage_cost, network_cost,
    from marts.fct_workload_storage_network_daily
),

final as (
    select
        cluster,
        period,
        tenant,
        namespace,
        workload_kind,
        workload_name,
        emr_job_run_id,
        cast(sum(pods) as bigint) as pods,
        sum(pod_hours) as pod_hours,
        cast(sum(compute_cost) as decimal(38, 12)) as compute_cost,
        cast(sum(idle_cost) as decimal(38, 12)) as idle_cost,
        cast(sum(storage_cost) as decimal(38, 12)) as storage_cost,
        cast(sum(network_cost) as decimal(38, 12)) as network_cost,
    from daily
    group by cluster, period, tenant, namespace, workload_kind, workload_name, emr_job_run_id
)

select * from final
