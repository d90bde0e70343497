"""Per-point means and Student-t 95% confidence intervals over replications."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from scipy import stats

from perfmodel.sweep.metrics import METRICS, NAMES

LEVEL = 0.95


def mean_ci(values: list[float], level: float = LEVEL) -> tuple[int, float, float, float]:
    """(n, mean, low, high) over the non-NaN values; the interval is NaN below two values."""
    a = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    n = int(a.size)
    if n == 0:
        return 0, math.nan, math.nan, math.nan
    mean = float(a.mean())
    if n < 2:
        return n, mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * float(a.std(ddof=1)) / math.sqrt(n)
    return n, mean, mean - half, mean + half


def summary_header(keys: list[str]) -> list[str]:
    cols = ["point", "point_id", "hardware", *keys, "runs", "failed", "truncated"]
    for m in NAMES:
        cols += [f"{m}_mean", f"{m}_ci_low", f"{m}_ci_high"]
    return cols


def summarize(points: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per point with at least one finished run, in point order.

    `points` are the manifest's points; `rows` the runs table's rows.
    """
    by_point: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_point.setdefault(r["point"], []).append(r)
    out = []
    for p in points:
        runs = by_point.get(p["index"] + 1)
        if not runs:
            continue
        ok = [r for r in runs if r["status"] != "failed"]
        row: dict[str, Any] = {
            "point": p["index"] + 1,
            "point_id": p["id"],
            "hardware": p["hardware"],
            **p["values"],
            "runs": len(runs),
            "failed": len(runs) - len(ok),
            "truncated": sum(r["status"] == "truncated" for r in runs),
        }
        for m in NAMES:
            _, mean, lo, hi = mean_ci([float(r[m]) for r in ok])
            row[f"{m}_mean"], row[f"{m}_ci_low"], row[f"{m}_ci_high"] = mean, lo, hi
        out.append(row)
    return out


def format_ci(mean: float, lo: float, hi: float, show: Any) -> str:
    if math.isnan(mean):
        return "-"
    if math.isnan(lo):
        return show(mean)
    return f"{show(mean)} ± {show((hi - lo) / 2).strip()}"


# Two tables so that each fits a terminal: what the workload sees, what zswap did.
TABLES = (
    ("workload (mean ± 95% CI half-width)",
     ("throughput_mbps", "elapsed_s", "p50_fault_latency_us", "p99_fault_latency_us",
      "p999_fault_latency_us")),
    ("zswap (mean ± 95% CI half-width)",
     ("memory_saved_bytes", "memory_saved_fraction", "zswpout", "pswpout", "zswpwb",
      "pool_limit_hit")),
)


def print_summary(summary: list[dict[str, Any]], keys: list[str], names: dict[str, str],
                  console: Console, show_hardware: bool = True) -> None:
    by = {m.name: m for m in METRICS}
    for title, metrics in TABLES:
        t = Table(title=title, title_justify="left")
        t.add_column("#", justify="right")
        if show_hardware:
            t.add_column("hardware")
        for k in keys:
            t.add_column(names[k])
        t.add_column("n", justify="right")
        for m in metrics:
            t.add_column(by[m].short, justify="right")
        for row in summary:
            cells = [str(row["point"])]
            if show_hardware:
                cells.append(row["hardware"])
            cells += [str(row[k]) for k in keys]
            n = f"{row['runs'] - row['failed']}"
            if row["failed"]:
                n += f" ({row['failed']} failed)"
            cells.append(n)
            for m in metrics:
                cells.append(format_ci(row[f"{m}_mean"], row[f"{m}_ci_low"], row[f"{m}_ci_high"],
                                       by[m].show))
            t.add_row(*map(escape, cells), style="red" if row["truncated"] else None)
        if any(r["truncated"] for r in summary):
            t.caption = "red: some runs stopped at sim.max_sim_seconds"
        console.print(t)
        console.print()
