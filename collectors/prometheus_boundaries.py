"""Boundaries: a pod's (or node's) running time in an hour, from its scrapes, inside its life.

The server counts the scrapes that saw the pod Running in each UTC hour ``(H, T]`` (``T = H + 1 h``), each
standing for the scrape interval before it, and reports the Running scrapes either side of the hour's
start and end (``collectors.prometheus_queries.POD_RUNNING_EDGES``). From those, vectorised over every
pod-hour (numpy, no loop per row), the running time of each hour is:

- **split at the hour's boundaries**: the interval a scrape stands for (since the previous scrape, at most
  one interval) is divided between the hours it spans. The part before ``H`` of the hour's first Running
  scrape belongs to the hour before (``H - before``, where ``before`` is the Running scrape in the last
  interval before ``H``), and the part of the next hour's first scrape that lies before ``T`` belongs to
  this one (``T - last``, where ``last`` is the Running scrape in the hour's last interval);
- **extended to the completion**: a completed pod ran until its completion time, at most one interval
  after its last Running scrape (the first scrape that sees it completed stands for that interval too);
- **clipped to the life**: never before the start (``kube_pod_start_time``, ``kube_node_created``) nor after
  the completion; without a completion time the running time ends at the last Running scrape. A pod whose
  start is unknown starts at its first Running scrape, which then stands for no time before it.

So a pod that starts at ``hh:00:00`` (its first Running scrape at ``hh:00:00`` exactly) has no time in hour
``hh-1``; one that starts at ``hh:00:10`` under a 30 s scrape has 3590 s in hour ``hh`` if it runs on; one
that completes at ``hh:40:20`` has its last hour end at ``hh:40:20``. A pod-hour outside the pod's life
(``life`` 0) is not an hour the pod ran in: the collector drops it, usage included.

Exact (to the truth) where the pod was Running at every scrape from its first Running scrape to its last
and the scrapes are regular; the hour's running time never exceeds the pod's life in that hour.
"""

from __future__ import annotations

import numpy as np

HOUR_SECONDS = 3600.0


def running_seconds(
    hour: np.ndarray,
    sampled: np.ndarray,
    before: np.ndarray,
    last: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    step: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Running seconds of each hour and the seconds of the hour inside the life, as (running, life).

    Every argument but ``step`` holds one value per row (an object's hour), unix seconds or seconds:

    - ``hour``: the hour's start ``H``;
    - ``sampled``: the hour's Running scrapes times the scrape interval ``step``;
    - ``before``: the Running scrape in ``(H - step, H]``, NaN if there was none;
    - ``last``: the Running scrape in ``(T - step, T]``, NaN if there was none;
    - ``start``: the object's start, NaN if unknown;
    - ``end``: its completion, NaN if unknown (nodes: always NaN).
    """
    stop = hour + HOUR_SECONDS
    head = np.where(np.isnan(before), 0.0, hour - before)
    tail = np.where(np.isnan(last), 0.0, stop - last)
    completes = (end > hour) & (end <= stop)  # NaN compares false
    extension = np.where(completes, float(step), 0.0)
    # Unknown start: the first Running scrape (none in the interval before the hour, some in it) stands for nothing.
    first = np.isnan(start) & np.isnan(before) & (sampled > 0)
    raw = sampled - head + tail + extension - np.where(first, float(step), 0.0)
    life = np.clip(
        np.minimum(stop, np.where(np.isnan(end), np.inf, end))
        - np.maximum(hour, np.where(np.isnan(start), -np.inf, start)),
        0.0,
        HOUR_SECONDS,
    )
    # An hour that holds only the first Running scrape of a pod whose start is unknown is not an hour it ran in.
    life = np.where(first & (raw <= 0), 0.0, life)
    return np.clip(raw, 0.0, life), life
