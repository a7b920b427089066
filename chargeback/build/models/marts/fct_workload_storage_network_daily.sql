-- grain: one cluster, UTC day, tenant, namespace, workload and EMR job run; key all of those
-- The parts `storage` and `network` of the tenants' bills where the data names a namespace, a workload or a job
-- run (docs/method.md#the-whole-cluster-bill), beside fct_workload_costs_daily's compute and idle share for the
-- drill-down (tenant -> namespace -> workload -> EMR job run) and the EMR job runs' cost:
--   a pod's share of its node's data transfer -> the pod's workload and job run;
--   a PV volume's hours of a day -> the workloads (and job runs) whose pods mounted its claim that day, evenly
--   (Spark's shuffle volumes follow their job), else the claim's namespace alone (workload null);
--   a load balancer of a namespace -> the namespace alone.
-- Only what the bill holds as `storage` or `network` of a tenant: shared namespaces' volumes and transfer
-- (part `shared`), a dedicated node's transfer (its tenant's, no pod) and what no pod took (__idle__) are not
-- here; the drill-down shows them as what the tenant's part holds beyond its items.
with tenants as (
    select * from intermediate.int_namespace_tenants_hourly
),

pods as (
    select distinct cluster, pod_uid, workload_kind, workload_name, emr_job_run_id,
    from intermediate.int_pods
),

network as (
    select
        costs.cluster,
        costs.date,
        costs.tenant,
        costs.namespace,
        pods.workload_kind,
        pods.workload_name,
        pods.emr_job_run_id,
        cast(0 as decimal(38, 12)) as storage_cost,
        costs.amount as network_cost,
    from intermediate.int_network_costs as costs
    left join pods on pods.cluster = costs.cluster and pods.pod_uid = costs.pod_uid
    where costs.component = 'network' and costs.pod_uid is not null
),

load_balancers as (
    select
        cluster,
        date,
        tenant,
        namespace,
        cast(null as varchar) as workload_kind,
        cast(null as varchar) as workload_name,
        cast(null as varchar) as emr_job_run_id,
        cast(0 as decimal(38, 12)) as storage_cost,
        cost as network_cost,
    from intermediate.int_load_balancer_costs
    where component = 'network'
),

volume_hours as (
    select storage.*, tenants.tenant,
    from intermediate.int_storage_hours as storage
    inner join tenants
        on tenants.cluster = storage.cluster
        and tenants.namespace = storage.namespace
        and tenants.hour = storage.hour
    where not tenants.is_shared
),

-- the workloads (and job runs) whose pods mounted each claim on each day
claim_workloads as (
    select distinct
        claims.cluster,
        claims.namespace,
        claims.claim,
        claims.date,
        pods.workload_kind,
        pods.workload_name,
        pods.emr_job_run_id,
    from staging.stg_prometheus__pod_volume_claims as claims
    inner join pods on pods.cluster = claims.cluster and pods.pod_uid = claims.pod_uid
),

claim_shares as (
    select *, count(*) over (partition by cluster, namespace, claim, date) as mounted_by,
    from claim_workloads
),

mounted as (
    select
        volume_hours.cluster,
        volume_hours.date,
        volume_hours.tenant,
        volume_hours.namespace,
        shares.workload_kind,
        shares.workload_name,
        shares.emr_job_run_id,
        cast(cast(volume_hours.cost as double) / shares.mounted_by as decimal(38, 12)) as storage_cost,
        cast(0 as decimal(38, 12)) as network_cost,
    from volume_hours
    inner join claim_shares as shares
        on shares.cluster = volume_hours.cluster
        and shares.namespace = volume_hours.namespace
        and shares.claim = volume_hours.claim_name
        and shares.date = volume_hours.date
),

unmounted as (
    select
        volume_hours.cluster,
        volume_hours.date,
        volume_hours.tenant,
        volume_hours.namespace,
        cast(null as varchar) as workload_kind,
        cast(null as varchar) as workload_name,
        cast(null as varchar) as emr_job_run_id,
        volume_hours.cost as storage_cost,
        cast(0 as decimal(38, 12)) as network_cost,
    from volume_hours
    left join (select distinct cluster, namespace, claim, date from claim_workloads) as used
        on used.cluster = volume_hours.cluster
        and used.namespace = volume_hours.namespace
        and used.claim = volume_hours.claim_name
        and used.date = volume_hours.date
    where used.claim is null
),

unioned as (
    select * from network
    union all select * from load_balancers
    union all select * from mounted
    union all select * from unmounted
),

final as (
    select
        cluster,
        strftime(date, '%Y-%m') as period,
        date,
        tenant,
        namespace,
        workload_kind,
        workload_name,
        emr_job_run_id,
        cast(sum(storage_cost) as decimal(38, 12)) as storage_cost,
        cast(sum(network_cost) as decimal(38, 12)) as network_cost,
    from unioned
    group by cluster, date, tenant, namespace, workload_kind, workload_name, emr_job_run_id
)

select * from final
