-- grain: one pod; key (cluster, pod_uid)
-- The pod's first daily record (of its labels, only the EMR and Spark ones), with the workload it belongs to:
-- a Deployment (from its ReplicaSet's name), another controller, a Spark application (EMR on EKS driver and
-- executors), or the bare pod. The first record, not the last, so that landing a later day never changes
-- what an earlier day's pod-hours belong to: an incremental build reprices only the days whose inputs changed
-- (chargeback/build/incremental.py). `first_date` is the day of that record; pod-hours before it have no metadata.
-- Built a day at a time: a day's new pods, found among the pod records of that day and every day before.
-- incremental: day by first_date
with records as (
    select * from staging.stg_prometheus__pods
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
        -- two records of a pod on one day are the same pod landed twice: keep one
        row_number() over (partition by records.cluster, records.pod_uid order by records.pod) as day_rank,
    from records
    inner join first_days
        on first_days.cluster = records.cluster
        and first_days.pod_uid = records.pod_uid
        and first_days.first_date = records.date
),

final as (
    select
        cluster,
        pod_uid,
        date as first_date,
        namespace,
        pod,
        owner_kind,
        owner_name,
        emr_job_run_id,
        emr_virtual_cluster_id,
        spark_role,
        host_network,
        case
            when spark_role is not null then 'SparkApplication'
            when owner_kind = 'ReplicaSet' then 'Deployment'
            when owner_kind is null then 'Pod'
            else owner_kind
        end as workload_kind,
        case
            when spark_role is not null then coalesce(spark_app_name, emr_job_run_id, pod)
            when owner_kind = 'ReplicaSet' then regexp_replace(owner_name, '-[0-9a-z]+$', '')
            when owner_kind is null then pod
            else owner_name
        end as workload_name,
    from ranked
    where day_rank = 1
)

select * from final
