-- grain: one cluster, UTC day, bill line, label key and label value; key all of those
-- Pod costs by Kubernetes label, for costs grouped by any collected label (chargeback costs --by label:KEY, the
-- dashboard's Explore page): each pod-day's compute and idle share under every label its first record carries
-- (int_pod_labels), so one key's rows hold the pods that have that label, each once. Pods without the key are
-- in none of its rows: what a tenant's day holds beyond them is the tenant's rest (chargeback/reports/costs.py).
-- Built a day at a time, from the day's pod-days.
-- incremental: day
with pod_days as (
    select * from intermediate.int_pod_days
),

labels as (
    select * from intermediate.int_pod_labels
),

final as (
    select
        pod_days.cluster,
        pod_days.period,
        pod_days.date,
        pod_days.tenant,
        labels.label_key,
        labels.label_value,
        count(*) as pods,
        sum(pod_days.running_hours) as pod_hours,
        sum(pod_days.cpu_cost + pod_days.memory_cost + pod_days.gpu_cost) as compute_cost,
        sum(pod_days.idle_cost) as idle_cost,
    from pod_days
    inner join labels
        on labels.cluster = pod_days.cluster
        and labels.pod_uid = pod_days.pod_uid
        and labels.first_date <= pod_days.date
    group by pod_days.cluster, pod_days.period, pod_days.date, pod_days.tenant, labels.label_key, labels.label_value
)

select * from final
