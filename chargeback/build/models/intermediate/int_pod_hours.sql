-- grain: one pod in one UTC hour; key (cluster, pod_uid, hour)
-- The pod-hour's allocation (int_pod_hours_allocated) with the workload it belongs to and the namespace's
-- tenant for that hour; dedicated nodes override the tenant later, at pricing.
-- materialized: view
-- (read once, by pricing, which writes every pod-hour; storing it as well would write the largest relation
-- a second time)
with pod_hours as (
    select * from intermediate.int_pod_hours_allocated
),

final as (
    select
        pod_hours.cluster,
        cast(pod_hours.hour as date) as date,
        pod_hours.hour,
        pod_hours.node,
        pod_hours.namespace,
        pod_hours.pod,
        pod_hours.pod_uid,
        coalesce(pods.workload_kind, 'Pod') as workload_kind,
        coalesce(pods.workload_name, pod_hours.pod) as workload_name,
        pods.emr_job_run_id,
        pods.emr_virtual_cluster_id,
        pods.spark_role,
        tenants.tenant as namespace_tenant,
        tenants.tenant_source,
        tenants.is_shared,
        pod_hours.running_hours,
        pod_hours.cpu_request_core_hours,
        pod_hours.cpu_usage_core_hours,
        pod_hours.memory_request_gib_hours,
        pod_hours.memory_usage_gib_hours,
        pod_hours.gpu_request_hours,
        pod_hours.cpu_allocated_core_hours,
        pod_hours.memory_allocated_gib_hours,
        pod_hours.gpu_allocated_hours,
        -- bytes received + transmitted; none for a host-network pod, whose counters are the host's
        case when not coalesce(pods.host_network, false) then pod_hours.network_bytes end as network_bytes,
    from pod_hours
    left join intermediate.int_pods as pods
        on pods.cluster = pod_hours.cluster
        and pods.pod_uid = pod_hours.pod_uid
        and pods.first_date <= cast(pod_hours.hour as date)
    left join intermediate.int_namespace_tenants_hourly as tenants
        on tenants.cluster = pod_hours.cluster
        and tenants.namespace = pod_hours.namespace
        and tenants.hour = pod_hours.hour
)

select * from final
