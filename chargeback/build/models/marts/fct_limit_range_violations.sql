-- grain: one Spark job shape breaking one LimitRange bound; key (cluster, namespace, virtual_cluster_id, job_name,
-- spark_role, resource, limit_range, limit_type, bound, shape_amount)
-- Spark driver and executor pod shapes (intermediate.int_job_run_shapes: the pods' observed requests, else the
-- spark-submit parameters with memory overhead) against their namespace's current LimitRanges (type Container
-- or Pod, max and min). A shape above a max (say spark.executor.cores=7 against a container max of 6) is
-- refused at submission; below a min likewise. Amounts are cores for cpu and bytes for memory.
-- Runs of one job name with the same shape are one row.
with job_shapes as (
    select * from intermediate.int_job_run_shapes
),

shapes as (
    select
        job_shapes.cluster,
        job_shapes.namespace,
        job_shapes.virtual_cluster_id,
        job_shapes.virtual_cluster_name,
        job_shapes.tenant,
        job_shapes.job_name,
        job_shapes.job_run_id,
        job_shapes.created_at,
        job_shapes.spark_role,
        job_shapes.pods,
        'cpu' as resource,
        cpu_cores as shape_amount,
        cpu_source as shape_source,
    from job_shapes
    union all
    select
        job_shapes.cluster,
        job_shapes.namespace,
        job_shapes.virtual_cluster_id,
        job_shapes.virtual_cluster_name,
        job_shapes.tenant,
        job_shapes.job_name,
        job_shapes.job_run_id,
        job_shapes.created_at,
        job_shapes.spark_role,
        job_shapes.pods,
        'memory' as resource,
        memory_bytes as shape_amount,
        memory_source as shape_source,
    from job_shapes
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
        shapes.cluster,
        shapes.namespace,
        shapes.virtual_cluster_id,
        shapes.virtual_cluster_name,
        shapes.tenant,
        shapes.job_name,
        shapes.job_run_id,
        shapes.created_at,
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
    inner join limits
        on limits.cluster = shapes.cluster
        and limits.namespace = shapes.namespace
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
