-- grain: one billing period, cluster and reconciliation row; key (period, cluster, row_kind, category)
-- From the CUR's total to the bill (docs/reconciliation.md): every CUR line of a billing period sits in exactly
-- one row, out of scope by its reason (row_kind out_of_scope: tax, credits_refunds, commitments, aws_split_rows,
-- no_cluster) or in scope by category (row_kind in_scope: nodes = instance + node_extra lines, node_volumes,
-- pv_volumes, data_transfer, load_balancers, overhead, cluster_fee, emr, tagged; a scope int_cur__scoped adds
-- later keeps its own name), with its unblended cost (the CUR's own total adds up from these) and its cost on the
-- configured basis (what the bill distributes). Row kind estimated: the node-days the CUR does not cover yet
-- (no CUR line behind them). cluster: the line's cluster; null for an out-of-scope line that names none.
-- A line tagged for several clusters is one row per cluster: its unblended cost is split like its basis cost in
-- int_cur__scoped (cost / n to 12 places, the first cluster by name the remainder), and line_items counts it
-- 1/n in each, so rows add up to the CUR's dollars and line count (both checked in `checks`).
with scoped as (
    select * from intermediate.int_cur__scoped
),

estimates as (
    select * from marts.fct_source_costs_daily where is_estimated
),

single as (
    select
        billing_period,
        scope,
        out_of_scope_reason,
        cluster,
        cast(1 as double) as line_share,
        unblended_cost,
        cost,
    from scoped
    where cluster_count = 1
),

-- only the few lines split over clusters are numbered (a window over the whole CUR would sort all of it)
several as (
    select
        billing_period,
        scope,
        out_of_scope_reason,
        cluster,
        cluster_count,
        unblended_cost,
        cost,
        row_number() over (partition by line_item_id order by cluster) as part,
    from scoped
    where cluster_count > 1
),

several_split as (
    select
        billing_period,
        scope,
        out_of_scope_reason,
        cluster,
        cast(1 as double) / cluster_count as line_share,
        cast(
            case
                when part = 1 then unblended_cost
                    - (cluster_count - 1) * cast(round(unblended_cost / cluster_count, 12) as decimal(38, 12))
                else cast(round(unblended_cost / cluster_count, 12) as decimal(38, 12))
            end as decimal(38, 12)
        ) as unblended_cost,
        cost,
    from several
),

lines as (
    select * from single
    union all
    select * from several_split
),

classified as (
    select
        billing_period as period,
        case when scope is null then nullif(cluster, '__unknown__') else cluster end as cluster,
        case when scope is null then 'out_of_scope' else 'in_scope' end as row_kind,
        case
            when scope is null then coalesce(out_of_scope_reason, 'no_cluster')
            when scope in ('instance', 'node_extra') then 'nodes'
            when scope = 'node_volume' then 'node_volumes'
            when scope = 'pv_volume' then 'pv_volumes'
            when scope = 'load_balancer' then 'load_balancers'
            else scope
        end as category,
        line_share,
        unblended_cost,
        cost,
    from lines
),

unioned as (
    select * from classified
    union all
    select
        period,
        cluster,
        'estimated' as row_kind,
        'nodes' as category,
        cast(0 as double) as line_share,
        cast(0 as decimal(38, 12)) as unblended_cost,
        cost,
    from estimates
),

final as (
    select
        period,
        cluster,
        row_kind,
        category,
        sum(line_share) as line_items,
        cast(sum(unblended_cost) as decimal(38, 12)) as unblended_cost,
        cast(sum(cost) as decimal(38, 12)) as cost,
    from unioned
    group by period, cluster, row_kind, category
)

select * from final
