-- grain: one CUR line whose tenant tag held a reserved __*__ value; key line_item_id
-- The tag was ignored (docs/method.md#validation): the next rule that claims a line applies, or none, and the
-- line leaves the scope. Its cost on the configured basis, and how much of it stays in scope as corrected.
with lines as (
    select * from intermediate.int_cur__scoped where has_reserved_tag
),

final as (
    select
        line_item_id,
        cluster,
        billing_period,
        date,
        hour,
        source_file as file,
        resource_id,
        usage_type,
        validation_rules as rules,
        original_values,
        scope,
        coalesce(
            case when tenant_tag_raw is not null and tag_tenant is null then tenant_tag_raw end, node_tenant_tag_raw
        ) as tenant_with_raw_value,
        cost as cost_with_raw_value,
        case when scope is null then 0 else cost end as cost_as_corrected,
    from lines
)

select * from final
