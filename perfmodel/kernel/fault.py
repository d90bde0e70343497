"""Page faults on workload pages: first touch, swap-cache hits and swap-in (do_swap_page)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from perfmodel.kernel.counters import Counters
from perfmodel.kernel.era import KernelEra
from perfmodel.kernel.lru import NodeLRU
from perfmodel.kernel.mempolicy import LOCAL, Mempolicy
from perfmodel.kernel.pages import (
    DISK,
    NO_BACKING,
    RESIDENT,
    UNTOUCHED,
    WRITEBACK,
    ZEROMAP,
    ZSWAP,
    PageTable,
)
from perfmodel.kernel.readahead import ClusterReadahead, VmaReadahead
from perfmodel.kernel.reclaim import Reclaim
from perfmodel.kernel.sched import Task
from perfmodel.kernel.swap_io import SwapIO
from perfmodel.kernel.swap_slots import SwapSlots
from perfmodel.kernel.zswap import Zswap

_SWAPPED = (ZSWAP, DISK, ZEROMAP)


class VMA:
    """One process's anonymous mapping: pages [start, end) of the page table."""

    __slots__ = ("start", "end", "ra", "policy")

    def __init__(self, start: int, end: int, policy: Mempolicy = LOCAL) -> None:
        self.start = start
        self.end = end
        self.ra = VmaReadahead()
        self.policy = policy


class FaultHandler:
    def __init__(
        self,
        env: simpy.Environment,
        era: KernelEra,
        pt: PageTable,
        lrus: list[NodeLRU],
        reclaim: Reclaim,
        zswap: Zswap,
        slots: SwapSlots,
        swapio: SwapIO,
        counters: Counters,
        page_cluster: int,
        vma_readahead: bool,
        fault_s: float,
        zero_fill_s: float,
        swapin_s: float = 0.0,
        swapcache_hit_s: float = 0.0,
        majfault_s: float = 0.0,
    ) -> None:
        self.env = env
        self.era = era
        self.pt = pt
        self.lrus = lrus
        self.reclaim = reclaim
        self.zswap = zswap
        self.slots = slots
        self.swapio = swapio
        self.c = counters
        self.page_cluster = page_cluster
        self.vma_readahead = vma_readahead
        self.cluster_ra = ClusterReadahead()
        self.fault_s = fault_s
        self.zero_fill_s = zero_fill_s
        self.swapin_s = swapin_s
        # A swap-in fault's own work beyond a first-touch fault, once per major fault.
        self.majfault_s = majfault_s
        self.swapcache_hit_s = swapcache_hit_s
        # A readahead hit: the minor fault that maps the page from the swap cache.
        self.ra_hit_s = fault_s + swapcache_hit_s
        self._state = memoryview(pt.state)
        self._node = memoryview(pt.node)
        self._ref = memoryview(pt.referenced)
        self._dirty = memoryview(pt.dirty)
        self._backing = memoryview(pt.backing)
        self._ra = memoryview(pt.readahead)
        self._unmapped = memoryview(pt.unmapped)
        self._slot = memoryview(pt.slot)
        self.fault_latencies: list[float] = []

    def fault(self, task: Task, vma: VMA, page: int, write: bool) -> Generator[simpy.Event, Any, None]:
        state = self._state[page]
        t0 = task.now
        self.c.pgfault += 1
        task.pending += self.fault_s
        if state == UNTOUCHED:
            pref, allowed, il = vma.policy.target(task.node, page - vma.start)
            nid = yield from self.reclaim.alloc_page(task, pref, allowed, il)
            task.pending += self.zero_fill_s + self.reclaim.alloc.fresh_cost_s()
            self._map_new(page, nid, dirty=True)
            return
        if state == WRITEBACK:
            # Swap-cache hit on a page being written out: it keeps its frame and swap copy.
            task.pending += self.swapcache_hit_s
            nid = self.swapio.rescue(page)
            self._node[page] = nid
            self._backing[page] = DISK
            self._dirty[page] = False
            self._ref[page] = True
            self.lrus[nid].add_inactive(page)
            if write:
                self.drop_swap(page)
            return
        if state in _SWAPPED:
            self.c.pgmajfault += 1
            task.pending += self.majfault_s
            yield from self._swapin(task, vma, page, write)
            while self._state[page] in _SWAPPED:
                # Reclaimed again while we slept on the read: fault it in again.
                yield from self._swapin(task, vma, page, write)
            self.fault_latencies.append(task.now - t0)
            return
        # RESIDENT: another thread brought it in meanwhile (or a readahead hit).
        if self._ra[page]:
            self._ra[page] = False
            self.c.swap_ra_hit += 1
            task.pending += self.swapcache_hit_s
        elif self._unmapped[page]:
            self._unmapped[page] = False
            task.pending += self.swapcache_hit_s
        self._ref[page] = True
        if write:
            self.drop_swap(page)

    def populate(self, task: Task, vma: VMA, pages: np.ndarray) -> int:
        """First touch of a run of distinct untouched pages, while the allocator's fast
        path and the memcg allow it, in one vectorised step. Returns how many were mapped."""
        if vma.policy.interleaved:
            return 0  # each page has its own node: take the one-by-one path
        alloc = self.reclaim.alloc
        memcg = self.reclaim.memcg
        room = memcg.max - memcg.usage
        pref, allowed, _ = vma.policy.target(task.node, 0)
        for nid in alloc.order(pref, allowed):
            nd = alloc.nodes[nid]
            n = min(len(pages), nd.free - nd.wmark_low - 1, room)
            if n > 0:
                break
        else:
            return 0
        run = pages[:n]
        nd.free -= n
        alloc.note_taken(nd)
        if nd.free <= nd.wmark_low:
            alloc.wake_kswapd(nid)
        memcg.pages += n
        alloc.stat.account(pref, nid, task.node, False, int(n))
        pt = self.pt
        pt.state[run] = RESIDENT
        pt.node[run] = nid
        pt.dirty[run] = True
        pt.referenced[run] = True
        pt.backing[run] = NO_BACKING
        self.lrus[nid].add_inactive_batch(run)
        self.c.pgfault += n
        task.pending += n * (self.fault_s + self.zero_fill_s) + alloc.fresh_cost_s()
        return int(n)

    def _map_new(self, page: int, nid: int, dirty: bool) -> None:
        self._state[page] = RESIDENT
        self._node[page] = nid
        self._dirty[page] = dirty
        self._ref[page] = True
        self._backing[page] = NO_BACKING
        self.lrus[nid].add_inactive(page)

    def drop_swap(self, page: int) -> None:
        """A write makes the swap copy stale: free the slot, zswap entry and zeromap bit."""
        if self._state[page] != RESIDENT:
            return
        self._dirty[page] = True
        self._backing[page] = NO_BACKING
        slot = self._slot[page]
        if slot >= 0:
            self.zswap.invalidate(page)
            if self.swapio.slot_busy(slot):
                # folio_free_swap() fails under writeback: the page keeps its slot
                # and is written there again when next reclaimed.
                return
            self.slots.free(slot)
            self._slot[page] = -1

    def _window(self, vma: VMA, page: int) -> list[int]:
        """Other swapped-out pages read together with page."""
        if self.vma_readahead:
            lo, hi = vma.ra.window(page, vma.start, vma.end, self.page_cluster)
            state = self._state
            return [p for p in range(lo, hi) if p != page and state[p] in _SWAPPED]
        slot = self._slot[page]
        lo, hi = self.cluster_ra.window(slot, self.page_cluster, self.slots.nslots)
        owner = self.slots._owner
        state = self._state
        out = []
        for s in range(lo, hi):
            p = owner[s]
            if p >= 0 and p != page and state[p] in _SWAPPED:
                out.append(p)
        return out

    def _swapin(self, task: Task, vma: VMA, page: int, write: bool) -> Generator[simpy.Event, Any, None]:
        """swapin_readahead() then swap_read_folio() for the target and its window."""
        ra_pages = self._window(vma, page) if self.page_cluster else []
        policy = vma.policy
        # alloc_page_vma(): the VMA's policy, interleaved by page offset.
        pref, allowed, il = policy.target(task.node, page - vma.start)
        nid = yield from self.reclaim.alloc_page(task, pref, allowed, il)
        if self._state[page] not in _SWAPPED:
            # Brought in by someone else while we reclaimed.
            self.reclaim.alloc.free(nid)
            self.reclaim.memcg.pages -= 1
            self._ref[page] = True
            return
        disk: list[int] = []
        self._read_one(task, page, nid, disk)
        self._ref[page] = True
        alloc = self.reclaim.alloc
        for p in ra_pages:
            if self._state[p] not in _SWAPPED:
                continue
            # Readahead allocations do not enter direct reclaim here; a failure ends it.
            pref, allowed, il = policy.target(task.node, p - vma.start)
            rnid = alloc.alloc(pref, task.node, allowed, il)
            if rnid < 0:
                break
            self.reclaim.memcg.pages += 1
            self._read_one(task, p, rnid, disk)
            self._ref[p] = False
            self._ra[p] = True
            self.c.swap_ra += 1
        task.pending += alloc.fresh_cost_s()
        if disk:
            yield from self._read_disk(task, page, disk)
        if write or self.slots.vm_swap_full():
            self.drop_swap(page)

    def _read_one(self, task: Task, p: int, nid: int, disk: list[int]) -> None:
        state = self._state[p]
        self._node[p] = nid
        # Swap cache insertion, swap_read_folio() dispatch and the swap entry's upkeep.
        task.pending += self.swapin_s
        if state == ZSWAP:
            task.pending += self.zswap.load(p, task.now, task.node)
            if self.zswap.has_entry(p):
                self._backing[p] = ZSWAP
                self._dirty[p] = False
            else:
                # Exclusive load: the folio is dirtied so it will be stored again.
                self._backing[p] = NO_BACKING
                self._dirty[p] = True
        elif state == ZEROMAP:
            task.pending += self.zero_fill_s
            self.c.swpin_zero += 1
            self._backing[p] = ZEROMAP
            self._dirty[p] = False
        else:
            disk.append(p)
            self._backing[p] = DISK
            self._dirty[p] = False
            self.c.pswpin += 1
            self.zswap.nr_disk_swapins[nid] += 1
        self._state[p] = RESIDENT
        self._node[p] = nid
        self.lrus[nid].add_inactive(p)

    def _read_disk(self, task: Task, target: int, pages: list[int]) -> Generator[simpy.Event, Any, None]:
        """Plugged reads: contiguous slots merge; the fault waits only for the target's run."""
        slot = self._slot
        pages.sort(key=lambda p: slot[p])
        runs: list[tuple[int, int, bool]] = []
        start = slot[pages[0]]
        n = 0
        has_target = False
        prev = start - 1
        for p in pages:
            s = slot[p]
            if s != prev + 1:
                runs.append((start, n, has_target))
                start, n, has_target = s, 0, False
            n += 1
            has_target = has_target or p == target
            prev = s
        runs.append((start, n, has_target))
        # The fault's work so far (allocation, swap cache insertion) and the bios'
        # submission precede the dispatch at blk_finish_plug(); the completions follow
        # the wait. Neither overlaps the device's time.
        task.pending += self.swapio.read_cpu_s(len(runs))
        yield from task.flush()
        wait: simpy.Event | None = None
        for s, n, tgt in runs:
            if tgt:
                wait = self.env.process(self.swapio.read(s, n))
            else:
                self.swapio.read_async(s, n)
        if wait is not None:
            yield from task.block(wait)
        steal = self.swapio.read_steal_s(len(runs), len(pages))
        if steal:
            # A virtual disk: the host's work for these reads keeps the vCPU from
            # running. The fault holds its CPU for it, doing no guest work.
            yield from task.flush()
            yield self.env.timeout(steal)
