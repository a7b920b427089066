-- grain: one EMR on EKS job run; key job_run_id
-- A job's cost = its pods' cost (split plus idle share under the active idle mode) + its pods' share of data
-- transfer + the storage of the claims its pods mount (a claim's PV volume hours of each day one of its pods
-- mounted it, split evenly between the workloads and job runs that mounted it that day: Spark's shuffle
-- volumes), both as fct_workload_storage_network_daily has them, + its EMR charges from the CUR. Requested
-- (spark-submit shape) and used executor resources sit beside the cost.
with job_runs as (
    select * from intermediate.int_job_runs
),

pods as (
    select
        emr_job_run_id as job_run_id,
        min(cluster) as cluster,
        min(namespace) as namespace,
        count(distinct pod_uid) as pod_count,
        count(distinct case when spark_role = 'executor' then pod_uid end) as executor_pod_count,
        sum(cpu_cost + memory_cost + gpu_cost) as compute_cost,
        sum(idle_cost) as idle_cost,
        sum(cpu_request_core_hours) as cpu_request_core_hours,
        sum(cpu_usage_core_hours) as cpu_usage_core_hours,
        sum(memory_request_gib_hours) as memory_request_gib_hours,
        sum(memory_usage_gib_hours) as memory_usage_gib_hours,
        sum(case when spark_role = 'executor' then cpu_request_core_hours else 0 end)
            as executor_cpu_request_core_hours,
        sum(case when spark_role = 'executor' then cpu_usage_core_hours else 0 end) as executor_cpu_usage_core_hours,
        sum(case when spark_role = 'executor' then memory_request_gib_hours else 0 end)
            as executor_memory_request_gib_hours,
        sum(case when spark_role = 'executor' then memory_usage_gib_hours else 0 end)
            as executor_memory_usage_gib_hours,
    from intermediate.int_pod_days  -- the pod-hours' sums per pod-day: a ninth of the rows, the same sums
    where emr_job_run_id is not null
    group by emr_job_run_id
),

-- a job run's storage and network as the tenant's drill-down has them (one definition for both pages)
storage_network as (
    select emr_job_run_id as job_run_id, sum(storage_cost) as storage_cost, sum(network_cost) as network_cost,
    from marts.fct_workload_storage_network_daily
    where emr_job_run_id is not null
    group by emr_job_run_id
),

charges as (
    select
        emr_job_run_id as job_run_id,
        min(emr_virtual_cluster_id) as virtual_cluster_id,
        min(cluster) as cluster,
        min(date) as first_charge_date,
        sum(cost) as emr_cost,
    from intermediate.int_cur__in_scope
    where scope = 'emr'
    group by emr_job_run_id
),

job_ids as (
    select job_run_id from job_runs
    union
    select job_run_id from pods
    union
    select job_run_id from charges
),

final as (
    select
        job_ids.job_run_id,
        coalesce(job_runs.virtual_cluster_id, charges.virtual_cluster_id) as virtual_cluster_id,
        job_runs.virtual_cluster_name,
        coalesce(job_runs.cluster, pods.cluster, charges.cluster) as cluster,
        coalesce(job_runs.namespace, pods.namespace) as namespace,
        case when job_runs.job_run_id is not null then coalesce(job_runs.tenant, '__unallocated__')
            else '__unallocated__' end as tenant,
        job_runs.job_run_id is not null as is_known_job,
        job_runs.job_name,
        job_runs.state,
        job_runs.created_at,
        job_runs.finished_at,
        -- a charge of a job the collector never saw still belongs to the month it was billed in
        strftime(coalesce(cast(job_runs.created_at as date), charges.first_charge_date), '%Y-%m') as period,
        job_runs.release_label,
        job_runs.failure_reason,
        job_runs.executor_instances,
        job_runs.executor_cores,
        job_runs.executor_memory_gib,
        job_runs.driver_cores,
        job_runs.driver_memory_gib,
        coalesce(pods.pod_count, 0) as pod_count,
        coalesce(pods.executor_pod_count, 0) as executor_pod_count,
        coalesce(pods.cpu_request_core_hours, 0) as cpu_request_core_hours,
        coalesce(pods.cpu_usage_core_hours, 0) as cpu_usage_core_hours,
        coalesce(pods.memory_request_gib_hours, 0) as memory_request_gib_hours,
        coalesce(pods.memory_usage_gib_hours, 0) as memory_usage_gib_hours,
        coalesce(pods.executor_cpu_request_core_hours, 0) as executor_cpu_request_core_hours,
        coalesce(pods.executor_cpu_usage_core_hours, 0) as executor_cpu_usage_core_hours,
        coalesce(pods.executor_memory_request_gib_hours, 0) as executor_memory_request_gib_hours,
        coalesce(pods.executor_memory_usage_gib_hours, 0) as executor_memory_usage_gib_hours,
        coalesce(pods.compute_cost, 0) as compute_cost,
        coalesce(pods.idle_cost, 0) as idle_cost,
        coalesce(storage_network.storage_cost, 0) as storage_cost,
        coalesce(storage_network.network_cost, 0) as network_cost,
        coalesce(charges.emr_cost, 0) as emr_cost,
        coalesce(pods.compute_cost, 0) + coalesce(pods.idle_cost, 0)
            + coalesce(storage_network.storage_cost, 0) + coalesce(storage_network.network_cost, 0)
            + coalesce(charges.emr_cost, 0) as total_cost,
    from job_ids
    left join job_runs on job_runs.job_run_id = job_ids.job_run_id
    left join pods on pods.job_run_id = job_ids.job_run_id
    left join charges on charges.job_run_id = job_ids.job_run_id
    left join storage_network on storage_network.job_run_id = job_ids.job_run_id
)

select * from final
