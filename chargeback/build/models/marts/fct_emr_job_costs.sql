-- grain: one EMR on EKS job run; key job_run_id
-- A job's cost = its pods' cost (split plus idle share under the active idle mode) + its pods' share of data
-- transfer (int_network_costs) + the storage of the claims its pods mount (a claim's PV volume hours of each day
-- one of its pods mounted it, split evenly between the jobs that mounted it that day: Spark's shuffle volumes) +
-- its EMR charges from the CUR. Requested (spark-submit shape) and used executor resources sit beside the cost.
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
    from intermediate.int_pod_hours_priced
    where emr_job_run_id is not null
    group by emr_job_run_id
),

job_pods as (
    select distinct cluster, pod_uid, emr_job_run_id as job_run_id,
    from staging.stg_prometheus__pods
    where emr_job_run_id is not null
),

network as (
    select job_pods.job_run_id, sum(costs.amount) as network_cost,
    from intermediate.int_network_costs as costs
    inner join job_pods on job_pods.cluster = costs.cluster and job_pods.pod_uid = costs.pod_uid
    group by job_pods.job_run_id
),

job_claims as (
    select distinct claims.cluster, claims.namespace, claims.claim, claims.date, job_pods.job_run_id,
    from staging.stg_prometheus__pod_volume_claims as claims
    inner join job_pods on job_pods.cluster = claims.cluster and job_pods.pod_uid = claims.pod_uid
),

claim_jobs as (
    select *, count(*) over (partition by cluster, namespace, claim, date) as jobs,
    from job_claims
),

storage as (
    select claim_jobs.job_run_id, sum(cast(pieces.cost as double) / claim_jobs.jobs) as storage_cost,
    from intermediate.int_storage_hours as pieces
    inner join claim_jobs
        on claim_jobs.cluster = pieces.cluster
        and claim_jobs.namespace = pieces.namespace
        and claim_jobs.claim = pieces.claim_name
        and claim_jobs.date = pieces.date
    group by claim_jobs.job_run_id
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
        cast(coalesce(storage.storage_cost, 0) as decimal(38, 12)) as storage_cost,
        coalesce(network.network_cost, 0) as network_cost,
        coalesce(charges.emr_cost, 0) as emr_cost,
        coalesce(pods.compute_cost, 0) + coalesce(pods.idle_cost, 0)
            + cast(coalesce(storage.storage_cost, 0) as decimal(38, 12)) + coalesce(network.network_cost, 0)
            + coalesce(charges.emr_cost, 0) as total_cost,
    from job_ids
    left join job_runs on job_runs.job_run_id = job_ids.job_run_id
    left join pods on pods.job_run_id = job_ids.job_run_id
    left join charges on charges.job_run_id = job_ids.job_run_id
    left join network on network.job_run_id = job_ids.job_run_id
    left join storage on storage.job_run_id = job_ids.job_run_id
)

select * from final
