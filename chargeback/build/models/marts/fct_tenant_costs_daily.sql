-- grain: one cluster, UTC day and bill line; key (cluster, date, tenant)
-- Bill lines are tenants plus the sentinels __idle__, __shared__ and __unallocated__; their sum is the
-- cluster-day's in-scope source cost (checked in `checks`).
with direct as (
    select cluster, date, tenant, component, amount,
    from intermediate.int_cost_lines
    where tenant <> '__shared__'
),

shared as (
    select cluster, date, tenant, 'shared' as component, amount,
    from intermediate.int_shared_allocation
),

unioned as (
    select * from direct
    union all
    select * from shared
),

final as (
    select
        cluster,
        strftime(date, '%Y-%m') as period,
        date,
        tenant,
        tenant in ('__idle__', '__shared__', '__unallocated__') as is_sentinel,
        sum(case when component = 'compute' then amount else 0 end) as compute_cost,
        sum(case when component = 'idle' then amount else 0 end) as idle_cost,
        sum(case when component = 'shared' then amount else 0 end) as shared_cost,
        sum(case when component = 'storage' then amount else 0 end) as storage_cost,
        sum(case when component = 'network' then amount else 0 end) as network_cost,
        sum(case when component = 'emr' then amount else 0 end) as emr_cost,
        sum(case when component = 'tagged' then amount else 0 end) as tagged_cost,
        sum(amount) as total_cost,
    from unioned
    group by cluster, date, tenant
)

select * from final
