"""do_shrink_slab() (mm/shrinker.c): how much work one shrink_slab() call asks of a shrinker.

The scan target is (nr_deferred >> priority) + (freeable >> priority) * 4 / seeks, capped
at twice the freeable count; it is done in batches of 128 (or at once when it covers every
freeable object), and what is left over is deferred to the next call, capped at twice the
freeable count. At DEF_PRIORITY a shrinker with fewer than 2^12 / 2 objects to free is
asked for nothing, and its deferred count barely matters: lower priorities, as kswapd
reaches them, are what make shrinkers work.
"""

from __future__ import annotations

from collections.abc import Callable

SHRINK_BATCH = 128
DEFAULT_SEEKS = 2
DEF_PRIORITY = 12


def fls(x: int) -> int:
    """fls_long(): the 1-based index of the highest set bit, 0 for 0."""
    return x.bit_length()


def kswapd_priority(reclaimable: int, nr_to_reclaim: int) -> int:
    """The priority kswapd reclaims at: set_initial_priority() of the multi-gen LRU, the
    level where (reclaimable >> priority) covers nr_to_reclaim, clamped to [6, 12] (the
    6.8 "fix overshooting shrinker memory" cap). The classic LRU's balance_pgdat() walks
    down from 12 and stops near the same level, for the same reason."""
    priority = fls(reclaimable) - 1 - fls(max(1, nr_to_reclaim) - 1)
    return max(DEF_PRIORITY // 2, min(DEF_PRIORITY, priority))


class SlabShrinker:
    """One registered shrinker's deferred work, per node when it is NUMA aware."""

    __slots__ = ("nr_deferred", "seeks", "batch")

    def __init__(self, nodes: int = 1, seeks: int = DEFAULT_SEEKS, batch: int = SHRINK_BATCH):
        self.nr_deferred = [0] * nodes
        self.seeks = seeks
        self.batch = batch

    def shrink(self, freeable: int, priority: int, scan: Callable[[int], int | None],
               nid: int = 0) -> int:
        """One do_shrink_slab() call. scan(nr_to_scan) returns the objects it freed, or
        None for SHRINK_STOP. Returns the objects scanned."""
        if freeable <= 0:
            return 0
        nr = self.nr_deferred[nid]
        self.nr_deferred[nid] = 0
        delta = (freeable >> priority) * 4 // self.seeks if self.seeks else freeable // 2
        total_scan = min((nr >> priority) + delta, 2 * freeable)
        scanned = 0
        while total_scan >= self.batch or total_scan >= freeable:
            nr_to_scan = min(self.batch, total_scan)
            if scan(nr_to_scan) is None:
                break
            total_scan -= nr_to_scan
            scanned += nr_to_scan
        self.nr_deferred[nid] += min(max(nr + delta - scanned, 0), 2 * freeable)
        return scanned
