-- grain: one load balancer per elbv2 snapshot; key (load_balancer_arn, collected_at)
with source as (
    select * from validated.elbv2__load_balancers
),

final as (
    select
        collected_at,
        region,
        load_balancer_arn,
        name,
        type,
        scheme,
        tags,
    from source
)

select * from final
