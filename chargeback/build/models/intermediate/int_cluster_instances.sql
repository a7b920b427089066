-- grain: one EC2 instance that was a node of a cluster; key instance_id
-- The set of instance ids whose CUR lines are in scope, and the node each one was last seen as.
with node_hours as (
    select * from staging.stg_prometheus__node_hours where instance_id is not null
),

final as (
    select
        instance_id,
        max_by(cluster, hour) as cluster,
        max_by(node, hour) as node,
        max_by(instance_type, hour) as instance_type,
        max_by(node_group, hour) as node_group,
        max_by(capacity_type_label, hour) as capacity_type_label,
    from node_hours
    group by instance_id
)

select * from final
