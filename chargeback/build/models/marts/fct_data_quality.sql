-- grain: one raw row that broke a value rule and was corrected or ignored; key (raw_table, file, row_key)
-- Every correction the validated layer made (docs/method.md#validation): the raw file and row, the rules it
-- broke, its values as landed and as corrected, who pays for the row as corrected (tenant) and who its raw
-- values would have billed (tenant_with_raw_value), and the row's cost both ways:
--   pod-hours:   billed as corrected, and priced with its raw request and usage (int_pod_hour_corrections_priced);
--   labels and tags holding a reserved __*__ name: the cost the value routes (the namespace-hour's pods, the
--                node-hour, the CUR line, the virtual cluster's namespace and EMR lines): the same amount, billed to
--                the next tenancy rule's tenant instead of the reserved name (0 where the value would not apply);
--   running seconds, node capacities, label times, Cost Explorer amounts: cost not computed (null).
-- In-scope CUR lines that break a rule are not here: they stop the build (int_cur__rule_breaks).
with pod_hours as (
    select
        cluster,
        date,
        hour,
        'prometheus/pod_hours' as raw_table,
        file,
        namespace || '/' || pod || ' (' || pod_uid || ') ' || strftime(hour, '%Y-%m-%d %H:00') as row_key,
        rules,
        original_values,
        corrected_values,
        tenant,
        tenant as tenant_with_raw_value,
        cost_with_raw_value,
        cost_as_corrected,
    from intermediate.int_pod_hour_corrections_priced
),

node_hours as (
    select
        checked.cluster,
        cast(checked.hour as date) as date,
        checked.hour,
        'prometheus/node_hours' as raw_table,
        checked._file as file,
        checked.node || ' ' || strftime(checked.hour, '%Y-%m-%d %H:00') as row_key,
        checked._rules as rules,
        checked._original_values as original_values,
        checked._corrected_values as corrected_values,
        nodes.dedicated_tenant as tenant,
        coalesce(checked._raw_tenant_label, nodes.dedicated_tenant) as tenant_with_raw_value,
        case when checked._rule_tenant_label is not null and checked._rule_running_seconds is null
            and checked._rule_cpu_capacity_cores is null and checked._rule_memory_capacity_bytes is null
            and checked._rule_gpu_capacity is null then nodes.cost end as cost_with_raw_value,
        nodes.cost as cost_as_corrected,
    from validated.prometheus__node_hours as checked
    left join intermediate.int_node_hours as nodes
        on nodes.cluster = checked.cluster and nodes.node = checked.node and nodes.hour = checked.hour
    where checked._corrected
),

label_sets as (
    select
        *,
        row_number() over (
            partition by cluster, namespace, hour
            order by _raw_seconds_in_force desc, _raw_tenant_label nulls last
        ) as raw_rank,
    from validated.prometheus__namespace_labels
),

label_corrections as (
    select
        label_sets.*,
        tenants.tenant,
        coalesce(hours.total_cost, 0) as namespace_hour_cost,
        -- the reserved value would have named the namespace-hour's tenant: its label set was in force longest,
        -- and no earlier tenancy rule (a shared namespace, a virtual cluster) decides the namespace
        label_sets.raw_rank = 1 and label_sets._rule_tenant_label is not null
            and coalesce(tenants.tenant_source, '') not in ('shared_namespace', 'virtual_cluster') as applies,
    from label_sets
    left join intermediate.int_namespace_tenants_hourly as tenants
        on tenants.cluster = label_sets.cluster and tenants.namespace = label_sets.namespace
        and tenants.hour = label_sets.hour
    left join intermediate.int_namespace_hours as hours
        on hours.cluster = label_sets.cluster and hours.namespace = label_sets.namespace
        and hours.hour = label_sets.hour
    where label_sets._corrected
),

namespace_labels as (
    select
        cluster,
        cast(hour as date) as date,
        hour,
        'prometheus/namespace_labels' as raw_table,
        _file as file,
        namespace || ' ' || strftime(hour, '%Y-%m-%d %H:00') as row_key,
        _rules as rules,
        _original_values as original_values,
        _corrected_values as corrected_values,
        tenant,
        case when applies then _raw_tenant_label else tenant end as tenant_with_raw_value,
        case when _rule_seconds_in_force is null then case when applies then namespace_hour_cost else 0 end end
            as cost_with_raw_value,
        case when _rule_seconds_in_force is null then case when applies then namespace_hour_cost else 0 end end
            as cost_as_corrected,
    from label_corrections
),

virtual_cluster_snapshots as (
    select
        *,
        max(collected_at) over (partition by virtual_cluster_id) as latest_collected_at,
    from validated.emr__virtual_clusters
),

namespace_costs as (
    select hours.cluster, hours.namespace, sum(hours.total_cost) as cost,
    from intermediate.int_namespace_hours as hours
    inner join intermediate.int_namespace_tenants_hourly as tenants
        on tenants.cluster = hours.cluster and tenants.namespace = hours.namespace and tenants.hour = hours.hour
    where not tenants.is_shared
    group by hours.cluster, hours.namespace
),

emr_costs as (
    select emr_virtual_cluster_id, sum(cost) as cost,
    from intermediate.int_cur__in_scope
    where scope = 'emr'
    group by emr_virtual_cluster_id
),

virtual_cluster_corrections as (
    select
        snapshots.*,
        coalesce(namespace_costs.cost, 0) + coalesce(emr_costs.cost, 0) as routed_cost,
        -- the latest snapshot names the tenant, unless the configuration maps the virtual cluster itself
        snapshots.collected_at = snapshots.latest_collected_at
            and coalesce(latest.tenant_source, '') not in ('config_id', 'config_name') as applies,
    from virtual_cluster_snapshots as snapshots
    left join intermediate.int_virtual_clusters as latest
        on latest.virtual_cluster_id = snapshots.virtual_cluster_id
    left join namespace_costs
        on namespace_costs.cluster = snapshots.eks_cluster and namespace_costs.namespace = snapshots.namespace
    left join emr_costs on emr_costs.emr_virtual_cluster_id = snapshots.virtual_cluster_id
    where snapshots._corrected
),

virtual_clusters as (
    select
        eks_cluster as cluster,
        cast(collected_at as date) as date,
        cast(null as timestamp with time zone) as hour,
        'emr/virtual_clusters' as raw_table,
        _file as file,
        virtual_cluster_id || ' (' || coalesce(name, '') || ') ' || strftime(collected_at, '%Y-%m-%d %H:%M') as row_key,
        _rules as rules,
        _original_values as original_values,
        _corrected_values as corrected_values,
        cast(null as varchar) as tenant,
        case when applies then _raw_tenant_tag end as tenant_with_raw_value,
        case when applies then routed_cost else 0 end as cost_with_raw_value,
        case when applies then routed_cost else 0 end as cost_as_corrected,
    from virtual_cluster_corrections
),

cur_lines as (
    select
        cluster,
        date,
        hour,
        'cur/line_items' as raw_table,
        file,
        coalesce(resource_id, '') || ' ' || coalesce(usage_type, '') || ' ' || strftime(hour, '%Y-%m-%d %H:00') as row_key,
        rules,
        original_values,
        'ignored: the next tenancy rule applies' as corrected_values,
        cast(null as varchar) as tenant,
        tenant_with_raw_value,
        cost_with_raw_value,
        cost_as_corrected,
    from intermediate.int_cur__corrections
),

cost_explorer as (
    select
        cast(null as varchar) as cluster,
        date,
        cast(null as timestamp with time zone) as hour,
        'cost_explorer/daily_costs' as raw_table,
        _file as file,
        group_by || ' ' || group_key || ' ' || metric || ' ' || strftime(date, '%Y-%m-%d') as row_key,
        _rules as rules,
        _original_values as original_values,
        _corrected_values as corrected_values,
        cast(null as varchar) as tenant,
        cast(null as varchar) as tenant_with_raw_value,
        cast(null as decimal(38, 12)) as cost_with_raw_value,
        cast(null as decimal(38, 12)) as cost_as_corrected,
    from validated.cost_explorer__daily_costs
    where _corrected
),

unioned as (
    select * from pod_hours
    union all select * from node_hours
    union all select * from namespace_labels
    union all select * from virtual_clusters
    union all select * from cur_lines
    union all select * from cost_explorer
),

final as (
    select
        cluster,
        strftime(date, '%Y-%m') as period,
        date,
        hour,
        raw_table,
        file,
        row_key,
        rules,
        original_values,
        corrected_values,
        tenant,
        tenant_with_raw_value,
        cast(cost_with_raw_value as decimal(38, 12)) as cost_with_raw_value,
        cast(cost_as_corrected as decimal(38, 12)) as cost_as_corrected,
    from unioned
)

select * from final
