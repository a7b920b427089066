-- grain: one Cost Explorer group on one day; key (date, group_by, group_key, metric)
with source as (
    select * from validated.cost_explorer__daily_costs
),

final as (
    select
        collected_at,
        date,
        group_by,
        group_key,
        metric,
        cast(amount as decimal(38, 12)) as amount,
        unit as currency,
        usage_quantity,
        estimated as is_estimated,
    from source
)

select * from final
