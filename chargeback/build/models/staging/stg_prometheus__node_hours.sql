-- grain: one node in one UTC hour it was up; key (cluster, node, hour)
-- provider_id is aws:///<zone>/<instance-id>: the instance id joins the node to its CUR lines.
-- tenant_label: the value of the configured node label, validated (a reserved __*__ value is null).
with source as (
    select * from validated.prometheus__node_hours
),

final as (
    select
        cluster,
        node,
        hour,
        nullif(regexp_extract(provider_id, 'i-[0-9a-f]+'), '') as instance_id,
        instance_type,
        running_seconds / 3600.0 as running_hours,
        cpu_capacity_cores,
        memory_capacity_bytes / 1073741824.0 as memory_capacity_gib,
        gpu_capacity,
        labels,
        tenant_label,
        labels['eks.amazonaws.com/nodegroup'] as node_group,
        labels['eks.amazonaws.com/capacityType'] as capacity_type_label,
    from source
)

select * from final
