-- grain: one virtual cluster per snapshot; key (virtual_cluster_id, collected_at)
with source as (
    select * from raw.emr__virtual_clusters
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
    from source
)

select * from final
