-- grain: one pod's shares of its node's data transfer in a UTC day, a dedicated node's transfer in a day, or a
-- cluster-day's transfer no pod took; key (cluster, date, node, pod_uid, namespace, tenant, component)
-- docs/method.md#network. EC2 data-transfer lines of a node's instance id, per node-hour (a line longer than an
-- hour spread over the node's observed running hours in it, by running time), split over the pods on that
-- node-hour in proportion to their bytes received + transmitted in the hour; host-network pods (their counters
-- are the host's) take no byte share. If no pod on the node-hour has byte data, by the pods' split-cost shares
-- (all pods), else evenly. A dedicated node's transfer goes whole to its tenant (pod_uid null). What reaches no
-- pod (a node-hour with no pods, a line with no node-hour, rounding dust) is one __idle__ row per cluster-day
-- (node null), so the rows add up to the lines. Pods of shared namespaces: __shared__. Each pod-hour's share is
-- computed (and rounded to DECIMAL(38, 12)) per node-hour, then summed per pod and day: a pod-day row, not a
-- row per pod-hour, is what the bill and the drill-down read.
with transfer as (
    select * from intermediate.int_cur__in_scope where scope = 'data_transfer'
),

nodes as (
    select cluster, node, instance_id, hour, date, running_hours, is_dedicated, dedicated_tenant,
    from intermediate.int_node_hours
    where instance_id is not null
),

hourly_pieces as (
    select cluster, resource_id as instance_id, hour, cost,
    from transfer
    where usage_end <= usage_start + interval 1 hour
),

long_lines as (
    select * from transfer where usage_end > usage_start + interval 1 hour
),

-- the node's observed running time (Prometheus), as for its instance lines in int_node_hours: not an hour only the
-- CUR billed, which has no pods to take a share
long_observed as (
    select
        long_lines.line_item_id,
        observed.hour,
        observed.running_hours,
        sum(observed.running_hours) over (partition by long_lines.line_item_id) as line_running_hours,
    from long_lines
    inner join staging.stg_prometheus__node_hours as observed
        on observed.instance_id = long_lines.resource_id
        and observed.hour >= long_lines.usage_start
        and observed.hour < long_lines.usage_end
        and observed.running_hours > 0
),

long_pieces as (
    select
        long_lines.cluster,
        long_lines.resource_id as instance_id,
        coalesce(long_observed.hour, long_lines.hour) as hour,
        case
            when long_observed.line_item_id is null then long_lines.cost
            else cast(
                cast(long_lines.cost as double) * long_observed.running_hours / long_observed.line_running_hours
                as decimal(38, 12)
            )
        end as cost,
    from long_lines
    left join long_observed on long_observed.line_item_id = long_lines.line_item_id
),

pieces as (
    select cluster, instance_id, hour, cast(hour as date) as date, sum(cost) as cost,
    from (select * from hourly_pieces union all select * from long_pieces) as unioned
    group by cluster, instance_id, hour
),

node_transfer as (
    select nodes.cluster, nodes.node, nodes.hour, nodes.date, nodes.is_dedicated, nodes.dedicated_tenant,
        sum(pieces.cost) as cost,
    from pieces
    inner join nodes on nodes.instance_id = pieces.instance_id and nodes.hour = pieces.hour
    group by all
),

-- the pod-hours of node-hours with transfer to split (not a dedicated node's), with their bytes
pods as (
    select
        priced.cluster,
        priced.node,
        priced.hour,
        priced.pod_uid,
        priced.namespace,
        case when priced.is_shared then '__shared__' else priced.namespace_tenant end as tenant,
        case when priced.is_shared then 'shared' else 'network' end as component,
        priced.cpu_cost + priced.memory_cost + priced.gpu_cost as split_cost,
        priced.network_bytes,
    from intermediate.int_pod_hours_priced as priced
    inner join node_transfer
        on node_transfer.cluster = priced.cluster
        and node_transfer.node = priced.node
        and node_transfer.hour = priced.hour
        and not node_transfer.is_dedicated
),

node_totals as (
    select
        cluster,
        node,
        hour,
        sum(coalesce(network_bytes, 0)) as node_bytes,
        sum(split_cost) as node_split_cost,
        count(*) as node_pods,
    from pods
    group by cluster, node, hour
),

-- each pod's shares of its node-hours' transfer, summed over the day
pod_shares as (
    select
        node_transfer.cluster,
        node_transfer.node,
        node_transfer.date,
        pods.pod_uid,
        pods.namespace,
        pods.tenant,
        pods.component,
        sum(cast(
            cast(node_transfer.cost as double) * case
                when totals.node_bytes > 0 then coalesce(pods.network_bytes, 0) / totals.node_bytes
                when totals.node_split_cost > 0
                    then cast(pods.split_cost as double) / cast(totals.node_split_cost as double)
                else 1.0 / totals.node_pods
            end as decimal(38, 12)
        )) as amount,
    from node_transfer
    inner join node_totals as totals
        on totals.cluster = node_transfer.cluster
        and totals.node = node_transfer.node
        and totals.hour = node_transfer.hour
    inner join pods
        on pods.cluster = node_transfer.cluster
        and pods.node = node_transfer.node
        and pods.hour = node_transfer.hour
    group by node_transfer.cluster, node_transfer.node, node_transfer.date, pods.pod_uid, pods.namespace, pods.tenant,
        pods.component
),

dedicated as (
    select cluster, node, date, cast(null as varchar) as pod_uid, cast(null as varchar) as namespace,
        dedicated_tenant as tenant, 'network' as component, sum(cost) as amount,
    from node_transfer
    where is_dedicated
    group by cluster, node, date, dedicated_tenant
),

allocated as (
    select * from pod_shares
    union all
    select * from dedicated
),

left_over as (
    select
        totals.cluster,
        cast(null as varchar) as node,
        totals.date,
        cast(null as varchar) as pod_uid,
        cast(null as varchar) as namespace,
        '__idle__' as tenant,
        'network' as component,
        totals.cost - coalesce(taken.amount, 0) as amount,
    from (select cluster, date, sum(cost) as cost from pieces group by cluster, date) as totals
    left join (select cluster, date, sum(amount) as amount from allocated group by cluster, date) as taken
        on taken.cluster = totals.cluster and taken.date = totals.date
),

final as (
    select * from allocated
    union all
    select * from left_over where amount <> 0
)

select * from final
