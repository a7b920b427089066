-- grain: one load balancer's CUR line in one UTC hour; key (line_item_id, cluster, hour)
-- docs/method.md#load-balancers. A load balancer whose stack tag is namespace/name (service.k8s.aws/stack,
-- ingress.k8s.aws/stack, kubernetes.io/service-name) belongs to that namespace, whose tenant is resolved like a
-- pod's (int_namespace_tenants_hourly); a stack that is not namespace/name is an ingress group shared by several
-- namespaces, and a load balancer of the cluster with no stack is the cluster's own: both go to __shared__.
with pieces as (
    select
        *,
        case when load_balancer_stack like '%/%' then split_part(load_balancer_stack, '/', 1) end as namespace,
    from intermediate.int_cur__line_hours
    where scope = 'load_balancer'
),

final as (
    select
        pieces.line_item_id,
        pieces.cluster,
        pieces.resource_id as load_balancer_arn,
        pieces.load_balancer_stack,
        pieces.namespace,
        pieces.hour,
        pieces.date,
        case when pieces.namespace is null then '__shared__' else tenants.tenant end as tenant,
        case when pieces.namespace is null or tenants.is_shared then 'shared' else 'network' end as component,
        pieces.cost,
    from pieces
    left join intermediate.int_namespace_tenants_hourly as tenants
        on tenants.cluster = pieces.cluster and tenants.namespace = pieces.namespace and tenants.hour = pieces.hour
)

select * from final
