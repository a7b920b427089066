-- grain: one label set of one namespace in one UTC hour; key (cluster, namespace, hour, labels)
-- tenant_label: the value of the configured tenant label, validated (a reserved __*__ value is null).
with source as (
    select * from validated.prometheus__namespace_labels
),

final as (
    select
        cluster,
        namespace,
        hour,
        seconds_in_force,
        labels,
        tenant_label,
    from source
)

select * from final
