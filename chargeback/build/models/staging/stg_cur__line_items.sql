-- grain: one CUR line item; no natural key (AWS repeats identical lines), line_item_id is positional
-- The one place CUR columns get business names and the three cost bases are defined:
--   amortized:     effective cost of Savings Plan / RI covered usage, unblended cost otherwise;
--   net_amortized: the same from the net_ columns, where the CUR has them;
--   on_demand:     the public on-demand (list) cost, unblended where AWS gives none.
-- Validated (docs/method.md#validation): node_tenant_tag and tenant_tag are the configured tags (a reserved
-- __*__ value is null, kept as *_raw); invalid_rules names the value rules the line breaks (an in-scope one stops
-- the build), validation_rules and original_values every rule it breaks, source_file the raw file it came from.
-- split_*: AWS's split cost allocation data on its EKSPod-EC2 rows (out of scope; the reconciliation compares them).
with source as (
    select * from validated.cur__line_items
),

final as (
    select
        row_number() over () as line_item_id,
        strftime(bill_billing_period_start_date, '%Y-%m') as billing_period,
        bill_payer_account_id as payer_account_id,
        nullif(bill_invoice_id, '') as invoice_id,
        line_item_usage_account_id as usage_account_id,
        line_item_line_item_type as line_item_type,
        line_item_usage_start_date as usage_start,
        line_item_usage_end_date as usage_end,
        line_item_product_code as product_code,
        line_item_usage_type as usage_type,
        line_item_operation as operation,
        line_item_resource_id as resource_id,
        line_item_usage_amount as usage_amount,
        line_item_currency_code as currency,
        pricing_term,
        product_instance_type as instance_type,
        product_region_code as region,
        try_cast(product['vcpu'] as double) as product_vcpu,
        try_cast(regexp_extract(replace(product['memory'], ',', ''), '[0-9.]+') as double) as product_memory_gib,
        try_cast(product['gpu'] as double) as product_gpu,
        resource_tags,
        node_tenant_tag,
        tenant_tag,
        _file as source_file,
        _stop_rules as invalid_rules,
        _corrected as is_corrected,
        _rule_node_tenant_tag is not null or _rule_tenant_tag is not null as has_reserved_tag,
        _rules as validation_rules,
        _original_values as original_values,
        _raw_node_tenant_tag as node_tenant_tag_raw,
        _raw_tenant_tag as tenant_tag_raw,
        split_line_item_parent_resource_id as split_parent_resource_id,
        cast(split_line_item_split_cost as decimal(38, 12)) as split_cost,
        cast(split_line_item_unused_cost as decimal(38, 12)) as split_unused_cost,
        cast(line_item_unblended_cost as decimal(38, 12)) as unblended_cost,
        cast(
            case line_item_line_item_type
                when 'SavingsPlanCoveredUsage' then savings_plan_savings_plan_effective_cost
                when 'DiscountedUsage' then reservation_effective_cost
                else line_item_unblended_cost
            end as decimal(38, 12)
        ) as amortized_cost,
        cast(
            case line_item_line_item_type
                when 'SavingsPlanCoveredUsage'
                    then coalesce(savings_plan_net_savings_plan_effective_cost, savings_plan_savings_plan_effective_cost)
                when 'DiscountedUsage' then coalesce(reservation_net_effective_cost, reservation_effective_cost)
                else coalesce(line_item_net_unblended_cost, line_item_unblended_cost)
            end as decimal(38, 12)
        ) as net_amortized_cost,
        cast(coalesce(pricing_public_on_demand_cost, line_item_unblended_cost) as decimal(38, 12)) as on_demand_cost,
    from source
)

select * from final
