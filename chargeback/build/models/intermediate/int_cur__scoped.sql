-- grain: one CUR line item, in scope or not; key line_item_id
-- Scope (docs/method.md#scope): EC2 usage lines of the clusters' node instances, EKS lines of their ARNs,
-- EMR on EKS lines of job runs, and (when enabled) other usage lines carrying a tenant tag. Out (scope null):
-- Savings Plan negation and fees, RI fees, tax, credits, AWS's own EKSPod-EC2 split rows (they would double
-- count), and lines no rule claims (a tenant tag with a reserved __*__ value is no tag: docs/method.md#validation).
-- Read by int_cur__in_scope (the in-scope lines) and int_cur__corrections (the lines whose tags were ignored).
-- materialized: view
with settings as (
    select * from config.settings
),

lines as (
    select
        *,
        line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')
            and coalesce(operation, '') <> 'EKSPod-EC2' as is_usage,
    from staging.stg_cur__line_items
),

clusters as (
    select distinct cluster from staging.stg_prometheus__node_hours
),

classified as (
    select
        lines.*,
        instances.cluster as instance_cluster,
        clusters.cluster as fee_cluster,
        nullif(regexp_extract(lines.resource_id, '/virtualclusters/([^/]+)/', 1), '') as emr_virtual_cluster_id,
        nullif(regexp_extract(lines.resource_id, '/jobruns/([^/]+)$', 1), '') as emr_job_run_id,
        lines.tenant_tag as tag_tenant,
        nullif(lines.resource_tags['user_' || settings.tagged_cluster_tag], '') as tag_cluster,
        settings.tagged_enabled,
        settings.cost_basis,
    from lines
    cross join settings
    left join intermediate.int_cluster_instances as instances
        on lines.product_code = 'AmazonEC2' and instances.instance_id = lines.resource_id
    left join clusters
        on lines.product_code = 'AmazonEKS'
        and clusters.cluster = regexp_extract(lines.resource_id, ':cluster/([^/]+)$', 1)
),

scoped as (
    select
        *,
        case
            when not is_usage then null
            when instance_cluster is not null then 'instance'
            when fee_cluster is not null then 'cluster_fee'
            when product_code = 'ElasticMapReduce' and resource_id like 'arn:aws:emr-containers:%/jobruns/%' then 'emr'
            when tagged_enabled and tag_tenant is not null then 'tagged'
        end as scope,
    from classified
),

final as (
    select
        scoped.line_item_id,
        scoped.scope,
        case scoped.scope
            when 'instance' then scoped.instance_cluster
            when 'cluster_fee' then scoped.fee_cluster
            when 'emr' then coalesce(virtual_clusters.cluster, '__unknown__')
            else coalesce(scoped.tag_cluster, '__unknown__')
        end as cluster,
        scoped.billing_period,
        scoped.usage_start,
        scoped.usage_end,
        date_trunc('hour', scoped.usage_start) as hour,
        cast(scoped.usage_start as date) as date,
        scoped.line_item_type,
        scoped.product_code,
        scoped.usage_type,
        scoped.operation,
        scoped.resource_id,
        scoped.usage_amount,
        scoped.pricing_term,
        scoped.instance_type,
        scoped.product_vcpu,
        scoped.product_memory_gib,
        scoped.product_gpu,
        scoped.resource_tags,
        scoped.node_tenant_tag,
        scoped.emr_virtual_cluster_id,
        scoped.emr_job_run_id,
        scoped.tag_tenant,
        case scoped.cost_basis
            when 'net_amortized' then scoped.net_amortized_cost
            when 'on_demand' then scoped.on_demand_cost
            else scoped.amortized_cost
        end as cost,
        scoped.on_demand_cost,
        scoped.unblended_cost,
        scoped.currency,
        scoped.source_file,
        scoped.invalid_rules,
        scoped.has_reserved_tag,
        scoped.validation_rules,
        scoped.original_values,
        scoped.node_tenant_tag_raw,
        scoped.tenant_tag_raw,
    from scoped
    left join intermediate.int_virtual_clusters as virtual_clusters
        on scoped.scope = 'emr' and virtual_clusters.virtual_cluster_id = scoped.emr_virtual_cluster_id
)

select * from final
