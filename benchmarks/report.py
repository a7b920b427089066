"""What ``benchmarks.run`` prints: each figure against its target, as a Markdown table.

The targets are the performance issue's, for size L; a fleet size (XL: four clusters of L) is held to L's
last run (``FLEET_TARGETS``).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from benchmarks.collection import collection_rows

GIB = 2**30
FLEET_CLUSTERS = 20  # the fleet the Spark figures are projected to (issue 8)

# figure -> (target as the issue states it, for size L; whether a value meets it)
TARGETS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "build_seconds": ("≤ 30 s", lambda v: v <= 30),
    "build_over_split": ("≤ 5× the bare split", lambda v: v <= 5),
    "build_peak_rss_gib": ("≤ 4 GiB", lambda v: v <= 4),
    "incremental_build_seconds": ("≤ 3 s", lambda v: v <= 3),
    "dashboard_query_seconds": ("≤ 0.5 s", lambda v: v <= 0.5),
    "build_over_floor": ("≤ 10", lambda v: v <= 10),
    "scaling": ("4× data ≤ 5× time", lambda v: v <= 1.25),  # time ratio / data ratio
}
# A fleet (XL: four clusters of L) is held to L's last run: at most 5× its time, in the same memory cap.
FLEET_TARGETS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "build_over_l": ("≤ 5× L's build", lambda v: v <= 5),
    "incremental_over_l": ("≤ 5× L's new day", lambda v: v <= 5),
    "build_peak_rss_gib": ("≤ 4 GiB", lambda v: v <= 4),
    "dashboard_query_seconds": ("≤ 0.5 s", lambda v: v <= 0.5),
}
FLEET_SIZES = {"XL": "L"}  # a fleet size -> the size each of its clusters is


def spark_table(result: dict) -> str:
    build, against = result["build"], result["duckdb_build_seconds"]
    rows = [
        ("full month build on Spark", f"{build['seconds']:.1f} s"),
        ("peak RSS: Python / Spark's JVM (driver 12g)",
         f"{build['peak_rss_bytes'] / GIB:.2f} GiB / {(build.get('jvm_peak_rss_bytes') or 0) / GIB:.2f} GiB"),
        ("pod-hours per second", f"{result['pod_hours'] / build['seconds']:,.0f}"),
        ("DuckDB, last run of the size", f"{against:.1f} s (Spark takes ×{build['seconds'] / against:.1f})"
         if against else "no DuckDB run of this size yet"),
        (f"core-hours of the build ({os.cpu_count()} cores)", f"{result['core_hours']:.2f}"),
        (f"a fleet of {FLEET_CLUSTERS} such clusters, if it spread perfectly", f"{result['fleet']['core_hours']:.1f}"
         " core-hours a month"),
    ]  # fmt: skip
    lines = [f"Size {result['size']} on Spark: {result['pod_hours']:,} pod-hours", ""]
    lines += ["| figure | value |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    lines += ["", "| model | seconds |", "|---|---|"] + [f"| {m} | {s:.2f} |" for m, s in build["models"][:10]]
    return "\n".join(lines)


# --- the table ------------------------------------------------------------------------------------------


def _mark(result: dict, figure: str) -> tuple[str, str]:
    judged = result["targets"].get(figure)
    if judged is None:
        return "", ""
    return judged["target"], "pass" if judged["pass"] else "**miss**"


def _over(result: dict, figure: str) -> str:
    judged = result["targets"].get(figure)
    return f"×{judged['value']:.2f}" if judged else ""


def _repriced(build: dict) -> str:
    """What the incremental build did with the pod-hours, as the build reported it."""
    return build.get("refreshed", {}).get("intermediate.int_pod_hours_priced", "pod-hours rebuilt whole")


def table(result: dict) -> str:
    build, floor, inc = result["build"], result["floor"], result["incremental"]
    rows = [
        ("full month build", f"{build['seconds']:.1f} s", *_mark(result, "build_seconds")),
        ("peak RSS of the build", f"{build['peak_rss_bytes'] / GIB:.2f} GiB", *_mark(result, "build_peak_rss_gib")),
        ("pod-hours per second (build)", f"{build['pod_hours_per_second']:,.0f}", "", ""),
        ("floor: read pod-hours, write a row each", f"{floor['seconds']:.2f} s", "", ""),
        ("build ÷ floor", f"{result['build_over_floor']:.0f}", *_mark(result, "build_over_floor")),
        ("bare split query", f"{result['split_query']['seconds']:.1f} s, "
         f"{result['split_query']['peak_rss_bytes'] / GIB:.2f} GiB", "", ""),
        ("build ÷ bare split", f"{build['seconds'] / result['split_query']['seconds']:.1f}",
         *_mark(result, "build_over_split")),
        ("build ÷ L's build" if "build_over_l" in result["targets"] else "", _over(result, "build_over_l"),
         *_mark(result, "build_over_l")),
        (f"land one more day ({inc['landed']['day']})", f"{inc['landed']['seconds']:.1f} s", "", ""),
        (f"incremental day: build after it ({_repriced(inc['build'])})", f"{inc['build']['seconds']:.1f} s",
         *_mark(result, "incremental_build_seconds")),
        ("new day ÷ L's" if "incremental_over_l" in result["targets"] else "", _over(result, "incremental_over_l"),
         *_mark(result, "incremental_over_l")),
        ("peak RSS of that build", f"{inc['build']['peak_rss_bytes'] / GIB:.2f} GiB", "", ""),
        ("disk: raw Parquet", f"{build['disk']['raw_bytes'] / GIB:.2f} GiB", "", ""),
        ("disk: build folders after the month / after the new day",
         f"{build['disk']['builds_bytes'] / GIB:.2f} GiB / {inc['build']['disk']['builds_bytes'] / GIB:.2f} GiB"
         f" ({inc['build']['disk']['builds']} folders; a day kept is linked, counted once)", "", ""),
        ("disk: warehouse file", f"{inc['build']['disk']['warehouse_bytes'] / 2**20:.0f} MiB", "", ""),
    ]  # fmt: skip
    rows = [row for row in rows if row[0]]
    for page, timing in result["dashboard"].items():
        passed = TARGETS["dashboard_query_seconds"][1](timing["slowest_seconds"])
        rows.append((f"dashboard · {page}: slowest query", f"{timing['slowest_seconds']:.3f} s ({timing['slowest']})",
                     TARGETS["dashboard_query_seconds"][0], "pass" if passed else "**miss**"))  # fmt: skip
    if result["collection"]:
        rows += collection_rows(result["collection"])
    scaled = result["scaling"]
    if scaled:
        rows.append((f"scaling against {scaled['against']}", f"data ×{scaled['data_ratio']:.1f}, time "
                     f"×{scaled['time_ratio']:.1f} (×{scaled['per_unit']:.2f} per unit)",
                     *_mark(result, "scaling")))  # fmt: skip
    host = result["machine"]
    lines = [
        f"Size {result['size']}: {result['description']}; {result['pod_hours']:,} pod-hours ({host['cpus']} cores,"
        f" {host['memory_gib']} GiB, load {host['load_average'][0]:.1f} → {host['load_at_end'][0]:.1f},"
        f" DuckDB {host['duckdb']},"
        f" commit {host['commit']}, {result['when']})",
        "",
        "| figure | value | target | |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        "Slowest models of the full build:",
        "",
        "| model | seconds |",
        "|---|---|",
        *[f"| {name} | {seconds:.2f} |" for name, seconds in build["models"][:8]],
    ]
    return "\n".join(lines)
