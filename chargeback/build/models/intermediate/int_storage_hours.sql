-- grain: one PV volume's CUR line in one UTC hour; key (line_item_id, cluster, hour)
-- docs/method.md#storage. Each hour of a PV volume's cost goes to the namespace of the claim bound to its PV for
-- most of that hour (kube_persistentvolume_claim_ref; ties: the later binding), else of the nearest earlier
-- hour with a claim (a Released volume keeps its last claim's namespace), else of the nearest later one, else
-- of the latest Kubernetes API snapshot naming a claim, else of the EBS CSI driver's
-- created-for/pvc/namespace tag (a volume whose PV is gone); a PV that never had a claim: __unallocated__.
-- The namespace's tenant is resolved like a pod's (int_namespace_tenants_hourly). claim_name: the claim bound
-- (from the PV's claimRef; null where the namespace came from a snapshot or a tag), which fct_emr_job_costs
-- follows to the Spark jobs whose pods mount it.
with pieces as (
    select * from intermediate.int_cur__line_hours where scope = 'pv_volume'
),

claims_ranked as (
    select
        cluster,
        volume_id,
        hour,
        claim_namespace || '/' || claim_name as claim_ref,
        row_number() over (
            partition by cluster, volume_id, hour order by claim_seconds desc, claim_last_seen desc nulls last
        ) as claim_rank,
    from staging.stg_prometheus__persistent_volume_hours
    where volume_id is not null and claim_namespace is not null
),

claims as (
    select cluster, volume_id, hour, claim_ref from claims_ranked where claim_rank = 1
),

-- most hours of a volume have a claim in the hour itself; only the others need the nearest hour's, found by
-- windows over those volumes alone (over every volume's pieces and claims they took most of the model's time)
same_hour as (
    select pieces.line_item_id, pieces.cluster, pieces.hour, claims.claim_ref,
    from pieces
    inner join claims
        on claims.cluster = pieces.cluster and claims.volume_id = pieces.resource_id and claims.hour = pieces.hour
),

unmatched as (
    select pieces.cluster, pieces.resource_id as volume_id, pieces.hour, pieces.line_item_id,
    from pieces
    left join same_hour
        on same_hour.line_item_id = pieces.line_item_id
        and same_hour.cluster = pieces.cluster
        and same_hour.hour = pieces.hour
    where same_hour.line_item_id is null
),

unmatched_volumes as (
    select distinct cluster, volume_id from unmatched
),

timeline as (
    select cluster, volume_id, hour, cast(null as varchar) as claim_ref, 1 as kind, line_item_id,
    from unmatched
    union all
    select claims.cluster, claims.volume_id, claims.hour, claims.claim_ref, 0 as kind,
        cast(null as bigint) as line_item_id,
    from claims
    inner join unmatched_volumes
        on unmatched_volumes.cluster = claims.cluster and unmatched_volumes.volume_id = claims.volume_id
),

filled as (
    select
        *,
        coalesce(
            last_value(claim_ref ignore nulls) over (
                partition by cluster, volume_id order by hour, kind
                rows between unbounded preceding and current row
            ),
            first_value(claim_ref ignore nulls) over (
                partition by cluster, volume_id order by hour, kind
                rows between current row and unbounded following
            )
        ) as hour_claim,
    from timeline
),

nearest as (
    select line_item_id, cluster, hour, hour_claim as claim_ref, from filled where kind = 1
    union all
    select line_item_id, cluster, hour, claim_ref, from same_hour
),

snapshots as (
    select cluster, volume_id, max_by(claim_namespace, collected_at) as snapshot_namespace,
    from staging.stg_kubernetes__persistent_volumes
    where volume_id is not null and claim_namespace is not null
    group by cluster, volume_id
),

tags as (
    select volume_id, tag_namespace from intermediate.int_volumes where tag_namespace is not null
),

final as (
    select
        pieces.line_item_id,
        pieces.cluster,
        pieces.resource_id as volume_id,
        pieces.hour,
        pieces.date,
        pieces.cost,
        coalesce(split_part(nearest.claim_ref, '/', 1), snapshots.snapshot_namespace, tags.tag_namespace) as namespace,
        split_part(nearest.claim_ref, '/', 2) as claim_name,
        case
            when nearest.claim_ref is not null then 'claim_ref'
            when snapshots.snapshot_namespace is not null then 'kubernetes_api'
            when tags.tag_namespace is not null then 'volume_tag'
            else 'no_claim'
        end as namespace_source,
    from pieces
    left join nearest
        on nearest.line_item_id = pieces.line_item_id
        and nearest.cluster = pieces.cluster
        and nearest.hour = pieces.hour
    left join snapshots on snapshots.cluster = pieces.cluster and snapshots.volume_id = pieces.resource_id
    left join tags on tags.volume_id = pieces.resource_id
)

select * from final
