"""Sweep plots: the files exist, are non-empty and carry the expected axis labels."""

from __future__ import annotations

import copy
import io
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.collections import PolyCollection
from sizes import TINY

from perfmodel.errors import ConfigError
from perfmodel.sweep.engine import SweepData, load_sweep, run_sweep
from perfmodel.sweep.plot import (
    _cdf,
    cdf_figure,
    metric_figure,
    overview_figure,
    plot_sweep,
    timeseries_figure,
)
from perfmodel.sweep.spec import build_spec

ROOT = Path(__file__).resolve().parents[1]
X_LABEL = "zswap.max_pool_percent (% of RAM)"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> SweepData:
    out = tmp_path_factory.mktemp("plot") / "s"
    spec = build_spec(vary=["zswap.max_pool_percent=5,10,20", "zswap.compressor=lz4,zstd"],
                      sets=TINY, replications=2).spec
    run_sweep(spec, out, "local", workers=2, stream=io.StringIO())
    return load_sweep(out)


def test_metric_figure_has_labels_lines_and_bands(sweep: SweepData) -> None:
    fig = metric_figure(sweep, "p99_fault_latency_us", "zswap.max_pool_percent")
    (ax,) = fig.axes
    assert ax.get_xlabel() == X_LABEL
    assert ax.get_ylabel() == "p99 major-fault latency (µs)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["compressor=lz4", "compressor=zstd"]  # one line per compressor
    assert [list(line.get_xdata()) for line in ax.get_lines()] == [[5, 10, 20]] * 2
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2  # CI bands


def test_lines_per_profile_when_compressor_is_on_x(sweep: SweepData) -> None:
    fig = metric_figure(sweep, "memory_saved_fraction", "zswap.compressor")
    (ax,) = fig.axes
    assert ax.get_xlabel() == "zswap.compressor"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["lz4", "zstd"]
    assert ax.get_ylabel() == "memory saved (fraction of the footprint)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "max_pool_percent=5", "max_pool_percent=10", "max_pool_percent=20"]


def test_other_figures_labels(sweep: SweepData) -> None:
    fig = overview_figure(sweep, ("throughput_mbps", "zswpwb"), "zswap.max_pool_percent")
    assert [a.get_ylabel() for a in fig.axes[:2]] == [
        "workload throughput (MB/s)", "zswpwb (pages written back)"]
    cdf = cdf_figure(sweep, [0, 5])
    assert [a.get_xlabel() for a in cdf.axes] == ["major-fault latency (µs)"] * 2
    assert cdf.axes[0].get_ylabel() == "fraction of major faults ≤ latency (CDF)"
    assert len(cdf.axes[0].get_lines()) == 2
    ts = timeseries_figure(sweep, 1)
    assert [a.get_ylabel() for a in ts.axes] == [
        "zswap pool (MiB)", "compression ratio (stored / pool_total_size)"]
    assert ts.axes[1].get_xlabel() == "simulated time (s)"


def test_cdf_falls_back_to_the_result_percentiles(sweep: SweepData) -> None:
    data = copy.deepcopy(sweep)
    for rec in data.records.values():
        rec["fault_latency_cdf"] = None
    us, ps, full = _cdf(data, 0)
    assert not full and list(ps) == [0.5, 0.9, 0.99, 0.999]
    p99 = [r["result"]["latency"]["fault"]["p99_us"] for r in data.point_records(0)]
    assert us[2] == pytest.approx(sum(p99) / len(p99))
    us, ps, full = _cdf(sweep, 0)
    assert full and ps[0] == 0.0 and ps[-1] == 1.0 and list(us) == sorted(us)


def test_plot_sweep_writes_png_and_svg(sweep: SweepData, tmp_path: Path) -> None:
    paths = plot_sweep(sweep, tmp_path, metrics=["p99_fault_latency_us", "throughput_mbps"])
    names = sorted(p.name for p in paths)
    stems = ["fault-latency-cdf", "overview-vs-max_pool_percent",
             "p99_fault_latency_us-vs-max_pool_percent", "throughput_mbps-vs-max_pool_percent",
             "timeseries-point1"]
    assert names == sorted(f"{s}.{f}" for s in stems for f in ("png", "svg"))
    for p in paths:
        data = p.read_bytes()
        assert len(data) > 1000, p
        if p.suffix == ".png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n")
    svg = {s: (tmp_path / f"{s}.svg").read_text() for s in stems}
    # text stays text in the SVG, so the labels can be read back
    assert X_LABEL in svg["p99_fault_latency_us-vs-max_pool_percent"]
    assert "p99 major-fault latency (µs)" in svg["p99_fault_latency_us-vs-max_pool_percent"]
    assert "workload throughput (MB/s)" in svg["overview-vs-max_pool_percent"]
    assert "major-fault latency (µs)" in svg["fault-latency-cdf"]
    assert "zswap pool (MiB)" in svg["timeseries-point1"]
    assert "simulated time (s)" in svg["timeseries-point1"]


@pytest.mark.parametrize("kw, message", [
    ({"metrics": ["p99"]}, "--metric: p99: unknown metric (known: throughput_mbps,"),
    ({"x": "zpool"}, "--x: zpool: not a swept key of "),
    ({"timeseries_point": 9}, "--timeseries: 9: no such point (the sweep has 1-6)"),
    ({"cdf_points": [0]}, "--cdf-point: 0: no such point (the sweep has 1-6)"),
])
def test_bad_plot_options(sweep: SweepData, tmp_path: Path, kw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        plot_sweep(sweep, tmp_path, **kw)
    assert str(e.value).startswith(message)


def test_cli_plot(sweep: SweepData, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "perfmodel.cli", "plot", str(sweep.root), "--metric", "zswpout",
         "--x", "compressor", "--cdf-point", "2", "--timeseries", "3", "--format", "svg",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"wrote {tmp_path}/{s}.svg" for s in
        ("zswpout-vs-compressor", "overview-vs-compressor", "fault-latency-cdf",
         "timeseries-point3")]
    bad = subprocess.run([sys.executable, "-m", "perfmodel.cli", "plot", str(tmp_path)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 2
    assert bad.stderr == f"perfmodel: error: {tmp_path}: not a sweep directory (no sweep.json)\n"
