"""The zswap pipeline (mm/zswap.c): store, load, invalidate, writeback, shrink worker.

The order of checks in store() follows zswap_store() of the modelled release;
counters are the debugfs and vmstat ones under their kernel names.
"""

from __future__ import annotations

import heapq
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
from perfmodel.kernel.sched import BASE_SLICE_S, TICK_S, idle_cpu
from perfmodel.kernel.shrinker import DEF_PRIORITY, SlabShrinker
from perfmodel.kernel.zpool import Zpool

# The scheduler's base slice (sched.BASE_SLICE_S): a kworker sharing a busy CPU runs
# about this long before the other runnable tasks get it back. A wakeup that does not
# preempt the running task waits for the tick (TICK_S) at which that task's slice is
# found used up.
SCHED_SLICE_S = BASE_SLICE_S
# EEVDF clamps a task's lag to max(2 * slice, TICK) (update_entity_lag()).
LAG_LIMIT_S = max(2 * SCHED_SLICE_S, TICK_S)
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
        lru_walk_s: float = 2e-7,
        swapcache_s: float = 0.0,
        writeback_s: float | None = None,
        wakeup_s: float = 0.0,
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
        self.lru_walk_s = lru_walk_s
        self.swapcache_s = swapcache_s
        # Waking the kworker and the two context switches of one run.
        self.wakeup_s = wakeup_s
        self._run_overhead = 0.0
        # Everything of a writeback but the decompression.
        self.writeback_s = writeback_s if writeback_s is not None else swapcache_s + load_cost_s
        self.max_pages = totalram_pages * spec.max_pool_percent // 100
        self.accept_pages = self.max_pages * spec.accept_threshold_percent // 100
        self.reached_full = False
        self._hit_limit = False
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
        evictable = zpool.name in ("zbud", "z3fold") or era.zsmalloc_can_evict
        self.hlen = 8 if era.release < (6, 5) and evictable else 0
        # 5.19+: the compressed bytes are charged to the memcg (obj_cgroup_charge_zswap).
        self.charge_memcg = era.release >= (5, 19)
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
        # Set by the machine: whether the swap device's queue holds nr_requests, and an
        # event for a request completing (the kworker's bios sleep in blk_mq_get_tag()).
        self.io_congested: Callable[[], bool] = lambda: False
        self.wait_for_tag: Callable[[], simpy.Event] | None = None
        # Pending queue_work() calls: (time, node of the queuing CPU). The work item
        # runs in the pool of the first: an unbound workqueue's worker pool serves one
        # NUMA node (one LLC pod from 6.5), so its kworker prefers that node's CPUs.
        self._shrink_requests: list[tuple[float, int]] = []
        self._run_node = -1  # the queuing node of the run in progress
        self._pods: dict[int, list[CPU]] = {}
        # Set by the machine from workqueue.default_affinity_scope: False lets the
        # work run on any CPU.
        self.wq_per_node = True
        self.shrink_worker_runs = 0
        # The shrink work's current execution, advanced by the kworker process or at a
        # busy CPU's cond_resched(); _proc_running: the process holds it.
        self._run: Generator[float, None, None] | None = None
        self._proc_running = False
        # Sharing a busy CPU: when the kworker may next run at a cond_resched(), and its
        # EEVDF lag against the reclaimer it shares the CPU with (virtual seconds).
        self._next_turn = 0.0
        self._lag = 0.0
        # When the kworker last went to sleep with nothing left to run (None: since woken).
        self._idle_since: float | None = None
        self._rr_node = 0
        # The two shrinkers shrink_slab() calls: zswap's (NUMA aware) and zsmalloc's.
        self.shrinker = SlabShrinker(nr_nodes)
        self.zs_slab = SlabShrinker()
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
        self._hit_limit = full
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
            # 6.8+: shrink_memcg() writes back one entry per node and the store goes
            # on if any was written; before, the store is refused outright.
            shrunk = 0
            if self.era.release >= (6, 8):
                for nid in range(len(self.lru)):
                    r, w = self._writeback_one(nid, cpu_node, now + cost)
                    cost += w
                    shrunk += r == 1
            if not shrunk:
                self._queue_shrink_on_fail(now + cost, node=cpu_node)
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
            self._queue_shrink_on_fail(now + cost, limit=True, node=cpu_node)
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
        # 6.18 stores a result of a whole page raw; before, only a failed compression
        # (output over a page) is refused here.
        if dlen > self.page_size or (self.era.store_incompressible_raw and dlen >= self.page_size):
            if self.era.store_incompressible_raw and self.memcg.zswap_writeback:
                dlen = self.page_size
                self.stored_incompressible_pages += 1
            else:
                # The compressor refuses a destination of one page.
                if self.era.compress_fail_counter:
                    c.reject_compress_fail += 1
                self._queue_shrink_on_fail(now + cost, node=cpu_node)
                self.store_latencies.append(cost)
                return False, cost
        want_nid = self._node[page] if self.era.zsmalloc_on_page_node else cpu_node
        # A new zspage is an alloc_page() like any other: the zonelist may fall back.
        pool_nid = self.alloc.fallback_node(want_nid)
        before = self.zpool.node_pages(pool_nid)
        handle = self.zpool.malloc(dlen + self.hlen, pool_nid)
        if handle < 0:
            if handle == -28:  # -ENOSPC: too big for the allocator
                c.reject_compress_poor += 1
            else:
                c.reject_alloc_fail += 1
            self._queue_shrink_on_fail(now + cost, node=cpu_node)
            self.store_latencies.append(cost)
            return False, cost
        grew = self.zpool.node_pages(pool_nid) - before
        cost += self.remote(dlen, cpu_node, pool_nid)
        if grew > 0 and not self.alloc.take(pool_nid, grew, cpu_node, want_nid):
            # No frame for a new zspage even under PF_MEMALLOC.
            self.zpool.free(handle)
            c.reject_alloc_fail += 1
            self._queue_shrink_on_fail(now + cost, node=cpu_node)
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
        if handle != SAME_FILLED_HANDLE:
            # Value entries have no pool memory to reclaim and never join the LRU.
            self.lru[nid].append((self._zseq[page] << _SHIFT) | page)
            self.lru_count[nid] += 1
        self.stored_pages += 1
        if self.charge_memcg:
            self.memcg.zswap_bytes += dlen
        self.c.zswpout += 1

    def _queue_shrink_on_fail(self, t: float, limit: bool = False, node: int = -1) -> None:
        """Whether a failed store queues the shrink work depends on the release:
        before 6.5 only a store that finds the pool full; 6.5-6.10 also one refused
        while the pool is not yet back under the accept threshold; 6.11+ any failed
        store while reached_full is set."""
        if not self.reached_full or not self.era.hysteresis:
            return
        rel = self.era.release
        if rel >= (6, 11) or (limit and (rel >= (6, 5) or self._hit_limit)):
            self.queue_shrink(t, node)

    def pod(self, node: int) -> list[CPU]:
        """The CPUs an unbound work item queued from `node` runs on (-1: any)."""
        got = self._pods.get(node)
        if got is None:
            got = [c for c in self.cpus if c.node == node] if self.wq_per_node else []
            got = got or self.cpus
            self._pods[node] = got
        return got

    def _worker_cpu(self, node: int) -> CPU:
        """Where the pool's kworker runs: an idle CPU of its node, else, since the scope
        is not strict, an idle CPU anywhere (the scheduler moves it there), else the
        node's least loaded CPU, to wait for it."""
        cpu = idle_cpu(self.cpus, node if self.wq_per_node else -1)
        return cpu if cpu is not None else least_loaded(self.pod(node))

    def queue_shrink(self, t: float, node: int = -1) -> None:
        """queue_work(shrink_wq, &zswap_shrink_work) at simulated time t, which may lie
        ahead of env.now by CPU time the caller has not paid yet."""
        heapq.heappush(self._shrink_requests, (t, node))
        if not self._shrink_wake.triggered:
            self._shrink_wake.succeed()

    # ----- free an entry -----
    def _free_entry(self, page: int) -> None:
        handle = self._handle[page]
        if handle == SAME_FILLED_HANDLE:
            self.same_filled_pages -= 1
        else:
            self.lru_count[self._entry_nid[page]] -= 1
            if self.era.store_incompressible_raw and self._csize[page] >= self.page_size:
                self.stored_incompressible_pages -= 1
            nid = self._znid[page]
            before = self.zpool.node_pages(nid)
            if self.charge_memcg:
                self.memcg.zswap_bytes -= self.zpool.object_bytes(handle) - self.hlen
            self.zpool.free(handle)
            shrunk = before - self.zpool.node_pages(nid)
            if shrunk:
                self.alloc.free(nid, shrunk)
        self._handle[page] = -1
        self._zseq[page] += 1
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
            return 0, self.lru_walk_s
        return self._writeback_entry(p, task_node, now)

    def _writeback_entry(self, p: int, task_node: int, now: float) -> tuple[int, float]:
        c = self.c
        if self._state[p] != ZSWAP or self._handle[p] == SAME_FILLED_HANDLE:
            # Already in the swap cache (-EEXIST) or a value entry: cannot write back.
            return self._writeback_failed(p)
        # The writeback page follows the running task's policy (alloc_page; every
        # release), or, as a what-if, the owner's VMA policy.
        if self.writeback_alloc == "vma":
            pref, allowed, il = self.vma_policy(p, task_node)
            fnid = self.alloc.alloc_memalloc(pref, task_node, allowed, il)
        else:
            fnid = self.alloc.alloc_memalloc(task_node, task_node)
        if fnid < 0:
            return self._writeback_failed(p)
        # A swap-cache folio (as a swap-in would get), the decompression, the bio.
        cost = self.writeback_s + self.comp.decompress(self._content[p], now)
        cost += self.alloc.fresh_cost_s()
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

    def _writeback_failed(self, p: int) -> tuple[int, float]:
        """The entry goes back on its LRU (LRU_RETRY); from 6.5 each failure counts,
        before the caller counts one per eviction call."""
        self.lru[self._entry_nid[p]].append((self._zseq[p] << _SHIFT) | p)
        if self.era.release >= (6, 5):
            self.c.reject_reclaim_fail += 1
        return 0, self.lru_walk_s

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
        """shrink_worker() as an unbound kworker.

        A work item is pending from queue_work() until it starts to run: requests made
        before a run starts merge into it, and a request made while it runs queues one
        more run. With the 6.12 second chance each run may only clear 16 referenced
        bits, so the number of runs, not just the fact of being woken, sets how soon
        writeback starts. The kworker takes an idle CPU; when none is idle it shares a
        busy one at the reclaimer's cond_resched() points (see cond_resched()), and
        finishes a run there whenever a CPU comes free.
        """
        env = self.env
        reqs = self._shrink_requests
        while True:
            if self._run is None:
                if not reqs:
                    self._shrink_wake = env.event()
                    yield self._shrink_wake
                    continue
                if reqs[0][0] > env.now:
                    yield env.timeout(reqs[0][0] - env.now)
            cpu = self._worker_cpu(self._run_node if self._run is not None or not reqs
                                   else reqs[0][1])
            req = cpu.res.request()
            yield req
            if self._run is None:
                if not reqs or reqs[0][0] > env.now:
                    cpu.res.release(req)
                    continue
                self._start_run(cpu.node, env.now)
            self._proc_running = True
            cost = 0.0
            ran = 0.0
            while self._run is not None:
                cost += self._step_run()
                congested = self.wait_for_tag is not None and self.io_congested()
                if cost > 1e-4 or congested:
                    # cond_resched() in the worker: let stores and writes move on.
                    cpu.busy_s += cost
                    ran += cost
                    yield env.timeout(cost)
                    cost = 0.0
                    if congested and self.wait_for_tag is not None:
                        # __swap_writepage(): the bio waits for a request tag, asleep.
                        cpu.res.release(req)
                        while self.io_congested():
                            yield self.wait_for_tag()
                        req = cpu.res.request()
                        yield req
                        ran = 0.0
                    elif ran >= SCHED_SLICE_S and cpu.res.queue:
                        # End of the kworker's slice: the other runnable tasks go first.
                        cpu.res.release(req)
                        req = cpu.res.request()
                        yield req
                        ran = 0.0
            if cost:
                cpu.busy_s += cost
                yield env.timeout(cost)
            self._proc_running = False
            if not reqs:
                self._idle_since = env.now
            cpu.res.release(req)

    def _start_run(self, task_node: int, t: float) -> None:
        reqs = self._shrink_requests
        if reqs:
            self._run_node = reqs[0][1]
        while reqs and reqs[0][0] <= t:
            heapq.heappop(reqs)
        self.shrink_worker_runs += 1
        self._run = self._shrink_rounds(task_node, t)
        self._run_overhead = self.wakeup_s

    def _step_run(self) -> float:
        """One round of the current run; ends the run when it returns."""
        assert self._run is not None
        cost = self._run_overhead
        self._run_overhead = 0.0
        try:
            return cost + next(self._run)
        except StopIteration:
            self._run = None
            return cost

    def cond_resched(self, cpu: CPU, t: float) -> float:
        """A reclaimer's cond_resched() at time t when no CPU is idle.

        A queued shrink work item runs here when its wakeup preempts the reclaimer.
        Under EEVDF with two runnable tasks of equal weight that happens when the
        kworker's lag is positive: it was placed behind the reclaimer and is the only
        eligible one. Each run spends half its CPU time of lag; waiting while the
        reclaimer runs earns half the wait back. With no positive lag the kworker
        waits for the tick at which the reclaimer's slice is used up (RUN_TO_PARITY),
        so runs come in chains broken by waits of up to a tick, during which failed
        stores find the work already pending. A run that needs more than one slice
        continues after the reclaimer has had a slice of its own. Returns the seconds
        the kworker took."""
        if self._proc_running or t < self._next_turn:
            return 0.0
        if self._run is not None and cpu not in self.pod(self._run_node):
            return 0.0
        if self._run is None:
            reqs = self._shrink_requests
            if not reqs or reqs[0][0] > t:
                return 0.0
            pod = self.pod(reqs[0][1])
            if cpu not in pod:
                return 0.0  # the work item's pool is on another node
            for c in self.cpus:
                if not c.res.users:
                    return 0.0  # an idle CPU takes the kworker (_worker_cpu)
            if self._idle_since is not None:
                # 6.12 DELAY_DEQUEUE: a sleeper with negative lag stays queued until it is
                # eligible, and leaves with its lag clipped to zero (DELAY_ZERO); before,
                # the lag it slept with comes back whole at the wakeup.
                if self.era.delay_dequeue and self._lag < 0.0:
                    self._lag = min(0.0, self._lag + (reqs[0][0] - self._idle_since) / 2)
                self._idle_since = None
            lag = min(LAG_LIMIT_S, self._lag + (t - reqs[0][0]) / 2)
            if lag <= 0.0 and self.era.eevdf:
                # Eligible once the reclaimer has run -2 * lag more; picked at a tick.
                ready = reqs[0][0] - 2 * min(self._lag, 0.0)
                self._next_turn = max(t + 1e-9, (ready // TICK_S + 1) * TICK_S)
                return 0.0
            self._lag = lag
            self._start_run(cpu.node, t)
        cost = 0.0
        while self._run is not None and cost < SCHED_SLICE_S:
            cost += self._step_run()
            if self.wait_for_tag is not None and self.io_congested():
                # The kworker sleeps for a request tag and ends the run in its own process.
                if not self._shrink_wake.triggered:
                    self._shrink_wake.succeed()
                break
        self._lag = max(-LAG_LIMIT_S, self._lag - cost / 2)
        if self._run is None and not self._shrink_requests:
            self._idle_since = t + cost
        # An unfinished run waits for the reclaimer's next slice.
        self._next_turn = t + cost + (SCHED_SLICE_S if self._run is not None else 0.0)
        cpu.busy_s += cost
        return cost

    def _shrink_rounds(self, task_node: int, t0: float) -> Generator[float, None, None]:
        """One execution of shrink_worker(): yields the CPU seconds of each round."""
        failures = 0
        nn = len(self.lru)
        if self.zpool.name == "zsmalloc" and not self.era.zsmalloc_can_evict:
            self.c.reject_reclaim_fail += 1
            return
        if self.era.release < (6, 5):
            # zpool_shrink(pool, 1): one eviction from the allocator's LRU per run.
            ok, cost = self._evict_sync(task_node, t0)
            if not ok:
                self.c.reject_reclaim_fail += 1
            yield cost
            return
        t = t0
        while True:
            any_scanned = False
            shrunk = 0
            cost = 0.0
            for k in range(nn):
                nid = (self._rr_node + k) % nn
                r, w = self._writeback_one(nid, task_node, t + cost)
                cost += w
                if r >= 0:
                    any_scanned = True
                if r == 1:
                    shrunk += 1
            self._rr_node = (self._rr_node + 1) % nn
            t += cost
            yield cost
            if not any_scanned:
                return
            if shrunk == 0:
                failures += 1
                if failures == MAX_RECLAIM_RETRIES:
                    return
            cur = self.zpool.total_pages
            # 6.11+ loops while over the threshold; 6.5-6.10 until zswap_can_accept().
            if cur <= self.accept_pages if self.era.release >= (6, 11) else cur < self.accept_pages:
                return

    def zs_shrinker(self, page_copy_s: float, priority: int = DEF_PRIORITY) -> float:
        """zsmalloc's shrinker from shrink_slab(): count = the pages zs_compact() could
        free; a scan runs one whole zs_compact() and stops the call (SHRINK_STOP) once
        nothing is left to free."""
        count = self.zpool.compactable_pages()
        if count <= 0:
            return 0.0
        copied = 0

        def scan(_: int) -> int | None:
            nonlocal copied
            before = [self.zpool.node_pages(n) for n in range(len(self.lru))]
            objs_before = self.zpool.nr_objects
            freed = self.zpool.compact()
            assert self.zpool.nr_objects == objs_before
            if not freed:
                return None
            for n in range(len(self.lru)):
                delta = before[n] - self.zpool.node_pages(n)
                if delta > 0:
                    self.alloc.free(n, delta)
            self.compactions += 1
            self.compacted_pages += freed
            copied += freed
            return freed

        self.zs_slab.shrink(count, priority, scan)
        # Migration copies each object on the freed zspages once, about a page per page freed.
        return copied * page_copy_s

    def shrinker_count(self, nid: int) -> int:
        """zswap_shrinker_count() (6.8+): entries on the node's LRU, less the disk
        swap-ins since the last count (6.12: only as many as there are entries; the
        rest stays for the next count), scaled by pool pages / stored pages."""
        if not self.shrinker_enabled or not self.stored_pages:
            return 0
        freeable = self.lru_count[nid]
        if not freeable:
            return 0
        swapins = self.nr_disk_swapins[nid]
        used = min(freeable, swapins)
        self.nr_disk_swapins[nid] = swapins - used
        freeable -= used
        if freeable <= 0:
            return 0
        return freeable * max(1, self.zpool.total_pages) // max(1, self.stored_pages)

    def shrinker_scan(self, nid: int, task_node: int, now: float,
                      priority: int = DEF_PRIORITY) -> float:
        """The zswap shrinker from shrink_slab() (6.8+, shrinker_enabled): each scan walks
        nr_to_scan entries of the node's LRU (zswap_shrinker_scan()) and stops the call
        when it wrote nothing back. Returns the CPU seconds."""
        cost = 0.0

        def scan(nr_to_scan: int) -> int | None:
            nonlocal cost
            written = 0
            for _ in range(nr_to_scan):
                r, w = self._writeback_one(nid, task_node, now + cost)
                cost += w
                if r < 0:
                    break
                written += r == 1
            return written or None

        self.shrinker.shrink(self.shrinker_count(nid), priority, scan, nid)
        return cost
