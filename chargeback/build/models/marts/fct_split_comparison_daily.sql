-- grain: one cluster, UTC day and namespace; key (cluster, date, namespace)
-- AWS's split cost allocation data against this product's allocation (docs/reconciliation.md#aws-split-cost-allocation-data):
-- AWS's EKSPod-EC2 rows (out of scope: they re-divide the instance lines) summed per namespace and day, their
-- split_line_item_split_cost (aws_split_cost) and split_line_item_unused_cost (aws_unused_cost), beside the same
-- namespace's pods here: their split cost (compute) and idle share (idle) of the node-hours they ran on. The pod
-- ARN arn:aws:eks:<region>:<account>:pod/<cluster>/<namespace>/<pod>/<uid> names cluster and namespace (one it
-- cannot read: __unknown__). Only cluster-days for which the CUR carries split rows are compared, so a month
-- without split cost allocation data has no rows. billed_to: the bill line the namespace's pods went to that day
-- (a shared namespace's: __shared__; `several` when pods on dedicated nodes went to their nodes' tenants).
with split_rows as (
    select
        coalesce(nullif(regexp_extract(resource_id, ':pod/([^/]+)/', 1), ''), '__unknown__') as cluster,
        coalesce(nullif(regexp_extract(resource_id, ':pod/[^/]+/([^/]+)/', 1), ''), '__unknown__') as namespace,
        cast(usage_start as date) as date,
        resource_id,
        usage_start,
        coalesce(split_cost, 0) as split_cost,
        coalesce(split_unused_cost, 0) as split_unused_cost,
    from staging.stg_cur__line_items
    where operation = 'EKSPod-EC2'
),

aws as (
    select
        cluster,
        date,
        namespace,
        count(distinct resource_id || '|' || cast(usage_start as varchar)) as aws_pod_hours,
        cast(sum(split_cost) as decimal(38, 12)) as aws_split_cost,
        cast(sum(split_unused_cost) as decimal(38, 12)) as aws_unused_cost,
    from split_rows
    group by cluster, date, namespace
),

covered as (
    select distinct cluster, date from aws
),

product as (
    select
        workloads.cluster,
        workloads.date,
        workloads.namespace,
        case when count(distinct workloads.tenant) = 1 then min(workloads.tenant) else 'several' end as billed_to,
        cast(sum(workloads.compute_cost) as decimal(38, 12)) as split_cost,
        cast(sum(workloads.idle_cost) as decimal(38, 12)) as idle_cost,
    from marts.fct_workload_costs_daily as workloads
    inner join covered on covered.cluster = workloads.cluster and covered.date = workloads.date
    group by workloads.cluster, workloads.date, workloads.namespace
),

final as (
    select
        coalesce(aws.cluster, product.cluster) as cluster,
        strftime(coalesce(aws.date, product.date), '%Y-%m') as period,
        coalesce(aws.date, product.date) as date,
        coalesce(aws.namespace, product.namespace) as namespace,
        product.billed_to,
        coalesce(aws.aws_pod_hours, 0) as aws_pod_hours,
        coalesce(aws.aws_split_cost, 0) as aws_split_cost,
        coalesce(aws.aws_unused_cost, 0) as aws_unused_cost,
        coalesce(aws.aws_split_cost, 0) + coalesce(aws.aws_unused_cost, 0) as aws_cost,
        coalesce(product.split_cost, 0) as split_cost,
        coalesce(product.idle_cost, 0) as idle_cost,
        coalesce(product.split_cost, 0) + coalesce(product.idle_cost, 0) as cost,
        coalesce(product.split_cost, 0) + coalesce(product.idle_cost, 0)
            - coalesce(aws.aws_split_cost, 0) - coalesce(aws.aws_unused_cost, 0) as difference,
    from aws
    full outer join product
        on product.cluster = aws.cluster and product.date = aws.date and product.namespace = aws.namespace
)

select * from final
