"""The Spark schedule of a generated cluster month: every job run (of the month and the day after it) and its
pods, as columns. See ``benchmarks.generate`` for the scenario; built once per size by ``Layout.build``."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from benchmarks.basics import DAY, MONTH_START, Size, uuids
from sample_data import generate as sample

FAILED_SHARE, CANCELLED_SHARE = 0.02, 0.01


@dataclass
class SparkSchedule:
    """Every job run (of the month and the day after it) and its pods, as columns."""

    # per job
    day: np.ndarray
    template: np.ndarray
    name: list[str]
    run_id: list[str]
    executor_prefix: list[str]  # "<name>-<16 hex>-exec-"
    selector: list[str]
    created: np.ndarray
    finished: np.ndarray
    state: np.ndarray  # 0 completed, 1 failed, 2 cancelled
    # per pod (driver first, then executors 1..E, job after job)
    job: np.ndarray
    index: np.ndarray  # 0 driver, k executor k
    start: np.ndarray
    end: np.ndarray
    node: np.ndarray  # index into the layout's nodes
    cpu_request_cores: np.ndarray
    memory_request_bytes: np.ndarray
    cpu_share: np.ndarray
    memory_share: np.ndarray
    uid: pa.Array


def spark_schedule(
    size: Size, lanes: int, spark_nodes: list[int], per_node: int, rng: np.random.Generator
) -> SparkSchedule:
    jobs_per_day, executors = size.spark_jobs_per_day, size.executors_per_job
    days = size.days + 1  # the day after the month too: the benchmark lands it as "one more day"
    n = days * jobs_per_day
    day = np.repeat(np.arange(days), jobs_per_day)
    # submitted at random times of its day, created (and so partitioned) on that day too
    offset = np.sort(rng.uniform(0, DAY - 10, (days, jobs_per_day)), axis=1).ravel().astype(np.int64)
    created = MONTH_START + day * DAY + offset + rng.integers(2, 10, n)
    wanted = created + rng.integers(25, 46, n)
    ordinal = np.tile(np.arange(jobs_per_day), days)
    template = ordinal % len(sample.SPARK_JOBS)
    base = rng.uniform(*size.executor_seconds, n)
    executor_offset = rng.integers(60, 121, (n, executors))
    executor_life = np.clip(base[:, None] - rng.uniform(0, 45, (n, executors)), *size.executor_seconds).astype(np.int64)
    driver_life = (executor_offset + executor_life).max(axis=1) + rng.integers(15, 46, n)
    finished_after = driver_life + rng.integers(5, 16, n)
    # each job takes the lane that frees first; it waits when every lane is busy
    lane_of, driver_start = np.empty(n, np.int64), np.empty(n, np.int64)
    free = [(0, lane) for lane in range(lanes)]
    for i in range(n):
        free_at, lane = heapq.heappop(free)
        lane_of[i] = lane
        driver_start[i] = max(int(wanted[i]), free_at)
        heapq.heappush(free, (int(driver_start[i] + driver_life[i] + 10), lane))
    draw = rng.random(n)
    state = np.where(draw < FAILED_SHARE, 1, np.where(draw < FAILED_SHARE + CANCELLED_SHARE, 2, 0))
    names = [
        f"{sample.SPARK_JOBS[k % len(sample.SPARK_JOBS)].name}-{k // len(sample.SPARK_JOBS):04d}"
        for k in range(jobs_per_day)
    ]
    name = [names[k] for k in ordinal.tolist()]
    seed = f"{size.cluster}/" if size.member else ""  # a fleet's other clusters: run ids of their own
    run_id = [sample._job_run_id(f"{seed}{job}/{at}") for job, at in zip(name, created.tolist(), strict=True)]
    executor_prefix = [
        f"{job}-{sample._token(f'exec/{rid}', 16, sample.HEX)}-exec-" for job, rid in zip(name, run_id, strict=True)
    ]
    selector = ["spark-" + sample._token(f"app/{rid}", 32, sample.HEX) for rid in run_id]
    # pods: a driver and the executors of each job, on the job's lane's slots
    width = 1 + executors
    job = np.repeat(np.arange(n), width)
    index = np.tile(np.arange(width), n)
    offsets = np.concatenate([np.zeros((n, 1), np.int64), executor_offset], axis=1)
    lives = np.concatenate([driver_life[:, None], executor_life], axis=1)
    start = (driver_start[:, None] + offsets).ravel()
    end = start + lives.ravel()
    slot = lane_of[job] * width + index
    node = np.asarray(spark_nodes)[slot // per_node]
    specs = sample.SPARK_JOBS
    driver_cores = np.array([j.driver_cores for j in specs], np.float64)
    executor_cores = np.array([j.executor_cores for j in specs], np.float64)
    driver_bytes = np.array([sample._memory_with_overhead(j.driver_memory_mib) for j in specs], np.float64)
    executor_bytes = np.array([sample._memory_with_overhead(j.executor_memory_mib) for j in specs], np.float64)
    is_driver = index == 0
    pod_template = template[job]
    cpu = np.where(is_driver, driver_cores[pod_template], executor_cores[pod_template])
    memory = np.where(is_driver, driver_bytes[pod_template], executor_bytes[pod_template])
    cpu_share = np.where(is_driver, rng.uniform(0.1, 0.3, len(job)), rng.uniform(0.55, 0.9, len(job)))
    memory_share = np.where(is_driver, rng.uniform(0.35, 0.6, len(job)), rng.uniform(0.45, 0.8, len(job)))
    return SparkSchedule(
        day,
        template,
        name,
        run_id,
        executor_prefix,
        selector,
        created,
        driver_start + finished_after,
        state,
        job,
        index,
        start,
        end,
        node,
        cpu,
        memory,
        cpu_share,
        memory_share,
        uuids(rng, len(job)),
    )
