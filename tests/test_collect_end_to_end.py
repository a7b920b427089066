"""End to end: collect a synthetic cluster from real local services, build, and bill it.

Prometheus (Debian's, backfilled with the synthetic series), moto's server over HTTP (the CUR in S3,
EMR on EKS, Cost Explorer) and a local Kubernetes API server are filled from one synthetic cluster
(``tests/services/prometheus.small_cluster``). ``chargeback collect`` then ``build`` must give the
bill that ``tests/reference.py`` computes from the generator's exact inputs — its pod-hour
integrals, node uptimes and the CUR lines — never from anything the pipeline collected.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pyarrow as pa
import pyarrow.parquet as pq

from chargeback.build.engines import build
from chargeback.core import config as config_module
from chargeback.core.money import apportion, to_cents
from chargeback.raw.collect import run
from chargeback.raw.status import status_of
from chargeback.reports.bill import monthly_bill
from collectors.streams import CUR_LINE_ITEMS
from tests.factory import Scenario
from tests.reference import reference
from tests.services.aws import ACCOUNT, REGION, moto  # noqa: F401 - pytest fixture
from tests.services.k8s_api import FakeKubeApi
from tests.services.prometheus import SyntheticCluster, synthetic_prometheus  # noqa: F401 - pytest fixture

CLUSTER = "synthetic"
BUCKET, PREFIX, EXPORT = "acme-cur", "exports", "chargeback-cur2"
RATES = {"m5.2xlarge": 0.384, "g5.2xlarge": 0.4242}  # the GPU node is spot: 35% of 1.212
PRODUCT = {"m5.2xlarge": {"vcpu": "8", "memory": "32 GiB"}, "g5.2xlarge": {"vcpu": "8", "memory": "32 GiB", "gpu": "1"}}
SPARK_JOB, SPARK_VC = "0000000349ab1cdef2g", "b3k7p9x2m4q8r1s5t6u0v"
TENANCY = {"namespace_label": "tenant"}


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def cur_lines(cluster: SyntheticCluster, name: str = CLUSTER, emr: bool = True) -> list[dict]:
    """The CUR AWS would bill for the synthetic cluster (named ``name``): per node-hour, its uptime at the type's
    rate, the EKS control plane at $0.10/h, and (``emr``) the Spark job's EMR on EKS charge."""
    scenario = Scenario(cluster=name)
    by_name = {node.name: node for node in cluster.nodes}
    for (name, hour), seconds in sorted(cluster.node_hour_truth().items()):
        node = by_name[name]
        instance = node.provider_id.rsplit("/", 1)[-1]
        fraction = round(seconds / 3600, 10)
        spot = node.labels.get("eks.amazonaws.com/capacityType") == "SPOT"
        scenario.line(
            int((hour - cluster.start) // 3600),
            product_code="AmazonEC2",
            resource_id=instance,
            cost=round(RATES[node.instance_type] * fraction, 10),
            usage_amount=fraction,
            usage_type=f"{'SpotUsage' if spot else 'BoxUsage'}:{node.instance_type}",
            instance_type=node.instance_type,
            product=PRODUCT[node.instance_type],
        )
    for h in range(int((cluster.end - cluster.start) // 3600)):
        scenario.line(
            h,
            product_code="AmazonEKS",
            resource_id=f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{name}",
            cost=0.10,
            usage_type="USE1-AmazonEKS-Hours:perCluster",
        )
    if emr:
        arn = f"arn:aws:emr-containers:{REGION}:{ACCOUNT}:/virtualclusters/{SPARK_VC}/jobruns/{SPARK_JOB}"
        driver_hour = int((min(p.start for p in cluster.pods if p.namespace == "spark-jobs") - cluster.start) // 3600)
        scenario.line(
            driver_hour,
            product_code="ElasticMapReduce",
            resource_id=arn,
            cost=0.0253,
            usage_type="USE1-EMR-EKS-EC2-vCPUHours",
        )
    start = datetime(2025, 3, 1, tzinfo=UTC)
    for line in scenario.cur:  # the factory's lines start in October 2026: move them to the synthetic days
        shift = at(cluster.start) - datetime(2026, 10, 1, tzinfo=UTC)
        line["line_item_usage_start_date"] += shift
        line["line_item_usage_end_date"] += shift
        line["bill_billing_period_start_date"] = start
        line["bill_billing_period_end_date"] = datetime(2025, 4, 1, tzinfo=UTC)
    return scenario.cur


def truth_scenario(cluster: SyntheticCluster, lines: list[dict], name: str = CLUSTER, emr: bool = True) -> Scenario:
    """The generator's exact inputs as a Scenario for the reference (the cluster named ``name``; ``emr``: with the
    Spark job's virtual cluster): nothing here was collected."""
    scenario = Scenario(cluster=name)
    by_name = {node.name: node for node in cluster.nodes}
    for (node_name, hour), seconds in cluster.node_hour_truth().items():
        node = by_name[node_name]
        scenario.node_hours.append(
            {
                "cluster": name,
                "node": node_name,
                "hour": at(hour),
                "provider_id": node.provider_id,
                "instance_type": node.instance_type,
                "running_seconds": seconds,
                "cpu_capacity_cores": node.cpu,
                "memory_capacity_bytes": node.memory,
                "gpu_capacity": node.gpu,
                "labels": list(node.labels.items()),
            }
        )
    pods = {pod.uid: pod for pod in cluster.pods}
    for (uid, hour), integrals in cluster.pod_hour_truth().items():
        pod = pods[uid]
        scenario.pod_hours.append(
            {
                "cluster": name,
                "namespace": pod.namespace,
                "pod": pod.name,
                "pod_uid": uid,
                "node": pod.node,
                "hour": at(hour),
                **integrals,
            }
        )
    for (namespace, hour, labels), seconds in cluster.namespace_label_truth().items():
        scenario.namespace_labels.append(
            {
                "cluster": name,
                "namespace": namespace,
                "hour": at(hour),
                "seconds_in_force": seconds,
                "labels": list(labels),
            }
        )
    if emr:
        scenario.virtual_clusters.append(
            {
                "virtual_cluster_id": SPARK_VC,
                "name": "analytics-spark",
                "eks_cluster": name,
                "namespace": "spark-jobs",
                "tags": [("tenant", "analytics")],
            }
        )
        scenario.job_runs.append({"virtual_cluster_id": SPARK_VC, "job_run_id": SPARK_JOB})
    scenario.cur = lines
    return scenario


def upload_cur(moto, lines: list[dict]) -> None:  # noqa: F811 - the fixture's name
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(lines, schema=CUR_LINE_ITEMS.schema), buffer)
    execution = "20250313T060000Z-v1"
    data_key = f"{PREFIX}/{EXPORT}/data/BILLING_PERIOD=2025-03/{execution}/{EXPORT}-00001.snappy.parquet"
    moto.create_bucket(BUCKET)
    moto.put(BUCKET, data_key, buffer.getvalue())
    moto.put(
        BUCKET,
        f"{PREFIX}/{EXPORT}/metadata/BILLING_PERIOD=2025-03/{EXPORT}-Manifest.json",
        {
            "executionId": execution,
            "exportName": EXPORT,
            "billingPeriod": {"start": "2025-03-01T00:00:00.000Z", "end": "2025-04-01T00:00:00.000Z"},
            "dataFiles": [f"s3://{BUCKET}/{data_key}"],
        },
    )


def emr_history(moto, cluster: SyntheticCluster, name: str = CLUSTER, role_arn: str | None = None) -> None:  # noqa: F811
    """The Spark job's virtual cluster (on the EKS cluster ``name``, in ``role_arn``'s account when given) and run,
    under the ids its pods carry (moto picks its own)."""
    vc_id = moto.create_virtual_cluster(
        "analytics-spark",
        "spark-jobs",
        eks_cluster=name,
        tags={"tenant": "analytics"},
        created_at=at(cluster.start) - timedelta(days=30),
        role_arn=role_arn,
    )
    driver = min(p.start for p in cluster.pods if p.namespace == "spark-jobs")
    job_id = moto.start_job_run(
        vc_id,
        "spark-pi",
        at(driver - 20),
        finished_at=at(driver + 1600),
        submit_parameters="--conf spark.executor.instances=3 --conf spark.executor.cores=2",
        role_arn=role_arn,
    )
    backend = moto.emr_backend(role_arn.split(":")[4] if role_arn else ACCOUNT)
    vc = backend.virtual_clusters.pop(vc_id)
    vc.id, vc.arn = SPARK_VC, vc.arn.replace(vc_id, SPARK_VC)
    backend.virtual_clusters[SPARK_VC] = vc
    job = backend.job_runs.pop(job_id)
    job.id, job.virtual_cluster_id = SPARK_JOB, SPARK_VC
    job.arn = job.arn.replace(job_id, SPARK_JOB).replace(vc_id, SPARK_VC)
    backend.job_runs[SPARK_JOB] = job


def test_collect_build_and_bill_match_the_generators_truth(tmp_path, moto, synthetic_prometheus):  # noqa: F811
    cluster = synthetic_prometheus.cluster
    lines = cur_lines(cluster)
    upload_cur(moto, lines)
    emr_history(moto, cluster)
    moto.queue_cost_and_usage({"ResultsByTime": [], "DimensionValueAttributes": []})
    with FakeKubeApi() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        config = config_module.parse(
            {
                "data_dir": str(tmp_path / "data"),
                "tenancy": TENANCY,
                "clusters": [
                    {
                        "name": CLUSTER,
                        "prometheus": {"url": synthetic_prometheus.url, "max_concurrency": 2},
                        "kubernetes": {"kubeconfig": str(kubeconfig), "context": "fake-eks"},
                    }
                ],
                "aws": moto.settings().model_dump(),
                "cur": {"location": f"s3://{BUCKET}/{PREFIX}/{EXPORT}"},
                "cost_explorer": {"enabled": True},
            }
        )
        start, end = at(cluster.start), at(cluster.end)
        outcomes = run(config, ["all"], start=start, end=end, now=end + timedelta(hours=6))
    assert [(o.source, o.error) for o in outcomes if o.error] == []
    sources = {"prometheus", "kubernetes", "emr", "ec2", "elbv2", "cur", "cost_explorer"}
    assert {o.source for o in outcomes} == sources

    build(config)
    bill = monthly_bill(config, "2025-03")
    expected = reference(truth_scenario(cluster, lines), config)
    exact: dict[str, Fraction] = {}
    for (_, tenant, _), amount in expected.lines.items():
        exact[tenant] = exact.get(tenant, Fraction(0)) + amount
    source = sum(expected.in_scope.values(), Fraction(0))
    cents = apportion(
        {t: Decimal(v.numerator) / Decimal(v.denominator) for t, v in exact.items()},
        to_cents(Decimal(source.numerator) / Decimal(source.denominator)),
        order=sorted(exact),
    )
    assert bill.total == to_cents(Decimal(source.numerator) / Decimal(source.denominator))
    assert {line.tenant: line.total for line in bill.lines} == {t: c for t, c in cents.items() if c}

    report = status_of(config.data_dir)
    watermarks = {(s, t): state.complete_through for s, t, state in report.sources}
    assert watermarks[("prometheus", CLUSTER)] == end.isoformat().replace("+00:00", "Z")
    assert report.cur_periods == {"2025-03": "20250313T060000Z-v1"}
    # A second run of the same window changes nothing (idempotent) and the CUR is not landed again.
    before = {p: p.read_bytes() for p in (tmp_path / "data" / "raw" / "prometheus").rglob("*.parquet")}
    again = run(config, ["prometheus", "cur"], start=start, end=end, now=end + timedelta(hours=6))
    assert [o.error for o in again] == [None, None]
    assert {p: p.read_bytes() for p in (tmp_path / "data" / "raw" / "prometheus").rglob("*.parquet")} == before
    assert next(o for o in again if o.source == "cur").rows == {"cur 2025-03": 0}
