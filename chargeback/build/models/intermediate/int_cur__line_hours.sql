-- grain: one in-scope storage, load-balancer or cluster-overhead CUR line in one cluster and UTC hour; key (line_item_id, cluster, hour)
-- A line longer than an hour (daily EBS, load-balancer and NAT lines) is spread evenly over its hours
-- (docs/method.md#lines-longer-than-an-hour): each hour takes cost / n rounded to 12 places, the last hour the
-- remainder, so the hours add up to the line exactly. Data transfer is spread over its node's running hours
-- instead (int_network_hours).
with lines as (
    select
        *,
        greatest(date_diff('hour', date_trunc('hour', usage_start), usage_end), 1) as hours,
    from intermediate.int_cur__in_scope
    where scope in ('pv_volume', 'node_volume', 'load_balancer', 'overhead')
),

exploded as (
    select
        line_item_id,
        cluster,
        scope,
        resource_id,
        load_balancer_stack,
        cost,
        hours,
        unnest(
            generate_series(
                date_trunc('hour', usage_start),
                greatest(usage_end - interval 1 second, date_trunc('hour', usage_start)),
                interval 1 hour
            )
        ) as hour,
    from lines
),

numbered as (
    select
        *,
        row_number() over (partition by line_item_id, cluster order by hour) as hour_index,
        cast(round(cost / hours, 12) as decimal(38, 12)) as even_piece,
    from exploded
),

final as (
    select
        line_item_id,
        cluster,
        scope,
        resource_id,
        load_balancer_stack,
        hour,
        cast(hour as date) as date,
        cast(case when hour_index = hours then cost - (hours - 1) * even_piece else even_piece end as decimal(38, 12))
            as cost,
    from numbered
)

select * from final
