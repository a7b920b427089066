-- grain: one LimitRange item type and resource per snapshot; key (cluster, namespace, limit_range, limit_type, resource, collected_at)
-- Amounts stay in the Kubernetes base unit of their resource: cores for cpu, bytes for memory.
with source as (
    select * from validated.kubernetes__limit_ranges
),

final as (
    select
        cluster,
        collected_at,
        namespace,
        limit_range,
        type as limit_type,
        resource,
        case resource when 'cpu' then 'cores' when 'memory' then 'bytes' else 'units' end as unit,
        default_limit as default_limit_amount,
        default_request as default_request_amount,
        min as min_amount,
        max as max_amount,
    from source
)

select * from final
