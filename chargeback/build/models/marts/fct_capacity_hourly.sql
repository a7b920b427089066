-- grain: one cluster, node group and UTC hour; key (cluster, node_group, hour)
-- Capacity of a node group in an hour: nodes, available core/GiB-hours (nominal size × fraction of the hour
-- run), requested core/GiB-hours (the pods' requests on those nodes, i.e. reserved capacity), spot
-- node-hours and the nodes' cost. Nodes without the eks.amazonaws.com/nodegroup label form the group ''.
with nodes as (
    select * from marts.fct_node_costs_hourly
),

pods as (
    select
        cluster,
        node,
        hour,
        sum(cpu_request_core_hours) as cpu_requested_core_hours,
        sum(memory_request_gib_hours) as memory_requested_gib_hours,
        sum(gpu_request_hours) as gpu_requested_hours,
    from marts.fct_pod_costs_hourly
    where has_node_hour
    group by cluster, node, hour
),

final as (
    select
        nodes.cluster,
        any_value(nodes.period) as period,
        any_value(nodes.date) as date,
        nodes.hour,
        coalesce(nodes.node_group, '') as node_group,
        count(distinct nodes.node) as nodes,
        sum(nodes.running_hours) as node_hours,
        sum(case when nodes.purchase_option = 'spot' then nodes.running_hours else 0 end) as spot_node_hours,
        sum(nodes.cpu_available_core_hours) as cpu_available_core_hours,
        sum(nodes.memory_available_gib_hours) as memory_available_gib_hours,
        sum(nodes.gpu_available_hours) as gpu_available_hours,
        sum(coalesce(pods.cpu_requested_core_hours, 0)) as cpu_requested_core_hours,
        sum(coalesce(pods.memory_requested_gib_hours, 0)) as memory_requested_gib_hours,
        sum(coalesce(pods.gpu_requested_hours, 0)) as gpu_requested_hours,
        sum(nodes.cost) as cost,
    from nodes
    left join pods on pods.cluster = nodes.cluster and pods.node = nodes.node and pods.hour = nodes.hour
    group by nodes.cluster, nodes.hour, coalesce(nodes.node_group, '')
)

select * from final
