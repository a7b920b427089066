-- grain: one EMR on EKS job run (latest snapshot); key job_run_id
with ranked as (
    select
        *,
        row_number() over (partition by job_run_id order by collected_at desc) as snapshot_rank,
    from staging.stg_emr__job_runs
),

final as (
    select
        ranked.* exclude (snapshot_rank),
        virtual_clusters.virtual_cluster_name,
        virtual_clusters.cluster,
        virtual_clusters.namespace,
        virtual_clusters.tenant,
    from ranked
    left join intermediate.int_virtual_clusters as virtual_clusters
        on virtual_clusters.virtual_cluster_id = ranked.virtual_cluster_id
    where ranked.snapshot_rank = 1
)

select * from final
