-- grain: one node in one UTC hour; key (cluster, node, hour)
-- A node-hour's cost, what its pods' split took and what stayed unused (idle), its purchase option,
-- and for dedicated (sole-tenancy) nodes: ghost hours (no pod of the tenant) and cross-tenant pods.
with nodes as (
    select * from intermediate.int_node_hours_allocated
),

pods as (
    select
        cluster,
        node,
        hour,
        sum(cpu_cost + memory_cost + gpu_cost) as split_cost,
        count(case when is_dedicated and namespace_tenant = dedicated_tenant then 1 end) as tenant_pod_count,
        count(case when is_cross_tenant then 1 end) as cross_tenant_pod_count,
    from intermediate.int_pod_hours_priced
    group by cluster, node, hour
),

final as (
    select
        nodes.cluster,
        strftime(nodes.date, '%Y-%m') as period,
        nodes.date,
        nodes.hour,
        nodes.node,
        nodes.instance_id,
        nodes.instance_type,
        nodes.node_group,
        nodes.purchase_option,
        nodes.dedicated_tenant,
        nodes.is_dedicated,
        nodes.is_gpu_node,
        nodes.is_estimated,
        nodes.estimate_source,
        nodes.is_observed,
        nodes.running_hours,
        nodes.cpu_available_core_hours,
        nodes.memory_available_gib_hours,
        nodes.gpu_available_hours,
        nodes.cpu_allocated_core_hours,
        nodes.memory_allocated_gib_hours,
        nodes.gpu_allocated_hours,
        nodes.cpu_price_per_core_hour,
        nodes.memory_price_per_gib_hour,
        nodes.gpu_price_per_gpu_hour,
        nodes.pod_count,
        coalesce(pods.tenant_pod_count, 0) as tenant_pod_count,
        coalesce(pods.cross_tenant_pod_count, 0) as cross_tenant_pod_count,
        nodes.is_dedicated and coalesce(pods.tenant_pod_count, 0) = 0 as is_ghost_hour,
        nodes.cost,
        coalesce(pods.split_cost, 0) as split_cost,
        nodes.cost - coalesce(pods.split_cost, 0) as idle_cost,
        nodes.cpu_split_cost + nodes.memory_split_cost + nodes.gpu_split_cost as split_cost_unrounded,
        nodes.cpu_unused_cost + nodes.memory_unused_cost + nodes.gpu_unused_cost as unused_cost_unrounded,
    from nodes
    left join pods on pods.cluster = nodes.cluster and pods.node = nodes.node and pods.hour = nodes.hour
)

select * from final
