"""Per-page state for every workload page, as flat numpy arrays (struct page, PTE).

Numpy arrays let the workload mark runs of hits in one vectorised step.
"""

from __future__ import annotations

import numpy as np

# Where the page's data lives (the PTE's view).
UNTOUCHED = 0  # never faulted in: first touch allocates a zeroed page
RESIDENT = 1  # in RAM, on an LRU list (possibly a clean swap-cache page)
ZSWAP = 2  # swapped out, entry in zswap
DISK = 3  # swapped out, on the swap device
ZEROMAP = 4  # swapped out as a zero page (6.11+ swap zeromap)
WRITEBACK = 5  # swap-out write in flight; the frame is still held

STATE_NAMES = ("untouched", "resident", "zswap", "disk", "zeromap", "writeback")

# A resident page's copy in swap, kept while the page stays clean.
NO_BACKING = 0


class PageTable:
    __slots__ = (
        "n",
        "state",
        "node",
        "referenced",
        "pgref",
        "dirty",
        "backing",
        "readahead",
        "unmapped",
        "slot",
        "handle",
        "seq",
        "content",
        "csize",
        "proc",
    )

    def __init__(self, n: int) -> None:
        self.n = n
        self.state = np.zeros(n, dtype=np.int8)
        self.node = np.zeros(n, dtype=np.int8)
        self.referenced = np.zeros(n, dtype=np.bool_)
        # PG_referenced: seen referenced once by reclaim already.
        self.pgref = np.zeros(n, dtype=np.bool_)
        self.dirty = np.zeros(n, dtype=np.bool_)
        # ZSWAP or DISK when a clean copy survives in swap (non-exclusive load, disk read).
        self.backing = np.zeros(n, dtype=np.int8)
        # Brought in by swap readahead and not yet mapped: the next access is a minor fault.
        self.readahead = np.zeros(n, dtype=np.bool_)
        # A written folio left in the swap cache after its write: the next access is a
        # minor fault that swap_ra_hit does not count.
        self.unmapped = np.zeros(n, dtype=np.bool_)
        self.slot = np.full(n, -1, dtype=np.int64)
        self.handle = np.full(n, -1, dtype=np.int64)
        # Bumped whenever the page leaves an LRU list, so stale list entries can be skipped.
        self.seq = np.zeros(n, dtype=np.int64)
        self.content = np.zeros(n, dtype=np.int8)
        self.csize = np.zeros(n, dtype=np.int32)
        self.proc = np.zeros(n, dtype=np.int32)
