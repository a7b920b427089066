-- grain: one EMR on EKS virtual cluster (latest snapshot); key virtual_cluster_id
-- Tenant: the config's map by virtual cluster id, then by name, then the virtual cluster's tenant tag (validated:
-- a reserved __*__ value counts as no tag).
with ranked as (
    select
        *,
        row_number() over (partition by virtual_cluster_id order by collected_at desc) as snapshot_rank,
    from staging.stg_emr__virtual_clusters
),

latest as (
    select * from ranked where snapshot_rank = 1
),

final as (
    select
        latest.virtual_cluster_id,
        latest.virtual_cluster_name,
        latest.virtual_cluster_arn,
        latest.state,
        latest.cluster,
        latest.namespace,
        latest.created_at,
        latest.tags,
        nullif(coalesce(by_id.tenant, by_name.tenant, latest.tenant_tag), '') as tenant,
        case
            when by_id.tenant is not null then 'config_id'
            when by_name.tenant is not null then 'config_name'
            when latest.tenant_tag is not null then 'tag'
        end as tenant_source,
    from latest
    left join config.virtual_cluster_tenants as by_id on by_id.key = latest.virtual_cluster_id
    left join config.virtual_cluster_tenants as by_name on by_name.key = latest.virtual_cluster_name
)

select * from final
