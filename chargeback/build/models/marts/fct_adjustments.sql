-- grain: one booking period, corrected closed period, cluster, bill line and part; key (period, closed_period,
-- cluster, tenant, part)
-- Corrections of closed months (docs/method.md#closed-periods-and-adjustments). For each closed month this build
-- books (closed.adjusted, decided by chargeback.build.adjustments), what this build allocates to each (cluster,
-- bill line, part) of that month, minus what its frozen bill holds, minus what closed months' frozen bills
-- already booked for it, is booked in the first open month (closed.settings). Amounts of either sign; sentinel
-- lines are corrected like tenants; a difference below $0.000000001 (DOUBLE division noise) is not booked.
with adjusted as (
    select closed_period from closed.adjusted
),

costs as (
    select cluster, period, tenant, compute_cost, idle_cost, shared_cost, storage_cost, network_cost, emr_cost,
        tagged_cost,
    from marts.fct_tenant_costs_daily
    where period in (select closed_period from adjusted)
),

now_billed as (
    select period as closed_period, cluster, tenant, 'compute' as part, sum(compute_cost) as amount,
    from costs group by period, cluster, tenant
    union all
    select period, cluster, tenant, 'idle', sum(idle_cost), from costs group by period, cluster, tenant
    union all
    select period, cluster, tenant, 'shared', sum(shared_cost), from costs group by period, cluster, tenant
    union all
    select period, cluster, tenant, 'storage', sum(storage_cost), from costs group by period, cluster, tenant
    union all
    select period, cluster, tenant, 'network', sum(network_cost), from costs group by period, cluster, tenant
    union all
    select period, cluster, tenant, 'emr', sum(emr_cost), from costs group by period, cluster, tenant
    union all
    select period, cluster, tenant, 'tagged', sum(tagged_cost), from costs group by period, cluster, tenant
),

frozen as (
    select period as closed_period, cluster, tenant, part, sum(amount) as amount,
    from closed.amounts
    where period in (select closed_period from adjusted)
    group by period, cluster, tenant, part
),

booked as (
    select closed_period, cluster, tenant, part, sum(amount) as amount,
    from closed.booked
    where closed_period in (select closed_period from adjusted)
    group by closed_period, cluster, tenant, part
),

keys as (
    select closed_period, cluster, tenant, part from now_billed
    union
    select closed_period, cluster, tenant, part from frozen
    union
    select closed_period, cluster, tenant, part from booked
),

differences as (
    select
        keys.closed_period,
        keys.cluster,
        keys.tenant,
        keys.part,
        coalesce(now_billed.amount, 0) - coalesce(frozen.amount, 0) - coalesce(booked.amount, 0) as amount,
    from keys
    left join now_billed
        on now_billed.closed_period = keys.closed_period and now_billed.cluster = keys.cluster
        and now_billed.tenant = keys.tenant and now_billed.part = keys.part
    left join frozen
        on frozen.closed_period = keys.closed_period and frozen.cluster = keys.cluster
        and frozen.tenant = keys.tenant and frozen.part = keys.part
    left join booked
        on booked.closed_period = keys.closed_period and booked.cluster = keys.cluster
        and booked.tenant = keys.tenant and booked.part = keys.part
),

final as (
    select
        settings.open_period as period,
        differences.closed_period,
        differences.cluster,
        differences.tenant,
        differences.tenant in ('__idle__', '__shared__', '__unallocated__') as is_sentinel,
        differences.part,
        cast(differences.amount as decimal(38, 12)) as amount,
    from differences
    cross join closed.settings as settings
    where abs(differences.amount) >= 0.000000001
)

select * from final
