-- grain: one PersistentVolume per Kubernetes API snapshot; key (cluster, persistent_volume, collected_at)
with source as (
    select * from validated.kubernetes__persistent_volumes
),

final as (
    select
        cluster,
        collected_at,
        persistent_volume,
        nullif(regexp_extract(volume_handle, 'vol-[0-9a-f]+'), '') as volume_id,
        storage_class,
        capacity_bytes / 1073741824.0 as capacity_gib,
        phase,
        claim_namespace,
        claim_name,
    from source
)

select * from final
