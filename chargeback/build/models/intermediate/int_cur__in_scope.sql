-- grain: one in-scope CUR line item in one cluster; key (line_item_id, cluster)
-- The CUR lines a bill is made of (int_cur__scoped says which and why, docs/method.md#scope), with their cost
-- on the configured basis.
-- materialized: view
-- (of the lines int_cur__scoped has classified and stored: nearly all of them, so a table would store them twice)
with scoped as (
    select * from intermediate.int_cur__scoped
),

final as (
    select * from scoped where scope is not null
)

select * from final
