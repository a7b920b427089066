-- grain: one pod; key (cluster, pod_uid)
-- The pod's first daily record (of its labels, only the EMR and Spark ones), with the workload it belongs to:
-- a Deployment (from its ReplicaSet's name), another controller, a Spark application (EMR on EKS driver and
-- executors), or the bare pod. The first record, not the last, so that landing a later day never changes
-- what an earlier day's pod-hours belong to: an incremental build reprices only the days whose inputs changed
-- (warehouse.day_fingerprints). `first_date` is the day of that record; pod-hours before it have no metadata.
with ranked as (
    select
        cluster,
        date,
        namespace,
        pod,
        pod_uid,
        owner_kind,
        owner_name,
        emr_job_run_id,
        emr_virtual_cluster_id,
        spark_role,
        spark_app_name,
        row_number() over (partition by cluster, pod_uid order by date) as day_rank,
    from staging.stg_prometheus__pods
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
