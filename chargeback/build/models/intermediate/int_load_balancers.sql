-- grain: one load balancer seen by elbv2; key load_balancer_arn
-- From each load balancer's latest elbv2 snapshot (docs/method.md#load-balancers): the cluster its tags name
-- (the AWS Load Balancer Controller's elbv2.k8s.aws/cluster, else the in-tree controller's
-- kubernetes.io/cluster/<name> key) and its stack (service.k8s.aws/stack, ingress.k8s.aws/stack, else the
-- in-tree kubernetes.io/service-name). Only clusters this warehouse knows (their node-hours) count. The CUR's
-- own tags win where activated (int_cur__scoped).
with latest as (
    select load_balancer_arn, max_by(tags, collected_at) as tags,
    from staging.stg_elbv2__load_balancers
    group by load_balancer_arn
),

keys as (
    select load_balancer_arn, unnest(map_keys(tags)) as tag_key,
    from latest
    where tags is not null
),

in_tree_clusters as (
    select load_balancer_arn, min(substr(tag_key, length('kubernetes.io/cluster/') + 1)) as cluster,
    from keys
    where tag_key like 'kubernetes.io/cluster/%'
    group by load_balancer_arn
),

clusters as (
    select distinct cluster from staging.stg_prometheus__node_hours
),

final as (
    select
        latest.load_balancer_arn,
        clusters.cluster,
        coalesce(
            nullif(latest.tags['service.k8s.aws/stack'], ''),
            nullif(latest.tags['ingress.k8s.aws/stack'], ''),
            nullif(latest.tags['kubernetes.io/service-name'], '')
        ) as stack,
    from latest
    left join in_tree_clusters on in_tree_clusters.load_balancer_arn = latest.load_balancer_arn
    left join clusters
        on clusters.cluster = coalesce(nullif(latest.tags['elbv2.k8s.aws/cluster'], ''), in_tree_clusters.cluster)
)

select * from final
