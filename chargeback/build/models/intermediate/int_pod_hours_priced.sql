-- grain: one pod in one UTC hour; key (cluster, pod_uid, hour)
-- Split cost per resource: allocated / max(sum allocated, available) * available * price
-- (docs/method.md#split-cost-and-unused-cost).
-- Idle share under the configured mode (docs/method.md#idle-modes): `node` shares each resource's unused
-- cost among the node's pods by allocation (AWS's split_line_item_unused_cost); `cluster` shares the cluster-hour pool by
-- split cost; `separate` shares nothing. Pods on dedicated nodes always take the node-mode share, and
-- their whole cost goes to the node's tenant. Amounts are cast to DECIMAL here, once: DECIMAL(18, 12), as no
-- pod-hour costs $1M (half the bytes of DECIMAL(38, 12); sums widen to 38 digits).
-- Built a day at a time: a build keeps the days whose inputs are unchanged (chargeback/build/incremental.py).
-- incremental: day
with settings as (
    select * from config.settings
),

pods as (
    select * from intermediate.int_pod_hours
),

split as (
    select
        pods.*,
        coalesce(nodes.is_dedicated, false) as is_dedicated,
        nodes.dedicated_tenant,
        coalesce(nodes.is_estimated, false) as is_estimated,
        nodes.node is not null as has_node_hour,
        case when nodes.cpu_allocated_core_hours > 0
            then pods.cpu_allocated_core_hours
                / greatest(nodes.cpu_allocated_core_hours, nodes.cpu_available_core_hours)
                * nodes.cpu_available_core_hours * nodes.cpu_price_per_core_hour
            else 0 end as cpu_split,
        case when nodes.memory_allocated_gib_hours > 0
            then pods.memory_allocated_gib_hours
                / greatest(nodes.memory_allocated_gib_hours, nodes.memory_available_gib_hours)
                * nodes.memory_available_gib_hours * nodes.memory_price_per_gib_hour
            else 0 end as memory_split,
        case when nodes.gpu_allocated_hours > 0
            then pods.gpu_allocated_hours
                / greatest(nodes.gpu_allocated_hours, nodes.gpu_available_hours)
                * nodes.gpu_available_hours * nodes.gpu_price_per_gpu_hour
            else 0 end as gpu_split,
        case when nodes.cpu_allocated_core_hours > 0
            then nodes.cpu_unused_cost * pods.cpu_allocated_core_hours / nodes.cpu_allocated_core_hours
            else 0 end
        + case when nodes.memory_allocated_gib_hours > 0
            then nodes.memory_unused_cost * pods.memory_allocated_gib_hours / nodes.memory_allocated_gib_hours
            else 0 end
        + case when nodes.gpu_allocated_hours > 0
            then nodes.gpu_unused_cost * pods.gpu_allocated_hours / nodes.gpu_allocated_hours
            else 0 end as node_idle_share,
    from pods
    left join intermediate.int_node_hours_allocated as nodes
        on nodes.cluster = pods.cluster and nodes.node = pods.node and nodes.hour = pods.hour
),

shared_idle as (
    select
        split.*,
        case
            when split.is_dedicated or settings.idle_mode = 'node' then split.node_idle_share
            when settings.idle_mode = 'cluster' and split.has_node_hour then
                case when pools.cpu_split_cost > 0
                    then pools.cpu_unused_cost * split.cpu_split / pools.cpu_split_cost else 0 end
                + case when pools.memory_split_cost > 0
                    then pools.memory_unused_cost * split.memory_split / pools.memory_split_cost else 0 end
                + case when pools.gpu_split_cost > 0
                    then pools.gpu_unused_cost * split.gpu_split / pools.gpu_split_cost else 0 end
            else 0
        end as idle_share,
    from split
    cross join settings
    left join intermediate.int_idle_pools_hourly as pools
        on pools.cluster = split.cluster and pools.hour = split.hour
),

final as (
    select
        cluster,
        strftime(date, '%Y-%m') as period,
        date,
        hour,
        node,
        namespace,
        pod,
        pod_uid,
        workload_kind,
        workload_name,
        emr_job_run_id,
        emr_virtual_cluster_id,
        spark_role,
        namespace_tenant,
        tenant_source,
        is_shared,
        is_dedicated,
        dedicated_tenant,
        case when is_dedicated then dedicated_tenant else namespace_tenant end as tenant,
        is_dedicated and not is_shared and namespace_tenant <> dedicated_tenant as is_cross_tenant,
        is_estimated,
        has_node_hour,
        running_hours,
        cpu_request_core_hours,
        cpu_usage_core_hours,
        cpu_allocated_core_hours,
        memory_request_gib_hours,
        memory_usage_gib_hours,
        memory_allocated_gib_hours,
        gpu_request_hours,
        gpu_allocated_hours,
        network_bytes,
        cpu_split + memory_split + gpu_split as split_cost_unrounded,
        cast(cpu_split as decimal(18, 12)) as cpu_cost,
        cast(memory_split as decimal(18, 12)) as memory_cost,
        cast(gpu_split as decimal(18, 12)) as gpu_cost,
        cast(idle_share as decimal(18, 12)) as idle_cost,
    from shared_idle
)

select * from final
