-- grain: one label of one pod; key (cluster, pod_uid, label_key)
-- The Kubernetes labels of the pod's first daily record, the record int_pods takes its workload from (so a
-- label that changes later does not move the pod's earlier hours), one row per label: the costs by label
-- (fct_label_costs_daily) group pods by any label kube-state-metrics exports (its --metric-labels-allowlist).
-- Built a day at a time by the pod's first day, like int_pods.
-- incremental: day by first_date
with pods as (
    select cluster, pod_uid, first_date, pod from intermediate.int_pods
),

records as (
    select cluster, date, pod_uid, pod, labels from staging.stg_prometheus__pods where labels is not null
),

entries as (
    select records.cluster, records.pod_uid, pods.first_date, unnest(map_keys(records.labels)) as label_key,
        records.labels,
    from records
    inner join pods
        on pods.cluster = records.cluster
        and pods.pod_uid = records.pod_uid
        and pods.first_date = records.date
        and pods.pod = records.pod
),

final as (
    -- a pod landed twice on its first day is one pod (int_pods): one value per key
    select cluster, pod_uid, first_date, label_key, min(labels[label_key]) as label_value,
    from entries
    group by cluster, pod_uid, first_date, label_key
)

select * from final
