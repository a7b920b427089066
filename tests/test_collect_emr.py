"""EMR on EKS collection against moto's server: virtual clusters, job runs by window, requested shapes."""

from __future__ import annotations

import pytest

from chargeback.core import aws
from chargeback.core import config as config_module
from chargeback.core.errors import CollectError
from collectors.base import Window
from collectors.emr import EmrCollector, memory_bytes, requested_shape, submit_properties
from collectors.streams import EMR_JOB_RUNS, EMR_VIRTUAL_CLUSTERS
from tests.services.aws import error_response, inject, moto, utc  # noqa: F401 - moto is a fixture

GIB = 2**30
MIB = 2**20
WINDOW = Window(utc(2026, 10, 5), utc(2026, 10, 6))
NOW = utc(2026, 10, 6, 0, 5)


def collect(collector: EmrCollector, window: Window = WINDOW) -> dict[str, list]:
    """Rows per table, and the batches, from one collection."""
    batches = list(collector.collect(window))
    return {
        "batches": batches,
        "virtual_clusters": [r for b in batches if b.stream is EMR_VIRTUAL_CLUSTERS for r in b.data.to_pylist()],
        "job_runs": [r for b in batches if b.stream is EMR_JOB_RUNS for r in b.data.to_pylist()],
    }


def collector_for(moto, **kwargs) -> EmrCollector:  # noqa: F811
    return EmrCollector(moto.client("emr-containers"), lambda: NOW, **kwargs)


def test_virtual_clusters_map_ids_to_cluster_and_namespace(moto):  # noqa: F811
    data_eng = moto.create_virtual_cluster(
        "data-eng-spark", "emr-data-eng", tags={"tenant": "data-eng"}, created_at=utc(2026, 9, 11, 9, 12, 33)
    )
    old = moto.create_virtual_cluster("old-spark", "emr-old", created_at=utc(2026, 3, 1))
    moto.client("emr-containers").delete_virtual_cluster(id=old)
    moto.create_virtual_cluster("other", "emr-other", eks_cluster="staging")

    rows = collect(collector_for(moto, eks_clusters=["prod-analytics"]))["virtual_clusters"]

    by_id = {row["virtual_cluster_id"]: row for row in rows}
    assert set(by_id) == {data_eng, old}, "the staging cluster's virtual cluster is filtered out"
    assert by_id[data_eng]["eks_cluster"] == "prod-analytics"
    assert by_id[data_eng]["namespace"] == "emr-data-eng"
    assert by_id[data_eng]["state"] == "RUNNING"
    assert by_id[data_eng]["tags"] == [("tenant", "data-eng")]
    assert by_id[data_eng]["created_at"] == utc(2026, 9, 11, 9, 12, 33)
    assert by_id[data_eng]["collected_at"] == NOW
    assert by_id[old]["state"] == "TERMINATED"
    assert by_id[data_eng]["arn"].endswith(f":/virtualclusters/{data_eng}")


def test_job_runs_of_the_window_and_running_ones_page_by_page(moto):  # noqa: F811
    vc = moto.create_virtual_cluster("data-eng-spark", "emr-data-eng", created_at=utc(2026, 9, 11))
    in_window = [
        moto.start_job_run(vc, f"hourly-{h:02d}", utc(2026, 10, 5, h, 0, 7), finished_at=utc(2026, 10, 5, h, 40))
        for h in (0, 3, 6, 9, 12, 15, 23)
    ]
    still_running = moto.start_job_run(vc, "backfill", utc(2026, 10, 3, 22, 0), state="RUNNING")
    pending = moto.start_job_run(vc, "queued", utc(2026, 10, 4, 23, 59), state="PENDING")
    moto.start_job_run(vc, "day-before", utc(2026, 10, 4, 2), finished_at=utc(2026, 10, 4, 3))
    moto.start_job_run(vc, "at-the-end", utc(2026, 10, 6), finished_at=utc(2026, 10, 6, 1))  # half-open window
    moto.start_job_run(vc, "running-later", utc(2026, 10, 7), state="RUNNING")

    collector = collector_for(moto, page_size=3)
    result = collect(collector)

    ids = [row["job_run_id"] for row in result["job_runs"]]
    assert sorted(ids) == sorted([*in_window, still_running, pending])
    assert len(ids) == len(set(ids)), "a running job created in the window is listed once"
    job_batches = [b for b in result["batches"] if b.stream is EMR_JOB_RUNS]
    assert [b.data.num_rows for b in job_batches] == [3, 3, 1, 2], "one batch per page of at most 3"
    # 1 page of virtual clusters; 3 pages in the window (7 jobs); 1 page of active jobs (2 before the end).
    assert collector.requests_made == 1 + 3 + 1
    first = next(row for row in result["job_runs"] if row["name"] == "hourly-00")
    assert first["created_at"] == utc(2026, 10, 5, 0, 0, 7)
    assert first["finished_at"] == utc(2026, 10, 5, 0, 40)
    assert first["created_at"].tzinfo is not None and first["created_at"].utcoffset().total_seconds() == 0
    assert first["release_label"] == "emr-7.2.0-latest"
    assert first["state"] == "COMPLETED"
    running = next(row for row in result["job_runs"] if row["job_run_id"] == still_running)
    assert running["state"] == "RUNNING" and running["finished_at"] is None


def test_requested_shape_from_spark_submit_parameters(moto):  # noqa: F811
    vc = moto.create_virtual_cluster("ml-spark", "emr-ml", created_at=utc(2026, 9, 11))
    conf_only = moto.start_job_run(
        vc,
        "feature-build",
        utc(2026, 10, 5, 3),
        submit_parameters=(
            "--conf spark.executor.instances=4 --conf spark.executor.cores=2 --conf spark.executor.memory=4g"
            " --conf spark.driver.cores=1 --conf spark.driver.memory=2048m"
        ),
        tags={"job-name": "feature-build"},
    )
    layered = moto.start_job_run(
        vc,
        "weekly-train",
        utc(2026, 10, 5, 4),
        spark_defaults={"spark.executor.instances": "3", "spark.executor.memory": "8g", "spark.driver.memory": "1g"},
        submit_parameters=(
            "--conf spark.executor.memory=5g --executor-memory 6g"
            " --conf spark.kubernetes.executor.request.cores=1500m --executor-cores 2 --driver-cores=2"
        ),
    )
    bare = moto.start_job_run(
        vc, "adhoc", utc(2026, 10, 5, 5), submit_parameters="--conf spark.executor.memory=512 --num-executors 10"
    )

    rows = {row["job_run_id"]: row for row in collect(collector_for(moto))["job_runs"]}

    # Hand-computed: 4g = 4 * 2^30 = 4294967296 bytes; 2048m = 2048 * 2^20 = 2147483648 bytes.
    assert rows[conf_only]["executor_instances"] == 4
    assert rows[conf_only]["executor_cores"] == 2.0
    assert rows[conf_only]["executor_memory_bytes"] == 4294967296
    assert rows[conf_only]["driver_cores"] == 1.0
    assert rows[conf_only]["driver_memory_bytes"] == 2147483648
    assert rows[conf_only]["tags"] == [("job-name", "feature-build")]
    # spark-defaults < --conf < flags; the Kubernetes CPU request (1500m) is what the pods ask for.
    assert rows[layered]["executor_instances"] == 3
    assert rows[layered]["executor_memory_bytes"] == 6 * 1073741824
    assert rows[layered]["executor_cores"] == 1.5
    assert rows[layered]["driver_cores"] == 2.0
    assert rows[layered]["driver_memory_bytes"] == 1073741824
    # A bare number is MiB for Spark's memory settings: 512 * 1048576 bytes.
    assert rows[bare]["executor_memory_bytes"] == 536870912
    assert rows[bare]["executor_instances"] == 10
    assert rows[bare]["executor_cores"] is None and rows[bare]["driver_memory_bytes"] is None


def test_failure_reason_and_cancelled_runs(moto):  # noqa: F811
    vc = moto.create_virtual_cluster("data-eng-spark", "emr-data-eng", created_at=utc(2026, 9, 11))
    failed = moto.start_job_run(
        vc,
        "daily-sales-etl",
        utc(2026, 10, 5, 2, 0, 6),
        state="FAILED",
        finished_at=utc(2026, 10, 5, 2, 11, 45),
        failure_reason="USER_ERROR",
        state_details="Driver pod exited with code 1",
    )
    running = moto.start_job_run(vc, "hourly-ingest", utc(2026, 10, 5, 6), state="RUNNING")
    moto.client("emr-containers").cancel_job_run(id=running, virtualClusterId=vc)  # the real API call

    rows = {row["job_run_id"]: row for row in collect(collector_for(moto))["job_runs"]}

    assert rows[failed]["state"] == "FAILED"
    assert rows[failed]["failure_reason"] == "USER_ERROR"
    assert rows[failed]["state_details"] == "Driver pod exited with code 1"
    assert rows[failed]["finished_at"] == utc(2026, 10, 5, 2, 11, 45)
    assert rows[running]["state"] == "CANCELLED"
    assert rows[running]["state_details"] == "JobRun CANCELLED successfully."
    assert rows[running]["finished_at"] is not None and rows[running]["finished_at"].tzinfo is not None


def test_unparseable_shape_is_reported_not_dropped(moto):  # noqa: F811
    vc = moto.create_virtual_cluster("ml-spark", "emr-ml", created_at=utc(2026, 9, 11))
    job = moto.start_job_run(
        vc, "odd", utc(2026, 10, 5, 8), submit_parameters="--conf spark.executor.memory=lots --num-executors 2"
    )
    collector = collector_for(moto)

    rows = collect(collector)["job_runs"]

    assert [row["job_run_id"] for row in rows] == [job], "the row is kept"
    assert rows[0]["executor_memory_bytes"] is None and rows[0]["executor_instances"] == 2
    assert len(collector.problems) == 1
    assert job in collector.problems[0] and "spark.executor.memory" in collector.problems[0]


def test_access_denied_names_source_window_and_iam_action(moto):  # noqa: F811
    client = moto.client("emr-containers", max_attempts=1)
    inject(client, "ListVirtualClusters", [error_response(403, "AccessDeniedException", protocol="rest-json")])

    with pytest.raises(CollectError) as caught:
        list(EmrCollector(client, lambda: NOW).collect(WINDOW))

    message = str(caught.value)
    assert message.startswith("emr [2026-10-05T00:00Z, 2026-10-06T00:00Z): ")
    assert "AccessDeniedException" in message
    assert "emr-containers:ListVirtualClusters" in message
    assert caught.value.source == "emr" and caught.value.window == WINDOW


def test_a_5xx_is_retried_then_succeeds(moto):  # noqa: F811
    moto.create_virtual_cluster("ml-spark", "emr-ml", created_at=utc(2026, 9, 11))
    client = moto.client("emr-containers", max_attempts=3)
    attempts = inject(client, "ListVirtualClusters", [error_response(503, "ServiceUnavailable", protocol="rest-json")])

    rows = collect(EmrCollector(client, lambda: NOW))["virtual_clusters"]

    assert attempts == ["injected", "sent"]
    assert [row["name"] for row in rows] == ["ml-spark"]


def test_unreachable_endpoint_is_a_collect_error(moto):  # noqa: F811
    settings = moto.settings(endpoints={"emr-containers": "http://127.0.0.1:9"}, max_attempts=1)
    with pytest.raises(CollectError, match=r"cannot reach emr-containers virtual clusters: .*aws.endpoints"):
        list(EmrCollector(aws.client(settings, "emr-containers"), lambda: NOW).collect(WINDOW))


def test_from_config_limits_to_the_configured_clusters(moto):  # noqa: F811
    moto.create_virtual_cluster("a", "emr-a", eks_cluster="prod-analytics", created_at=utc(2026, 9, 1))
    moto.create_virtual_cluster("b", "emr-b", eks_cluster="staging", created_at=utc(2026, 9, 1))
    config = config_module.parse(
        {
            "clusters": [{"name": "prod-analytics"}],
            "aws": moto.settings().model_dump(),
        }
    )

    rows = collect(EmrCollector.from_config(config, clock=lambda: NOW))["virtual_clusters"]

    assert [row["name"] for row in rows] == ["a"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4g", 4 * GIB),
        ("4G", 4 * GIB),
        ("4096m", 4 * GIB),
        ("512k", 512 * 1024),
        ("1t", 1024 * GIB),
        ("300", 300 * MIB),
    ],
)
def test_memory_sizes(text, expected):
    assert memory_bytes(text) == expected


def test_submit_flags_win_over_conf_and_last_conf_wins():
    parameters = "--conf spark.executor.cores=1 --conf spark.executor.cores=3 --class Main --conf 'spark.app.name=a b'"
    assert submit_properties(parameters) == {"spark.executor.cores": "3", "spark.app.name": "a b"}
    assert submit_properties("--executor-cores 4 --conf spark.executor.cores=3")["spark.executor.cores"] == "4"
    shape = requested_shape({"jobDriver": {"sparkSqlJobDriver": {"sparkSqlParameters": "--driver-memory 3g"}}})
    assert shape["driver_memory_bytes"] == 3 * GIB
