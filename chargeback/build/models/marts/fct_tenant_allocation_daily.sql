-- grain: one cluster, UTC day, bill line, component and traced source; key (cluster, date, tenant, component,
-- namespace, emr_job_run_id, product_code)
-- fct_tenant_costs_daily broken down as far as each dollar can be traced, for the FOCUS export: pod costs by
-- namespace and EMR job run, EMR on EKS charges by job run, tagged CUR lines by product, storage (PV volumes) and
-- network (data transfer by pod, load balancers) by namespace and product. What cannot be
-- traced further (a dedicated node's capacity no pod took, __idle__, the spread shared pool) is one row with
-- null namespace and job, computed as a remainder, so each (cluster, date, tenant, component) adds up exactly
-- to its bill line's part in fct_tenant_costs_daily.
with bill as (
    select cluster, period, date, tenant, 'compute' as component, compute_cost as amount,
    from marts.fct_tenant_costs_daily
    union all
    select cluster, period, date, tenant, 'idle' as component, idle_cost as amount,
    from marts.fct_tenant_costs_daily
    union all
    select cluster, period, date, tenant, 'shared' as component, shared_cost as amount,
    from marts.fct_tenant_costs_daily
    union all
    select cluster, period, date, tenant, 'storage' as component, storage_cost as amount,
    from marts.fct_tenant_costs_daily
    union all
    select cluster, period, date, tenant, 'network' as component, network_cost as amount,
    from marts.fct_tenant_costs_daily
    union all
    select cluster, period, date, tenant, 'emr' as component, emr_cost as amount,
    from marts.fct_tenant_costs_daily
    union all
    select cluster, period, date, tenant, 'tagged' as component, tagged_cost as amount,
    from marts.fct_tenant_costs_daily
),

-- pods of shared namespaces on shared nodes form the __shared__ pool, which reaches tenants spread, untraced
pods as (
    select
        cluster,
        date,
        tenant,
        component.name as component,
        namespace,
        emr_job_run_id,
        cast(null as varchar) as product_code,
        sum(case component.name when 'compute' then compute_cost else idle_cost end) as amount,
    from marts.fct_workload_costs_daily
    cross join (select 'compute' as name union all select 'idle' as name) as component
    where tenant <> '__shared__'
    group by cluster, date, tenant, component.name, namespace, emr_job_run_id
),

emr_charges as (
    select
        lines.cluster,
        lines.date,
        coalesce(jobs.tenant, '__unallocated__') as tenant,
        'emr' as component,
        jobs.namespace,
        lines.emr_job_run_id,
        lines.product_code,
        sum(lines.cost) as amount,
    from intermediate.int_cur__in_scope as lines
    left join marts.fct_emr_job_costs as jobs on jobs.job_run_id = lines.emr_job_run_id
    where lines.scope = 'emr'
    group by lines.cluster, lines.date, coalesce(jobs.tenant, '__unallocated__'), jobs.namespace,
        lines.emr_job_run_id, lines.product_code
),

tagged_lines as (
    select
        cluster,
        date,
        tag_tenant as tenant,
        'tagged' as component,
        cast(null as varchar) as namespace,
        cast(null as varchar) as emr_job_run_id,
        product_code,
        sum(cost) as amount,
    from intermediate.int_cur__in_scope
    where scope = 'tagged'
    group by cluster, date, tag_tenant, product_code
),

storage as (
    select
        storage.cluster,
        storage.date,
        tenants.tenant,
        'storage' as component,
        storage.namespace,
        cast(null as varchar) as emr_job_run_id,
        'AmazonEC2' as product_code,
        sum(storage.cost) as amount,
    from intermediate.int_storage_hours as storage
    inner join intermediate.int_namespace_tenants_hourly as tenants
        on tenants.cluster = storage.cluster
        and tenants.namespace = storage.namespace
        and tenants.hour = storage.hour
    where not tenants.is_shared
    group by all
),

network as (
    select
        cluster,
        date,
        tenant,
        'network' as component,
        namespace,
        cast(null as varchar) as emr_job_run_id,
        'AmazonEC2' as product_code,
        sum(amount) as amount,
    from intermediate.int_network_costs
    where component = 'network' and namespace is not null
    group by all
    union all
    select
        cluster,
        date,
        tenant,
        'network' as component,
        namespace,
        cast(null as varchar) as emr_job_run_id,
        'AWSELB' as product_code,
        sum(cost) as amount,
    from intermediate.int_load_balancer_costs
    where component = 'network'
    group by all
),

traced as (
    select * from pods
    union all
    select * from storage
    union all
    select * from network
    union all
    select * from emr_charges
    union all
    select * from tagged_lines
),

traced_totals as (
    select cluster, date, tenant, component, sum(amount) as amount,
    from traced
    group by cluster, date, tenant, component
),

remainders as (
    select
        coalesce(bill.cluster, traced_totals.cluster) as cluster,
        coalesce(bill.date, traced_totals.date) as date,
        coalesce(bill.tenant, traced_totals.tenant) as tenant,
        coalesce(bill.component, traced_totals.component) as component,
        cast(null as varchar) as namespace,
        cast(null as varchar) as emr_job_run_id,
        cast(null as varchar) as product_code,
        coalesce(bill.amount, 0) - coalesce(traced_totals.amount, 0) as amount,
    from bill
    full outer join traced_totals
        on traced_totals.cluster = bill.cluster
        and traced_totals.date = bill.date
        and traced_totals.tenant = bill.tenant
        and traced_totals.component = bill.component
),

payers as (
    select billing_period, min(payer_account_id) as payer_account_id,
    from staging.stg_cur__line_items
    group by billing_period
),

unioned as (
    select * from traced
    union all
    select * from remainders
),

final as (
    select
        unioned.cluster,
        strftime(unioned.date, '%Y-%m') as period,
        unioned.date,
        unioned.tenant,
        unioned.component,
        unioned.namespace,
        unioned.emr_job_run_id,
        unioned.product_code,
        payers.payer_account_id,
        unioned.amount,
    from unioned
    left join payers on payers.billing_period = strftime(unioned.date, '%Y-%m')
    where unioned.amount <> 0
)

select * from final
