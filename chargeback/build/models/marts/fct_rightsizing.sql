-- grain: one workload in one month; key (cluster, period, workload_kind, namespace, workload_name, virtual_cluster_id)
-- The inputs of right-sizing, per pod: what a pod of the workload requests, the distribution of what it
-- uses per running hour (hourly usage = usage_core_hours / running_hours of each pod-hour), and the unit
-- price the workload actually paid per allocated unit (split cost / allocated units, idle share excluded).
-- Workloads are long-running controllers (Deployment, StatefulSet, DaemonSet) by namespace and name, and
-- recurring Spark jobs by job name and virtual cluster, executor pods only. The recommendation itself
-- (quantile / target utilisation, floors, minimum history) depends on `[capacity]` and is made by
-- chargeback.reports.rightsize from these columns; usage quantiles are stored at the levels it offers.
-- The rows and their workloads come from intermediate.int_rightsizing_rows: pod-hours for the hourly figures,
-- pod-days to count pods and job runs.
with per_hour as (
    select
        *,
        cpu_usage_core_hours / running_hours as cpu_usage_cores,
        memory_usage_gib_hours / running_hours as memory_usage_gib,
    from intermediate.int_rightsizing_rows
    where is_hour
),

pod_counts as (
    select
        cluster,
        period,
        workload_kind,
        namespace,
        workload_name,
        virtual_cluster_id,
        count(distinct pod_uid) as pod_count,
        count(distinct emr_job_run_id) as job_run_count,
    from intermediate.int_rightsizing_rows
    where not is_hour
    group by cluster, period, workload_kind, namespace, workload_name, virtual_cluster_id
),

aggregated as (
    select
        cluster,
        period,
        workload_kind,
        namespace,
        workload_name,
        virtual_cluster_id,
        min(virtual_cluster_name) as virtual_cluster_name,
        min(tenant) as tenant,
        count(*) as pod_hour_rows,
        sum(running_hours) as pod_hours,
        sum(cpu_request_core_hours) / sum(running_hours) as cpu_request_cores,
        sum(cpu_usage_core_hours) / sum(running_hours) as cpu_usage_cores_avg,
        max(cpu_usage_cores) as cpu_usage_cores_max,
        sum(memory_request_gib_hours) / sum(running_hours) as memory_request_gib,
        sum(memory_usage_gib_hours) / sum(running_hours) as memory_usage_gib_avg,
        max(memory_usage_gib) as memory_usage_gib_max,
        sum(cpu_request_core_hours) as cpu_request_core_hours,
        sum(cpu_allocated_core_hours) as cpu_allocated_core_hours,
        sum(memory_request_gib_hours) as memory_request_gib_hours,
        sum(memory_allocated_gib_hours) as memory_allocated_gib_hours,
        sum(cpu_cost) as cpu_cost,
        sum(memory_cost) as memory_cost,
        sum(idle_cost) as idle_cost,
        -- a number per workload that every read of this CTE gives the same (ordered by its key, which is unique
        -- here: Spark may compute a CTE read twice twice, and an unordered row number could differ between reads)
        row_number() over (
            order by cluster, period, workload_kind, namespace, workload_name, virtual_cluster_id
        ) as workload_id,
    from per_hour
    group by cluster, period, workload_kind, namespace, workload_name, virtual_cluster_id
),

-- The quantiles hold every hour's value of a workload until its group is complete: grouped by a number over two
-- values per row, not by six names beside the sums (at four clusters of L, 65 million pod-hours, the wide
-- grouping spilled tens of GB to disk).
hourly_values as (
    select
        aggregated.workload_id,
        hours.cpu_usage_core_hours / hours.running_hours as cpu_usage_cores,
        hours.memory_usage_gib_hours / hours.running_hours as memory_usage_gib,
    -- the rows again rather than per_hour: a CTE read twice is materialised, 16 million rows at L
    from intermediate.int_rightsizing_rows as hours
    inner join aggregated
        on aggregated.cluster is not distinct from hours.cluster
        and aggregated.period is not distinct from hours.period
        and aggregated.workload_kind is not distinct from hours.workload_kind
        and aggregated.namespace is not distinct from hours.namespace
        and aggregated.workload_name is not distinct from hours.workload_name
        and aggregated.virtual_cluster_id is not distinct from hours.virtual_cluster_id
    where hours.is_hour
),

quantiles as (
    select
        workload_id,
        -- every level from one sort of the workload's hours, not one sort per level
        quantile_cont(cpu_usage_cores, [0.5, 0.9, 0.95, 0.99]) as cpu_usage_cores_quantiles,
        quantile_cont(memory_usage_gib, [0.5, 0.9, 0.95, 0.99]) as memory_usage_gib_quantiles,
    from hourly_values
    group by workload_id
),

final as (
    select
        aggregated.cluster,
        aggregated.period,
        aggregated.workload_kind,
        aggregated.namespace,
        aggregated.workload_name,
        aggregated.virtual_cluster_id,
        aggregated.virtual_cluster_name,
        aggregated.tenant,
        coalesce(pod_counts.pod_count, 0) as pod_count,
        coalesce(pod_counts.job_run_count, 0) as job_run_count,
        pod_hour_rows,
        pod_hours,
        cpu_request_cores,
        cpu_usage_cores_avg,
        cpu_usage_cores_quantiles[1] as cpu_usage_cores_p50,
        cpu_usage_cores_quantiles[2] as cpu_usage_cores_p90,
        cpu_usage_cores_quantiles[3] as cpu_usage_cores_p95,
        cpu_usage_cores_quantiles[4] as cpu_usage_cores_p99,
        cpu_usage_cores_max,
        memory_request_gib,
        memory_usage_gib_avg,
        memory_usage_gib_quantiles[1] as memory_usage_gib_p50,
        memory_usage_gib_quantiles[2] as memory_usage_gib_p90,
        memory_usage_gib_quantiles[3] as memory_usage_gib_p95,
        memory_usage_gib_quantiles[4] as memory_usage_gib_p99,
        memory_usage_gib_max,
        cpu_request_core_hours,
        cpu_allocated_core_hours,
        memory_request_gib_hours,
        memory_allocated_gib_hours,
        cpu_cost,
        memory_cost,
        idle_cost,
        -- what the workload paid per allocated unit on the nodes it ran on (its split cost, idle excluded)
        cast(cpu_cost as double) / nullif(cpu_allocated_core_hours, 0) as cpu_price_per_core_hour,
        cast(memory_cost as double) / nullif(memory_allocated_gib_hours, 0) as memory_price_per_gib_hour,
    from aggregated
    inner join quantiles on quantiles.workload_id = aggregated.workload_id
    left join pod_counts
        on pod_counts.cluster is not distinct from aggregated.cluster
        and pod_counts.period is not distinct from aggregated.period
        and pod_counts.workload_kind is not distinct from aggregated.workload_kind
        and pod_counts.namespace is not distinct from aggregated.namespace
        and pod_counts.workload_name is not distinct from aggregated.workload_name
        and pod_counts.virtual_cluster_id is not distinct from aggregated.virtual_cluster_id
)

select * from final
