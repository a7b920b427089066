"""Every query the reports and exports run against the published warehouse, in one place.

The reports (``bill``, ``capacity``, ``quotas``, ``rightsize``) and the exports read the marts
with these; none builds SQL from its inputs (parameters are ``?`` or ``$name``). A query that a page of the
dashboard needs lives in ``dashboards.data``, the dashboard's own data-access module.
"""

from __future__ import annotations

# --- bill ------------------------------------------------------------------------------------------------

# A bill line's exact parts summed from ``marts.fct_tenant_costs_daily``, in the order of ``COST_PARTS``
# (chargeback/reports/bill.py): the select list of every query that reads them.
PART_SUMS = """sum(compute_cost) as compute, sum(idle_cost) as idle, sum(shared_cost) as shared,
    sum(storage_cost) as storage, sum(network_cost) as network, sum(emr_cost) as emr, sum(tagged_cost) as tagged,"""

# One row per bill line with its exact parts (but adjustments); parameters: period, cluster filter (or null).
BILL_LINES = f"""
select
    tenant,
    {PART_SUMS}
from marts.fct_tenant_costs_daily
where period = $period and ($cluster is null or cluster = $cluster)
group by tenant
order by tenant
"""

# The adjustments booked in the period, per bill line, corrected closed month and part; same parameters.
BILL_ADJUSTMENTS = """
select tenant, closed_period, part, sum(amount) as amount,
from marts.fct_adjustments
where period = $period and ($cluster is null or cluster = $cluster)
group by tenant, closed_period, part
order by tenant, closed_period, part
"""

# The same by cluster (``chargeback.reports.clusters``); parameter: period.
BILL_CLUSTER_LINES = f"""
select
    tenant,
    cluster,
    {PART_SUMS}
from marts.fct_tenant_costs_daily
where period = $period
group by tenant, cluster
order by tenant, cluster
"""

BILL_CLUSTER_ADJUSTMENTS = """
select tenant, cluster, sum(amount) as amount,
from marts.fct_adjustments
where period = $period
group by tenant, cluster
order by tenant, cluster
"""

# The in-scope source cost the bill must add up to.
BILL_SOURCE_TOTAL = """
select coalesce(sum(cost), 0) as cost, coalesce(sum(case when is_estimated then cost else 0 end), 0) as estimated,
from marts.fct_source_costs_daily
where period = $period and ($cluster is null or cluster = $cluster)
"""

# The currency the warehouse was built with.
BILL_CURRENCY = "select currency from config.settings"

# The periods the warehouse has bills for (costs, or adjustments only).
BILL_PERIODS = """
select period from marts.fct_tenant_costs_daily
union
select period from marts.fct_adjustments
order by 1
"""

# --- capacity --------------------------------------------------------------------------------------------

CAPACITY_LATEST_PERIOD = "select max(period) from marts.fct_capacity_hourly"

CAPACITY_NODE_GROUPS = """
select
    cluster,
    node_group,
    count(distinct hour) as hours,
    max(nodes) as peak_nodes,
    sum(node_hours) as node_hours,
    sum(spot_node_hours) as spot_node_hours,
    sum(cpu_available_core_hours) as cpu_available,
    sum(cpu_requested_core_hours) as cpu_requested,
    max(cpu_requested_core_hours) as cpu_requested_peak,
    sum(memory_available_gib_hours) as memory_available,
    sum(memory_requested_gib_hours) as memory_requested,
    max(memory_requested_gib_hours) as memory_requested_peak,
    sum(cost) as cost,
from marts.fct_capacity_hourly
where period = ?
group by cluster, node_group
order by cluster, node_group
"""

CAPACITY_DAILY = """
select
    cluster,
    date,
    sum(cpu_requested_core_hours) as cpu_requested,
    sum(memory_requested_gib_hours) as memory_requested,
    sum(cost) as cost,
from marts.fct_capacity_hourly
where period = ?
group by cluster, date
order by cluster, date
"""

CAPACITY_CLUSTER_HOURS = """
select cluster, count(distinct hour) as hours
from marts.fct_node_costs_hourly
where period = ?
group by cluster
"""

CAPACITY_INSTANCE_TYPES = """
select
    cluster,
    instance_type,
    sum(cpu_available_core_hours) / sum(running_hours) as vcpu,
    sum(memory_available_gib_hours) / sum(running_hours) as memory_gib,
    sum(gpu_available_hours) / sum(running_hours) as gpus,
    sum(cost) as cost,
    sum(running_hours) as node_hours,
    sum(case when purchase_option <> 'spot' then cost else 0 end) as non_spot_cost,
    sum(case when purchase_option <> 'spot' then running_hours else 0 end) as non_spot_node_hours,
from marts.fct_node_costs_hourly
where period = ? and instance_type is not null and running_hours > 0
group by cluster, instance_type
order by cluster, instance_type
"""

CAPACITY_SHARED_PRICES = """
select
    cluster,
    sum(cast(cpu_price_per_core_hour as double) * cpu_available_core_hours)
        / nullif(sum(cpu_available_core_hours), 0) as cpu_price,
    sum(cast(memory_price_per_gib_hour as double) * memory_available_gib_hours)
        / nullif(sum(memory_available_gib_hours), 0) as memory_price,
from marts.fct_node_costs_hourly
where period = ? and not is_dedicated
group by cluster
"""

CAPACITY_DEDICATED = """
select cluster, dedicated_tenant as tenant, sum(cost) as cost, sum(running_hours) as node_hours
from marts.fct_node_costs_hourly
where period = ? and is_dedicated and dedicated_tenant is not null
group by cluster, dedicated_tenant
"""

# A dedicated node's own tenant's pods (not another tenant's, nor a shared namespace's, placed on it).
CAPACITY_SOLE_PODS = """
select
    cluster,
    tenant,
    sum(cpu_allocated_core_hours) as cpu_allocated,
    sum(memory_allocated_gib_hours) as memory_allocated,
from marts.fct_tenant_requests_hourly
where period = ? and is_own_dedicated_node
group by cluster, tenant
"""

CAPACITY_SOFT_COSTS = """
select cluster, tenant, sum(compute_cost + idle_cost) as cost
from marts.fct_tenant_costs_daily
where period = ? and not is_sentinel
group by cluster, tenant
"""

# Peak hourly requests per tenant on shared nodes, per pool (pod-hours requesting GPUs: 'gpu', else 'general')
# and for the tenant as a whole (pool null), by grouping sets so the three peaks come from one scan.
CAPACITY_PEAKS = """
with hourly as (
    select
        cluster,
        tenant,
        hour,
        pool,
        sum(cpu_request_core_hours) as cpu,
        sum(memory_request_gib_hours) as memory,
        sum(gpu_request_hours) as gpus,
    from marts.fct_tenant_requests_hourly
    where period = ? and not is_dedicated
    group by cluster, tenant, hour, pool
),

summed as (
    select cluster, tenant, hour, pool, sum(cpu) as cpu, sum(memory) as memory, sum(gpus) as gpus,
    from hourly
    group by grouping sets ((cluster, tenant, hour, pool), (cluster, tenant, hour))
)

select cluster, tenant, pool, max(cpu) as peak_cpu, max(memory) as peak_memory, max(gpus) as peak_gpus,
from summed
group by cluster, tenant, pool
"""

# --- quotas ----------------------------------------------------------------------------------------------

# The latest month the warehouse holds quota use for (the default period).
QUOTA_LATEST_PERIOD = "select max(period) from marts.fct_quota_use_hourly"

# One row per (cluster, namespace, resource) of the period: every statistic a recommendation needs, computed
# over the namespace-hours of the hourly mart. Parameters: the configured quantile, the near-limit ratio, the
# period and an optional namespace (null: all). `resource_cost` sums compute + idle attributable to the resource.
QUOTA_USE = """
select
    cluster,
    namespace,
    resource,
    any_value(unit) as unit,
    min(quota) as quota,
    min(hard) as hard,
    count(*) as hours,
    quantile_cont(requested, 0.5) as requested_median,
    quantile_cont(requested, 0.95) as requested_p95,
    quantile_cont(requested, 0.99) as requested_p99,
    max(requested) as requested_max,
    quantile_cont(requested, $quantile) as requested_at_quantile,
    quantile_cont(used, 0.5) as used_median,
    quantile_cont(used, 0.95) as used_p95,
    quantile_cont(used, 0.99) as used_p99,
    max(used) as used_max,
    sum(requested) as requested_total,
    sum(used) as used_total,
    count(*) filter (where requested >= $near_ratio * hard) as hours_near_limit,
    coalesce(sum(namespace_cost) filter (where requested >= $near_ratio * hard), 0) as near_limit_cost,
    coalesce(sum(resource_cost), 0) as resource_cost,
from marts.fct_quota_use_hourly
where period = $period and ($namespace is null or namespace = $namespace)
group by cluster, namespace, resource
order by cluster, namespace, resource
"""

# The largest full-scale Spark job footprint per (cluster, namespace, resource) among jobs with runs created in
# the period: the floor of a recommended quota. Parameters: the period (YYYY-MM) and an optional namespace.
QUOTA_JOB_FLOOR = """
select
    cluster,
    namespace,
    resource,
    max(footprint) as footprint,
    arg_max(job_name, footprint) as job_name,
from marts.fct_job_quota_fit
where strftime(first_created_at at time zone 'UTC', '%Y-%m') <= $period
    and strftime(last_created_at at time zone 'UTC', '%Y-%m') >= $period
    and ($namespace is null or namespace = $namespace)
group by cluster, namespace, resource
"""

# --- rightsize -------------------------------------------------------------------------------------------

# Every column of the mart; the quantile column is picked in Python, so no SQL is built from config.
RIGHTSIZING = """
select *
from marts.fct_rightsizing
where period = ?
order by cluster, workload_kind, namespace, workload_name, virtual_cluster_id
"""

RIGHTSIZING_LATEST_PERIOD = "select max(period) from marts.fct_rightsizing"

LIMIT_VIOLATIONS = """
select *
from marts.fct_limit_range_violations
order by cluster, namespace, job_name, spark_role, resource, limit_type, bound
"""

# Only jobs in namespaces with a quota on the resource: the others have nothing to fit.
JOB_QUOTA_FITS = """
select *
from marts.fct_job_quota_fit
where hard is not null
order by fits, cluster, namespace, job_name, resource
"""

# --- what a build was made from (exports' manifests) --------------------------------------------------------

# When the published warehouse was built and with which configuration (``bookkeeping.build_info``).
BUILD_INFO = "select built_at, config_json from bookkeeping.build_info"

# The allocation settings the models ran with.
BUILD_SETTINGS = "select cost_basis, idle_mode, shared_mode, tagged_tag from config.settings"

# The CUR version a billing period was built from. Parameter: the period.
CUR_VERSION = "select version from bookkeeping.cur_versions where billing_period = ?"

# Every billing period's CUR version.
CUR_VERSIONS = "select billing_period, version from bookkeeping.cur_versions order by billing_period"

# --- closing a month (chargeback.reports.close) ------------------------------------------------------------

# The build and the method it applied (``bookkeeping.build_info``).
BUILD_METHOD = "select built_at, config_json, method_json, method_fingerprint from bookkeeping.build_info"

# What a month's bill was made from, as the build recorded it. Parameter: the period.
BILL_INPUTS = "select input_marks, models_fingerprint from bookkeeping.bill_inputs where period = ?"

# The in-scope source cost per cluster. Parameter: period.
CLOSE_SOURCE_BY_CLUSTER = """
select cluster, sum(cost) as cost, sum(case when is_estimated then cost else 0 end) as estimated,
from marts.fct_source_costs_daily
where period = $period
group by cluster
order by cluster
"""

# The month's exact amount per (cluster, bill line, part), every part of every line. Parameter: period.
CLOSE_AMOUNTS = """
with costs as (
    select cluster, tenant, compute_cost, idle_cost, shared_cost, storage_cost, network_cost, emr_cost, tagged_cost,
    from marts.fct_tenant_costs_daily
    where period = $period
)
select cluster, tenant, part, sum(amount) as amount,
from (
    select cluster, tenant, 'compute' as part, compute_cost as amount from costs
    union all select cluster, tenant, 'idle', idle_cost from costs
    union all select cluster, tenant, 'shared', shared_cost from costs
    union all select cluster, tenant, 'storage', storage_cost from costs
    union all select cluster, tenant, 'network', network_cost from costs
    union all select cluster, tenant, 'emr', emr_cost from costs
    union all select cluster, tenant, 'tagged', tagged_cost from costs
)
group by cluster, tenant, part
order by cluster, tenant, part
"""

# The adjustments booked in the month, for closed months before it, with the payer account of the month they
# correct (for FOCUS rows): what the FOCUS export renders and a closed month freezes. Parameter: period.
ADJUSTMENT_ROWS = """
with payers as (
    select period, min(payer_account_id) as payer_account_id,
    from marts.fct_tenant_allocation_daily
    group by period
)
select adjustments.closed_period, adjustments.cluster, adjustments.tenant, adjustments.part,
    payers.payer_account_id, adjustments.amount,
from marts.fct_adjustments as adjustments
left join payers on payers.period = adjustments.closed_period
where adjustments.period = $period
order by adjustments.closed_period, adjustments.cluster, adjustments.tenant, adjustments.part
"""

# Whether a relation exists (a warehouse built before a mart was added lacks it). Parameters: schema, name.
TABLE_EXISTS = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"

# --- FOCUS -----------------------------------------------------------------------------------------------

# A billing period's invoice id once AWS has invoiced it (marts.dim_billing_periods; none before). Parameter:
# the period.
INVOICE_ID = "select invoice_id from marts.dim_billing_periods where billing_period = ?"

# The period's allocation rows in a stable order (the CSV's order). Parameter: period.
FOCUS_ALLOCATION = """
select cluster, date, tenant, component, namespace, emr_job_run_id, product_code, payer_account_id, amount,
from marts.fct_tenant_allocation_daily
where period = $period
order by date, cluster, tenant, component, namespace nulls first, emr_job_run_id nulls first,
    product_code nulls first
"""

# --- reconcile (chargeback.reports.reconcile) ----------------------------------------------------------------

# The reconciliation rows of a billing period, per cluster (null: an out-of-scope line of no cluster), row kind
# (out_of_scope, in_scope, estimated) and category. Parameter: period.
RECONCILE_ROWS = """
select cluster, row_kind, category, sum(line_items) as line_items, sum(unblended_cost) as unblended_cost,
    sum(cost) as cost,
from marts.fct_cost_waterfall
where period = $period
group by cluster, row_kind, category
order by cluster nulls first, row_kind, category
"""

# The months the reconciliation has rows for (for the error naming them).
RECONCILE_PERIODS = "select distinct period from marts.fct_cost_waterfall order by period"

# The Nodes page's figures: node cost and unused (idle) cost before it is shared. Parameters: period, cluster.
RECONCILE_NODES = """
select coalesce(sum(cost), 0) as cost, coalesce(sum(idle_cost), 0) as idle,
from marts.fct_node_costs_hourly
where period = $period and ($cluster is null or cluster = $cluster)
"""

# The idle share of shared namespaces' pods, which goes to __shared__ (then spread as part `shared`). Same
# parameters.
RECONCILE_SHARED_IDLE = """
select coalesce(sum(idle_cost), 0) as idle,
from marts.fct_workload_costs_daily
where period = $period and tenant = '__shared__' and ($cluster is null or cluster = $cluster)
"""

# AWS's split cost allocation data against this allocation, per cluster, namespace and day. Same parameters.
RECONCILE_SPLIT = """
select cluster, date, namespace, billed_to, aws_pod_hours, aws_split_cost, aws_unused_cost, aws_cost,
    split_cost, idle_cost, cost, difference,
from marts.fct_split_comparison_daily
where period = $period and ($cluster is null or cluster = $cluster)
order by cluster, namespace, date
"""

# --- statement -------------------------------------------------------------------------------------------

# The drill-down's leaves for the tenants' statements: exact compute, idle share, storage and network per
# tenant, namespace, workload and EMR job run (the dashboard's tenant drill-down reads the same mart). A
# namespace's own volumes and load balancers have no workload. Parameters: period, tenants (a list).
STATEMENT_WORKLOADS = """
select tenant, namespace, workload_kind, workload_name, emr_job_run_id,
    sum(compute_cost) as compute, sum(idle_cost) as idle, sum(storage_cost) as storage,
    sum(network_cost) as network,
from marts.fct_workload_costs_monthly
where period = $period and list_contains($tenants::varchar[], tenant)
group by all
"""

# The period's EMR on EKS job runs of the tenants with their own EMR charges (exact); same parameters.
STATEMENT_JOBS = """
select job_run_id, job_name, virtual_cluster_name, tenant, state, sum(emr_cost) as emr,
from marts.fct_emr_job_costs
where period = $period and list_contains($tenants::varchar[], tenant)
group by all
"""

# The clusters a bill line has costs or adjustments in. Parameters: period, tenant.
STATEMENT_CLUSTERS = """
select cluster from marts.fct_tenant_costs_daily where period = $period and tenant = $tenant
union
select cluster from marts.fct_adjustments where period = $period and tenant = $tenant
order by 1
"""
