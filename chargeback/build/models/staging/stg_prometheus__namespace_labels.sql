-- grain: one label set of one namespace in one UTC hour; key (cluster, namespace, hour, labels)
with source as (
    select * from raw.prometheus__namespace_labels
),

final as (
    select
        cluster,
        namespace,
        hour,
        seconds_in_force,
        labels,
    from source
)

select * from final
