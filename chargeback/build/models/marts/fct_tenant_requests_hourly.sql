-- grain: one tenant's pod-hours in one UTC hour of a cluster, by pool and node kind; key (cluster, hour, tenant,
-- pool, is_dedicated, is_own_dedicated_node)
-- What the tenancy what-if of the capacity report reads (chargeback.reports.capacity), summed from the priced
-- pod-hours so the page never scans them: requests per hour (peaks on shared nodes, per pool: pod-hours
-- requesting GPUs are 'gpu', else 'general') and allocations (a dedicated node's own tenant's pods). Built a day at
-- a time like the pod-hours it sums.
-- incremental: day
with pod_hours as (
    select * from intermediate.int_pod_hours_priced
    where tenant is not null
),

final as (
    select
        cluster,
        period,
        date,
        hour,
        tenant,
        case when gpu_request_hours > 0 then 'gpu' else 'general' end as pool,
        is_dedicated,
        -- a pod of the tenant a dedicated node is for (not another tenant's, nor a shared namespace's, placed on it)
        coalesce(is_dedicated and namespace_tenant = dedicated_tenant, false) as is_own_dedicated_node,
        sum(cpu_request_core_hours) as cpu_request_core_hours,
        sum(memory_request_gib_hours) as memory_request_gib_hours,
        sum(gpu_request_hours) as gpu_request_hours,
        sum(cpu_allocated_core_hours) as cpu_allocated_core_hours,
        sum(memory_allocated_gib_hours) as memory_allocated_gib_hours,
    from pod_hours
    group by cluster, period, date, hour, tenant, pool, is_dedicated, is_own_dedicated_node
)

select * from final
