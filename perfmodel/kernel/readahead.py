"""Swap readahead window (mm/swap_state.c): VMA-based on SSDs, cluster-based on HDDs."""

from __future__ import annotations

SWAP_RA_HITS_MAX = 63  # SWAP_RA_HITS_MASK with 4 KiB pages
PMD_PAGES = 512


def swapin_nr_pages(prev_offset: int, offset: int, hits: int, max_pages: int, prev_win: int) -> int:
    """__swapin_nr_pages(): the kernel's adaptive window ("+ 2" heuristic included)."""
    pages = hits + 2
    if pages == 2:
        if offset != prev_offset + 1 and offset != prev_offset - 1:
            pages = 1
    else:
        roundup = 4
        while roundup < pages:
            roundup <<= 1
        pages = roundup
    if pages > max_pages:
        pages = max_pages
    last_ra = prev_win // 2
    if pages < last_ra:
        pages = last_ra
    return pages


class VmaReadahead:
    """Per-VMA state (vma->swap_readahead_info): last fault address, window, hits."""

    __slots__ = ("prev", "win", "hits")

    def __init__(self) -> None:
        self.prev = -10
        self.win = 1
        self.hits = 0

    def window(self, fpfn: int, vm_start: int, vm_end: int, page_cluster: int) -> tuple[int, int]:
        """[start, end) of virtual page numbers to read around fpfn (swap_vma_ra_win)."""
        max_win = 1 << min(page_cluster, 5)  # SWAP_RA_ORDER_CEILING
        if max_win == 1:
            return fpfn, fpfn + 1
        win = swapin_nr_pages(self.prev, fpfn, self.hits, max_win, self.win)
        pfn = self.prev
        self.prev, self.win, self.hits = fpfn, win, 0
        if win == 1:
            return fpfn, fpfn + 1
        if fpfn == pfn + 1:
            lpfn, rpfn = fpfn, fpfn + win
        elif pfn == fpfn + 1:
            lpfn, rpfn = fpfn - win + 1, fpfn + 1
        else:
            left = (win - 1) // 2
            lpfn, rpfn = fpfn - left, fpfn + win - left
        pmd = fpfn - fpfn % PMD_PAGES
        return max(lpfn, vm_start, pmd), min(rpfn, vm_end, pmd + PMD_PAGES)

    def hit(self, pfn: int, n: int) -> None:
        """swap_cache_get_folio() on a readahead page: count hits, move the address."""
        self.hits = min(self.hits + n, SWAP_RA_HITS_MAX)
        self.prev = pfn


class ClusterReadahead:
    """Global state for swap_cluster_readahead() on rotational swap."""

    __slots__ = ("prev_offset", "last_pages", "hits")

    def __init__(self) -> None:
        self.prev_offset = -10
        self.last_pages = 0
        self.hits = 0

    def window(self, offset: int, page_cluster: int, nslots: int) -> tuple[int, int]:
        max_pages = 1 << page_cluster
        if max_pages <= 1:
            return offset, offset + 1
        hits, self.hits = self.hits, 0
        pages = swapin_nr_pages(self.prev_offset, offset, hits, max_pages, self.last_pages)
        if not hits:
            self.prev_offset = offset
        self.last_pages = pages
        mask = pages - 1
        if not mask:
            return offset, offset + 1
        return offset & ~mask, min((offset | mask) + 1, nslots)
