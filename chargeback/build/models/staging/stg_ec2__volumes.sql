-- grain: one EBS volume and attachment per EC2 snapshot; key (volume_id, collected_at, instance_id)
-- pvc_namespace: the EBS CSI driver's kubernetes.io/created-for/pvc/namespace tag (a volume whose PV is gone).
with source as (
    select * from validated.ec2__volumes
),

final as (
    select
        collected_at,
        region,
        volume_id,
        volume_type,
        size_gib,
        state,
        instance_id,
        attachment_state,
        tags,
        nullif(tags['kubernetes.io/created-for/pvc/namespace'], '') as pvc_namespace,
        nullif(tags['kubernetes.io/created-for/pv/name'], '') as pv_name,
    from source
)

select * from final
