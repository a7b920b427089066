-- grain: one pod-hour (is_hour) or pod-day (not is_hour) of a right-sized workload; key (is_hour, cluster, pod_uid,
-- hour or day)
-- The rows fct_rightsizing aggregates, each with its workload: long-running controllers (Deployment,
-- StatefulSet, DaemonSet) by namespace and name, and recurring Spark jobs by job name and virtual cluster,
-- executor pods only. Pod-hours carry the hourly figures; pod-days (int_pod_days) are there to count pods and
-- job runs: a distinct count over pod-days costs a tenth of one over pod-hours. A view, read twice by the mart
-- (once per kind of row, so each read skips the other kind).
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

long_running as (
    select
        is_hour,
        cluster,
        period,
        workload_kind,
        namespace,
        workload_name,
        cast(null as varchar) as virtual_cluster_id,
        cast(null as varchar) as virtual_cluster_name,
        cast(null as varchar) as emr_job_run_id,
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
    from rows_of_pods
    where workload_kind in ('Deployment', 'StatefulSet', 'DaemonSet')
),

spark_executors as (
    select
        pods.is_hour,
        pods.cluster,
        pods.period,
        'SparkJob' as workload_kind,
        coalesce(job_runs.namespace, pods.namespace) as namespace,
        coalesce(job_runs.job_name, pods.workload_name) as workload_name,
        coalesce(job_runs.virtual_cluster_id, pods.emr_virtual_cluster_id) as virtual_cluster_id,
        job_runs.virtual_cluster_name,
        pods.emr_job_run_id,
        pods.pod_uid,
        pods.tenant,
        pods.running_hours,
        pods.cpu_request_core_hours,
        pods.cpu_usage_core_hours,
        pods.cpu_allocated_core_hours,
        pods.memory_request_gib_hours,
        pods.memory_usage_gib_hours,
        pods.memory_allocated_gib_hours,
        pods.cpu_cost,
        pods.memory_cost,
        pods.idle_cost,
    from rows_of_pods as pods
    left join job_runs on job_runs.job_run_id = pods.emr_job_run_id
    where pods.spark_role = 'executor'
),

workload_pod_hours as (
    select * from long_running
    union all
    select * from spark_executors
),

final as (
    select * from workload_pod_hours
)

select * from final
