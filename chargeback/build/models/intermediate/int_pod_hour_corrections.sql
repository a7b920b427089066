-- grain: one pod-hour whose raw values broke a value rule; key (cluster, pod_uid, hour)
-- The pod-hours the validated layer corrected (docs/method.md#validation): the file, the rules broken, the
-- values as landed and as corrected, and what the pod-hour allocated with its raw values (max(request, usage)
-- per resource, in hours and GiB-hours; NaN or infinite where a raw value was) so that the data-quality mart
-- can price the row both ways. Built a day at a time like the pod-hours it reads.
-- incremental: day
with corrected as (
    select * from validated.prometheus__pod_hours where _corrected
),

final as (
    select
        cluster,
        cast(hour as date) as date,
        hour,
        node,
        namespace,
        pod,
        pod_uid,
        _file as file,
        _rules as rules,
        _original_values as original_values,
        _corrected_values as corrected_values,
        greatest(_raw_cpu_request_core_seconds, _raw_cpu_usage_core_seconds) / 3600.0 as cpu_allocated_core_hours_raw,
        greatest(_raw_memory_request_byte_seconds, _raw_memory_working_set_byte_seconds) / 3600.0 / 1073741824.0
            as memory_allocated_gib_hours_raw,
        _raw_gpu_request_seconds / 3600.0 as gpu_allocated_hours_raw,
    from corrected
)

select * from final
