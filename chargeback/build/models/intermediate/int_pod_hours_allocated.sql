-- grain: one pod in one UTC hour; key (cluster, pod_uid, hour)
-- What each pod-hour allocated of each resource: allocated = max(reserved, actual)
-- (docs/method.md#inputs-per-pod-hour); GPU
-- actual is GPU reserved. Node sums read this, not int_pod_hours, so they do not run its metadata joins.
-- materialized: view
with pod_hours as (
    select * from staging.stg_prometheus__pod_hours
),

final as (
    select
        *,
        greatest(cpu_request_core_hours, cpu_usage_core_hours) as cpu_allocated_core_hours,
        greatest(memory_request_gib_hours, memory_usage_gib_hours) as memory_allocated_gib_hours,
        gpu_request_hours as gpu_allocated_hours,
    from pod_hours
)

select * from final
