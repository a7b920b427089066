-- grain: one CUR billing period; key billing_period
-- What the FOCUS export says of a billing period as a whole: its payer account and, once AWS has invoiced it,
-- its invoice id. AWS leaves bill_invoice_id blank "until the report is final" (the invoice is issued a few
-- days into the next month), then sets it on every line; so a period is invoiced when every line carries one
-- (as chargeback.scheduler.finality reads it), and has no invoice id before. Where a period's lines are on
-- several invoices (several invoicing entities, or AWS Marketplace), it names the one that holds the most of
-- the period's cost (ties: the smaller id); docs/focus.md#invoice-ids.
with lines as (
    select billing_period, payer_account_id, invoice_id, unblended_cost,
    from staging.stg_cur__line_items
),

periods as (
    select
        billing_period,
        min(payer_account_id) as payer_account_id,
        count(*) as line_count,
        count(invoice_id) as invoiced_line_count,
    from lines
    group by billing_period
),

invoices as (
    select
        billing_period,
        invoice_id,
        row_number() over (
            partition by billing_period order by sum(abs(unblended_cost)) desc, invoice_id
        ) as invoice_rank,
    from lines
    where invoice_id is not null
    group by billing_period, invoice_id
),

final as (
    select
        periods.billing_period,
        periods.payer_account_id,
        case when periods.invoiced_line_count = periods.line_count then invoices.invoice_id end as invoice_id,
        periods.line_count,
        periods.invoiced_line_count,
    from periods
    left join invoices
        on invoices.billing_period = periods.billing_period
        and invoices.invoice_rank = 1
)

select * from final
