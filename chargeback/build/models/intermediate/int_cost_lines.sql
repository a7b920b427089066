-- grain: one cluster, UTC day, tenant and component; key (cluster, date, tenant, component)
-- Every in-scope dollar lands in exactly one row, before shared costs are spread:
--   pods on shared nodes:  split -> compute, idle share -> idle (shared namespaces -> __shared__);
--   dedicated nodes:       the whole node cost to its tenant: pods' split -> compute, the rest -> idle;
--   what no pod took on shared nodes -> __idle__ (computed as a remainder, so nothing is lost);
--   EMR on EKS charges -> the job's virtual cluster's tenant (unknown job: __unallocated__);
--   cluster fees (EKS control plane) and cluster overhead (NAT gateways, ...) -> __shared__;
--   tenant-tagged lines -> that tenant as tagged;
--   PV volumes -> their claim's namespace's tenant as storage (no claim: __unallocated__; shared namespaces:
--   __shared__); node volumes are in their node's cost (with no node: __idle__);
--   data transfer (int_network_costs) and load balancers (int_load_balancer_costs) -> network.
with pods as (
    select * from intermediate.int_pod_hours_priced
),

nodes as (
    select * from intermediate.int_node_hours
),

lines as (
    select * from intermediate.int_cur__in_scope where scope <> 'instance'
),

pod_lines as (
    select
        cluster,
        date,
        namespace_tenant as tenant,
        case when is_shared then 'shared' else 'compute' end as component,
        sum(cpu_cost + memory_cost + gpu_cost) as amount,
    from pods
    where not is_dedicated
    group by all
    union all
    select
        cluster,
        date,
        namespace_tenant as tenant,
        case when is_shared then 'shared' else 'idle' end as component,
        sum(idle_cost) as amount,
    from pods
    where not is_dedicated
    group by all
),

dedicated_split as (
    select cluster, node, hour, sum(cpu_cost + memory_cost + gpu_cost) as split_cost,
    from pods
    where is_dedicated
    group by cluster, node, hour
),

dedicated_lines as (
    select
        nodes.cluster,
        nodes.date,
        nodes.dedicated_tenant as tenant,
        component.name as component,
        sum(
            case component.name
                when 'compute' then coalesce(dedicated_split.split_cost, 0)
                else nodes.cost - coalesce(dedicated_split.split_cost, 0)
            end
        ) as amount,
    from nodes
    cross join (select 'compute' as name union all select 'idle' as name) as component
    left join dedicated_split
        on dedicated_split.cluster = nodes.cluster
        and dedicated_split.node = nodes.node
        and dedicated_split.hour = nodes.hour
    where nodes.is_dedicated
    group by all
),

shared_node_cost as (
    select cluster, date, sum(cost) as cost from nodes where not is_dedicated group by cluster, date
),

shared_node_priced as (
    select cluster, date, sum(cpu_cost + memory_cost + gpu_cost + idle_cost) as priced,
    from pods
    where not is_dedicated
    group by cluster, date
),

idle_lines as (
    select
        shared_node_cost.cluster,
        shared_node_cost.date,
        '__idle__' as tenant,
        'idle' as component,
        shared_node_cost.cost - coalesce(shared_node_priced.priced, 0) as amount,
    from shared_node_cost
    left join shared_node_priced
        on shared_node_priced.cluster = shared_node_cost.cluster
        and shared_node_priced.date = shared_node_cost.date
),

emr_lines as (
    select
        lines.cluster,
        lines.date,
        case when job_runs.job_run_id is not null then coalesce(job_runs.tenant, '__unallocated__')
            else '__unallocated__' end as tenant,
        'emr' as component,
        sum(lines.cost) as amount,
    from lines
    left join intermediate.int_job_runs as job_runs on job_runs.job_run_id = lines.emr_job_run_id
    where lines.scope = 'emr'
    group by all
),

other_lines as (
    select
        cluster,
        date,
        case scope when 'cluster_fee' then '__shared__' else tag_tenant end as tenant,
        case scope when 'cluster_fee' then 'shared' else 'tagged' end as component,
        sum(cost) as amount,
    from lines
    where scope in ('cluster_fee', 'tagged')
    group by all
),

storage_lines as (
    select
        storage.cluster,
        storage.date,
        case when storage.namespace is null then '__unallocated__' else tenants.tenant end as tenant,
        case when tenants.is_shared then 'shared' else 'storage' end as component,
        sum(storage.cost) as amount,
    from intermediate.int_storage_hours as storage
    left join intermediate.int_namespace_tenants_hourly as tenants
        on tenants.cluster = storage.cluster
        and tenants.namespace = storage.namespace
        and tenants.hour = storage.hour
    group by all
),

detached_volume_lines as (
    select volumes.cluster, volumes.date, '__idle__' as tenant, 'idle' as component, sum(volumes.cost) as amount,
    from intermediate.int_node_volume_hours as volumes
    left join intermediate.int_cluster_instances as instances on instances.instance_id = volumes.instance_id
    where instances.instance_id is null
    group by all
),

network_lines as (
    select cluster, date, tenant, component, sum(amount) as amount,
    from intermediate.int_network_costs
    group by all
    union all
    select cluster, date, tenant, component, sum(cost) as amount,
    from intermediate.int_load_balancer_costs
    group by all
),

overhead_lines as (
    select cluster, date, '__shared__' as tenant, 'shared' as component, sum(cost) as amount,
    from intermediate.int_cur__line_hours
    where scope = 'overhead'
    group by all
),

unioned as (
    select * from pod_lines
    union all select * from storage_lines
    union all select * from detached_volume_lines
    union all select * from network_lines
    union all select * from overhead_lines
    union all select * from dedicated_lines
    union all select * from idle_lines
    union all select * from emr_lines
    union all select * from other_lines
),

final as (
    select cluster, date, tenant, component, sum(amount) as amount,
    from unioned
    group by cluster, date, tenant, component
)

select * from final
