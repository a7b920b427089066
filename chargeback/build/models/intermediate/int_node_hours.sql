-- grain: one node (EC2 instance) in one UTC hour; key (cluster, node, hour)
-- A node-hour exists where Prometheus saw the node or the CUR billed its instance. Its cost is the
-- instance's in-scope CUR cost for the hour on the configured basis (a daily line is spread over the
-- node's observed running time that day): its instance lines, which alone give it billed hours and a purchase
-- option, plus its other non-transfer lines (node_extra: an EBS-optimized fee, ...) and its attached node
-- volumes' hours (int_node_volume_hours); data transfer is never node cost (docs/method.md#network). A
-- node-day with no instance line yet is estimated and flagged:
-- at Cost Explorer's cost per hour of that instance type that day (amortized cost / usage hours),
-- else at the bundled on-demand price. Available capacity is the instance type's nominal vCPU, GiB and GPUs
-- times the fraction of the hour it ran (the CUR's billed hours, else the observed running time).
-- docs/method.md#node-hours-and-their-cost. Unit prices (docs/method.md#unit-prices-and-weights):
-- u = cost / sum(w_r * available_r), price_r = w_r * u.
with observed as (
    select * from staging.stg_prometheus__node_hours
),

instance_lines as (
    select
        *,
        case
            when line_item_type = 'SavingsPlanCoveredUsage' then 'savings_plan'
            when line_item_type = 'DiscountedUsage' then 'reserved'
            when usage_type like '%SpotUsage%' then 'spot'
            else 'on_demand'
        end as purchase_option,
    from intermediate.int_cur__in_scope
    where scope = 'instance'
),

node_lines as (
    select
        *,
        scope = 'instance' as is_instance,
        case when scope = 'instance' then purchase_option end as line_purchase_option,
    from (
        select * from instance_lines
        union all
        select *, cast(null as varchar) as purchase_option,
        from intermediate.int_cur__in_scope
        where scope = 'node_extra'
    ) as unioned
),

hourly_pieces as (
    select
        resource_id as instance_id,
        hour,
        is_instance,
        cost,
        case when is_instance then usage_amount end as billed_hours,
        line_purchase_option as purchase_option,
        instance_type,
        product_vcpu,
        product_memory_gib,
        product_gpu,
        node_tenant_tag,
    from node_lines
    where usage_end <= usage_start + interval 1 hour
),

long_lines as (
    select * from node_lines where usage_end > usage_start + interval 1 hour
),

long_observed as (
    select
        long_lines.line_item_id,
        observed.hour,
        observed.running_hours,
        sum(observed.running_hours) over (partition by long_lines.line_item_id) as line_running_hours,
    from long_lines
    inner join observed
        on observed.instance_id = long_lines.resource_id
        and observed.hour >= long_lines.usage_start
        and observed.hour < long_lines.usage_end
),

long_pieces as (
    select
        long_lines.resource_id as instance_id,
        coalesce(long_observed.hour, long_lines.hour) as hour,
        long_lines.is_instance,
        case
            when long_observed.line_item_id is null then long_lines.cost
            else cast(
                cast(long_lines.cost as double) * long_observed.running_hours / long_observed.line_running_hours
                as decimal(38, 12)
            )
        end as cost,
        cast(null as double) as billed_hours,
        long_lines.line_purchase_option as purchase_option,
        long_lines.instance_type,
        long_lines.product_vcpu,
        long_lines.product_memory_gib,
        long_lines.product_gpu,
        long_lines.node_tenant_tag,
    from long_lines
    left join long_observed on long_observed.line_item_id = long_lines.line_item_id
),

volume_pieces as (
    select
        volumes.instance_id,
        volumes.hour,
        false as is_instance,
        volumes.cost,
        cast(null as double) as billed_hours,
        cast(null as varchar) as purchase_option,
        cast(null as varchar) as instance_type,
        cast(null as double) as product_vcpu,
        cast(null as double) as product_memory_gib,
        cast(null as double) as product_gpu,
        cast(null as varchar) as node_tenant_tag,
    from intermediate.int_node_volume_hours as volumes
    inner join intermediate.int_cluster_instances as instances on instances.instance_id = volumes.instance_id
),

billed as (
    select
        instance_id,
        hour,
        sum(case when is_instance then cost end) as cost,
        sum(case when not is_instance then cost end) as extra_cost,
        sum(billed_hours) as billed_hours,
        max_by(purchase_option, case when purchase_option is not null then coalesce(billed_hours, 0) end)
            as purchase_option,
        max(instance_type) as instance_type,
        max(product_vcpu) as product_vcpu,
        max(product_memory_gib) as product_memory_gib,
        max(product_gpu) as product_gpu,
        max(node_tenant_tag) as tag_tenant,
    from (
        select * from hourly_pieces
        union all select * from long_pieces
        union all select * from volume_pieces
    ) as pieces
    group by instance_id, hour
),

cost_explorer_rates as (
    select
        date,
        group_key as instance_type,
        cast(sum(amount) as double) / sum(usage_quantity) as usd_per_hour,
    from staging.stg_cost_explorer__daily_costs
    where group_by = 'INSTANCE_TYPE'
    group by date, group_key
    having sum(usage_quantity) > 0
),

billed_days as (
    select distinct resource_id as instance_id, date from instance_lines
),

instance_tags as (
    select instance_id, max(tag_tenant) as tag_tenant from billed group by instance_id
),

joined as (
    select
        coalesce(observed.cluster, instances.cluster) as cluster,
        coalesce(observed.node, instances.node) as node,
        coalesce(observed.instance_id, billed.instance_id) as instance_id,
        coalesce(observed.hour, billed.hour) as hour,
        coalesce(observed.instance_type, billed.instance_type, instances.instance_type) as instance_type,
        coalesce(observed.node_group, instances.node_group) as node_group,
        coalesce(observed.capacity_type_label, instances.capacity_type_label) as capacity_type_label,
        observed.running_hours as observed_hours,
        billed.billed_hours,
        billed.cost as billed_cost,
        billed.extra_cost,
        billed.purchase_option,
        billed_days.instance_id is not null as has_cur_day,
        billed.product_vcpu,
        billed.product_memory_gib,
        billed.product_gpu,
        observed.cpu_capacity_cores,
        observed.memory_capacity_gib,
        observed.gpu_capacity,
        -- an hour only a node volume or a node extra line bills is no node-hour of the node
        -- (docs/method.md#storage): it stays undedicated, so its cost is __idle__'s
        case when observed.hour is not null or billed.cost is not null
            then coalesce(observed.tenant_label, instance_tags.tag_tenant) end as dedicated_tenant,
    from observed
    full outer join billed
        on billed.instance_id = observed.instance_id and billed.hour = observed.hour
    left join intermediate.int_cluster_instances as instances
        on instances.instance_id = coalesce(observed.instance_id, billed.instance_id)
    left join billed_days
        on billed_days.instance_id = observed.instance_id and billed_days.date = cast(observed.hour as date)
    left join instance_tags
        on instance_tags.instance_id = coalesce(observed.instance_id, billed.instance_id)
),

sized as (
    select
        joined.*,
        cast(joined.hour as date) as date,
        coalesce(joined.product_vcpu, types.vcpu, joined.cpu_capacity_cores, 0) as vcpu,
        coalesce(joined.product_memory_gib, types.memory_gib, joined.memory_capacity_gib, 0) as memory_gib,
        coalesce(joined.product_gpu, types.gpu, joined.gpu_capacity, 0) as gpus,
        -- (least() skips nulls in DuckDB: without the case, no billed hours would read as a whole hour)
        coalesce(
            case when joined.billed_hours is not null then least(joined.billed_hours, 1.0) end,
            joined.observed_hours,
            0
        ) as running_fraction,
        joined.billed_cost is null and not joined.has_cur_day and joined.observed_hours is not null as is_estimated,
        coalesce(rates.usd_per_hour, types.on_demand_usd_per_hour) as estimate_usd_per_hour,
        case when rates.usd_per_hour is not null then 'cost_explorer' else 'price_table' end as estimate_source,
    from joined
    left join config.instance_types as types on types.instance_type = joined.instance_type
    left join cost_explorer_rates as rates
        on rates.date = cast(joined.hour as date) and rates.instance_type = joined.instance_type
),

costed as (
    select
        sized.*,
        case
            when sized.billed_cost is not null then sized.billed_cost
            when sized.is_estimated
                then cast(coalesce(sized.estimate_usd_per_hour, 0) * sized.running_fraction as decimal(38, 12))
            else cast(0 as decimal(38, 12))
        end + coalesce(sized.extra_cost, 0) as cost,
        case
            -- an hour only a node volume or extra line bills is no node-hour: it was bought on no terms
            when sized.observed_hours is null and sized.billed_cost is null then null
            when sized.is_estimated and sized.capacity_type_label = 'SPOT' then 'spot'
            else coalesce(sized.purchase_option, 'on_demand')
        end as purchase_option_final,
        sized.vcpu * sized.running_fraction as cpu_available_core_hours,
        sized.memory_gib * sized.running_fraction as memory_available_gib_hours,
        sized.gpus * sized.running_fraction as gpu_available_hours,
    from sized
),

weighted as (
    select
        costed.*,
        weights.cpu as cpu_weight,
        weights.memory as memory_weight,
        weights.gpu as gpu_weight,
        weights.cpu * costed.cpu_available_core_hours
            + weights.memory * costed.memory_available_gib_hours
            + weights.gpu * costed.gpu_available_hours as weighted_capacity,
    from costed
    inner join config.weights as weights
        on weights.node_class = case when costed.gpus > 0 then 'gpu_node' else 'cpu_node' end
),

final as (
    select
        cluster,
        node,
        instance_id,
        hour,
        date,
        instance_type,
        node_group,
        purchase_option_final as purchase_option,
        dedicated_tenant,
        dedicated_tenant is not null as is_dedicated,
        gpus > 0 as is_gpu_node,
        is_estimated,
        case when is_estimated then estimate_source end as estimate_source,
        observed_hours is not null as is_observed,
        running_fraction as running_hours,
        vcpu,
        memory_gib,
        gpus,
        cpu_available_core_hours,
        memory_available_gib_hours,
        gpu_available_hours,
        cost,
        case when weighted_capacity > 0 then cpu_weight * cast(cost as double) / weighted_capacity else 0 end
            as cpu_price_per_core_hour,
        case when weighted_capacity > 0 then memory_weight * cast(cost as double) / weighted_capacity else 0 end
            as memory_price_per_gib_hour,
        case when weighted_capacity > 0 then gpu_weight * cast(cost as double) / weighted_capacity else 0 end
            as gpu_price_per_gpu_hour,
    from weighted
)

select * from final
