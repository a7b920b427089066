-- grain: one pod on one node in one UTC hour; key (cluster, pod_uid, hour)
-- Integrals over the part of the hour the pod ran, converted from seconds and bytes to hours and GiB;
-- network_bytes: bytes received + transmitted in the hour (null: no byte data).
with source as (
    select * from validated.prometheus__pod_hours
),

final as (
    select
        cluster,
        namespace,
        pod,
        pod_uid,
        node,
        hour,
        running_seconds / 3600.0 as running_hours,
        cpu_request_core_seconds / 3600.0 as cpu_request_core_hours,
        cpu_usage_core_seconds / 3600.0 as cpu_usage_core_hours,
        memory_request_byte_seconds / 3600.0 / 1073741824.0 as memory_request_gib_hours,
        memory_working_set_byte_seconds / 3600.0 / 1073741824.0 as memory_usage_gib_hours,
        gpu_request_seconds / 3600.0 as gpu_request_hours,
        case
            when network_receive_bytes is not null or network_transmit_bytes is not null
                then coalesce(network_receive_bytes, 0) + coalesce(network_transmit_bytes, 0)
        end as network_bytes,
    from source
)

select * from final
