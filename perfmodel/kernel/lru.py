"""Anonymous-page LRU per node: the classic active/inactive pair (mm/vmscan.c).

New anon pages enter the inactive list (5.9+). Reclaim scans the inactive
tail: a referenced page is activated, an unreferenced one is reclaimed.
When the inactive list is small next to the active list, the active tail is
deactivated (anon pages are moved regardless of their referenced bit).
Lists are deques with lazy deletion: an entry is (seq << 32 | page), and an
entry whose seq no longer matches the page's is skipped.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from perfmodel.kernel.pages import PageTable

_SHIFT = 32
_MASK = (1 << _SHIFT) - 1


class NodeLRU:
    __slots__ = (
        "inactive", "active", "nr_inactive", "nr_active", "_seq_np", "_pt_seq", "_on_active_np",
        "_on_active",
    )

    def __init__(self, pt: PageTable, on_active: np.ndarray) -> None:
        self.inactive: deque[int] = deque()
        self.active: deque[int] = deque()
        self.nr_inactive = 0
        self.nr_active = 0
        self._seq_np = pt.seq
        self._pt_seq = memoryview(pt.seq)
        self._on_active_np = on_active
        self._on_active = memoryview(on_active)

    def add_inactive_batch(self, pages: np.ndarray) -> None:
        """Many new pages at once, in order (a populate fast path)."""
        entries = (self._seq_np[pages] << _SHIFT) | pages
        self.inactive.extend(entries.tolist())
        self._on_active_np[pages] = False
        self.nr_inactive += len(pages)

    def add_inactive(self, page: int) -> None:
        self.inactive.append((self._pt_seq[page] << _SHIFT) | page)
        self._on_active[page] = False
        self.nr_inactive += 1

    def add_inactive_tail(self, page: int) -> None:
        """folio_rotate_reclaimable(): next in line for reclaim."""
        self.inactive.appendleft((self._pt_seq[page] << _SHIFT) | page)
        self._on_active[page] = False
        self.nr_inactive += 1

    def add_active(self, page: int) -> None:
        self.active.append((self._pt_seq[page] << _SHIFT) | page)
        self._on_active[page] = True
        self.nr_active += 1

    def remove(self, page: int) -> None:
        """The page leaves the LRU (freed or reclaimed); its list entry goes stale."""
        self._pt_seq[page] += 1
        if self._on_active[page]:
            self.nr_active -= 1
        else:
            self.nr_inactive -= 1

    def pop_inactive(self) -> int:
        """Oldest live inactive page, or -1 when the list is empty."""
        seq = self._pt_seq
        dq = self.inactive
        while dq:
            e = dq.popleft()
            page = e & _MASK
            if seq[page] == e >> _SHIFT and not self._on_active[page]:
                seq[page] += 1
                self.nr_inactive -= 1
                return page
        return -1

    def pop_active(self) -> int:
        seq = self._pt_seq
        dq = self.active
        while dq:
            e = dq.popleft()
            page = e & _MASK
            if seq[page] == e >> _SHIFT and self._on_active[page]:
                seq[page] += 1
                self.nr_active -= 1
                return page
        return -1

    def inactive_is_low(self) -> bool:
        """inactive_is_low(): inactive * ratio < active, ratio = sqrt(10 * GiB of the lists)."""
        total = self.nr_active + self.nr_inactive
        gb = (total * 4096) >> 30
        ratio = int(math.isqrt(10 * gb)) if gb else 1
        return self.nr_inactive * ratio < self.nr_active

    @property
    def size(self) -> int:
        return self.nr_active + self.nr_inactive
