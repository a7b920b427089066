-- grain: one namespace, quota resource and UTC hour in which the namespace had pods; key (cluster, namespace, hour, resource)
-- What a namespace asked of each ResourceQuota resource in each hour, against the hard limit in force, and
-- what that hour cost. Hourly amounts are averages over the hour: requested cores = Σ request core-hours of
-- the namespace's pods in the hour (a pod running half the hour counts half); GiB likewise; pods = distinct
-- pods running in the hour. Actual usage exists for cpu and memory only. limits.* stay null: pod limits are
-- not collected. The hard limit of a period is the ResourceQuota snapshot taken closest to the period's end
-- (several quotas in a namespace: the smallest hard per resource, which is the one that binds); namespaces
-- without a quota have every resource with a null hard. Period aggregation (quantiles, hours near the
-- limit, the recommendation) depends on `[capacity]` and is done by chargeback.reports.quotas from these rows.
with namespace_hours as (
    select * from intermediate.int_namespace_hours
),

quota_rows as (
    select * from staging.stg_kubernetes__resource_quotas
    where hard is not null
),

resources as (
    select * from (
        values
            ('requests.cpu', 'cores'),
            ('requests.memory', 'GiB'),
            ('limits.cpu', 'cores'),
            ('limits.memory', 'GiB'),
            ('pods', 'count'),
            ('requests.nvidia.com/gpu', 'count')
    ) as r (resource, unit)
),

periods as (
    select
        cluster,
        period,
        min(hour) as first_hour,
        max(hour) as last_hour,
    from namespace_hours
    group by cluster, period
),

snapshot_distance as (
    select
        periods.cluster,
        periods.period,
        quota_rows.namespace,
        quota_rows.collected_at,
        abs(date_diff('second', quota_rows.collected_at, periods.last_hour + interval 1 hour)) as seconds_from_end,
    from periods
    inner join quota_rows on quota_rows.cluster = periods.cluster
    group by periods.cluster, periods.period, quota_rows.namespace, quota_rows.collected_at, periods.last_hour
),

snapshot_ranked as (
    select
        *,
        row_number() over (
            partition by cluster, period, namespace order by seconds_from_end, collected_at desc
        ) as closeness,
    from snapshot_distance
),

quotas as (
    select
        snapshot_ranked.cluster,
        snapshot_ranked.period,
        quota_rows.namespace,
        quota_rows.quota_resource as resource,
        min(quota_rows.quota) as quota,
        min(quota_rows.hard_amount) as hard,
        min(quota_rows.collected_at) as quota_collected_at,
    from snapshot_ranked
    inner join quota_rows
        on quota_rows.cluster = snapshot_ranked.cluster
        and quota_rows.namespace = snapshot_ranked.namespace
        and quota_rows.collected_at = snapshot_ranked.collected_at
    where snapshot_ranked.closeness = 1
    group by snapshot_ranked.cluster, snapshot_ranked.period, quota_rows.namespace, quota_rows.quota_resource
),

namespace_quota_names as (
    select cluster, period, namespace, min(quota) as quota,
    from quotas
    group by cluster, period, namespace
),

measured as (
    select
        namespace_hours.cluster,
        namespace_hours.period,
        namespace_hours.namespace,
        namespace_hours.hour,
        resources.resource,
        resources.unit,
        case resources.resource
            when 'requests.cpu' then namespace_hours.cpu_request_cores
            when 'requests.memory' then namespace_hours.memory_request_gib
            when 'pods' then cast(namespace_hours.pods as double)
            when 'requests.nvidia.com/gpu' then namespace_hours.gpu_request
        end as requested,
        case resources.resource
            when 'requests.cpu' then namespace_hours.cpu_usage_cores
            when 'requests.memory' then namespace_hours.memory_usage_gib
        end as used,
        case resources.resource
            when 'requests.cpu' then namespace_hours.cpu_cost
            when 'requests.memory' then namespace_hours.memory_cost
            when 'requests.nvidia.com/gpu' then namespace_hours.gpu_cost
        end as resource_split_cost,
        namespace_hours.cpu_cost + namespace_hours.memory_cost + namespace_hours.gpu_cost as compute_cost,
        namespace_hours.idle_cost,
        namespace_hours.total_cost,
    from namespace_hours
    cross join resources
),

final as (
    select
        measured.cluster,
        measured.period,
        measured.namespace,
        measured.hour,
        measured.resource,
        measured.unit,
        coalesce(quotas.quota, namespace_quota_names.quota) as quota,
        quotas.hard,
        quotas.quota_collected_at,
        measured.requested,
        measured.used,
        measured.requested / nullif(quotas.hard, 0) as requested_share_of_hard,
        -- this resource's split cost plus its share of the namespace's idle cost, in proportion to split cost
        measured.resource_split_cost
        + coalesce(measured.idle_cost * measured.resource_split_cost / nullif(measured.compute_cost, 0), 0)
            as resource_cost,
        measured.total_cost as namespace_cost,
    from measured
    left join quotas
        on quotas.cluster = measured.cluster
        and quotas.period = measured.period
        and quotas.namespace = measured.namespace
        and quotas.resource = measured.resource
    left join namespace_quota_names
        on namespace_quota_names.cluster = measured.cluster
        and namespace_quota_names.period = measured.period
        and namespace_quota_names.namespace = measured.namespace
)

select * from final
