-- grain: one virtual cluster per snapshot; key (virtual_cluster_id, collected_at)
-- tenant_tag: the value of the configured tenant tag, validated (a reserved __*__ value is null).
with source as (
    select * from validated.emr__virtual_clusters
),

final as (
    select
        collected_at,
        virtual_cluster_id,
        name as virtual_cluster_name,
        arn as virtual_cluster_arn,
        state,
        eks_cluster as cluster,
        namespace,
        created_at,
        tags,
        tenant_tag,
    from source
)

select * from final
