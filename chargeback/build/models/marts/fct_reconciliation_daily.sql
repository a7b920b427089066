-- grain: one UTC day and service; key (date, service)
-- The CUR against Cost Explorer, per day and service (amortized): where they disagree, and which days
-- Cost Explorer still calls estimated. A day only one side has shows the other as 0.
with cur as (
    select * from intermediate.int_cur__daily_by_service
),

cost_explorer as (
    select date, group_key as service, sum(amount) as ce_cost, bool_or(is_estimated) as ce_is_estimated,
    from staging.stg_cost_explorer__daily_costs
    where group_by = 'SERVICE' and metric = 'AmortizedCost'
    group by date, group_key
),

final as (
    select
        coalesce(cur.date, cost_explorer.date) as date,
        strftime(coalesce(cur.date, cost_explorer.date), '%Y-%m') as period,
        coalesce(cur.service, cost_explorer.service) as service,
        cur.date is not null as has_cur,
        cost_explorer.date is not null as has_cost_explorer,
        coalesce(cur.cur_cost, 0) as cur_cost,
        coalesce(cost_explorer.ce_cost, 0) as ce_cost,
        coalesce(cur.cur_cost, 0) - coalesce(cost_explorer.ce_cost, 0) as difference,
        coalesce(cost_explorer.ce_is_estimated, false) as ce_is_estimated,
    from cur
    full outer join cost_explorer on cost_explorer.date = cur.date and cost_explorer.service = cur.service
)

select * from final
