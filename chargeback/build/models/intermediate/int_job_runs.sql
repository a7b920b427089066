-- grain: one EMR on EKS job run (latest snapshot); key job_run_id
with ranked as (
    select
        *,
        row_number() over (partition by job_run_id order by collected_at desc) as snapshot_rank,
    from staging.stg_emr__job_runs
),

final as (
    select
        ranked.collected_at,
        ranked.job_run_id,
        ranked.virtual_cluster_id,
        ranked.job_run_arn,
        ranked.job_name,
        ranked.state,
        ranked.created_at,
        ranked.finished_at,
        ranked.release_label,
        ranked.execution_role_arn,
        ranked.executor_instances,
        ranked.executor_cores,
        ranked.executor_memory_gib,
        ranked.driver_cores,
        ranked.driver_memory_gib,
        ranked.tags,
        ranked.failure_reason,
        ranked.state_details,
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
