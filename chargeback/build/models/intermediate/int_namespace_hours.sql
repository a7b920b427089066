-- grain: one namespace in one UTC hour in which it had pods; key (cluster, namespace, hour)
-- What the namespace's pods requested, used and cost in the hour: core-hours in an hour are average cores
-- (a pod running half the hour counts half), GiB-hours average GiB; pods = the pods running in the hour, a
-- pod-hour row each (a pod-hour's key is unique in every published build: the checks mart's unique_pod_hours,
-- from int_duplicate_pod_hours, stops a build with a duplicate; a distinct count here took 9 of 10 s at
-- size L). Read by the quota mart; built a day at a time like the pod-hours it sums.
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
        count(*) as pods,
        sum(cpu_cost) as cpu_cost,
        sum(memory_cost) as memory_cost,
        sum(gpu_cost) as gpu_cost,
        sum(idle_cost) as idle_cost,
        sum(cpu_cost + memory_cost + gpu_cost + idle_cost) as total_cost,
    from pod_hours
    group by cluster, period, date, namespace, hour
)

select * from final
