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
with node_transfer as (
    select
        node_cluster as cluster,
        node,
        date,
        is_dedicated,
        dedicated_tenant,
        cost,
    from intermediate.int_node_transfer_hours
    where node is not null
),

pieces as (
    select cluster, date, cost, from intermediate.int_node_transfer_hours
),

pod_shares as (
    select cluster, node, date, pod_uid, namespace, tenant, component, amount,
    from intermediate.int_network_pod_shares
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
