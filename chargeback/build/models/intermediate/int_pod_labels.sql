-- grain: one label of one pod; key (cluster, pod_uid, label_key)
-- The Kubernetes labels of the pod's first daily record, the record int_pods takes its workload from (so a
-- label that changes later does not move the pod's earlier hours), one row per label: the costs by label
-- (fct_label_costs_daily) group pods by any label kube-state-metrics exports (its --metric-labels-allowlist).
-- Built a day at a time by the pod's first day, like int_pods.
-- incremental: day by first_date
with entries as (
    select cluster, pod_uid, first_date, unnest(map_keys(labels)) as label_key, labels,
    from intermediate.int_pods
    where labels is not null
),

final as (
    select cluster, pod_uid, first_date, label_key, labels[label_key] as label_value,
    from entries
)

select * from final
