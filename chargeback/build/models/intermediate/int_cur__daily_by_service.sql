-- grain: one UTC day and Cost Explorer service name; key (date, service)
-- The whole CUR (not only the clusters' scope) per day in Cost Explorer's service names, on the
-- amortized basis, to reconcile against Cost Explorer. Savings Plan negation and fee lines count 0
-- (their used part is in the covered lines' effective cost); AWS's EKSPod-EC2 split rows are skipped.
with lines as (
    select * from staging.stg_cur__line_items
    where coalesce(operation, '') <> 'EKSPod-EC2'
),

named as (
    select
        cast(usage_start as date) as date,
        case
            when line_item_type = 'Tax' then 'Tax'
            when line_item_type in ('SavingsPlanNegation', 'SavingsPlanRecurringFee', 'SavingsPlanUpfrontFee')
                then 'Savings Plans for AWS Compute usage'
            when product_code = 'AmazonEC2' and (usage_type like '%BoxUsage%' or usage_type like '%SpotUsage%')
                then 'Amazon Elastic Compute Cloud - Compute'
            when product_code = 'AmazonEC2' then 'EC2 - Other'
            when product_code = 'AmazonEKS' then 'Amazon Elastic Container Service for Kubernetes'
            when product_code = 'ElasticMapReduce' then 'Amazon Elastic MapReduce'
            when product_code = 'AmazonS3' then 'Amazon Simple Storage Service'
            else product_code
        end as service,
        case
            when line_item_type in ('SavingsPlanNegation', 'SavingsPlanRecurringFee', 'SavingsPlanUpfrontFee', 'RIFee')
                then cast(0 as decimal(38, 12))
            else amortized_cost
        end as amortized_cost,
    from lines
),

final as (
    select date, service, sum(amortized_cost) as cur_cost,
    from named
    group by date, service
)

select * from final
