"""Swap slot allocation (mm/swapfile.c): per-CPU clusters on SSDs, one cursor on HDDs."""

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
        self.cur_next = [0] * ncur
        self.nr_used = 0
        self._scan_from = 0

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
        self.cur_cluster[k] = c
        self.cur_next[k] = s + 1
        self.nr_used += 1
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

    def vm_swap_full(self) -> bool:
        """vm_swap_full(): more than half of swap in use."""
        return self.nr_used * 2 > self.nslots
