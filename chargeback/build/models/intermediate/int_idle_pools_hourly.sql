-- grain: one cluster in one UTC hour; key (cluster, hour)
-- For idle mode `cluster`: the unused cost of each resource over the cluster's non-dedicated nodes,
-- and the split cost of that resource it is shared in proportion to.
with nodes as (
    select * from intermediate.int_node_hours_allocated where not is_dedicated
),

final as (
    select
        cluster,
        hour,
        sum(cpu_unused_cost) as cpu_unused_cost,
        sum(memory_unused_cost) as memory_unused_cost,
        sum(gpu_unused_cost) as gpu_unused_cost,
        sum(cpu_split_cost) as cpu_split_cost,
        sum(memory_split_cost) as memory_split_cost,
        sum(gpu_split_cost) as gpu_split_cost,
    from nodes
    group by cluster, hour
)

select * from final
