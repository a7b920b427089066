-- grain: one pod-hour whose raw values broke a value rule; key (cluster, pod_uid, hour)
-- A corrected pod-hour's cost both ways (docs/method.md#validation): as corrected, what it is billed (split plus
-- idle share, int_pod_hours_priced); with its raw values, the same formulas on its node-hour with its raw
-- allocation in place of the corrected one and every other pod as corrected: split
-- a / max(S', available) * available * price per resource, S' the node's allocation with the raw value, plus
-- the idle share of the configured mode (`cluster`: at the cluster-hour pool's rate as built). What the bill
-- would have said for that row without validation. Null where a raw value is not a number; 0 on a node-hour
-- nobody knows (such pod-hours are priced at 0 either way).
with settings as (
    select * from config.settings
),

corrections as (
    select * from intermediate.int_pod_hour_corrections
),

joined as (
    select
        corrections.*,
        priced.tenant,
        coalesce(priced.is_dedicated, false) as is_dedicated,
        coalesce(priced.has_node_hour, false) as has_node_hour,
        coalesce(priced.cpu_cost + priced.memory_cost + priced.gpu_cost + priced.idle_cost, 0) as cost_as_corrected,
        nodes.cpu_available_core_hours,
        nodes.memory_available_gib_hours,
        nodes.gpu_available_hours,
        nodes.cpu_price_per_core_hour,
        nodes.memory_price_per_gib_hour,
        nodes.gpu_price_per_gpu_hour,
        nodes.cpu_allocated_core_hours - priced.cpu_allocated_core_hours + corrections.cpu_allocated_core_hours_raw
            as cpu_node_allocated_raw,
        nodes.memory_allocated_gib_hours - priced.memory_allocated_gib_hours
            + corrections.memory_allocated_gib_hours_raw as memory_node_allocated_raw,
        nodes.gpu_allocated_hours - priced.gpu_allocated_hours + corrections.gpu_allocated_hours_raw
            as gpu_node_allocated_raw,
        pools.cpu_unused_cost as pool_cpu_unused_cost,
        pools.memory_unused_cost as pool_memory_unused_cost,
        pools.gpu_unused_cost as pool_gpu_unused_cost,
        pools.cpu_split_cost as pool_cpu_split_cost,
        pools.memory_split_cost as pool_memory_split_cost,
        pools.gpu_split_cost as pool_gpu_split_cost,
        isfinite(corrections.cpu_allocated_core_hours_raw) and isfinite(corrections.memory_allocated_gib_hours_raw)
            and isfinite(corrections.gpu_allocated_hours_raw) as raw_is_number,
    from corrections
    left join intermediate.int_pod_hours_priced as priced
        on priced.cluster = corrections.cluster and priced.pod_uid = corrections.pod_uid and priced.hour = corrections.hour
    left join intermediate.int_node_hours_allocated as nodes
        on nodes.cluster = corrections.cluster and nodes.node = corrections.node and nodes.hour = corrections.hour
    left join intermediate.int_idle_pools_hourly as pools
        on pools.cluster = corrections.cluster and pools.hour = corrections.hour
),

split as (
    select
        joined.*,
        case when cpu_node_allocated_raw > 0
            then cpu_allocated_core_hours_raw / greatest(cpu_node_allocated_raw, cpu_available_core_hours)
                * cpu_available_core_hours * cpu_price_per_core_hour
            else 0 end as cpu_split_raw,
        case when memory_node_allocated_raw > 0
            then memory_allocated_gib_hours_raw / greatest(memory_node_allocated_raw, memory_available_gib_hours)
                * memory_available_gib_hours * memory_price_per_gib_hour
            else 0 end as memory_split_raw,
        case when gpu_node_allocated_raw > 0
            then gpu_allocated_hours_raw / greatest(gpu_node_allocated_raw, gpu_available_hours)
                * gpu_available_hours * gpu_price_per_gpu_hour
            else 0 end as gpu_split_raw,
        case when cpu_node_allocated_raw > 0
            then greatest(cpu_available_core_hours - cpu_node_allocated_raw, 0) * cpu_price_per_core_hour
                * cpu_allocated_core_hours_raw / cpu_node_allocated_raw
            else 0 end
        + case when memory_node_allocated_raw > 0
            then greatest(memory_available_gib_hours - memory_node_allocated_raw, 0) * memory_price_per_gib_hour
                * memory_allocated_gib_hours_raw / memory_node_allocated_raw
            else 0 end
        + case when gpu_node_allocated_raw > 0
            then greatest(gpu_available_hours - gpu_node_allocated_raw, 0) * gpu_price_per_gpu_hour
                * gpu_allocated_hours_raw / gpu_node_allocated_raw
            else 0 end as node_idle_raw,
    from joined
),

priced as (
    select
        split.*,
        case
            when not split.has_node_hour then 0
            when not split.raw_is_number then null
            else split.cpu_split_raw + split.memory_split_raw + split.gpu_split_raw
                + case
                    when split.is_dedicated or settings.idle_mode = 'node' then split.node_idle_raw
                    when settings.idle_mode = 'cluster' then
                        case when split.pool_cpu_split_cost > 0
                            then split.pool_cpu_unused_cost * split.cpu_split_raw / split.pool_cpu_split_cost else 0 end
                        + case when split.pool_memory_split_cost > 0
                            then split.pool_memory_unused_cost * split.memory_split_raw / split.pool_memory_split_cost
                            else 0 end
                        + case when split.pool_gpu_split_cost > 0
                            then split.pool_gpu_unused_cost * split.gpu_split_raw / split.pool_gpu_split_cost else 0 end
                    else 0
                end
        end as cost_with_raw_double,
    from split
    cross join settings
),

final as (
    select
        cluster,
        date,
        hour,
        node,
        namespace,
        pod,
        pod_uid,
        file,
        rules,
        original_values,
        corrected_values,
        tenant,
        is_dedicated,
        cast(cost_as_corrected as decimal(38, 12)) as cost_as_corrected,
        -- beyond 1e15 (a raw value near zero or astronomically large) the figure means nothing: null
        case when abs(cost_with_raw_double) < 1e15 then cast(cost_with_raw_double as decimal(38, 12)) end
            as cost_with_raw_value,
    from priced
)

select * from final
