-- grain: one in-scope CUR line item; key line_item_id
-- Scope (docs/method.md#scope): EC2 usage lines of the clusters' node instances, EKS lines of their ARNs,
-- EMR on EKS lines of job runs, and (when enabled) other usage lines carrying a tenant tag. Out: Savings
-- Plan negation and fees, RI fees, tax, credits, AWS's own EKSPod-EC2 split rows (they would double count).
with settings as (
    select * from config.settings
),

lines as (
    select * from staging.stg_cur__line_items
    where line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')
        and coalesce(operation, '') <> 'EKSPod-EC2'
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
        nullif(lines.resource_tags['user_' || settings.tagged_tag], '') as tag_tenant,
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
    from scoped
    left join intermediate.int_virtual_clusters as virtual_clusters
        on scoped.scope = 'emr' and virtual_clusters.virtual_cluster_id = scoped.emr_virtual_cluster_id
    where scoped.scope is not null
)

select * from final
