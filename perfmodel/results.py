"""The result of one run: kernel-named counters, timings, latencies, time series, config."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 99, 99.9)
PCT_NAMES = ("p50", "p90", "p99", "p999")


def latency_summary(samples_s: list[float]) -> dict[str, float | int]:
    """Count, mean and percentiles in microseconds."""
    if not samples_s:
        return {"count": 0}
    a = np.asarray(samples_s, dtype=np.float64) * 1e6
    out: dict[str, float | int] = {"count": int(a.size), "mean_us": float(a.mean())}
    for name, q in zip(PCT_NAMES, np.percentile(a, PERCENTILES), strict=True):
        out[f"{name}_us"] = float(q)
    return out


# Probabilities of the fault-latency CDF kept in a result: every percent, then a
# finer grid into the tail up to p99.99.
CDF_PROBS: tuple[float, ...] = tuple(
    float(p)
    for p in np.unique(np.round(np.concatenate([
        np.linspace(0.0, 0.99, 100),
        1.0 - np.logspace(-2, -4, 21),
        [1.0],
    ]), 10))
)


def quantile_grid(samples_s: list[float]) -> dict[str, list[float]] | None:
    """The latency CDF on CDF_PROBS, in microseconds (None without samples)."""
    if not samples_s:
        return None
    q = np.quantile(np.asarray(samples_s, dtype=np.float64) * 1e6, CDF_PROBS)
    return {"p": list(CDF_PROBS), "us": [float(x) for x in q]}


def mixture_summary(samples_s: list[float], masses: list[tuple[int, float]]) -> dict[str, float | int]:
    """Count, mean and nearest-rank percentiles in microseconds of samples_s together
    with point masses (count, seconds): many equal latencies without a list of them."""
    vals = np.concatenate([np.asarray(samples_s, dtype=np.float64),
                           np.array([v for n, v in masses if n > 0], dtype=np.float64)])
    wts = np.concatenate([np.ones(len(samples_s)),
                          np.array([n for n, _ in masses if n > 0], dtype=np.float64)])
    total = float(wts.sum())
    if total <= 0:
        return {"count": 0}
    order = np.argsort(vals, kind="stable")
    vals, cum = vals[order] * 1e6, np.cumsum(wts[order])
    out: dict[str, float | int] = {"count": int(total),
                                   "mean_us": float((vals * wts[order]).sum() / total)}
    for name, q in zip(PCT_NAMES, PERCENTILES, strict=True):
        i = int(np.searchsorted(cum, q / 100.0 * total, side="left"))
        out[f"{name}_us"] = float(vals[min(i, len(vals) - 1)])
    return out


@dataclass
class Result:
    format: str
    scenario: str
    hardware: str
    seed: int
    kernel_release: str
    elapsed_s: float
    truncated: bool
    debugfs: dict[str, int]
    vmstat: dict[str, int]
    meminfo: dict[str, int]
    workload: dict[str, Any]
    latency: dict[str, dict[str, float | int]]
    memory: dict[str, Any]
    timeseries: dict[str, list[float]]
    devices: dict[str, Any]
    cpus: dict[str, Any]
    numa: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, default=_jsonable)

    # Flat metrics for sweeps and comparison.
    def metric(self, name: str) -> float:
        for section in (self.debugfs, self.vmstat, self.workload, self.memory):
            if name in section and isinstance(section[name], int | float):
                return float(section[name])
        if name.endswith("_latency_us"):
            kind, pct = name[: -len("_latency_us")].split("_", 1)
            return float(self.latency[kind].get(f"{pct}_us", math.nan))
        raise KeyError(name)


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
