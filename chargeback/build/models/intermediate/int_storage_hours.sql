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

timeline as (
    select cluster, resource_id as volume_id, hour, cast(null as varchar) as claim_ref, 1 as kind,
        line_item_id,
    from pieces
    union all
    select cluster, volume_id, hour, claim_ref, 0 as kind, cast(null as bigint) as line_item_id,
    from claims
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

snapshots as (
    select cluster, volume_id, max_by(claim_namespace, collected_at) as snapshot_namespace,
    from staging.stg_kubernetes__persistent_volumes
    where volume_id is not null and claim_namespace is not null
    group by cluster, volume_id
),

tags as (
    select volume_id, max_by(pvc_namespace, collected_at) as tag_namespace,
    from staging.stg_ec2__volumes
    where pvc_namespace is not null
    group by volume_id
),

final as (
    select
        pieces.line_item_id,
        pieces.cluster,
        pieces.resource_id as volume_id,
        pieces.hour,
        pieces.date,
        pieces.cost,
        coalesce(split_part(filled.hour_claim, '/', 1), snapshots.snapshot_namespace, tags.tag_namespace) as namespace,
        split_part(filled.hour_claim, '/', 2) as claim_name,
        case
            when filled.hour_claim is not null then 'claim_ref'
            when snapshots.snapshot_namespace is not null then 'kubernetes_api'
            when tags.tag_namespace is not null then 'volume_tag'
            else 'no_claim'
        end as namespace_source,
    from pieces
    left join filled
        on filled.kind = 1
        and filled.line_item_id = pieces.line_item_id
        and filled.cluster = pieces.cluster
        and filled.hour = pieces.hour
    left join snapshots on snapshots.cluster = pieces.cluster and snapshots.volume_id = pieces.resource_id
    left join tags on tags.volume_id = pieces.resource_id
)

select * from final
