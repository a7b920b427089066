-- grain: one cluster and UTC day with pod-hours; key (cluster, date)
-- The day's pod-hour rows beyond the pod-hours they cover: a pod's rows of the day minus the hours they cover
-- (the bits of int_pod_days' hours_mask, whose masks of a pod's day are merged first: a pod-day there is per
-- tenant too). Not zero: the same (cluster, pod_uid, hour) landed twice (two collectors, say), which the checks
-- mart's unique_pod_hours turns into a failed build. Built a day at a time, like the pod-days it reads.
-- incremental: day
with pod_days as (
    select * from intermediate.int_pod_days
),

per_pod as (
    select cluster, period, date, sum(pod_hour_rows) - bit_count(bit_or(hours_mask)) as duplicates,
    from pod_days
    group by cluster, period, date, pod_uid
),

final as (
    select cluster, period, date, cast(sum(duplicates) as bigint) as duplicate_pod_hours,
    from per_pod
    group by cluster, period, date
)

select * from final
