-- grain: one CUR line item, in scope or not; key line_item_id
-- Which rule claims a line (docs/method.md#which-rule-claims-a-line), first match, among usage lines (Usage,
-- DiscountedUsage, SavingsPlanCoveredUsage; AWS's own EKSPod-EC2 split rows excluded):
--   instance      an instance-usage line (BoxUsage, SpotUsage, HostUsage, DedicatedUsage, RI or Savings Plan
--                 covered usage) of a node's instance id: the only lines that give a node-hour its billed
--                 hours and purchase option;
--   pv_volume     an EBS line of a volume backing a PersistentVolume (int_volumes);
--   node_volume   an EBS line of a volume attached to a node and backing no PV;
--   data_transfer a data-transfer line of a node's instance id (never node cost);
--   node_extra    any other line of a node's instance id (an EBS-optimized fee, ...): node cost;
--   load_balancer an ELB line of a load balancer of the cluster (CUR tags, else the elbv2 snapshot);
--   cluster_fee   the EKS lines of a cluster's ARN;  emr  EMR on EKS job-run lines;
--   tagged        lines with a tenant tag (when enabled);  overhead  lines with a cluster tag (NAT gateways,
--                 endpoints, ...), spread like the EKS fee.
-- Out of scope (scope null), each with its reason for the reconciliation: tax; credits, refunds and
-- discounts; Savings Plan and RI fees and negation; AWS's split rows; lines of no cluster and no tenant tag.
-- A tenant tag with a reserved __*__ value is no tag (docs/method.md#validation). A cluster-overhead line whose
-- tags name several clusters (int_cur__tag_clusters) is one row per cluster, each with cost / n rounded to 12
-- places and the first cluster by name the remainder, so the parts add up to the line exactly (then the key is
-- (line_item_id, cluster)).
-- Read by int_cur__in_scope (the in-scope lines, a view over this), int_cur__corrections and the reconciliation:
-- a table, so the CUR is read, validated and classified once per build.
with settings as (
    select * from config.settings
),

lines as (
    select
        *,
        line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')
            and coalesce(operation, '') <> 'EKSPod-EC2' as is_usage,
        line_item_type in ('DiscountedUsage', 'SavingsPlanCoveredUsage')
            or regexp_matches(coalesce(usage_type, ''), '(BoxUsage|SpotUsage|HostUsage|DedicatedUsage)')
            as is_instance_usage,
        product_code = 'AWSDataTransfer'
            or regexp_matches(coalesce(usage_type, ''), '(DataTransfer|-In-Bytes|-Out-Bytes)') as is_transfer,
    from staging.stg_cur__line_items
),

clusters as (
    select distinct cluster from staging.stg_prometheus__node_hours
),

tag_clusters as (
    select line_item_id, min(cluster) as cluster, count(*) as clusters,
    from intermediate.int_cur__tag_clusters
    group by line_item_id
),

classified as (
    select
        lines.*,
        instances.cluster as instance_cluster,
        volumes.cluster as volume_cluster,
        volumes.kind as volume_kind,
        clusters.cluster as fee_cluster,
        coalesce(tag_clusters.cluster, load_balancers.cluster) as load_balancer_cluster,
        coalesce(
            nullif(lines.resource_tags['user_service.k8s.aws/stack'], ''),
            nullif(lines.resource_tags['user_ingress.k8s.aws/stack'], ''),
            nullif(lines.resource_tags['user_kubernetes.io/service-name'], ''),
            load_balancers.stack
        ) as load_balancer_stack,
        lines.resource_id like 'arn:aws:elasticloadbalancing:%:loadbalancer/%' as is_load_balancer,
        nullif(regexp_extract(lines.resource_id, '/virtualclusters/([^/]+)/', 1), '') as emr_virtual_cluster_id,
        nullif(regexp_extract(lines.resource_id, '/jobruns/([^/]+)$', 1), '') as emr_job_run_id,
        lines.tenant_tag as tag_tenant,
        coalesce(nullif(lines.resource_tags['user_' || settings.tagged_cluster_tag], ''), tag_clusters.cluster)
            as tag_cluster,
        coalesce(tag_clusters.clusters, 0) as tag_clusters,
        settings.tagged_enabled,
        settings.cost_basis,
    from lines
    cross join settings
    left join intermediate.int_cluster_instances as instances on instances.instance_id = lines.resource_id
    left join intermediate.int_volumes as volumes on volumes.volume_id = lines.resource_id
    left join intermediate.int_load_balancers as load_balancers
        on load_balancers.load_balancer_arn = lines.resource_id
    left join tag_clusters on tag_clusters.line_item_id = lines.line_item_id
    left join clusters
        on lines.product_code = 'AmazonEKS'
        and clusters.cluster = regexp_extract(lines.resource_id, ':cluster/([^/]+)$', 1)
),

scoped as (
    select
        *,
        case
            when not is_usage then null
            when instance_cluster is not null and is_instance_usage then 'instance'
            when volume_kind = 'pv' then 'pv_volume'
            when volume_kind = 'node' then 'node_volume'
            when instance_cluster is not null and is_transfer then 'data_transfer'
            when instance_cluster is not null then 'node_extra'
            when is_load_balancer and load_balancer_cluster is not null then 'load_balancer'
            when fee_cluster is not null then 'cluster_fee'
            when product_code = 'ElasticMapReduce' and resource_id like 'arn:aws:emr-containers:%/jobruns/%' then 'emr'
            when tagged_enabled and tag_tenant is not null then 'tagged'
            when tag_clusters > 0 then 'overhead'
        end as scope,
        case
            when line_item_type = 'Tax' then 'tax'
            when line_item_type in ('Credit', 'Refund', 'Discount', 'BundledDiscount', 'EdpDiscount',
                                    'PrivateRateDiscount', 'DistributorDiscount') then 'credits_refunds'
            when line_item_type in ('SavingsPlanNegation', 'SavingsPlanRecurringFee', 'SavingsPlanUpfrontFee',
                                    'RIFee', 'Fee') then 'commitments'
            when coalesce(operation, '') = 'EKSPod-EC2' then 'aws_split_rows'
            else 'no_cluster'
        end as out_of_scope_reason,
        case cost_basis
            when 'net_amortized' then net_amortized_cost
            when 'on_demand' then on_demand_cost
            else amortized_cost
        end as basis_cost,
    from classified
),

parts as (
    select
        line_item_id,
        cluster,
        row_number() over (partition by line_item_id order by cluster) as part,
        count(*) over (partition by line_item_id) as parts,
    from intermediate.int_cur__tag_clusters
),

final as (
    select
        scoped.line_item_id,
        scoped.scope,
        case
            when scoped.scope in ('instance', 'data_transfer', 'node_extra') then scoped.instance_cluster
            when scoped.scope in ('pv_volume', 'node_volume') then scoped.volume_cluster
            when scoped.scope = 'load_balancer' then scoped.load_balancer_cluster
            when scoped.scope = 'cluster_fee' then scoped.fee_cluster
            when scoped.scope = 'emr' then coalesce(virtual_clusters.cluster, '__unknown__')
            else coalesce(parts.cluster, scoped.tag_cluster, '__unknown__')
        end as cluster,
        case when scoped.scope is null then scoped.out_of_scope_reason end as out_of_scope_reason,
        coalesce(parts.parts, 1) as cluster_count,
        scoped.load_balancer_stack,
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
        cast(
            case
                when parts.part is null then scoped.basis_cost
                when parts.part = 1 then scoped.basis_cost
                    - (parts.parts - 1) * cast(round(scoped.basis_cost / parts.parts, 12) as decimal(38, 12))
                else cast(round(scoped.basis_cost / parts.parts, 12) as decimal(38, 12))
            end as decimal(38, 12)
        ) as cost,
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
    left join parts on scoped.scope = 'overhead' and scoped.tag_clusters > 1 and parts.line_item_id = scoped.line_item_id
)

select * from final
