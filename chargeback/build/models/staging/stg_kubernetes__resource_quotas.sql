-- grain: one resource of one ResourceQuota in one snapshot; key (cluster, collected_at, namespace, quota, resource)
-- Hard and used in the raw units (cores, bytes, counts), plus the quota resource under its long name
-- (`cpu` is `requests.cpu`, `memory` is `requests.memory`) and the amounts in reporting units (memory in GiB).
with source as (
    select * from validated.kubernetes__resource_quotas
),

renamed as (
    select
        cluster,
        collected_at,
        namespace,
        quota,
        resource,
        case resource
            when 'cpu' then 'requests.cpu'
            when 'memory' then 'requests.memory'
            else resource
        end as quota_resource,
        hard,
        used,
    from source
),

final as (
    select
        cluster,
        collected_at,
        namespace,
        quota,
        resource,
        quota_resource,
        hard,
        used,
        case
            when quota_resource in ('requests.memory', 'limits.memory') then hard / 1073741824.0
            else hard
        end as hard_amount,
        case
            when quota_resource in ('requests.memory', 'limits.memory') then used / 1073741824.0
            else used
        end as used_amount,
    from renamed
)

select * from final
