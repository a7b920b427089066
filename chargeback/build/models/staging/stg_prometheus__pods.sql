-- grain: one pod as seen on one UTC day; key (cluster, pod_uid, date)
-- EMR on EKS and Spark identity comes from the labels the EMR job submitter puts on every pod.
with source as (
    select * from validated.prometheus__pods
),

final as (
    select
        cluster,
        date,
        namespace,
        pod,
        pod_uid,
        owner_kind,
        owner_name,
        start_time,
        completion_time,
        labels,
        coalesce(host_network, false) as host_network,
        labels['emr-containers.amazonaws.com/job.id'] as emr_job_run_id,
        labels['emr-containers.amazonaws.com/virtual-cluster-id'] as emr_virtual_cluster_id,
        labels['spark-role'] as spark_role,
        labels['spark-app-name'] as spark_app_name,
    from source
)

select * from final
