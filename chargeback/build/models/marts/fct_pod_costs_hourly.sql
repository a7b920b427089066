-- grain: one pod in one UTC hour; key (cluster, pod_uid, hour)
-- What each pod-hour cost and who pays it: split cost per resource plus its idle share.
-- materialized: view
-- (the largest relation: a view over intermediate.int_pod_hours_priced, which already holds every column,
-- rather than a second copy of its rows)
with priced as (
    select * from intermediate.int_pod_hours_priced
),

final as (
    select
        cluster,
        period,
        date,
        hour,
        node,
        namespace,
        pod,
        pod_uid,
        workload_kind,
        workload_name,
        emr_job_run_id,
        emr_virtual_cluster_id,
        spark_role,
        tenant,
        namespace_tenant,
        tenant_source,
        is_shared,
        is_dedicated,
        is_cross_tenant,
        is_estimated,
        has_node_hour,
        running_hours,
        cpu_request_core_hours,
        cpu_usage_core_hours,
        cpu_allocated_core_hours,
        memory_request_gib_hours,
        memory_usage_gib_hours,
        memory_allocated_gib_hours,
        gpu_request_hours,
        gpu_allocated_hours,
        cpu_cost,
        memory_cost,
        gpu_cost,
        idle_cost,
        cpu_cost + memory_cost + gpu_cost + idle_cost as total_cost,
    from priced
)

select * from final
