"""Model mechanisms against closed forms and conservation laws."""

from __future__ import annotations

import numpy as np
import pytest

from perfmodel import api
from perfmodel.kernel.page_alloc import default_min_free_kbytes
from perfmodel.kernel.readahead import VmaReadahead, swapin_nr_pages


def test_no_memory_pressure_no_swap(small_run):
    r = small_run("memory.ram=512MiB")
    for name in ("pswpout", "pswpin", "zswpout", "zswpin", "pgmajfault", "swap_ra"):
        assert r.vmstat[name] == 0, name
    assert r.debugfs["stored_pages"] == 0
    assert r.debugfs["pool_total_size"] == 0
    assert r.vmstat["pgfault"] == 96 * 256  # one first-touch fault per page


def test_uniform_random_fault_ratio_zswap_off(small_run):
    """Uniform access over F pages with R resident: P(fault) = 1 - R/F, in steady state.

    Measured over the second half of the access passes: right after the fill the
    resident set dips and refills for about a second, and a mean over time would
    weigh that dip by how slow its faults make it, not by its accesses."""
    r = small_run(
        "zswap.enabled=N",
        "vm.page-cluster=0",
        "workload.processes.0.pattern.kind=uniform",
        "workload.processes.0.passes=4",
        "workload.processes.0.content.zero=0.0",
        "workload.processes.0.content.incompressible=0.2",
    )
    ts = {k: np.asarray(v) for k, v in r.timeseries.items()}
    t = ts["t_s"]
    fill_end = r.workload["processes"][0]["passes"][0]["elapsed_s"]
    steady = t >= (fill_end + t[-1]) / 2
    assert steady.sum() >= 20
    # A page under writeback is off the LRU but its touch is no major fault either.
    resident = (ts["resident_pages"] + ts["writeback_pages"])[steady].mean()
    footprint = r.memory["footprint_bytes"] // 4096
    faults = np.diff(ts["pgmajfault"][steady][[0, -1]])[0]
    accesses = np.diff(ts["accesses"][steady][[0, -1]])[0]
    assert accesses > 10000
    assert faults / accesses == pytest.approx(1 - resident / footprint, rel=0.03)
    assert r.vmstat["zswpout"] == 0 and r.debugfs["stored_pages"] == 0


def test_counters_consistent(small_run):
    for hw in ("xeon-2s-nvme", "laptop-2vcpu-sata"):
        r = small_run("zswap.max_pool_percent=10", hardware=hw)
        d, v = r.debugfs, r.vmstat
        # Exclusive loads (6.9+): every load and writeback removes an entry.
        assert d["stored_pages"] <= v["zswpout"] - v["zswpin"] - v["zswpwb"]
        assert d["written_back_pages"] == v["zswpwb"]
        assert v["pswpout"] >= v["zswpwb"]
        assert v["swap_ra_hit"] <= v["swap_ra"]
        assert d["pool_total_size"] == v["nr_zspages"] * 4096
        # The pool may overshoot its limit by at most one zspage (8 pages).
        assert d["pool_total_size"] <= r.memory["max_pool_bytes"] + 8 * 4096
        loc = r.memory["pages_by_location"]
        assert loc["zswap"] == d["stored_pages"]
        assert sum(loc.values()) == r.memory["footprint_bytes"] // 4096
        assert d["pool_limit_hit"] > 0


def test_zero_pages_use_zeromap_on_612(small_run):
    r = small_run("workload.processes.0.content.zero=0.5",
                  "workload.processes.0.content.text=0.4")
    assert r.vmstat["swpout_zero"] > 0
    assert r.vmstat["swpin_zero"] > 0
    # Zero pages never become zswap entries in 6.11+.
    assert r.memory["pages_by_location"]["zeromap"] > 0


def test_same_filled_and_non_exclusive_loads_on_61(small_run):
    r = small_run('kernel.release="6.1"', "zswap.zpool=zsmalloc", "zswap.shrinker_enabled=null",
                  "workload.processes.0.content.zero=0.3",
                  "workload.processes.0.content.text=0.6")
    assert "reject_compress_fail" not in r.debugfs
    assert "same_filled_pages" in r.debugfs
    assert "zswpwb" not in r.vmstat and "swpout_zero" not in r.vmstat
    # Loads keep the entry: clean pages are dropped, not stored again.
    assert r.vmstat["zswpin"] > r.vmstat["zswpout"]


def test_zswap_disabled_sends_everything_to_the_device(small_run):
    r = small_run("zswap.enabled=N")
    assert r.vmstat["zswpout"] == 0 and r.vmstat["zswpin"] == 0
    assert r.debugfs["stored_pages"] == 0 and r.debugfs["pool_limit_hit"] == 0
    assert r.vmstat["pswpout"] > 0 and r.vmstat["pswpin"] > 0


def test_sequential_readahead_window_is_full(small_run):
    """Sequential swap-in with page-cluster 3: each major fault brings 7 more pages."""
    r = small_run("zswap.enabled=N", "workload.processes.0.content.zero=0.0",
                  "workload.processes.0.content.text=0.9")
    per_fault = r.vmstat["swap_ra"] / r.vmstat["pgmajfault"]
    assert per_fault == pytest.approx(7.0, rel=0.05)
    assert r.vmstat["swap_ra_hit"] / r.vmstat["swap_ra"] > 0.95


def test_swapin_nr_pages_matches_kernel_heuristic():
    # No hits and a non-adjacent offset: no readahead.
    assert swapin_nr_pages(100, 200, 0, 8, 0) == 1
    # Adjacent: 2 pages; hits round up to a power of two, capped by max.
    assert swapin_nr_pages(100, 101, 0, 8, 0) == 2
    assert swapin_nr_pages(100, 300, 3, 8, 0) == 8
    assert swapin_nr_pages(100, 300, 1, 8, 0) == 4
    assert swapin_nr_pages(100, 300, 10, 8, 0) == 8
    # The window shrinks by at most half at a time.
    assert swapin_nr_pages(100, 300, 0, 8, 8) == 4
    ra = VmaReadahead()
    ra.prev = 10
    lo, hi = ra.window(11, 0, 1000, 3)
    assert (lo, hi) == (11, 13)


def test_min_free_kbytes_formula():
    # 16 GiB of lowmem: int_sqrt(16 GiB in kB * 16) = 16384 kB.
    assert default_min_free_kbytes(16 * 1024 * 1024) == 16384
    assert default_min_free_kbytes(1024) == 128
    assert default_min_free_kbytes(1 << 40) == 262144


def test_pool_limit_and_writeback(small_run):
    # Written back entries need the shrink worker past the second-chance rotations:
    # a small pool with read passes makes it write back.
    r = small_run("zswap.max_pool_percent=5", "workload.processes.0.passes=4")
    assert r.debugfs["pool_limit_hit"] > 0
    assert r.debugfs["pool_total_size"] <= r.memory["max_pool_bytes"] + 8 * 4096


def test_same_seed_same_result_different_seed_differs(small_run):
    a = small_run(seed=5).to_json()
    b = small_run(seed=5).to_json()
    c = small_run(seed=6).to_json()
    assert a == b
    assert a != c


def test_memcg_limit_charges_the_pool():
    """Under memory.max the zswap pool is charged, so usage never exceeds the limit."""
    r = api.run("parallel-build", "laptop-2vcpu-sata", [
        "workload.processes.0.repeat=1", "workload.processes.1.repeat=1",
        "memory.cgroup.max=400MiB",
    ])
    assert r.memory["memcg_usage_bytes"] <= 400 * 1024 * 1024
    assert r.vmstat["zswpout"] > 0
