-- grain: one cluster, UTC day, scope and estimate flag; key (cluster, date, scope, is_estimated)
-- The in-scope source cost straight from the CUR (instance, cluster_fee, emr, tagged), plus the
-- estimates for node-days the CUR does not cover yet: what every bill must add up to.
with cur as (
    select cluster, date, scope, false as is_estimated, sum(cost) as cost,
    from intermediate.int_cur__in_scope
    group by cluster, date, scope
),

estimates as (
    select cluster, date, 'instance' as scope, true as is_estimated, sum(cost) as cost,
    from intermediate.int_node_hours
    where is_estimated
    group by cluster, date
),

final as (
    select cluster, strftime(date, '%Y-%m') as period, date, scope, is_estimated, cost,
    from (select * from cur union all select * from estimates) as unioned
)

select * from final
