-- grain: one namespace in one UTC hour in which it had pods; key (cluster, namespace, hour)
-- What the namespace's pods requested, used and cost in the hour: core-hours in an hour are average cores
-- (a pod running half the hour counts half), GiB-hours average GiB; pods = distinct pods running in the
-- hour; pod_hour_rows, which equals it unless a pod-hour is duplicated (see the checks mart). Read by the quota mart
-- and the checks; built a day at a time like the pod-hours it sums.
-- incremental: day
with pod_hours as (
    select * from intermediate.int_pod_hours_priced
),

final as (
    select
        cluster,
        period,
        date,
        namespace,
        hour,
        sum(cpu_request_core_hours) as cpu_request_cores,
        sum(cpu_usage_core_hours) as cpu_usage_cores,
        sum(memory_request_gib_hours) as memory_request_gib,
        sum(memory_usage_gib_hours) as memory_usage_gib,
        sum(gpu_request_hours) as gpu_request,
        count(distinct pod_uid) as pods,
        count(*) as pod_hour_rows,
        sum(cpu_cost) as cpu_cost,
        sum(memory_cost) as memory_cost,
        sum(gpu_cost) as gpu_cost,
        sum(idle_cost) as idle_cost,
        sum(cpu_cost + memory_cost + gpu_cost + idle_cost) as total_cost,
    from pod_hours
    group by cluster, period, date, namespace, hour
)

select * from final
