-- grain: one Spark job shape breaking one LimitRange bound; key (cluster, namespace, virtual_cluster_id, job_name,
-- spark_role, resource, limit_range, limit_type, bound, shape_amount)
-- Spark driver and executor pod shapes against their namespace's current LimitRanges (type Container or Pod,
-- max and min). A shape is, per pod: the requests the job's pods were observed with (request core-hours or
-- GiB-hours / running hours), else the spark-submit parameters, memory plus Spark's default overhead
-- max(384 MiB, 10% of spark memory). A shape above a max (say spark.executor.cores=7 against a container max
-- of 6) is refused at submission; below a min likewise. Amounts are cores for cpu and bytes for memory.
-- Runs of one job name with the same shape are one row.
with job_runs as (
    select * from intermediate.int_job_runs
    where cluster is not null and namespace is not null
),

pod_requests as (
    select
        emr_job_run_id as job_run_id,
        spark_role,
        sum(cpu_request_core_hours) / sum(running_hours) as cpu_request_cores,
        sum(memory_request_gib_hours) / sum(running_hours) * 1073741824.0 as memory_request_bytes,
    from marts.fct_pod_costs_hourly
    where emr_job_run_id is not null and spark_role in ('driver', 'executor') and running_hours > 0
    group by emr_job_run_id, spark_role
),

submitted as (
    select
        job_run_id,
        'executor' as spark_role,
        executor_cores as cores,
        executor_memory_gib * 1073741824.0 as memory_bytes,
    from job_runs
    union all
    select
        job_run_id,
        'driver' as spark_role,
        driver_cores as cores,
        driver_memory_gib * 1073741824.0 as memory_bytes,
    from job_runs
),

shapes as (
    select
        submitted.job_run_id,
        submitted.spark_role,
        'cpu' as resource,
        round(coalesce(pod_requests.cpu_request_cores, submitted.cores), 3) as shape_amount,
        case when pod_requests.cpu_request_cores is not null then 'pod requests' else 'spark-submit' end
            as shape_source,
    from submitted
    left join pod_requests
        on pod_requests.job_run_id = submitted.job_run_id and pod_requests.spark_role = submitted.spark_role
    union all
    select
        submitted.job_run_id,
        submitted.spark_role,
        'memory' as resource,
        round(coalesce(
            pod_requests.memory_request_bytes,
            submitted.memory_bytes + greatest(402653184.0, 0.1 * submitted.memory_bytes)
        )) as shape_amount,
        case when pod_requests.memory_request_bytes is not null then 'pod requests' else 'spark-submit + overhead' end
            as shape_source,
    from submitted
    left join pod_requests
        on pod_requests.job_run_id = submitted.job_run_id and pod_requests.spark_role = submitted.spark_role
),

latest_snapshots as (
    select cluster, namespace, max(collected_at) as collected_at,
    from staging.stg_kubernetes__limit_ranges
    group by cluster, namespace
),

limits as (
    select limit_ranges.*,
    from staging.stg_kubernetes__limit_ranges as limit_ranges
    inner join latest_snapshots
        on latest_snapshots.cluster = limit_ranges.cluster
        and latest_snapshots.namespace = limit_ranges.namespace
        and latest_snapshots.collected_at = limit_ranges.collected_at
    where limit_ranges.limit_type in ('Container', 'Pod')
),

breaches as (
    select
        job_runs.cluster,
        job_runs.namespace,
        job_runs.virtual_cluster_id,
        job_runs.virtual_cluster_name,
        job_runs.tenant,
        coalesce(job_runs.job_name, job_runs.job_run_id) as job_name,
        job_runs.job_run_id,
        job_runs.created_at,
        shapes.spark_role,
        shapes.resource,
        shapes.shape_amount,
        shapes.shape_source,
        limits.limit_range,
        limits.limit_type,
        limits.unit,
        bounds.bound,
        case bounds.bound when 'max' then limits.max_amount else limits.min_amount end as limit_amount,
        limits.collected_at as limit_collected_at,
    from shapes
    inner join job_runs on job_runs.job_run_id = shapes.job_run_id
    inner join limits
        on limits.cluster = job_runs.cluster
        and limits.namespace = job_runs.namespace
        and limits.resource = shapes.resource
    cross join (select 'max' as bound union all select 'min' as bound) as bounds
    where shapes.shape_amount is not null
        and (
            (bounds.bound = 'max' and shapes.shape_amount > limits.max_amount)
            or (bounds.bound = 'min' and shapes.shape_amount < limits.min_amount)
        )
),

final as (
    select
        cluster,
        namespace,
        virtual_cluster_id,
        min(virtual_cluster_name) as virtual_cluster_name,
        min(tenant) as tenant,
        job_name,
        spark_role,
        resource,
        unit,
        shape_amount,
        min(shape_source) as shape_source,
        limit_range,
        limit_type,
        bound,
        limit_amount,
        shape_amount - limit_amount as excess_amount,
        count(distinct job_run_id) as job_run_count,
        max(job_run_id) as example_job_run_id,
        min(created_at) as first_created_at,
        max(created_at) as last_created_at,
        max(limit_collected_at) as limit_collected_at,
    from breaches
    group by
        cluster, namespace, virtual_cluster_id, job_name, spark_role, resource, unit, shape_amount,
        limit_range, limit_type, bound, limit_amount
)

select * from final
