-- grain: one pod, claim and UTC day the pod was seen; key (cluster, namespace, pod, claim, date)
with source as (
    select * from validated.prometheus__pod_volume_claims
),

final as (
    select distinct
        cluster,
        date,
        namespace,
        pod,
        pod_uid,
        claim,
    from source
)

select * from final
