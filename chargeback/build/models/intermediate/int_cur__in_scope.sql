-- grain: one in-scope CUR line item in one cluster; key (line_item_id, cluster)
-- The CUR lines a bill is made of (int_cur__scoped says which and why, docs/method.md#scope), with their cost
-- on the configured basis.
with scoped as (
    select * from intermediate.int_cur__scoped
),

final as (
    select * from scoped where scope is not null
)

select * from final
