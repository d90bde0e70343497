"""The zswap pipeline (mm/zswap.c): store, load, invalidate, writeback, shrink worker.

The order of checks in store() follows zswap_store() of the modelled release;
counters are the debugfs and vmstat ones under their kernel names.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from perfmodel.config.scenario import ZswapSpec
from perfmodel.hw.compressor import SAME_FILLED, ZERO, Compressor
from perfmodel.hw.cpu import CPU, least_loaded
from perfmodel.kernel.counters import Counters
from perfmodel.kernel.era import KernelEra
from perfmodel.kernel.memcg import Memcg
from perfmodel.kernel.page_alloc import PageAllocator
from perfmodel.kernel.pages import WRITEBACK, ZSWAP, PageTable
from perfmodel.kernel.zpool import Zpool

MAX_RECLAIM_RETRIES = 16
SAME_FILLED_HANDLE = -2
_SHIFT = 32
_MASK = (1 << _SHIFT) - 1


class Zswap:
    def __init__(
        self,
        env: simpy.Environment,
        spec: ZswapSpec,
        era: KernelEra,
        pt: PageTable,
        compressor: Compressor,
        zpool: Zpool,
        alloc: PageAllocator,
        memcg: Memcg,
        counters: Counters,
        totalram_pages: int,
        page_size: int,
        nr_nodes: int,
        cpus: list[CPU],
        submit_write: Callable[[list[int], list[int]], None],
        store_cost_s: float,
        load_cost_s: float,
    ) -> None:
        self.env = env
        self.enabled = spec.enabled
        self.era = era
        self.pt = pt
        self.comp = compressor
        self.zpool = zpool
        self.alloc = alloc
        self.memcg = memcg
        self.c = counters
        self.page_size = page_size
        self.cpus = cpus
        self.submit_write = submit_write
        self.store_cost_s = store_cost_s
        self.load_cost_s = load_cost_s
        self.max_pages = totalram_pages * spec.max_pool_percent // 100
        self.accept_pages = self.max_pages * spec.accept_threshold_percent // 100
        self.reached_full = False
        self.exclusive = era.always_exclusive or bool(spec.exclusive_loads)
        sf = spec.same_filled_pages_enabled
        self.same_filled_enabled = era.same_filled and (sf is None or sf)
        nsf = spec.non_same_filled_pages_enabled
        self.non_same_filled_enabled = nsf is None or nsf
        self.shrinker_enabled = era.shrinker_param and bool(spec.shrinker_enabled)
        self.writeback_alloc = spec.writeback_alloc
        self.numastat = alloc.stat
        self.extra_per_byte = alloc.topo.extra_per_byte
        # Set by the machine: the owner's (preferred, allowed, interleave) for a page.
        self.vma_policy: Callable[[int, int], tuple[int, tuple[int, ...] | None, bool]] = (
            lambda page, node: (node, None, False)
        )
        # Before 6.5, evictable zpools (zbud, z3fold) carry a zswap_header (the swap
        # entry, 8 bytes) in front of each object.
        self.hlen = 8 if era.release < (6, 5) and zpool.name in ("zbud", "z3fold") else 0
        self.stored_pages = 0
        self.same_filled_pages = 0
        self.stored_incompressible_pages = 0
        n = pt.n
        self.zseq = np.zeros(n, dtype=np.int64)
        self._zseq = memoryview(self.zseq)
        self.zref = np.zeros(n, dtype=np.bool_)
        self._zref = memoryview(self.zref)
        self.znid = np.zeros(n, dtype=np.int8)
        self._znid = memoryview(self.znid)
        self.entry_nid = np.zeros(n, dtype=np.int8)
        self._entry_nid = memoryview(self.entry_nid)
        self.lru: list[deque[int]] = [deque() for _ in range(nr_nodes)]
        self.lru_count = [0] * nr_nodes
        self._state = memoryview(pt.state)
        self._handle = memoryview(pt.handle)
        self._content = memoryview(pt.content)
        self._csize = memoryview(pt.csize)
        self._node = memoryview(pt.node)
        self._shrink_wake: simpy.Event = env.event()
        self._shrink_queued = False
        self._rr_node = 0
        self.nr_deferred = [0] * nr_nodes
        self.zs_deferred = 0
        self.compactions = 0
        self.compacted_pages = 0
        self.nr_disk_swapins = [0] * nr_nodes
        self.store_latencies: list[float] = []
        self.load_latencies: list[float] = []
        if self.enabled:
            env.process(self._shrink_worker())

    # ----- gauges -----
    @property
    def total_pages(self) -> int:
        return self.zpool.total_pages

    @property
    def pool_total_size(self) -> int:
        return self.zpool.total_pages * self.page_size

    # ----- pool limit -----
    def _check_limits(self) -> bool:
        """zswap_check_limits(): True when the store may proceed."""
        cur = self.zpool.total_pages
        new = self.era.release >= (6, 11)
        # 6.11+ zswap_check_limits(); before, zswap_is_full() and zswap_can_accept().
        full = cur >= self.max_pages if new else cur > self.max_pages
        if full:
            self.c.pool_limit_hit += 1
            self.reached_full = True
        elif self.reached_full and (
            not self.era.hysteresis
            or (cur <= self.accept_pages if new else cur < self.accept_pages)
        ):
            self.reached_full = False
        return not self.reached_full

    # ----- store -----
    def store(self, page: int, cpu_node: int, now: float) -> tuple[bool, float]:
        """zswap_store(): (stored, CPU seconds spent)."""
        if not self.enabled:
            return False, 0.0
        c = self.c
        cost = self.store_cost_s
        if not self.memcg.may_zswap():
            # shrink_memcg(): write back one entry per node, then reject.
            for nid in range(len(self.lru)):
                cost += self._writeback_one(nid, cpu_node, now + cost)[1]
            self._queue_shrink_on_fail()
            return False, cost
        if self.era.sync_evict_in_store:
            cur = self.zpool.total_pages
            if cur > self.max_pages:
                c.pool_limit_hit += 1
                ok, wcost = self._evict_sync(cpu_node, now)
                cost += wcost
                if not ok:
                    c.reject_reclaim_fail += 1
                    return False, cost
        elif not self._check_limits():
            self._queue_shrink_on_fail()
            return False, cost
        cls = self._content[page]
        if self.same_filled_enabled and cls in (ZERO, SAME_FILLED):
            # Stored as a value: an entry with no pool memory.
            self._insert(page, SAME_FILLED_HANDLE, 0, cpu_node)
            self.same_filled_pages += 1
            return True, cost
        if not self.non_same_filled_enabled:
            return False, cost
        t0 = now + cost
        cost += self.comp.compress(cls, t0)
        # The reclaiming CPU reads the page wherever it lives.
        cost += self.remote(self.page_size, cpu_node, self._node[page])
        dlen = self._csize[page]
        if dlen > self.page_size:
            if self.era.store_incompressible_raw and self.memcg.zswap_writeback:
                dlen = self.page_size
                self.stored_incompressible_pages += 1
            else:
                # The compressor refuses a destination of one page.
                if self.era.compress_fail_counter:
                    c.reject_compress_fail += 1
                self._queue_shrink_on_fail()
                self.store_latencies.append(cost)
                return False, cost
        pool_nid = self._node[page] if self.era.zsmalloc_on_page_node else cpu_node
        before = self.zpool.node_pages(pool_nid)
        handle = self.zpool.malloc(dlen + self.hlen, pool_nid)
        if handle < 0:
            if handle == -28:  # -ENOSPC: too big for the allocator
                c.reject_compress_poor += 1
            else:
                c.reject_alloc_fail += 1
            self._queue_shrink_on_fail()
            self.store_latencies.append(cost)
            return False, cost
        grew = self.zpool.node_pages(pool_nid) - before
        cost += self.remote(dlen, cpu_node, pool_nid)
        if grew > 0 and not self.alloc.take(pool_nid, grew, cpu_node):
            # No frame for a new zspage even under PF_MEMALLOC.
            self.zpool.free(handle)
            c.reject_alloc_fail += 1
            self._queue_shrink_on_fail()
            return False, cost
        self._znid[page] = pool_nid
        self._insert(page, handle, dlen, cpu_node)
        self.store_latencies.append(cost)
        return True, cost

    def _insert(self, page: int, handle: int, dlen: int, cpu_node: int) -> None:
        self._handle[page] = handle
        self._zref[page] = True
        nid = self._node[page]
        self._entry_nid[page] = nid
        self.lru[nid].append((self._zseq[page] << _SHIFT) | page)
        self.lru_count[nid] += 1
        self.stored_pages += 1
        self.memcg.zswap_bytes += dlen
        self.c.zswpout += 1

    def _queue_shrink_on_fail(self) -> None:
        if self.reached_full and self.era.hysteresis:
            self.queue_shrink()

    def queue_shrink(self) -> None:
        if not self._shrink_queued:
            self._shrink_queued = True
            if not self._shrink_wake.triggered:
                self._shrink_wake.succeed()

    # ----- free an entry -----
    def _free_entry(self, page: int) -> None:
        handle = self._handle[page]
        if handle == SAME_FILLED_HANDLE:
            self.same_filled_pages -= 1
        else:
            nid = self._znid[page]
            before = self.zpool.node_pages(nid)
            self.memcg.zswap_bytes -= self.zpool.object_bytes(handle) - self.hlen
            self.zpool.free(handle)
            shrunk = before - self.zpool.node_pages(nid)
            if shrunk:
                self.alloc.free(nid, shrunk)
        self._handle[page] = -1
        self._zseq[page] += 1
        self.lru_count[self._entry_nid[page]] -= 1
        self.stored_pages -= 1

    def has_entry(self, page: int) -> bool:
        return self._handle[page] != -1

    def invalidate(self, page: int) -> None:
        """zswap_invalidate(): the swap slot was freed."""
        if self._handle[page] != -1:
            self._free_entry(page)

    # ----- load -----
    def remote(self, nbytes: int, cpu_node: int, mem_node: int) -> float:
        """Extra seconds for a CPU to stream nbytes of another node's memory."""
        if cpu_node == mem_node:
            return 0.0
        self.numastat.cross_node_bytes += nbytes
        return nbytes * self.extra_per_byte[cpu_node][mem_node]

    def load(self, page: int, now: float, cpu_node: int = 0) -> float:
        """zswap_load() on the faulting CPU into the page's (already chosen) frame.
        Exclusive loads free the entry."""
        cost = self.load_cost_s
        handle = self._handle[page]
        if handle != SAME_FILLED_HANDLE:
            cost += self.comp.decompress(self._content[page], now + cost)
            cost += self.remote(self._csize[page], cpu_node, self._znid[page])
        else:
            cost += self.page_size / 8e9  # memset_l of the value
        cost += self.remote(self.page_size, cpu_node, self._node[page])
        self.c.zswpin += 1
        self.load_latencies.append(cost)
        if self.exclusive:
            self._free_entry(page)
        return cost

    # ----- writeback -----
    def _pop_lru(self, nid: int) -> int:
        dq = self.lru[nid]
        zseq = self._zseq
        while dq:
            e = dq.popleft()
            p = e & _MASK
            if zseq[p] == e >> _SHIFT and self._handle[p] != -1:
                return p
        return -1

    def _writeback_one(self, nid: int, task_node: int, now: float) -> tuple[int, float]:
        """Walk one entry of node nid's LRU (shrink_memcg_cb).

        Returns (1 written / 0 rotated or failed / -1 empty, CPU seconds).
        """
        p = self._pop_lru(nid)
        if p < 0:
            return -1, 0.0
        if self.era.second_chance and self._zref[p]:
            self._zref[p] = False
            self.lru[nid].append((self._zseq[p] << _SHIFT) | p)
            return 0, 2e-7
        return self._writeback_entry(p, task_node, now)

    def _writeback_entry(self, p: int, task_node: int, now: float) -> tuple[int, float]:
        c = self.c
        if self._state[p] != ZSWAP or self._handle[p] == SAME_FILLED_HANDLE:
            # Already in the swap cache (-EEXIST) or a value entry: cannot write back.
            self.lru[self._entry_nid[p]].append((self._zseq[p] << _SHIFT) | p)
            c.reject_reclaim_fail += 1
            return 0, 2e-7
        # The writeback page follows the running task's policy (alloc_page; every
        # release), or, as a what-if, the owner's VMA policy.
        if self.writeback_alloc == "vma":
            pref, allowed, il = self.vma_policy(p, task_node)
            fnid = self.alloc.alloc_memalloc(pref, task_node, allowed, il)
        else:
            fnid = self.alloc.alloc_memalloc(task_node, task_node)
        if fnid < 0:
            self.lru[self._entry_nid[p]].append((self._zseq[p] << _SHIFT) | p)
            c.reject_reclaim_fail += 1
            return 0, 2e-7
        cost = self.load_cost_s + self.comp.decompress(self._content[p], now)
        cost += self.remote(self._csize[p], task_node, self._znid[p])
        cost += self.remote(self.page_size, task_node, fnid)
        self._free_entry(p)
        self._state[p] = WRITEBACK
        self._node[p] = fnid
        self.memcg.pages += 1
        c.written_back_pages += 1
        c.zswpwb += 1
        self.submit_write([p], [fnid])
        return 1, cost

    def _evict_sync(self, cpu_node: int, now: float) -> tuple[bool, float]:
        """Pre-5.6: the store itself evicts the oldest entry (zbud_reclaim_page, 8 tries)."""
        if self.zpool.name == "zsmalloc" and not self.era.zsmalloc_can_evict:
            return False, 0.0
        cost = 0.0
        for _ in range(8):
            for nid in range(len(self.lru)):
                r, w = self._writeback_one(nid, cpu_node, now + cost)
                cost += w
                if r == 1:
                    return True, cost
        return False, cost

    def _shrink_worker(self) -> Generator[simpy.Event, Any, None]:
        """shrink_worker(): an unbound kworker writing back until the pool is under the
        accept threshold, one entry per node per round, stopping after 16 failures."""
        env = self.env
        while True:
            yield self._shrink_wake
            self._shrink_wake = env.event()
            self._shrink_queued = False
            cpu = least_loaded(self.cpus)
            req = cpu.res.request()
            yield req
            cost = 0.0
            failures = 0
            nn = len(self.lru)
            can_evict = self.zpool.name != "zsmalloc" or self.era.zsmalloc_can_evict
            while True:
                if not can_evict:
                    self.c.reject_reclaim_fail += 1
                    break
                any_scanned = False
                shrunk = 0
                for k in range(nn):
                    nid = (self._rr_node + k) % nn
                    r, w = self._writeback_one(nid, cpu.node, env.now + cost)
                    cost += w
                    if r >= 0:
                        any_scanned = True
                    if r == 1:
                        shrunk += 1
                self._rr_node = (self._rr_node + 1) % nn
                if not any_scanned:
                    break
                if shrunk == 0:
                    failures += 1
                    if failures == MAX_RECLAIM_RETRIES:
                        break
                if self.zpool.total_pages <= self.accept_pages:
                    break
                if cost > 1e-4:
                    # Yield the CPU now and then, as cond_resched() would.
                    cpu.busy_s += cost
                    yield env.timeout(cost)
                    cost = 0.0
            if cost:
                cpu.busy_s += cost
                yield env.timeout(cost)
            cpu.res.release(req)

    def zs_shrinker(self, page_copy_s: float, priority: int = 12) -> float:
        """zsmalloc's own shrinker from shrink_slab(): count = compactable pages,
        scan = a whole zs_compact() once (count >> priority) * 4 / DEFAULT_SEEKS
        has built up to a batch of 128."""
        count = self.zpool.compactable_pages()
        if count <= 0:
            return 0.0
        self.zs_deferred += (count >> priority) * 4 // 2
        if self.zs_deferred < 128:
            return 0.0
        self.zs_deferred = 0
        before = [self.zpool.node_pages(n) for n in range(len(self.lru))]
        objs_before = self.zpool.nr_objects
        freed = self.zpool.compact()
        for n in range(len(self.lru)):
            delta = before[n] - self.zpool.node_pages(n)
            if delta > 0:
                self.alloc.free(n, delta)
        self.compactions += 1
        self.compacted_pages += freed
        assert self.zpool.nr_objects == objs_before
        # Migration copies each object on the freed zspages once, about a page per page freed.
        return freed * page_copy_s

    def shrinker_scan(self, nid: int, task_node: int, now: float, priority: int = 12) -> float:
        """The zswap shrinker from shrink_slab() (6.8+, shrinker_enabled).

        count: entries on the node's LRU, less recent disk swap-ins, scaled by
        pool pages / stored pages; scan: (count >> priority) * 4 / DEFAULT_SEEKS,
        deferred until a batch of 128.
        """
        if not self.shrinker_enabled or not self.stored_pages:
            return 0.0
        freeable = self.lru_count[nid] - self.nr_disk_swapins[nid]
        self.nr_disk_swapins[nid] = 0
        if freeable <= 0:
            return 0.0
        freeable = freeable * max(1, self.zpool.total_pages) // max(1, self.stored_pages)
        delta = (freeable >> priority) * 4 // 2
        total = self.nr_deferred[nid] + delta
        cost = 0.0
        if total < 128:
            self.nr_deferred[nid] = total
            return 0.0
        self.nr_deferred[nid] = 0
        for _ in range(min(total, 2 * freeable)):
            r, w = self._writeback_one(nid, task_node, now + cost)
            cost += w
            if r < 0:
                break
        return cost
