-- grain: one raw CUR file, set of broken rules and currency among in-scope lines; key (file, rules, currency)
-- In-scope CUR lines that break a value rule (docs/method.md#validation): a row here stops the build for every
-- cluster as soon as this model is built, before anything is priced (chargeback/build/validation.py names the
-- file, the count and the amount). Out-of-scope lines may break them (credits are negative): not listed.
with settings as (
    select * from config.settings
),

lines as (
    select * from intermediate.int_cur__in_scope where invalid_rules is not null
),

final as (
    select
        lines.source_file as file,
        lines.invalid_rules as rules,
        lines.currency,
        settings.currency as configured_currency,
        count(*) as line_count,
        sum(lines.cost) as amount,
    from lines
    cross join settings
    group by lines.source_file, lines.invalid_rules, lines.currency, settings.currency
)

select * from final
