-- grain: one cluster, UTC day, tenant, namespace, workload and EMR job run; key all of those
-- Pod costs rolled up for the dashboard's drill-down (tenant -> namespace -> workload -> EMR job run),
-- so pages never scan pod-hours. Built a day at a time, from the day's pod-days (one row per pod and
-- tenant: pods are counted by counting them).
-- incremental: day
with pod_days as (
    select * from intermediate.int_pod_days
),

final as (
    select
        cluster,
        period,
        date,
        tenant,
        namespace,
        workload_kind,
        workload_name,
        emr_job_run_id,
        count(*) as pods,
        sum(running_hours) as pod_hours,
        sum(cpu_request_core_hours) as cpu_request_core_hours,
        sum(cpu_usage_core_hours) as cpu_usage_core_hours,
        sum(memory_request_gib_hours) as memory_request_gib_hours,
        sum(memory_usage_gib_hours) as memory_usage_gib_hours,
        sum(cpu_cost + memory_cost + gpu_cost) as compute_cost,
        sum(idle_cost) as idle_cost,
        sum(cpu_cost + memory_cost + gpu_cost + idle_cost) as total_cost,
        -- of compute_cost, what paid for requested CPU and memory the pods did not use (int_pod_days)
        sum(cpu_unused_request_cost) as cpu_unused_request_cost,
        sum(memory_unused_request_cost) as memory_unused_request_cost,
    from pod_days
    group by cluster, period, date, tenant, namespace, workload_kind, workload_name, emr_job_run_id
)

select * from final
