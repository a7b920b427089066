-- grain: one role (driver, executor) of one EMR on EKS job run; key (job_run_id, spark_role)
-- The pod shape a Spark job asks for, per pod of the role, and how many such pods it runs at full scale.
-- Shape = the requests its pods were observed with (request core-hours or GiB-hours / running hours), else
-- the spark-submit parameters, memory plus Spark's default overhead max(384 MiB, 10% of the spark memory),
-- which is what the Kubernetes pod requests. Pods at full scale: 1 driver; spark.executor.instances
-- executors, else (dynamic allocation) the number of executor pods the run was observed with.
-- Memory in bytes, cpu in cores; read by the LimitRange and ResourceQuota checks.
with job_runs as (
    select * from intermediate.int_job_runs
    where cluster is not null and namespace is not null
),

observed as (
    select
        emr_job_run_id as job_run_id,
        spark_role,
        count(distinct pod_uid) as pod_count,
        sum(cpu_request_core_hours) / sum(running_hours) as cpu_request_cores,
        sum(memory_request_gib_hours) / sum(running_hours) * 1073741824.0 as memory_request_bytes,
    from intermediate.int_pod_hours_priced
    where emr_job_run_id is not null and spark_role in ('driver', 'executor') and running_hours > 0
    group by emr_job_run_id, spark_role
),

submitted as (
    select
        job_run_id,
        'driver' as spark_role,
        1 as submitted_pods,
        driver_cores as cores,
        driver_memory_gib * 1073741824.0 as memory_bytes,
    from job_runs
    union all
    select
        job_run_id,
        'executor' as spark_role,
        executor_instances as submitted_pods,
        executor_cores as cores,
        executor_memory_gib * 1073741824.0 as memory_bytes,
    from job_runs
),

final as (
    select
        job_runs.cluster,
        job_runs.namespace,
        job_runs.virtual_cluster_id,
        job_runs.virtual_cluster_name,
        job_runs.tenant,
        coalesce(job_runs.job_name, job_runs.job_run_id) as job_name,
        job_runs.job_run_id,
        job_runs.created_at,
        submitted.spark_role,
        coalesce(submitted.submitted_pods, observed.pod_count) as pods,
        round(coalesce(observed.cpu_request_cores, submitted.cores), 3) as cpu_cores,
        case when observed.cpu_request_cores is not null then 'pod requests' else 'spark-submit' end as cpu_source,
        round(coalesce(
            observed.memory_request_bytes,
            submitted.memory_bytes + greatest(402653184.0, 0.1 * submitted.memory_bytes)
        )) as memory_bytes,
        case when observed.memory_request_bytes is not null then 'pod requests' else 'spark-submit + overhead' end
            as memory_source,
    from submitted
    inner join job_runs on job_runs.job_run_id = submitted.job_run_id
    left join observed
        on observed.job_run_id = submitted.job_run_id and observed.spark_role = submitted.spark_role
)

select * from final
