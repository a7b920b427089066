-- grain: one cluster, UTC day and tenant receiving shared cost; key (cluster, date, tenant)
-- The __shared__ pool of a cluster-day (pods of shared namespaces on shared nodes, cluster fees) is
-- `weighted`: spread over tenants by their direct cost that day (compute + idle + storage + network + EMR, sole tenants
-- included, sentinels not); `even`: equal parts per tenant with direct cost; `separate`: kept. What is
-- not spread (separate mode, a day without tenants, sub-micro-cent rounding) stays on __shared__.
with settings as (
    select * from config.settings
),

lines as (
    select * from intermediate.int_cost_lines
),

pools as (
    select cluster, date, sum(amount) as pool,
    from lines
    where tenant = '__shared__'
    group by cluster, date
),

direct as (
    select cluster, date, tenant, sum(amount) as direct_cost,
    from lines
    where tenant not in ('__idle__', '__shared__', '__unallocated__')
        and component in ('compute', 'idle', 'storage', 'network', 'emr')
    group by cluster, date, tenant
    having sum(amount) > 0
),

direct_totals as (
    select cluster, date, sum(direct_cost) as direct_total, count(*) as tenant_count,
    from direct
    group by cluster, date
),

shares as (
    select
        direct.cluster,
        direct.date,
        direct.tenant,
        cast(
            case settings.shared_mode
                when 'weighted'
                    then cast(pools.pool as double) * cast(direct.direct_cost as double)
                        / cast(direct_totals.direct_total as double)
                else cast(pools.pool as double) / direct_totals.tenant_count
            end as decimal(38, 12)
        ) as amount,
    from direct
    cross join settings
    inner join direct_totals on direct_totals.cluster = direct.cluster and direct_totals.date = direct.date
    inner join pools on pools.cluster = direct.cluster and pools.date = direct.date
    where settings.shared_mode <> 'separate'
),

spread as (
    select cluster, date, sum(amount) as spread from shares group by cluster, date
),

final as (
    select cluster, date, tenant, amount from shares
    union all
    select
        pools.cluster,
        pools.date,
        '__shared__' as tenant,
        pools.pool - coalesce(spread.spread, 0) as amount,
    from pools
    left join spread on spread.cluster = pools.cluster and spread.date = pools.date
)

select * from final
