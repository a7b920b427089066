-- grain: one check, cluster and period; key (check_name, cluster, period)
-- Invariants (severity `error`: a build that fails one is not published) and figures worth watching
-- (severity `info`). Conservation: every in-scope dollar of the source lands in exactly one bill line,
-- within $0.000001 per cluster-period (docs/method.md#the-invariant); in the month that books adjustments, the
-- lines and adjustments add up to the source plus what the corrected closed months' source cost is now beyond
-- what they were billed (docs/method.md#closed-periods-and-adjustments).
with source_totals as (
    select cluster, period, sum(cost) as cost, sum(case when is_estimated then cost else 0 end) as estimated,
    from marts.fct_source_costs_daily
    group by cluster, period
),

bill_totals as (
    select
        cluster,
        period,
        sum(total_cost) as cost,
        sum(case when tenant = '__unallocated__' then total_cost else 0 end) as unallocated,
        sum(case when tenant = '__idle__' then total_cost else 0 end) as idle,
        sum(case when tenant = '__shared__' then total_cost else 0 end) as shared,
    from marts.fct_tenant_costs_daily
    group by cluster, period
),

adjustment_totals as (
    select cluster, period, sum(amount) as amount,
    from marts.fct_adjustments
    group by cluster, period
),

-- per cluster, each corrected closed month's in-scope source cost now, less its frozen bill, less what closed
-- months already booked for it: what the open month's adjustments must add up to, found without them
corrections_due as (
    select settings.open_period as period, due.cluster, sum(due.amount) as amount,
    from (
        select cluster, cost as amount from marts.fct_source_costs_daily
        where period in (select closed_period from closed.adjusted)
        union all
        select cluster, -amount from closed.amounts
        where period in (select closed_period from closed.adjusted)
        union all
        select cluster, -amount from closed.booked
        where closed_period in (select closed_period from closed.adjusted)
    ) as due
    cross join closed.settings as settings
    group by settings.open_period, due.cluster
),

periods as (
    select cluster, period from source_totals
    union
    select cluster, period from bill_totals
    union
    select cluster, period from adjustment_totals
    union
    select cluster, period from corrections_due
),

conservation as (
    select
        'conservation' as check_name,
        'error' as severity,
        periods.cluster,
        periods.period,
        coalesce(source_totals.cost, 0) + coalesce(corrections_due.amount, 0) as expected,
        coalesce(bill_totals.cost, 0) + coalesce(adjustment_totals.amount, 0) as actual,
        'sum of bill lines (tenants, __idle__, __shared__, __unallocated__) and adjustments = in-scope source cost'
            || ' + corrections of closed months (their source cost now - what they were billed)' as detail,
    from periods
    left join source_totals on source_totals.cluster = periods.cluster and source_totals.period = periods.period
    left join bill_totals on bill_totals.cluster = periods.cluster and bill_totals.period = periods.period
    left join adjustment_totals
        on adjustment_totals.cluster = periods.cluster and adjustment_totals.period = periods.period
    left join corrections_due
        on corrections_due.cluster = periods.cluster and corrections_due.period = periods.period
),

node_split as (
    select
        'node_split_plus_unused_equals_cost' as check_name,
        'error' as severity,
        cluster,
        period,
        0 as expected,
        count(case when abs(split_cost_unrounded + unused_cost_unrounded - cast(cost as double)) > 0.000001
            and (cpu_available_core_hours + memory_available_gib_hours + gpu_available_hours) > 0 then 1 end) as actual,
        'node-hours whose pods'' split cost plus unused cost differs from the node cost' as detail,
    from marts.fct_node_costs_hourly
    group by cluster, period
),

unique_pods as (
    select
        'unique_pod_hours' as check_name, 'error' as severity, cluster, period, 0 as expected,
        sum(duplicate_pod_hours) as actual,
        'duplicate (cluster, pod_uid, hour) rows in fct_pod_costs_hourly' as detail,
    from intermediate.int_duplicate_pod_hours
    group by cluster, period
),

unique_nodes as (
    select
        'unique_node_hours' as check_name, 'error' as severity, cluster, period, 0 as expected,
        count(*) - count(distinct node || '|' || cast(hour as varchar)) as actual,
        'duplicate (cluster, node, hour) rows in fct_node_costs_hourly' as detail,
    from marts.fct_node_costs_hourly
    group by cluster, period
),

null_tenants as (
    select
        'pod_hours_with_tenant' as check_name, 'error' as severity, cluster, period, 0 as expected,
        count(case when tenant is null then 1 end) as actual,
        'pod-hours without a bill line (tenant is null)' as detail,
    from marts.fct_pod_costs_hourly
    group by cluster, period
),

-- The reconciliation (docs/reconciliation.md): per billing period, its rows hold every CUR line once (its
-- unblended dollars and its count add up to the CUR's own, straight from staging: a line missing or counted twice
-- fails); per cluster and period, its in-scope and estimated rows add up to the bill lines.
cur_totals as (
    select billing_period as period, sum(unblended_cost) as unblended_cost, count(*) as line_items,
    from staging.stg_cur__line_items
    group by billing_period
),

waterfall_cur as (
    select period, sum(unblended_cost) as unblended_cost, sum(line_items) as line_items,
    from marts.fct_cost_waterfall
    where row_kind in ('out_of_scope', 'in_scope')
    group by period
),

waterfall_periods as (
    select period from cur_totals
    union
    select period from waterfall_cur
),

waterfall_dollars as (
    select
        'waterfall_holds_every_cur_dollar_once' as check_name,
        'error' as severity,
        cast(null as varchar) as cluster,
        waterfall_periods.period,
        coalesce(cur_totals.unblended_cost, 0) as expected,
        coalesce(waterfall_cur.unblended_cost, 0) as actual,
        'reconciliation rows (out of scope by reason, in scope by category) = the CUR''s unblended total of the'
            || ' billing period: no line missing, none counted twice' as detail,
    from waterfall_periods
    left join cur_totals on cur_totals.period = waterfall_periods.period
    left join waterfall_cur on waterfall_cur.period = waterfall_periods.period
),

waterfall_lines as (
    select
        'waterfall_holds_every_cur_line_once' as check_name,
        'error' as severity,
        cast(null as varchar) as cluster,
        waterfall_periods.period,
        coalesce(cur_totals.line_items, 0) as expected,
        coalesce(waterfall_cur.line_items, 0) as actual,
        'CUR line items counted by the reconciliation rows (a line split over n clusters: 1/n in each) = the'
            || ' CUR''s line items of the billing period' as detail,
    from waterfall_periods
    left join cur_totals on cur_totals.period = waterfall_periods.period
    left join waterfall_cur on waterfall_cur.period = waterfall_periods.period
),

waterfall_in_scope as (
    select cluster, period, sum(cost) as cost,
    from marts.fct_cost_waterfall
    where row_kind in ('in_scope', 'estimated')
    group by cluster, period
),

waterfall_bill_periods as (
    select cluster, period from waterfall_in_scope
    union
    select cluster, period from bill_totals
),

waterfall_bill as (
    select
        'waterfall_in_scope_equals_bill_lines' as check_name,
        'error' as severity,
        waterfall_bill_periods.cluster,
        waterfall_bill_periods.period,
        coalesce(waterfall_in_scope.cost, 0) as expected,
        coalesce(bill_totals.cost, 0) as actual,
        'reconciliation rows in scope (by category) + estimated = sum of the bill lines' as detail,
    from waterfall_bill_periods
    left join waterfall_in_scope
        on waterfall_in_scope.cluster = waterfall_bill_periods.cluster
        and waterfall_in_scope.period = waterfall_bill_periods.period
    left join bill_totals
        on bill_totals.cluster = waterfall_bill_periods.cluster and bill_totals.period = waterfall_bill_periods.period
),

info as (
    select 'estimated_cost' as check_name, 'info' as severity, cluster, period, 0 as expected,
        estimated as actual, 'cost of node-days the CUR does not cover yet (estimated from Cost Explorer, else on-demand prices)' as detail,
    from source_totals
    union all
    select 'unallocated_cost', 'info', cluster, period, 0, unallocated,
        'cost of namespaces, jobs and lines that map to no tenant (__unallocated__)',
    from bill_totals
    union all
    select 'idle_cost', 'info', cluster, period, 0, idle, 'cost left on __idle__', from bill_totals
    union all
    select 'adjustments', 'info', cluster, period, 0, amount,
        'adjustments booked in this month for closed months (see marts.fct_adjustments)',
    from adjustment_totals
    union all
    select 'shared_cost_kept', 'info', cluster, period, 0, shared, 'shared cost kept on __shared__',
    from bill_totals
    union all
    select 'ghost_node_hours', 'info', cluster, period, 0, count(case when is_ghost_hour then 1 end),
        'dedicated node-hours with no pod of their tenant',
    from marts.fct_node_costs_hourly
    group by cluster, period
    union all
    select 'cross_tenant_pod_hours', 'info', cluster, period, 0, count(case when is_cross_tenant then 1 end),
        'pod-hours of one tenant on another tenant''s dedicated node',
    from marts.fct_pod_costs_hourly
    group by cluster, period
    union all
    select 'validation_corrections', 'info', cluster, period, 0, count(*),
        'raw rows a value rule corrected or ignored (marts.fct_data_quality; docs/method.md#validation)',
    from marts.fct_data_quality
    group by cluster, period
    union all
    select 'pod_hours_without_node_hour', 'info', cluster, period, 0,
        count(case when not has_node_hour then 1 end),
        'pod-hours on a node-hour that neither Prometheus nor the CUR knows (priced at zero)',
    from marts.fct_pod_costs_hourly
    group by cluster, period
),

checked as (
    select
        check_name, severity, cluster, period,
        cast(expected as decimal(38, 12)) as expected,
        cast(actual as decimal(38, 12)) as actual,
        detail,
    from (
        select * from conservation
        union all select * from node_split
        union all select * from unique_pods
        union all select * from unique_nodes
        union all select * from null_tenants
        union all select * from waterfall_dollars
        union all select * from waterfall_lines
        union all select * from waterfall_bill
    ) as errors
    union all
    select check_name, severity, cluster, period, cast(expected as decimal(38, 12)), cast(actual as decimal(38, 12)), detail,
    from info
),

final as (
    select
        check_name,
        severity,
        cluster,
        period,
        expected,
        actual,
        actual - expected as difference,
        severity = 'info' or abs(actual - expected) <= 0.000001 as passed,
        detail,
    from checked
)

select * from final
