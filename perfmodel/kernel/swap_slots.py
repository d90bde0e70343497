"""Swap slot allocation (mm/swapfile.c): per-CPU clusters on SSDs, one cursor on HDDs.

Fragmentation is measured two ways. fragmentation(): the share of free slots that sit
in partly used clusters, other than ahead of a cursor (a cursor only moves to wholly
free clusters, so these holes are what allocation falls back to once those run out).
mean_alloc_run(): the mean run of consecutive slots one cursor hands out (a write-out
batch merges into requests no longer than its runs).
"""

from __future__ import annotations

from collections import deque

import numpy as np

SWAPFILE_CLUSTER = 256


class SwapSlots:
    """Each CPU fills its own 256-slot cluster, so one CPU's write-out is sequential.

    Rotational devices share one cluster cursor (the kernel scans from
    cluster_next), which keeps their writes sequential across CPUs too.
    """

    def __init__(self, nslots: int, ncpus: int, rotational: bool) -> None:
        self.nslots = nslots
        self.used = np.zeros(nslots, dtype=np.bool_)
        self._used = memoryview(self.used)
        self.owner = np.full(nslots, -1, dtype=np.int64)
        self._owner = memoryview(self.owner)
        self.nclusters = (nslots + SWAPFILE_CLUSTER - 1) // SWAPFILE_CLUSTER
        self.cluster_used = [0] * self.nclusters
        self.free_clusters: deque[int] = deque(range(self.nclusters))
        self.is_free_cluster = [True] * self.nclusters
        ncur = 1 if rotational else ncpus
        self.rotational = rotational
        self.cur_cluster = [-1] * ncur
        # Slot after the cursor's last allocation (-1: none yet, so the first starts a run).
        self.cur_next = [-1] * ncur
        self.nr_used = 0
        self._scan_from = 0
        # Allocations, and how many of them did not follow their cursor's previous slot.
        self.nr_allocs = 0
        self.alloc_runs = 0

    def _cluster_size(self, c: int) -> int:
        return min(SWAPFILE_CLUSTER, self.nslots - c * SWAPFILE_CLUSTER)

    def alloc(self, cpu: int, page: int) -> int:
        """A free slot for page, or -1 when swap is full."""
        if self.nr_used >= self.nslots:
            return -1
        k = 0 if self.rotational else cpu
        c = self.cur_cluster[k]
        used = self._used
        if c >= 0:
            end = c * SWAPFILE_CLUSTER + self._cluster_size(c)
            s = self.cur_next[k]
            while s < end and used[s]:
                s += 1
            if s < end:
                return self._take(k, c, s, page)
        # New cluster: a wholly free one first, else scan for a partly used one.
        c = -1
        while self.free_clusters:
            cand = self.free_clusters.popleft()
            if self.is_free_cluster[cand] and self.cluster_used[cand] == 0:
                c = cand
                break
        if c >= 0:
            self.is_free_cluster[c] = False
            return self._take(k, c, c * SWAPFILE_CLUSTER, page)
        # Fragmented: search from a moving cursor with numpy.
        for start, stop in ((self._scan_from, self.nslots), (0, self._scan_from)):
            if stop <= start:
                continue
            free = np.flatnonzero(~self.used[start:stop])
            if free.size:
                s = int(start + free[0])
                c = s // SWAPFILE_CLUSTER
                self._scan_from = s + 1 if s + 1 < self.nslots else 0
                return self._take(k, c, s, page)
        return -1

    def _take(self, k: int, c: int, s: int, page: int) -> int:
        self._used[s] = True
        self._owner[s] = page
        self.cluster_used[c] += 1
        old = self.cur_cluster[k]
        if old != c:
            self.cur_cluster[k] = c
            # A cluster emptied while it was current missed free()'s hand-back: do it now.
            if (
                old >= 0
                and self.cluster_used[old] == 0
                and not self.is_free_cluster[old]
                and old not in self.cur_cluster
            ):
                self.is_free_cluster[old] = True
                self.free_clusters.append(old)
        if s != self.cur_next[k]:
            self.alloc_runs += 1
        self.cur_next[k] = s + 1
        self.nr_used += 1
        self.nr_allocs += 1
        return s

    def free(self, slot: int) -> None:
        self._used[slot] = False
        self._owner[slot] = -1
        c = slot // SWAPFILE_CLUSTER
        self.cluster_used[c] -= 1
        self.nr_used -= 1
        if self.cluster_used[c] == 0 and c not in self.cur_cluster and not self.is_free_cluster[c]:
            self.is_free_cluster[c] = True
            self.free_clusters.append(c)

    def fragmentation(self) -> float:
        """Share of free slots in partly used clusters that no cursor is filling (0: all
        free space is in wholly free clusters or ahead of a cursor; 1: none is)."""
        free = self.nslots - self.nr_used
        if free <= 0:
            return 0.0
        clean = sum(self._cluster_size(c) for c, n in enumerate(self.cluster_used) if n == 0)
        for k, c in enumerate(self.cur_cluster):
            if c >= 0 and self.cluster_used[c] and c not in self.cur_cluster[:k]:
                end = c * SWAPFILE_CLUSTER + self._cluster_size(c)
                nxt = max(self.cur_next[k], c * SWAPFILE_CLUSTER)
                clean += end - nxt - int(self.used[nxt:end].sum())
        return (free - clean) / free

    def mean_alloc_run(self) -> float:
        """Mean run of consecutive slots per cursor over all allocations so far."""
        return self.nr_allocs / self.alloc_runs if self.alloc_runs else 0.0

    def vm_swap_full(self) -> bool:
        """vm_swap_full(): more than half of swap in use."""
        return self.nr_used * 2 > self.nslots
