"""Plots of a sweep directory: metrics against a swept key, fault-latency CDFs, time series.

Figures are drawn on matplotlib's Agg canvas without pyplot (no global state, no
display) and written as PNG and SVG; SVG keeps text as text so labels can be read back.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # noqa: E402 - before anything draws; no display is ever needed

import numpy as np
import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from perfmodel.errors import ConfigError
from perfmodel.sweep.engine import SweepData
from perfmodel.sweep.metrics import BY_NAME, MiB

FORMATS = ("png", "svg")
DEFAULT_METRICS = ("throughput_mbps", "p99_fault_latency_us", "memory_saved_fraction",
                   "zswpwb")
RC = {"svg.fonttype": "none", "svg.hashsalt": "perfmodel", "figure.dpi": 100,
      "axes.grid": True, "grid.alpha": 0.3}
HARDWARE = "hardware"

# Units of the keys people sweep most, for axis labels.
KEY_UNITS = {
    "zswap.max_pool_percent": "% of RAM",
    "zswap.accept_threshold_percent": "% of the pool limit",
    "vm.page-cluster": "log2 pages",
    "vm.swappiness": "0-200",
    "vm.watermark_scale_factor": "1/10000 of RAM",
    "vm.min_free_kbytes": "KiB",
}


def key_label(key: str) -> str:
    unit = KEY_UNITS.get(key)
    return f"{key} ({unit})" if unit else key


def _parse(v: str) -> Any:
    try:
        return yaml.safe_load(v)
    except yaml.YAMLError:
        return v


def _numeric(values: list[str]) -> bool:
    parsed = [_parse(v) for v in values]
    return all(isinstance(p, int | float) and not isinstance(p, bool) for p in parsed)


def resolve_param(data: SweepData, name: str | None) -> str:
    """A swept key by full key, short name, or 'hardware'; default: the first numeric axis."""
    keys = data.keys
    if name is None:
        for a in data.manifest["axes"]:
            if _numeric(a["values"]):
                return a["key"]
        return keys[0] if keys else HARDWARE
    if name == HARDWARE or name in keys:
        return name
    hits = [k for k, s in data.names.items() if s == name or k.endswith("." + name)]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join([HARDWARE, *keys])
    raise ConfigError("--x", name, f"not a swept key of {data.root} (swept: {known})")


def resolve_metric(name: str, option: str = "--metric") -> str:
    if name not in BY_NAME:
        raise ConfigError(option, name, f"unknown metric (known: {', '.join(BY_NAME)})")
    return name


def _point_param(data: SweepData, p: dict[str, Any], key: str) -> str:
    return p["hardware"] if key == HARDWARE else p["values"][key]


def _groups(data: SweepData, x: str) -> dict[str, list[dict[str, Any]]]:
    """Points by everything but x: one line per compressor, profile, ..."""
    names = data.names
    multi_hw = len({p["hardware"] for p in data.points}) > 1
    out: dict[str, list[dict[str, Any]]] = {}
    for p in data.points:
        parts = [f"{names[k]}={v}" for k, v in p["values"].items() if k != x]
        if multi_hw and x != HARDWARE:
            parts.insert(0, p["hardware"])
        out.setdefault(", ".join(parts) or "all", []).append(p)
    return out


def _draw_metric(ax: Axes, data: SweepData, metric: str, x: str) -> None:
    m = BY_NAME[metric]
    summary = {row["point"] - 1: row for row in data.summary}
    xvals = ([p["hardware"] for p in data.points] if x == HARDWARE else
             next(a["values"] for a in data.manifest["axes"] if a["key"] == x))
    numeric = x != HARDWARE and _numeric(xvals)
    cats = list(dict.fromkeys(xvals))
    for label, pts in _groups(data, x).items():
        rows = [(p, summary.get(p["index"])) for p in pts]
        rows = [(p, r) for p, r in rows if r is not None]
        if not rows:
            continue
        xs = np.array([float(_parse(_point_param(data, p, x))) if numeric
                       else cats.index(_point_param(data, p, x)) for p, _ in rows])
        order = np.argsort(xs, kind="stable")
        xs = xs[order]
        mean, lo, hi = (np.array([r[f"{metric}_{s}"] / m.scale for _, r in rows])[order]
                        for s in ("mean", "ci_low", "ci_high"))
        (line,) = ax.plot(xs, mean, marker="o", label=label)
        if not np.all(np.isnan(lo)):
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    if not numeric:
        ax.set_xticks(range(len(cats)), cats)
    ax.set_xlabel(key_label(x) if x != HARDWARE else "hardware profile")
    ax.set_ylabel(m.label)


def _reps(data: SweepData) -> int:
    return int(data.manifest["spec"]["replications"])


def _ci_note(data: SweepData) -> str:
    return f"mean of {_reps(data)} replications, band: 95% CI (Student t)"


def _save(fig: Figure, out_dir: Path, stem: str, formats: tuple[str, ...]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        p = out_dir / f"{stem}.{fmt}"
        fig.savefig(p, format=fmt, bbox_inches="tight", metadata=_metadata(fmt))
        paths.append(p)
    return paths


def _metadata(fmt: str) -> dict[str, Any]:
    # No creation dates, so that the same sweep gives the same files.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "png":
        return {"Software": None}
    return {}


def metric_figure(data: SweepData, metric: str, x: str) -> Figure:
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(7, 4.5))
        ax = fig.add_subplot()
        _draw_metric(ax, data, metric, x)
        ax.set_title(f"{data.manifest['scenario']}: {BY_NAME[metric].label}", fontsize=10)
        ax.legend(fontsize=8, title=_ci_note(data), title_fontsize=7)
    return fig


def overview_figure(data: SweepData, metrics: tuple[str, ...], x: str) -> Figure:
    """The metrics side by side, one legend: the figure for a report."""
    with matplotlib.rc_context(RC):
        cols = 2 if len(metrics) > 1 else 1
        rows = math.ceil(len(metrics) / cols)
        fig = Figure(figsize=(5.2 * cols, 3.6 * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax, metric in zip(axes, metrics, strict=False):
            _draw_metric(ax, data, metric, x)
        for ax in axes[len(metrics):]:
            ax.set_visible(False)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4),
                   fontsize=8)
        spec = data.manifest["spec"]
        hw = ", ".join(sorted({p["hardware"] for p in data.points}))
        sets = ", ".join(spec["set"])
        title = f"{data.manifest['scenario']} on {hw}: {_ci_note(data)}"
        if sets:
            title += "\n" + textwrap.shorten(sets, 150, placeholder=" ...")
        fig.suptitle(title, fontsize=9)
    return fig


def default_cdf_points(data: SweepData, x: str) -> list[int]:
    """Every point when there are few; else each line's first and last point along x."""
    if len(data.points) <= 6:
        return [p["index"] for p in data.points]
    out = []
    for pts in _groups(data, x).values():
        out += [pts[0]["index"], pts[-1]["index"]]
    return sorted(set(out))


def _cdf(data: SweepData, index: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(latency µs, probability, full): quantiles averaged over the replications;
    without kept quantiles, the result's own percentiles."""
    recs = [r for r in data.point_records(index) if r.get("result")]
    cdfs = [r["fault_latency_cdf"] for r in recs if r.get("fault_latency_cdf")]
    if cdfs and len(cdfs) == len(recs):
        us = np.mean([c["us"] for c in cdfs], axis=0)
        return us, np.asarray(cdfs[0]["p"]), True
    pts = [(0.5, "p50_us"), (0.9, "p90_us"), (0.99, "p99_us"), (0.999, "p999_us")]
    lat = [r["result"]["latency"]["fault"] for r in recs]
    ps = [p for p, k in pts if all(k in f for f in lat)]
    us = [float(np.mean([f[k] for f in lat])) for _, k in pts if all(k in f for f in lat)]
    return np.asarray(us), np.asarray(ps), False


def cdf_figure(data: SweepData, indices: list[int]) -> Figure:
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(11, 4.2), layout="constrained")
        ax, tail = fig.subplots(1, 2)
        for i in indices:
            us, ps, full = _cdf(data, i)
            if us.size == 0:
                continue
            label = data.points[i]["label"] + ("" if full else " (p50-p999 only)")
            style = "-" if full else "--o"
            (line,) = ax.plot(us, ps, style, label=label)
            keep = ps < 1.0
            tail.plot(us[keep], 1.0 - ps[keep], style, color=line.get_color())
        for a in (ax, tail):
            a.set_xscale("log")
            a.set_xlabel("major-fault latency (µs)")
        ax.set_ylabel("fraction of major faults ≤ latency (CDF)")
        tail.set_yscale("log")
        tail.set_ylabel("fraction of major faults > latency (1 - CDF)")
        ax.legend(fontsize=7)
        fig.suptitle(f"{data.manifest['scenario']}: major-fault latency (pgmajfault), "
                     f"quantiles averaged over {_reps(data)} replications", fontsize=9)
    return fig


def timeseries_figure(data: SweepData, index: int, replication: int = 0) -> Figure:
    recs = [r for r in data.point_records(index)
            if r["replication"] == replication and r.get("result")]
    if not recs:
        raise ConfigError("--timeseries", str(index + 1),
                          f"point {index + 1} has no finished replication {replication}")
    res = recs[0]["result"]
    ts = res["timeseries"]
    page = int(res["config"]["hardware"]["memory"]["page_size"])
    t = np.asarray(ts["t_s"])
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(8, 6), layout="constrained")
        pool_ax, ratio_ax = fig.subplots(2, 1, sharex=True)
        pool_ax.plot(t, np.asarray(ts["pool_total_size"]) / MiB, label="pool_total_size")
        pool_ax.plot(t, np.asarray(ts["stored_pages"]) * page / MiB,
                     label="stored_pages × page size")
        limit = res["memory"].get("max_pool_bytes")
        if limit:
            pool_ax.axhline(limit / MiB, color="grey", linestyle="--",
                            label="max_pool_percent limit")
        pool_ax.set_ylabel("zswap pool (MiB)")
        pool_ax.legend(fontsize=8)
        ratio_ax.plot(t, ts["compression_ratio"], color="tab:green")
        ratio_ax.set_ylabel("compression ratio (stored / pool_total_size)")
        ratio_ax.set_xlabel("simulated time (s)")
        fig.suptitle(f"{data.manifest['scenario']}: {data.points[index]['label']}, "
                     f"replication {replication} (seed {recs[0]['seed']})", fontsize=9)
    return fig


def _point_index(data: SweepData, n: int, option: str) -> int:
    if not 1 <= n <= len(data.points):
        raise ConfigError(option, str(n), f"no such point (the sweep has 1-{len(data.points)})")
    return n - 1


def plot_sweep(
    data: SweepData,
    out_dir: str | Path | None = None,
    metrics: tuple[str, ...] | list[str] = (),
    x: str | None = None,
    cdf_points: tuple[int, ...] | list[int] = (),
    timeseries_point: int | None = None,
    formats: tuple[str, ...] = FORMATS,
) -> list[Path]:
    """Write every plot of a sweep; points are numbered from 1 as in the summary table."""
    if not data.summary:
        raise ConfigError(str(data.root), None, "no finished runs to plot yet")
    out = Path(out_dir) if out_dir else data.root / "plots"
    # Every option is checked before anything is drawn.
    metrics = tuple(resolve_metric(m) for m in metrics) or DEFAULT_METRICS
    xkey = resolve_param(data, x)
    xname = data.names.get(xkey, xkey)
    idx = ([_point_index(data, n, "--cdf-point") for n in cdf_points]
           or default_cdf_points(data, xkey))
    ts = _point_index(data, timeseries_point, "--timeseries") if timeseries_point else 0
    paths: list[Path] = []
    for m in metrics:
        paths += _save(metric_figure(data, m, xkey), out, f"{m}-vs-{xname}", formats)
    paths += _save(overview_figure(data, metrics, xkey), out, f"overview-vs-{xname}", formats)
    paths += _save(cdf_figure(data, idx), out, "fault-latency-cdf", formats)
    paths += _save(timeseries_figure(data, ts), out, f"timeseries-point{ts + 1}", formats)
    return paths
