-- grain: one recurring Spark job shape against one resource of its namespace's current ResourceQuota; key
-- (cluster, namespace, virtual_cluster_id, job_name, resource, driver_amount, executor_amount, executors)
-- Whether a job at full scale fits the namespace's quota on its own: its footprint is the driver plus
-- spark.executor.instances executors (intermediate.int_job_run_shapes: observed pod requests, else the
-- spark-submit parameters with memory overhead). requests.cpu in cores, requests.memory in GiB, pods in pods.
-- A footprint above the hard limit never runs in full: the API server refuses the pods beyond it, so at most
-- `executors_fitting` executors start and the rest wait (or the job fails, depending on the Spark settings).
-- The quota is the latest snapshot; several quotas in a namespace bind with the smallest hard per resource.
-- Jobs in namespaces without a quota on the resource have a null hard and null fits: their footprint still sets
-- the floor of a recommended quota (chargeback.reports.quotas). limits.* are not checked: pod limits are not collected.
-- Runs of one job name with the same shape are one row.
with job_shapes as (
    select * from intermediate.int_job_run_shapes
),

roles as (
    select
        cluster,
        namespace,
        virtual_cluster_id,
        virtual_cluster_name,
        tenant,
        job_name,
        job_run_id,
        created_at,
        max(case when spark_role = 'driver' then cpu_cores end) as driver_cpu_cores,
        max(case when spark_role = 'driver' then memory_bytes end) / 1073741824.0 as driver_memory_gib,
        max(case when spark_role = 'executor' then cpu_cores end) as executor_cpu_cores,
        max(case when spark_role = 'executor' then memory_bytes end) / 1073741824.0 as executor_memory_gib,
        coalesce(max(case when spark_role = 'executor' then pods end), 0) as executors,
    from job_shapes
    group by cluster, namespace, virtual_cluster_id, virtual_cluster_name, tenant, job_name, job_run_id, created_at
),

footprints as (
    select
        roles.cluster,
        roles.namespace,
        roles.virtual_cluster_id,
        roles.virtual_cluster_name,
        roles.tenant,
        roles.job_name,
        roles.job_run_id,
        roles.created_at,
        roles.executors,
        resources.resource,
        resources.unit,
        case resources.resource
            when 'requests.cpu' then coalesce(driver_cpu_cores, 0)
            when 'requests.memory' then round(coalesce(driver_memory_gib, 0), 6)
            else 1
        end as driver_amount,
        case resources.resource
            when 'requests.cpu' then coalesce(executor_cpu_cores, 0)
            when 'requests.memory' then round(coalesce(executor_memory_gib, 0), 6)
            else 1
        end as executor_amount,
    from roles
    cross join (
        values ('requests.cpu', 'cores'), ('requests.memory', 'GiB'), ('pods', 'count')
    ) as resources (resource, unit)
),

latest_snapshots as (
    select cluster, namespace, max(collected_at) as collected_at,
    from staging.stg_kubernetes__resource_quotas
    group by cluster, namespace
),

hard_limits as (
    select
        quotas.cluster,
        quotas.namespace,
        quotas.quota_resource as resource,
        min(quotas.hard_amount) as hard,
        arg_min(quotas.quota, quotas.hard_amount) as quota,
        max(quotas.collected_at) as quota_collected_at,
    from staging.stg_kubernetes__resource_quotas as quotas
    inner join latest_snapshots
        on latest_snapshots.cluster = quotas.cluster
        and latest_snapshots.namespace = quotas.namespace
        and latest_snapshots.collected_at = quotas.collected_at
    where quotas.hard_amount is not null
    group by quotas.cluster, quotas.namespace, quotas.quota_resource
),

checked as (
    select
        footprints.*,
        footprints.driver_amount + footprints.executors * footprints.executor_amount as footprint,
        hard_limits.quota,
        hard_limits.hard,
        hard_limits.quota_collected_at,
    from footprints
    left join hard_limits
        on hard_limits.cluster = footprints.cluster
        and hard_limits.namespace = footprints.namespace
        and hard_limits.resource = footprints.resource
),

final as (
    select
        cluster,
        namespace,
        virtual_cluster_id,
        min(virtual_cluster_name) as virtual_cluster_name,
        min(tenant) as tenant,
        job_name,
        resource,
        unit,
        driver_amount,
        executor_amount,
        executors,
        footprint,
        quota,
        hard,
        footprint / nullif(hard, 0) as footprint_share_of_hard,
        footprint <= hard as fits,
        case
            when hard is null then null
            when executor_amount > 0 then least(executors, greatest(0, floor((hard - driver_amount) / executor_amount)))
            else executors
        end::bigint as executors_fitting,
        count(distinct job_run_id) as job_run_count,
        max(job_run_id) as example_job_run_id,
        min(created_at) as first_created_at,
        max(created_at) as last_created_at,
        max(quota_collected_at) as quota_collected_at,
    from checked
    group by
        cluster, namespace, virtual_cluster_id, job_name, resource, unit, driver_amount, executor_amount, executors,
        footprint, quota, hard
)

select * from final
