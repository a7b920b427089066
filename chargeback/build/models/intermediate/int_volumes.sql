-- grain: one EBS volume of a cluster; key volume_id
-- docs/method.md#storage. A volume is a PV volume where a PersistentVolume names it (kube-state-metrics' PV
-- series, else the Kubernetes API snapshot), or where the EBS CSI driver's created-for/pvc/namespace tag names
-- a namespace and a cluster tag names the cluster (its PV is gone); else a node volume where EC2 saw it
-- attached to a node's instance (root and data volumes). Read by int_cur__scoped (which rule claims a line).
-- tag_namespace: a PV volume's latest created-for/pvc/namespace tag, int_storage_hours' last resort for its
-- namespace (read here, where the EC2 snapshots are read anyway).
with pv_hours as (
    select distinct cluster, volume_id from staging.stg_prometheus__persistent_volume_hours where volume_id is not null
),

pv_snapshots as (
    select distinct cluster, volume_id from staging.stg_kubernetes__persistent_volumes where volume_id is not null
),

settings as (
    select * from config.settings
),

ec2 as (
    select * from staging.stg_ec2__volumes
),

-- the in-tree kubernetes.io/cluster/<name> key, which the EBS CSI driver sets (--k8s-tag-cluster-id)
in_tree_keys as (
    select volume_id, unnest(map_keys(tags)) as tag_key,
    from ec2
    where pvc_namespace is not null
),

in_tree as (
    select volume_id, max(substr(tag_key, length('kubernetes.io/cluster/') + 1)) as cluster,
    from in_tree_keys
    where tag_key like 'kubernetes.io/cluster/%'
    group by volume_id
),

tagged_pv as (
    select
        ec2.volume_id,
        max(
            coalesce(
                nullif(ec2.tags['aws:eks:cluster-name'], ''),
                nullif(ec2.tags['eks:cluster-name'], ''),
                nullif(ec2.tags[settings.tagged_cluster_tag], ''),
                nullif(ec2.tags['KubernetesCluster'], ''),
                in_tree.cluster
            )
        ) as cluster,
        max_by(ec2.pvc_namespace, ec2.collected_at) as tag_namespace,
    from ec2
    cross join settings
    left join in_tree on in_tree.volume_id = ec2.volume_id
    where ec2.pvc_namespace is not null
    group by ec2.volume_id
),

attached as (
    select ec2.volume_id, max_by(instances.cluster, ec2.collected_at) as cluster,
    from ec2
    inner join intermediate.int_cluster_instances as instances on instances.instance_id = ec2.instance_id
    group by ec2.volume_id
),

pv as (
    select volume_id, min(cluster) as cluster, from (
        select volume_id, cluster from pv_hours
        union all select volume_id, cluster from pv_snapshots
        union all select volume_id, cluster from tagged_pv where cluster is not null
    ) as named
    group by volume_id
),

final as (
    select pv.volume_id, pv.cluster, 'pv' as kind, tagged_pv.tag_namespace,
    from pv
    left join tagged_pv on tagged_pv.volume_id = pv.volume_id
    union all
    select attached.volume_id, attached.cluster, 'node' as kind, cast(null as varchar) as tag_namespace,
    from attached
    left join pv on pv.volume_id = attached.volume_id
    where pv.volume_id is null
)

select * from final
