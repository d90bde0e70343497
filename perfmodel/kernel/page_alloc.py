"""Page frames per node, zone watermarks and the allocator's fallback order."""

from __future__ import annotations

import math

import simpy

from perfmodel.hw.numa import Topology
from perfmodel.kernel.mempolicy import NumaStat


def default_min_free_kbytes(lowmem_kbytes: int) -> int:
    """init_per_zone_wmark_min(): int_sqrt(lowmem_kbytes * 16), clamped to [128, 262144]."""
    return max(128, min(262144, math.isqrt(lowmem_kbytes * 16)))


class NodeMem:
    __slots__ = ("id", "managed", "free", "low_free", "wmark_min", "wmark_low", "wmark_high",
                 "kswapd_wake")

    def __init__(self, nid: int, managed: int) -> None:
        self.id = nid
        self.managed = managed
        self.free = managed
        # The fewest pages free so far: frames below it were never handed out since boot.
        self.low_free = managed
        self.wmark_min = 0
        self.wmark_low = 0
        self.wmark_high = 0
        self.kswapd_wake: simpy.Event | None = None


class PageAllocator:
    """Frames only; the LRU and reclaim live elsewhere.

    The fast path (get_page_from_freelist() at the low watermark) takes a page
    from the first node of the zonelist above its low watermark and wakes no
    one: a node below low is passed over silently for the next. Only when every
    allowed node is below low does the slow path wake the kswapd of each
    (wake_all_kswapds()) and accept the min watermark; below that the caller
    must reclaim (__alloc_pages_slowpath()).
    """

    def __init__(
        self,
        env: simpy.Environment,
        topo: Topology,
        managed_pages: list[int],
        page_size: int,
        min_free_kbytes: int | None,
        watermark_scale_factor: int,
        fresh_frame_s: float = 0.0,
    ) -> None:
        self.env = env
        self.topo = topo
        self.nodes = [NodeMem(i, m) for i, m in enumerate(managed_pages)]
        total = sum(managed_pages)
        mfk = min_free_kbytes
        if mfk is None:
            mfk = default_min_free_kbytes(total * page_size // 1024)
        min_pages_total = mfk * 1024 // page_size
        for nd in self.nodes:
            # __setup_per_zone_wmarks(): min split by managed share; the gap to low and
            # high is max(min/4, managed * watermark_scale_factor / 10000).
            nd.wmark_min = min_pages_total * nd.managed // max(1, total)
            gap = max(nd.wmark_min // 4, nd.managed * watermark_scale_factor // 10000)
            nd.wmark_low = nd.wmark_min + gap
            nd.wmark_high = nd.wmark_min + 2 * gap
        self.kswapd_wakeups = 0
        self.stat = NumaStat(len(self.nodes))
        self._bound: dict[tuple[int, tuple[int, ...]], list[int]] = {}
        # Fired when pages under writeback complete, for throttled reclaimers.
        self.freed_event = env.event()
        # First use of a frame since boot (under a hypervisor, the host's own fault on
        # guest memory it has not backed yet). The buddy allocator hands recently freed,
        # cache-hot pages out first, so the frames used so far are the low-water mark.
        self.fresh_frame_s = fresh_frame_s
        self.fresh_frames = 0
        self._fresh_paid = 0

    def note_taken(self, nd: NodeMem) -> None:
        """After nd.free went down: count the frames used for the first time."""
        if nd.free < nd.low_free:
            self.fresh_frames += nd.low_free - nd.free
            nd.low_free = nd.free

    def fresh_cost_s(self) -> float:
        """CPU seconds for the first-time frames taken since the last call; the caller
        (whoever allocated them) pays."""
        n = self.fresh_frames - self._fresh_paid
        if not n:
            return 0.0
        self._fresh_paid = self.fresh_frames
        return n * self.fresh_frame_s

    def wake_kswapd(self, nid: int) -> None:
        """wakeup_kswapd(): a balanced node (free above high) is left asleep."""
        nd = self.nodes[nid]
        if nd.free > nd.wmark_high:
            return
        ev = nd.kswapd_wake
        if ev is not None and not ev.triggered:
            ev.succeed()
            self.kswapd_wakeups += 1

    def order(self, preferred: int, allowed: tuple[int, ...] | None) -> list[int]:
        """The preferred node's zonelist, filtered by a bind nodemask."""
        if allowed is None:
            return self.topo.fallback[preferred]
        key = (preferred, allowed)
        got = self._bound.get(key)
        if got is None:
            got = [n for n in self.topo.fallback[preferred] if n in allowed]
            self._bound[key] = got
        return got

    def alloc(
        self, preferred: int, cpu_node: int, allowed: tuple[int, ...] | None = None,
        interleave: bool = False,
    ) -> int:
        """Node of the page taken, or -1 when every allowed node is at its min watermark."""
        return self._alloc(preferred, cpu_node, allowed, interleave, memalloc=False)

    def alloc_memalloc(
        self, preferred: int, cpu_node: int, allowed: tuple[int, ...] | None = None,
        interleave: bool = False,
    ) -> int:
        """PF_MEMALLOC context (reclaim itself): the fast path first, as for anyone;
        then, with every node below low, ALLOC_NO_WATERMARKS down to the last page."""
        return self._alloc(preferred, cpu_node, allowed, interleave, memalloc=True)

    def _alloc(
        self, preferred: int, cpu_node: int, allowed: tuple[int, ...] | None,
        interleave: bool, memalloc: bool,
    ) -> int:
        order = self.order(preferred, allowed)
        nodes = self.nodes
        # get_page_from_freelist() at the low watermark: no one is woken.
        for nid in order:
            nd = nodes[nid]
            if nd.free > nd.wmark_low:
                nd.free -= 1
                if nd.free < nd.low_free:
                    self.note_taken(nd)
                self.stat.account(preferred, nid, cpu_node, interleave)
                return nid
        # The slow path wakes every kswapd and retries at min (or with no watermark).
        for nid in order:
            self.wake_kswapd(nid)
        for nid in order:
            nd = nodes[nid]
            if nd.free > (0 if memalloc else nd.wmark_min):
                nd.free -= 1
                self.note_taken(nd)
                self.stat.account(preferred, nid, cpu_node, interleave)
                return nid
        return -1

    def fallback_node(self, preferred: int) -> int:
        """The node a PF_MEMALLOC allocation preferring `preferred` takes its page from:
        the first of the zonelist above its low watermark, else the first with a page
        free (ALLOC_NO_WATERMARKS), else preferred. Nothing is taken."""
        order = self.topo.fallback[preferred]
        nodes = self.nodes
        for nid in order:
            if nodes[nid].free > nodes[nid].wmark_low:
                return nid
        for nid in order:
            if nodes[nid].free > 0:
                return nid
        return preferred

    def take(self, nid: int, n: int, cpu_node: int, preferred: int | None = None) -> bool:
        """n frames from one node, ignoring watermarks (zsmalloc under PF_MEMALLOC).

        preferred is the node the caller asked for, when nid is its fallback
        (fallback_node()): numastat counts the pages as misses there.
        """
        nd = self.nodes[nid]
        if nd.free < n:
            return False
        nd.free -= n
        self.note_taken(nd)
        pref = nid if preferred is None else preferred
        if nd.free < nd.wmark_low:
            # The last pages failed the fast path: the slow path wakes every kswapd.
            for k in self.topo.fallback[pref]:
                self.wake_kswapd(k)
        self.stat.account(pref, nid, cpu_node, False, n)
        return True

    def free(self, nid: int, n: int = 1) -> None:
        self.nodes[nid].free += n

    def signal_freed(self) -> None:
        ev = self.freed_event
        self.freed_event = self.env.event()
        ev.succeed()

    def below_high(self, nid: int) -> bool:
        nd = self.nodes[nid]
        return nd.free < nd.wmark_high
