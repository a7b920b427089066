-- grain: one pod-hour (is_hour) or pod-day (not is_hour) of a right-sized workload; key (is_hour, cluster, pod_uid,
-- hour or day)
-- The rows fct_rightsizing aggregates, each with its workload: long-running controllers (Deployment,
-- StatefulSet, DaemonSet) by namespace and name, and recurring Spark jobs by job name and virtual cluster,
-- executor pods only. Pod-hours carry the hourly figures; pod-days (int_pod_days) are there to count pods and
-- job runs: a distinct count over pod-days costs a tenth of one over pod-hours. A view, read twice by the mart
-- (by kind of row, so each read skips the other kind).
-- materialized: view
with pod_hours as (
    select * from intermediate.int_pod_hours_priced
    where running_hours > 0
),

pod_days as (
    select * from intermediate.int_pod_days
    where running_hours > 0
),

job_runs as (
    select * from intermediate.int_job_runs
),

rows_of_pods as (
    select
        true as is_hour,
        cluster,
        period,
        workload_kind,
        namespace,
        workload_name,
        emr_job_run_id,
        emr_virtual_cluster_id,
        spark_role,
        pod_uid,
        tenant,
        running_hours,
        cpu_request_core_hours,
        cpu_usage_core_hours,
        cpu_allocated_core_hours,
        memory_request_gib_hours,
        memory_usage_gib_hours,
        memory_allocated_gib_hours,
        cpu_cost,
        memory_cost,
        idle_cost,
    from pod_hours
    union all
    select
        false,
        cluster,
        period,
        workload_kind,
        namespace,
        workload_name,
        emr_job_run_id,
        emr_virtual_cluster_id,
        spark_role,
        pod_uid,
        tenant,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
    from pod_days
),

final as (
    select
        rows_of_pods.is_hour,
        rows_of_pods.cluster,
        rows_of_pods.period,
        case when rows_of_pods.spark_role = 'executor' then 'SparkJob' else rows_of_pods.workload_kind end
            as workload_kind,
        coalesce(job_runs.namespace, rows_of_pods.namespace) as namespace,
        coalesce(job_runs.job_name, rows_of_pods.workload_name) as workload_name,
        case when rows_of_pods.spark_role = 'executor'
            then coalesce(job_runs.virtual_cluster_id, rows_of_pods.emr_virtual_cluster_id) end
            as virtual_cluster_id,
        job_runs.virtual_cluster_name,
        case when rows_of_pods.spark_role = 'executor' then rows_of_pods.emr_job_run_id end as emr_job_run_id,
        rows_of_pods.pod_uid,
        rows_of_pods.tenant,
        rows_of_pods.running_hours,
        rows_of_pods.cpu_request_core_hours,
        rows_of_pods.cpu_usage_core_hours,
        rows_of_pods.cpu_allocated_core_hours,
        rows_of_pods.memory_request_gib_hours,
        rows_of_pods.memory_usage_gib_hours,
        rows_of_pods.memory_allocated_gib_hours,
        rows_of_pods.cpu_cost,
        rows_of_pods.memory_cost,
        rows_of_pods.idle_cost,
    from rows_of_pods
    -- a recurring Spark job is its executors, named by the job run's job name and virtual cluster
    left join job_runs
        on job_runs.job_run_id = rows_of_pods.emr_job_run_id
        and rows_of_pods.spark_role = 'executor'
    where rows_of_pods.workload_kind in ('Deployment', 'StatefulSet', 'DaemonSet')
        or rows_of_pods.spark_role = 'executor'
)

select * from final
