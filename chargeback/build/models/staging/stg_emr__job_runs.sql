-- grain: one job run per snapshot; key (job_run_id, collected_at)
with source as (
    select * from validated.emr__job_runs
),

final as (
    select
        collected_at,
        job_run_id,
        virtual_cluster_id,
        arn as job_run_arn,
        name as job_name,
        state,
        created_at,
        finished_at,
        release_label,
        execution_role_arn,
        executor_instances,
        executor_cores,
        executor_memory_bytes / 1073741824.0 as executor_memory_gib,
        driver_cores,
        driver_memory_bytes / 1073741824.0 as driver_memory_gib,
        tags,
        failure_reason,
        state_details,
    from source
)

select * from final
