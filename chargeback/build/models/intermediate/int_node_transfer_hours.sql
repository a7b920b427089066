-- grain: one instance's data transfer in one UTC hour; key (cluster, instance_id, hour)
-- docs/method.md#network. The EC2 data-transfer lines of a node's instance id, per hour (a line longer than an
-- hour spread over the node's observed running hours in it, by running time), with the node-hour they belong
-- to (node null: no node-hour, which no pod can take). Read by int_network_pod_shares a day at a time (its day
-- fingerprint covers this model's rows of the day) and by int_network_costs for what no pod took.
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

final as (
    select
        pieces.cluster,
        pieces.instance_id,
        pieces.hour,
        pieces.date,
        nodes.cluster as node_cluster,
        nodes.node,
        coalesce(nodes.is_dedicated, false) as is_dedicated,
        nodes.dedicated_tenant,
        pieces.cost,
    from pieces
    left join nodes on nodes.instance_id = pieces.instance_id and nodes.hour = pieces.hour
)

select * from final
