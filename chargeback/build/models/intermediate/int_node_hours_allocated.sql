-- grain: one node in one UTC hour; key (cluster, node, hour)
-- What the node's pods allocated of each resource, and the unused cost of each resource:
-- unused_r = max(available_r - sum(allocated_r), 0) * price_r. Split plus unused equals the node's cost.
-- Built a day at a time, from the day's node-hours and pod-hours (a new day does not sum the month's pod-hours).
-- incremental: day
with nodes as (
    select * from intermediate.int_node_hours
),

allocations as (
    select
        cluster,
        node,
        hour,
        count(*) as pod_count,
        sum(cpu_allocated_core_hours) as cpu_allocated_core_hours,
        sum(memory_allocated_gib_hours) as memory_allocated_gib_hours,
        sum(gpu_allocated_hours) as gpu_allocated_hours,
    from intermediate.int_pod_hours_allocated
    group by cluster, node, hour
),

final as (
    select
        nodes.*,
        coalesce(allocations.pod_count, 0) as pod_count,
        coalesce(allocations.cpu_allocated_core_hours, 0) as cpu_allocated_core_hours,
        coalesce(allocations.memory_allocated_gib_hours, 0) as memory_allocated_gib_hours,
        coalesce(allocations.gpu_allocated_hours, 0) as gpu_allocated_hours,
        least(coalesce(allocations.cpu_allocated_core_hours, 0), nodes.cpu_available_core_hours)
            * nodes.cpu_price_per_core_hour as cpu_split_cost,
        least(coalesce(allocations.memory_allocated_gib_hours, 0), nodes.memory_available_gib_hours)
            * nodes.memory_price_per_gib_hour as memory_split_cost,
        least(coalesce(allocations.gpu_allocated_hours, 0), nodes.gpu_available_hours)
            * nodes.gpu_price_per_gpu_hour as gpu_split_cost,
        greatest(nodes.cpu_available_core_hours - coalesce(allocations.cpu_allocated_core_hours, 0), 0)
            * nodes.cpu_price_per_core_hour as cpu_unused_cost,
        greatest(nodes.memory_available_gib_hours - coalesce(allocations.memory_allocated_gib_hours, 0), 0)
            * nodes.memory_price_per_gib_hour as memory_unused_cost,
        greatest(nodes.gpu_available_hours - coalesce(allocations.gpu_allocated_hours, 0), 0)
            * nodes.gpu_price_per_gpu_hour as gpu_unused_cost,
    from nodes
    left join allocations
        on allocations.cluster = nodes.cluster
        and allocations.node = nodes.node
        and allocations.hour = nodes.hour
)

select * from final
