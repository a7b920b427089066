-- grain: one workload in one month; key (cluster, period, workload_kind, namespace, workload_name, virtual_cluster_id)
-- The inputs of right-sizing, per pod: what a pod of the workload requests, the distribution of what it
-- uses per running hour (hourly usage = usage_core_hours / running_hours of each pod-hour), and the unit
-- price the workload actually paid per allocated unit (split cost / allocated units, idle share excluded).
-- Workloads are long-running controllers (Deployment, StatefulSet, DaemonSet) by namespace and name, and
-- recurring Spark jobs by job name and virtual cluster, executor pods only. The recommendation itself
-- (quantile / target utilisation, floors, minimum history) depends on `[capacity]` and is made by
-- chargeback.rightsize from these columns; usage quantiles are stored at the levels it offers.
-- Pods and job runs are counted over pod-days (intermediate.int_pod_days), the hourly figures over pod-hours.
with pod_hours as (
    select * from marts.fct_pod_costs_hourly
    where running_hours > 0
),

pod_days as (
    select * from intermediate.int_pod_days
    where running_hours > 0
),

job_runs as (
    select * from intermediate.int_job_runs
),

-- The pod-hours (their hourly usage and sums) and the pod-days (to count pods and job runs: a distinct count
-- over pod-days costs a tenth of one over pod-hours), each row marked with where it comes from.
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

per_hour as (
    select
        *,
        cpu_usage_core_hours / running_hours as cpu_usage_cores,
        memory_usage_gib_hours / running_hours as memory_usage_gib,
    from workload_pod_hours
),

aggregated as (
    select
        cluster,
        period,
        workload_kind,
        namespace,
        workload_name,
        virtual_cluster_id,
        min(virtual_cluster_name) as virtual_cluster_name,
        min(tenant) as tenant,
        count(distinct pod_uid) filter (where not is_hour) as pod_count,
        count(distinct emr_job_run_id) filter (where not is_hour) as job_run_count,
        count(*) filter (where is_hour) as pod_hour_rows,
        sum(running_hours) as pod_hours,
        sum(cpu_request_core_hours) / sum(running_hours) as cpu_request_cores,
        sum(cpu_usage_core_hours) / sum(running_hours) as cpu_usage_cores_avg,
        -- every level from one sort of the workload's hours, not one sort per level
        quantile_cont(cpu_usage_cores, [0.5, 0.9, 0.95, 0.99]) filter (where is_hour) as cpu_usage_cores_quantiles,
        max(cpu_usage_cores) as cpu_usage_cores_max,
        sum(memory_request_gib_hours) / sum(running_hours) as memory_request_gib,
        sum(memory_usage_gib_hours) / sum(running_hours) as memory_usage_gib_avg,
        quantile_cont(memory_usage_gib, [0.5, 0.9, 0.95, 0.99]) filter (where is_hour) as memory_usage_gib_quantiles,
        max(memory_usage_gib) as memory_usage_gib_max,
        sum(cpu_request_core_hours) as cpu_request_core_hours,
        sum(cpu_allocated_core_hours) as cpu_allocated_core_hours,
        sum(memory_request_gib_hours) as memory_request_gib_hours,
        sum(memory_allocated_gib_hours) as memory_allocated_gib_hours,
        sum(cpu_cost) as cpu_cost,
        sum(memory_cost) as memory_cost,
        sum(idle_cost) as idle_cost,
    from per_hour
    group by cluster, period, workload_kind, namespace, workload_name, virtual_cluster_id
),

final as (
    select
        cluster,
        period,
        workload_kind,
        namespace,
        workload_name,
        virtual_cluster_id,
        virtual_cluster_name,
        tenant,
        pod_count,
        job_run_count,
        pod_hour_rows,
        pod_hours,
        cpu_request_cores,
        cpu_usage_cores_avg,
        cpu_usage_cores_quantiles[1] as cpu_usage_cores_p50,
        cpu_usage_cores_quantiles[2] as cpu_usage_cores_p90,
        cpu_usage_cores_quantiles[3] as cpu_usage_cores_p95,
        cpu_usage_cores_quantiles[4] as cpu_usage_cores_p99,
        cpu_usage_cores_max,
        memory_request_gib,
        memory_usage_gib_avg,
        memory_usage_gib_quantiles[1] as memory_usage_gib_p50,
        memory_usage_gib_quantiles[2] as memory_usage_gib_p90,
        memory_usage_gib_quantiles[3] as memory_usage_gib_p95,
        memory_usage_gib_quantiles[4] as memory_usage_gib_p99,
        memory_usage_gib_max,
        cpu_request_core_hours,
        cpu_allocated_core_hours,
        memory_request_gib_hours,
        memory_allocated_gib_hours,
        cpu_cost,
        memory_cost,
        idle_cost,
        -- what the workload paid per allocated unit on the nodes it ran on (its split cost, idle excluded)
        cast(cpu_cost as double) / nullif(cpu_allocated_core_hours, 0) as cpu_price_per_core_hour,
        cast(memory_cost as double) / nullif(memory_allocated_gib_hours, 0) as memory_price_per_gib_hour,
    from aggregated
)

select * from final
