"""The flat per-run metrics of a sweep, taken from a result under the kernel's names."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MiB = 1 << 20


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # axis label, with the unit
    short: str  # table heading
    scale: float = 1.0  # shown value = value / scale
    fmt: str = ",.1f"

    def show(self, v: float) -> str:
        if math.isnan(v):
            return "-"
        return format(v / self.scale, self.fmt)


# The summary metrics, in table order.
METRICS: tuple[Metric, ...] = (
    Metric("throughput_mbps", "workload throughput (MB/s)", "MB/s"),
    Metric("elapsed_s", "workload elapsed time (s)", "elapsed s", fmt=",.3f"),
    Metric("p50_fault_latency_us", "p50 major-fault latency (µs)", "p50 µs"),
    Metric("p99_fault_latency_us", "p99 major-fault latency (µs)", "p99 µs"),
    Metric("p999_fault_latency_us", "p99.9 major-fault latency (µs)", "p999 µs"),
    Metric("memory_saved_bytes", "memory saved by zswap (MiB)", "saved MiB", scale=MiB),
    Metric("memory_saved_fraction", "memory saved (fraction of the footprint)", "saved frac",
           fmt=".3f"),
    Metric("compression_ratio", "compression ratio (stored_pages × page / pool_total_size)",
           "ratio", fmt=".2f"),
    Metric("zswpout", "zswpout (pages)", "zswpout", fmt=",.0f"),
    Metric("pswpout", "pswpout (pages)", "pswpout", fmt=",.0f"),
    Metric("zswpwb", "zswpwb (pages written back)", "zswpwb", fmt=",.0f"),
    Metric("pool_limit_hit", "pool_limit_hit (count)", "limit hit", fmt=",.0f"),
    Metric("pgmajfault", "pgmajfault (faults)", "pgmajfault", fmt=",.0f"),
)
BY_NAME = {m.name: m for m in METRICS}
NAMES = tuple(m.name for m in METRICS)


def metric(name: str) -> Metric:
    return BY_NAME[name]


def _num(section: dict[str, Any], key: str) -> float:
    v = section.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan


def run_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The metrics of one result (a Result.to_dict()); NaN where the release has no such counter.

    Memory saved is zswap's saving when the last pass ends, as /proc/meminfo shows it:
    Zswapped - Zswap = stored_pages x page size - pool_total_size (debugfs), i.e. the
    pages zswap holds minus the allocator pages that hold them. The fraction is over the
    workload's footprint. Zero pages kept in the swap zeromap are not counted.
    """
    debugfs, vmstat = result["debugfs"], result["vmstat"]
    workload, memory = result["workload"], result["memory"]
    fault = result["latency"].get("fault", {})
    page = int(result.get("config", {}).get("hardware", {}).get("memory", {}).get("page_size", 4096))
    stored = debugfs.get("stored_pages", 0)
    saved = float(stored * page - debugfs.get("pool_total_size", 0))
    footprint = memory.get("footprint_bytes") or 0
    return {
        "throughput_mbps": _num(workload, "throughput_mbps"),
        "elapsed_s": _num(workload, "elapsed_s"),
        "p50_fault_latency_us": _num(fault, "p50_us"),
        "p99_fault_latency_us": _num(fault, "p99_us"),
        "p999_fault_latency_us": _num(fault, "p999_us"),
        "memory_saved_bytes": saved,
        "memory_saved_fraction": saved / footprint if footprint else math.nan,
        "compression_ratio": _num(memory, "compression_ratio"),
        "zswpout": _num(vmstat, "zswpout"),
        "pswpout": _num(vmstat, "pswpout"),
        "zswpwb": _num(vmstat, "zswpwb"),
        "pool_limit_hit": _num(debugfs, "pool_limit_hit"),
        "pgmajfault": _num(vmstat, "pgmajfault"),
    }
