-- grain: one CUR line item and one cluster its tags name; key (line_item_id, cluster)
-- The clusters a line's tags name (docs/method.md#which-rule-claims-a-line): the AWS-generated
-- aws:eks:cluster-name, the configured [tagged] cluster_tag, a kubernetes.io/cluster/<name> key (in-tree
-- controllers, Karpenter, the EBS CSI driver) or the AWS Load Balancer Controller's elbv2.k8s.aws/cluster; only
-- clusters this warehouse knows (their node-hours). A line naming several is split evenly between them.
with settings as (
    select * from config.settings
),

clusters as (
    select distinct cluster from staging.stg_prometheus__node_hours
),

keys as (
    select line_item_id, resource_tags, unnest(map_keys(resource_tags)) as tag_key,
    from staging.stg_cur__line_items
    where resource_tags is not null
),

named as (
    select
        keys.line_item_id,
        case
            when keys.tag_key in ('aws_eks_cluster_name', 'user_' || settings.tagged_cluster_tag,
                                  'user_elbv2.k8s.aws/cluster')
                then keys.resource_tags[keys.tag_key]
            when keys.tag_key like 'user_kubernetes.io/cluster/%'
                then substr(keys.tag_key, length('user_kubernetes.io/cluster/') + 1)
        end as cluster,
    from keys
    cross join settings
),

final as (
    select distinct named.line_item_id, named.cluster,
    from named
    inner join clusters on clusters.cluster = named.cluster
)

select * from final
