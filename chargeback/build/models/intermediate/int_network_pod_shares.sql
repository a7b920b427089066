-- grain: one pod's shares of its node's data transfer in a UTC day; key (cluster, date, node, pod_uid, namespace,
-- tenant, component)
-- docs/method.md#network. Each node-hour's transfer (int_node_transfer_hours; not a dedicated node's, which goes
-- whole to its tenant in int_network_costs) split over the pods on that node-hour in proportion to their bytes
-- received + transmitted in the hour; host-network pods (their counters are the host's) take no byte share. If
-- no pod on the node-hour has byte data, by the pods' split-cost shares (all pods), else evenly. Each pod-hour's
-- share is rounded to DECIMAL(38, 12) per node-hour, then summed per pod and day. Pods of shared namespaces:
-- __shared__. Built a day at a time, from the day's priced pod-hours and node-hour transfer.
-- incremental: day
with node_transfer as (
    select
        node_cluster as cluster,
        node,
        hour,
        date,
        sum(cost) as cost,
    from intermediate.int_node_transfer_hours
    where node is not null and not is_dedicated
    group by node_cluster, node, hour, date
),

-- the pod-hours of node-hours with transfer to split, with their bytes and the node-hour's transfer (each relation
-- here is read once, so a build of one day reads one day of the priced pod-hours)
pods as (
    select
        priced.cluster,
        priced.node,
        priced.hour,
        priced.date,
        priced.pod_uid,
        priced.namespace,
        case when priced.is_shared then '__shared__' else priced.namespace_tenant end as tenant,
        case when priced.is_shared then 'shared' else 'network' end as component,
        priced.cpu_cost + priced.memory_cost + priced.gpu_cost as split_cost,
        priced.network_bytes,
        node_transfer.cost as node_cost,
    from intermediate.int_pod_hours_priced as priced
    inner join node_transfer
        on node_transfer.cluster = priced.cluster
        and node_transfer.node = priced.node
        and node_transfer.hour = priced.hour
),

-- every node-hour's pods (those of node-hours without transfer too: only the ones joined are used)
node_totals as (
    select
        cluster,
        node,
        hour,
        date,
        sum(coalesce(network_bytes, 0)) as node_bytes,
        sum(cpu_cost + memory_cost + gpu_cost) as node_split_cost,
        count(*) as node_pods,
    from intermediate.int_pod_hours_priced
    group by cluster, node, hour, date
),

-- each pod's shares of its node-hours' transfer, summed over the day
pod_shares as (
    select
        pods.cluster,
        pods.node,
        pods.date,
        pods.pod_uid,
        pods.namespace,
        pods.tenant,
        pods.component,
        sum(cast(
            cast(pods.node_cost as double) * case
                when totals.node_bytes > 0 then coalesce(pods.network_bytes, 0) / totals.node_bytes
                when totals.node_split_cost > 0
                    then cast(pods.split_cost as double) / cast(totals.node_split_cost as double)
                else 1.0 / totals.node_pods
            end as decimal(38, 12)
        )) as amount,
    from pods
    inner join node_totals as totals
        on totals.cluster = pods.cluster
        and totals.node = pods.node
        and totals.hour = pods.hour
        and totals.date = pods.date
    group by pods.cluster, pods.node, pods.date, pods.pod_uid, pods.namespace, pods.tenant, pods.component
)

select * from pod_shares
