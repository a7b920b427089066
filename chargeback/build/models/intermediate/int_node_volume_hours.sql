-- grain: one node volume's CUR line in one UTC hour; key (line_item_id, cluster, hour)
-- docs/method.md#storage. A volume attached to a node and backing no PV (root and data volumes) is part of its
-- node's cost: each hour of its line goes to the instance EC2 last saw it attached to (the latest snapshot at or
-- before the hour, else the earliest after it; a snapshot that saw it detached counts: instance_id null).
-- int_node_hours adds each piece to its node-hour; a piece with no instance goes to __idle__ (int_cost_lines).
with pieces as (
    select * from intermediate.int_cur__line_hours where scope = 'node_volume'
),

-- the snapshots of the volumes with such lines only (not of every PV volume: most of the snapshots)
node_volumes as (
    select distinct resource_id as volume_id from pieces
),

attachments as (
    select
        snapshots.volume_id,
        date_trunc('hour', snapshots.collected_at) as hour,
        max(coalesce(snapshots.instance_id, '')) as attached_to,
    from staging.stg_ec2__volumes as snapshots
    inner join node_volumes on node_volumes.volume_id = snapshots.volume_id
    group by snapshots.volume_id, date_trunc('hour', snapshots.collected_at)
),

timeline as (
    select resource_id as volume_id, hour, cast(null as varchar) as attached_to, 1 as kind, line_item_id, cluster,
    from pieces
    union all
    select volume_id, hour, attached_to, 0 as kind, cast(null as bigint) as line_item_id,
        cast(null as varchar) as cluster,
    from attachments
),

filled as (
    select
        *,
        coalesce(
            last_value(attached_to ignore nulls) over (
                partition by volume_id order by hour, kind rows between unbounded preceding and current row
            ),
            first_value(attached_to ignore nulls) over (
                partition by volume_id order by hour, kind rows between current row and unbounded following
            )
        ) as instance_attached,
    from timeline
),

final as (
    select
        pieces.line_item_id,
        pieces.cluster,
        pieces.resource_id as volume_id,
        nullif(filled.instance_attached, '') as instance_id,
        pieces.hour,
        pieces.date,
        pieces.cost,
    from pieces
    left join filled
        on filled.kind = 1
        and filled.line_item_id = pieces.line_item_id
        and filled.cluster = pieces.cluster
        and filled.hour = pieces.hour
)

select * from final
