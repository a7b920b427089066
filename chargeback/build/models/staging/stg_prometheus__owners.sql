-- grain: one ReplicaSet or Job that owned a pod, as seen on one UTC day; key (cluster, namespace, kind, name, date)
-- Its controlling owner from kube-state-metrics' kube_replicaset_owner / kube_job_owner (a Deployment or an Argo
-- Rollout of a ReplicaSet, a CronJob of a Job); both owner columns null where it had none.
with source as (
    select * from validated.prometheus__owners
),

final as (
    select
        cluster,
        date,
        namespace,
        kind,
        name,
        owner_kind,
        owner_name,
    from source
)

select * from final
