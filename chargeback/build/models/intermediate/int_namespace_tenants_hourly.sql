-- grain: one namespace in one UTC hour in which pods ran, a PV volume of its claims or a load balancer of its
-- services was billed; key (cluster, namespace, hour)
-- Soft tenancy, in the order of docs/method.md#soft-tenancy: a shared namespace is __shared__; else the
-- tenant of the EMR virtual cluster it backs; else its tenant label in force for most of the hour (a reserved
-- __*__ value counts as no label: docs/method.md#validation); else the
-- first glob rule that matches, in file order; else __unallocated__ (shown, never dropped).
with namespace_hours as (
    select cluster, namespace, hour from staging.stg_prometheus__pod_hours
    union
    select cluster, namespace, hour from intermediate.int_storage_hours where namespace is not null
    union
    select cluster, split_part(load_balancer_stack, '/', 1) as namespace, hour,
    from intermediate.int_cur__line_hours
    where scope = 'load_balancer' and load_balancer_stack like '%/%'
),

labels_ranked as (
    select
        cluster,
        namespace,
        hour,
        tenant_label as label_tenant,
        row_number() over (
            partition by cluster, namespace, hour
            order by seconds_in_force desc, tenant_label nulls last
        ) as label_rank,
    from staging.stg_prometheus__namespace_labels
),

label_tenants as (
    select cluster, namespace, hour, label_tenant from labels_ranked where label_rank = 1
),

virtual_clusters_ranked as (
    select
        cluster,
        namespace,
        tenant,
        row_number() over (partition by cluster, namespace order by created_at desc) as vc_rank,
    from intermediate.int_virtual_clusters
    where namespace is not null
),

virtual_cluster_tenants as (
    select cluster, namespace, tenant from virtual_clusters_ranked where vc_rank = 1
),

namespaces as (
    select distinct cluster, namespace from namespace_hours
),

rule_matches as (
    select
        namespaces.cluster,
        namespaces.namespace,
        min(rules.ordinal) as ordinal,
    from namespaces
    inner join config.namespace_rules as rules on regexp_matches(namespaces.namespace, rules.regex)
    group by namespaces.cluster, namespaces.namespace
),

rule_tenants as (
    select rule_matches.cluster, rule_matches.namespace, rules.tenant
    from rule_matches
    inner join config.namespace_rules as rules on rules.ordinal = rule_matches.ordinal
),

final as (
    select
        namespace_hours.cluster,
        namespace_hours.namespace,
        namespace_hours.hour,
        shared.namespace is not null as is_shared,
        case
            when shared.namespace is not null then '__shared__'
            else coalesce(virtual_cluster_tenants.tenant, label_tenants.label_tenant, rule_tenants.tenant, '__unallocated__')
        end as tenant,
        case
            when shared.namespace is not null then 'shared_namespace'
            when virtual_cluster_tenants.tenant is not null then 'virtual_cluster'
            when label_tenants.label_tenant is not null then 'namespace_label'
            when rule_tenants.tenant is not null then 'namespace_map'
            else 'unmapped'
        end as tenant_source,
    from namespace_hours
    left join config.shared_namespaces as shared on shared.namespace = namespace_hours.namespace
    left join virtual_cluster_tenants
        on virtual_cluster_tenants.cluster = namespace_hours.cluster
        and virtual_cluster_tenants.namespace = namespace_hours.namespace
    left join label_tenants
        on label_tenants.cluster = namespace_hours.cluster
        and label_tenants.namespace = namespace_hours.namespace
        and label_tenants.hour = namespace_hours.hour
    left join rule_tenants
        on rule_tenants.cluster = namespace_hours.cluster
        and rule_tenants.namespace = namespace_hours.namespace
)

select * from final
