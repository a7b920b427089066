-- grain: one pod's hours in one UTC day under one tenant; key (cluster, date, pod_uid, tenant)
-- A pod-day's sums, for the marts that count pods (a distinct count over pod-days, not pod-hours) or roll
-- pod-hours up by day. The workload columns depend on the pod alone; the tenant may change within a day
-- (a relabelled namespace). Built a day at a time, like the pod-hours it sums.
-- incremental: day
with pod_hours as (
    select * from intermediate.int_pod_hours_priced
),

final as (
    select
        cluster,
        period,
        date,
        pod_uid,
        tenant,
        namespace,
        workload_kind,
        workload_name,
        emr_job_run_id,
        emr_virtual_cluster_id,
        spark_role,
        count(*) as pod_hour_rows,
        -- the day's hours the pod has rows in, one bit per UTC hour: more rows than bits over a pod's day is a
        -- duplicated pod-hour (the checks mart's unique_pod_hours)
        bit_or(cast(1 as bigint) << hour(hour)) as hours_mask,
        sum(running_hours) as running_hours,
        sum(cpu_request_core_hours) as cpu_request_core_hours,
        sum(cpu_usage_core_hours) as cpu_usage_core_hours,
        sum(memory_request_gib_hours) as memory_request_gib_hours,
        sum(memory_usage_gib_hours) as memory_usage_gib_hours,
        sum(cpu_cost) as cpu_cost,
        sum(memory_cost) as memory_cost,
        sum(gpu_cost) as gpu_cost,
        sum(idle_cost) as idle_cost,
        -- what of the CPU and memory cost paid for requested capacity the pod did not use: a pod-hour's cost is that
        -- of max(request, usage), so the share (request - usage) / max(request, usage) of it when usage is lower
        cast(sum(case when cpu_allocated_core_hours > 0 then cpu_cost * cast(
            greatest(cpu_request_core_hours - cpu_usage_core_hours, 0) / cpu_allocated_core_hours as decimal(18, 12)
        ) else 0 end) as decimal(38, 12)) as cpu_unused_request_cost,
        cast(sum(case when memory_allocated_gib_hours > 0 then memory_cost * cast(
            greatest(memory_request_gib_hours - memory_usage_gib_hours, 0) / memory_allocated_gib_hours
            as decimal(18, 12)
        ) else 0 end) as decimal(38, 12)) as memory_unused_request_cost,
    from pod_hours
    group by
        cluster, period, date, pod_uid, tenant, namespace, workload_kind, workload_name, emr_job_run_id,
        emr_virtual_cluster_id, spark_role
)

select * from final
