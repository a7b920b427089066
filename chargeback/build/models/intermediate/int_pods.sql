-- grain: one pod; key (cluster, pod_uid)
-- The pod's first daily record (its labels; the EMR and Spark ones as columns), with the workload it belongs to:
-- a Spark application (EMR on EKS driver and executors); the owner of its ReplicaSet (a Deployment, an Argo
-- Rollout, ...) or the bare ReplicaSet; the CronJob of its Job, else the Job; another controller; or the bare
-- pod. The owners of ReplicaSets and Jobs come from kube-state-metrics (stg_prometheus__owners). A ReplicaSet
-- with no owner record at all (data collected before owners were, or a kube-state-metrics without
-- kube_replicaset_owner) keeps the earlier guess, for backwards compatibility: a Deployment named as the
-- ReplicaSet less its last `-<hash>` (wrong for a bare ReplicaSet or another owner's).
-- The first record, not the last, and only owner records dated on or before that day (an owner exists before
-- its pods), so that landing a later day never changes what an earlier day's pod-hours belong to: an
-- incremental build reprices only the days whose inputs changed (chargeback/build/incremental.py; a day's
-- fingerprint covers the pod and owner records of that day and every day before). `first_date` is the day of
-- that record; pod-hours before it have no metadata.
-- Built a day at a time: a day's new pods, found among the pod records of that day and every day before.
-- incremental: day by first_date
with records as (
    select * from staging.stg_prometheus__pods
),

owner_records as (
    select * from staging.stg_prometheus__owners
),

first_days as (
    select cluster, pod_uid, min(date) as first_date,
    from records
    group by cluster, pod_uid
),

ranked as (
    select
        records.cluster,
        records.date,
        records.namespace,
        records.pod,
        records.pod_uid,
        records.owner_kind,
        records.owner_name,
        records.emr_job_run_id,
        records.emr_virtual_cluster_id,
        records.spark_role,
        records.spark_app_name,
        records.host_network,
        records.labels,
        -- two records of a pod on one day are the same pod landed twice: keep one
        row_number() over (partition by records.cluster, records.pod_uid order by records.pod) as day_rank,
    from records
    inner join first_days
        on first_days.cluster = records.cluster
        and first_days.pod_uid = records.pod_uid
        and first_days.first_date = records.date
),

firsts as (
    select * from ranked
    where day_rank = 1
),

-- The latest record of the pod's ReplicaSet or Job dated on or before the pod's first day.
owner_ranked as (
    select
        firsts.cluster,
        firsts.pod_uid,
        owner_records.owner_kind as parent_kind,
        owner_records.owner_name as parent_name,
        row_number() over (
            partition by firsts.cluster, firsts.pod_uid
            order by
                owner_records.date desc,
                coalesce(owner_records.owner_kind, ''),
                coalesce(owner_records.owner_name, '')
        ) as owner_rank,
    from firsts
    inner join owner_records
        on owner_records.cluster = firsts.cluster
        and owner_records.namespace = firsts.namespace
        and owner_records.kind = firsts.owner_kind
        and owner_records.name = firsts.owner_name
        and owner_records.date <= firsts.date
),

parents as (
    select cluster, pod_uid, parent_kind, parent_name,
    from owner_ranked
    where owner_rank = 1
),

final as (
    select
        firsts.cluster,
        firsts.pod_uid,
        firsts.date as first_date,
        firsts.namespace,
        firsts.pod,
        firsts.owner_kind,
        firsts.owner_name,
        firsts.emr_job_run_id,
        firsts.emr_virtual_cluster_id,
        firsts.spark_role,
        firsts.host_network,
        -- every Kubernetes label of the record, for the costs by label (int_pod_labels)
        firsts.labels,
        case
            when firsts.spark_role is not null then 'SparkApplication'
            -- a ReplicaSet's owner (Deployment, Rollout, ...), or the ReplicaSet itself if its record names none
            when firsts.owner_kind = 'ReplicaSet' and parents.pod_uid is not null
                then coalesce(parents.parent_kind, 'ReplicaSet')
            -- no owner record: the guess from the ReplicaSet's name
            when firsts.owner_kind = 'ReplicaSet' then 'Deployment'
            -- a Job's CronJob; a Job of no CronJob (or with no owner record) is its own workload
            when firsts.owner_kind = 'Job' and parents.parent_kind = 'CronJob' then 'CronJob'
            when firsts.owner_kind is null then 'Pod'
            else firsts.owner_kind
        end as workload_kind,
        case
            when firsts.spark_role is not null then coalesce(firsts.spark_app_name, firsts.emr_job_run_id, firsts.pod)
            when firsts.owner_kind = 'ReplicaSet' and parents.pod_uid is not null
                then coalesce(parents.parent_name, firsts.owner_name)
            when firsts.owner_kind = 'ReplicaSet' then regexp_replace(firsts.owner_name, '-[0-9a-z]+$', '')
            when firsts.owner_kind = 'Job' and parents.parent_kind = 'CronJob' then parents.parent_name
            when firsts.owner_kind is null then firsts.pod
            else firsts.owner_name
        end as workload_name,
    from firsts
    left join parents
        on parents.cluster = firsts.cluster
        and parents.pod_uid = firsts.pod_uid
)

select * from final
