"""Swap slot allocator (mm/swapfile.c): clusters keep write-out sequential, churn
fragments the free space, and slot locality is what cluster readahead relies on."""

from __future__ import annotations

import numpy as np
import pytest

from perfmodel.kernel.readahead import ClusterReadahead
from perfmodel.kernel.swap_slots import SWAPFILE_CLUSTER, SwapSlots


def test_per_cpu_clusters_keep_each_cpu_sequential() -> None:
    slots = SwapSlots(64 * SWAPFILE_CLUSTER, ncpus=2, rotational=False)
    got: dict[int, list[int]] = {0: [], 1: []}
    # Two CPUs reclaim page by page, interleaved.
    for i in range(4 * SWAPFILE_CLUSTER):
        for cpu in (0, 1):
            got[cpu].append(slots.alloc(cpu, 2 * i + cpu))
    for cpu, s in got.items():
        arr = np.array(s)
        # Whole clusters, each filled in order: the only jumps are between clusters.
        jumps = np.flatnonzero(np.diff(arr) != 1)
        assert len(jumps) == 3, cpu
        assert all(arr[j + 1] % SWAPFILE_CLUSTER == 0 for j in jumps)
        assert len(set(arr // SWAPFILE_CLUSTER)) == 4
    assert slots.mean_alloc_run() == SWAPFILE_CLUSTER
    assert slots.fragmentation() == 0.0
    # A rotational device has one cursor: the two CPUs share one sequential stream.
    rot = SwapSlots(64 * SWAPFILE_CLUSTER, ncpus=2, rotational=True)
    seq = [rot.alloc(i % 2, i) for i in range(1000)]
    assert seq == list(range(1000)) and rot.mean_alloc_run() == 1000


def test_fragmentation_grows_under_churn() -> None:
    n = 64 * SWAPFILE_CLUSTER
    slots = SwapSlots(n, ncpus=4, rotational=False)
    rng = np.random.default_rng(5)
    owner: dict[int, int] = {}
    for p in range(int(0.7 * n)):
        owner[slots.alloc(p % 4, p)] = p
    frag = [slots.fragmentation()]
    runs = []
    page = len(owner)
    for _ in range(6):
        a0, r0 = slots.nr_allocs, slots.alloc_runs
        # Free random slots and swap out as many new pages (as swap-ins and reclaim do).
        keys = np.fromiter(owner.keys(), dtype=np.int64)
        for victim in rng.choice(keys, n // 8, replace=False).tolist():
            del owner[victim]
            slots.free(victim)
        for _ in range(n // 8):
            page += 1
            s = slots.alloc(page % 4, page)
            assert s >= 0
            owner[s] = page
        frag.append(slots.fragmentation())
        runs.append((slots.nr_allocs - a0) / (slots.alloc_runs - r0))
    print("fragmentation:", " ".join(f"{f:.3f}" for f in frag))
    print("mean allocation run per round:", " ".join(f"{r:.1f}" for r in runs))
    assert frag[0] < 0.05
    assert all(b >= a - 0.02 for a, b in zip(frag, frag[1:], strict=False))
    assert frag[-1] > 0.9
    assert runs[0] > 30 and runs[-1] < 2.5
    # The books balance: used slots are exactly the live pages.
    assert slots.nr_used == len(owner) == int(slots.used.sum())
    assert all(slots.owner[s] == p for s, p in owner.items())


def window_owners(slots: SwapSlots, slot: int) -> list[int]:
    """Pages in the 8-slot window cluster readahead reads around slot (page-cluster 3)."""
    ra = ClusterReadahead()
    ra.hits = 6  # a warmed-up stream: the window is at its full 2^3 pages
    lo, hi = ra.window(slot, 3, slots.nslots)
    assert hi - lo == 8
    return [int(slots.owner[s]) for s in range(lo, hi)]


def test_sequential_writeout_fills_readahead_windows_with_one_process() -> None:
    """Two processes' pages reclaimed in 32-page batches (SWAP_CLUSTER_MAX) on an HDD:
    every aligned 8-slot window holds 8 consecutive pages of one process."""
    slots = SwapSlots(16 * SWAPFILE_CLUSTER, ncpus=2, rotational=True)
    a = list(range(0, 1024))
    b = list(range(5000, 6024))
    where: dict[int, int] = {}
    for i in range(0, 1024, 32):
        for cpu, proc in ((0, a), (1, b)):
            for p in proc[i : i + 32]:
                where[p] = slots.alloc(cpu, p)
    for p in a[::37] + b[::37]:
        w = window_owners(slots, where[p])
        assert w == list(range(w[0], w[0] + 8)), (p, w)
        assert (w[0] in a) == (p in a)
    # Page-by-page interleaving on one cursor (no batching) breaks that locality: each
    # window holds only 4 pages of the faulting process.
    mixed = SwapSlots(16 * SWAPFILE_CLUSTER, ncpus=2, rotational=True)
    where = {}
    for i in range(1024):
        for cpu, proc in ((0, a), (1, b)):
            where[proc[i]] = mixed.alloc(cpu, proc[i])
    same = [sum(q in a for q in window_owners(mixed, where[p])) for p in a[::37]]
    assert same == [4] * len(same)


def test_swap_full_and_fragmentation_bookkeeping() -> None:
    slots = SwapSlots(600, ncpus=1, rotational=False)
    got = [slots.alloc(0, i) for i in range(600)]
    assert got == list(range(600))
    assert slots.alloc(0, 999) == -1 and slots.vm_swap_full()
    for s in range(300):
        slots.free(s)
    assert not slots.vm_swap_full()
    # Cluster 0 (slots 0-255) is whole again; slots 256-299 are holes in cluster 1.
    assert slots.fragmentation() == pytest.approx(44 / 300)
    # A whole free cluster is taken before any hole, and filled from its start.
    assert [slots.alloc(0, 1000 + i) for i in range(3)] == [0, 1, 2]
    # Slots ahead of the cursor are not holes.
    assert slots.fragmentation() == pytest.approx(44 / 297)
