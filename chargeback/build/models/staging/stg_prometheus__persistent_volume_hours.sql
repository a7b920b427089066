-- grain: one PersistentVolume in one UTC hour per claim its claimRef named; key (cluster, persistent_volume, hour, claim_namespace, claim_name)
-- volume_id: the EBS volume behind the PV (the CSI volumeHandle or in-tree volumeID, aws://<zone>/vol-... kept to vol-...).
with source as (
    select * from validated.prometheus__persistent_volume_hours
),

final as (
    select
        cluster,
        persistent_volume,
        hour,
        nullif(regexp_extract(volume_handle, 'vol-[0-9a-f]+'), '') as volume_id,
        storage_class,
        capacity_bytes / 1073741824.0 as capacity_gib,
        phase,
        claim_namespace,
        claim_name,
        claim_seconds,
        claim_last_seen,
    from source
)

select * from final
