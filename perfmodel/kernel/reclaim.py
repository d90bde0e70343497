"""Page reclaim (mm/vmscan.c): kswapd per node, direct reclaim, memcg reclaim, pageout.

pageout() follows shrink_folio_list() for an anon page: a clean swap-cache
page is dropped; otherwise it gets a swap slot (add_to_swap) and goes through
swap_writepage(): zeromap (6.11+), zswap_store(), then the block device.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from perfmodel.errors import SimulationError
from perfmodel.hw.compressor import ZERO
from perfmodel.hw.cpu import CPU, least_loaded
from perfmodel.kernel.counters import Counters
from perfmodel.kernel.era import KernelEra
from perfmodel.kernel.lru import NodeLRU
from perfmodel.kernel.memcg import Memcg
from perfmodel.kernel.page_alloc import PageAllocator
from perfmodel.kernel.pages import (
    NO_BACKING,
    WRITEBACK,
    ZEROMAP,
    ZSWAP,
    PageTable,
)
from perfmodel.kernel.sched import Task
from perfmodel.kernel.shrinker import DEF_PRIORITY, kswapd_priority
from perfmodel.kernel.swap_io import SwapIO
from perfmodel.kernel.swap_slots import SwapSlots
from perfmodel.kernel.zswap import Zswap

SWAP_CLUSTER_MAX = 32
# Throttled reclaimers sleep until writeback completes, at most HZ/10.
THROTTLE_S = 0.1

FREED, KEPT, UNDER_WRITEBACK = 0, 1, 2


class Reclaim:
    def __init__(
        self,
        env: simpy.Environment,
        era: KernelEra,
        pt: PageTable,
        lrus: list[NodeLRU],
        alloc: PageAllocator,
        memcg: Memcg,
        zswap: Zswap,
        slots: SwapSlots,
        swapio: SwapIO,
        counters: Counters,
        cpus: list[CPU],
        node_cpus: dict[int, list[int]],
        reclaim_s_per_page: float,
        zero_check_s: float,
    ) -> None:
        self.env = env
        self.era = era
        self.pt = pt
        self.lrus = lrus
        self.alloc = alloc
        self.memcg = memcg
        self.zswap = zswap
        self.slots = slots
        self.swapio = swapio
        self.c = counters
        self.cpus = cpus
        self.node_cpus = node_cpus
        self.reclaim_s = reclaim_s_per_page
        self.zero_check_s = zero_check_s
        self._state = memoryview(pt.state)
        self._node = memoryview(pt.node)
        self._ref = memoryview(pt.referenced)
        self._pgref = memoryview(pt.pgref)
        self._dirty = memoryview(pt.dirty)
        self._backing = memoryview(pt.backing)
        self._unmapped = memoryview(pt.unmapped)
        self._slot = memoryview(pt.slot)
        self._content = memoryview(pt.content)
        self.kswapd_runs = 0
        self.kswapd_awake = [False] * len(lrus)
        for nid in range(len(lrus)):
            env.process(self._kswapd(nid))

    # ----- one page -----
    def pageout(self, page: int, cpu_id: int, cpu_node: int, now: float) -> tuple[int, float]:
        """(FREED / KEPT / UNDER_WRITEBACK, CPU seconds)."""
        node = self._node[page]
        backing = self._backing[page]
        if not self._dirty[page] and backing != NO_BACKING:
            # Clean swap-cache page: its copy in zswap, on disk or in the zeromap survives.
            self._state[page] = backing
            self._backing[page] = NO_BACKING
            self._unmapped[page] = False
            self._free_frame(node)
            return FREED, 0.0
        slot = self._slot[page]
        if slot < 0:
            slot = self.slots.alloc(cpu_id, page)
            if slot < 0:
                return KEPT, 0.0  # swap full: the page is activated
            self._slot[page] = slot
        cost = 0.0
        if self.era.zeromap:
            cost += self.zero_check_s if self._content[page] == ZERO else 2e-8
            if self._content[page] == ZERO:
                self._state[page] = ZEROMAP
                self._dirty[page] = False
                self.c.swpout_zero += 1
                self._free_frame(node)
                return FREED, cost
        ok, scost = self.zswap.store(page, cpu_node, now + cost)
        cost += scost
        if ok:
            self._state[page] = ZSWAP
            self._dirty[page] = False
            self._free_frame(node)
            return FREED, cost
        if not self.memcg.zswap_writeback and self.zswap.enabled:
            return KEPT, cost  # memory.zswap.writeback=0: rejected pages stay in RAM
        self._state[page] = WRITEBACK
        self._dirty[page] = False
        return UNDER_WRITEBACK, cost

    def _free_frame(self, nid: int) -> None:
        self.alloc.free(nid)
        self.memcg.pages -= 1

    # ----- a batch from one node's LRU -----
    def shrink_node(
        self, nid: int, nr_to_reclaim: int, cpu: CPU, now: float, kswapd: bool,
        slab_priority: int | None = DEF_PRIORITY,
    ) -> tuple[int, int, float]:
        """(reclaimed, scanned, CPU seconds). shrink_slab() follows at slab_priority
        unless it is None (kswapd calls it itself, once per nr_to_reclaim)."""
        lru = self.lrus[nid]
        ref = self._ref
        pgref = self._pgref
        c = self.c
        reclaimed = 0
        scanned = 0
        cost = 0.0
        wb_pages: list[int] = []
        wb_nodes: list[int] = []
        # The kernel lowers the scan priority until it has reclaimed enough, so one
        # call may go once around the whole list (twice, counting second chances).
        limit = 2 * lru.size + SWAP_CLUSTER_MAX
        while reclaimed < nr_to_reclaim and scanned < limit:
            if lru.inactive_is_low():
                self._shrink_active(lru)
            page = lru.pop_inactive()
            if page < 0:
                if lru.nr_active:
                    self._shrink_active(lru)
                    continue
                break
            scanned += 1
            cost += self.reclaim_s
            if ref[page]:
                # folio_check_references(): a first reference keeps the page on the
                # inactive list; a second one activates it.
                ref[page] = False
                if pgref[page]:
                    pgref[page] = False
                    lru.add_active(page)
                    c.pgactivate += 1
                else:
                    pgref[page] = True
                    lru.add_inactive(page)
                continue
            pgref[page] = False
            res, pcost = self.pageout(page, cpu.id, cpu.node, now + cost)
            cost += pcost
            # cond_resched() in shrink_folio_list(): a woken kworker may run here.
            cost += self.zswap.cond_resched(cpu, now + cost)
            if res == FREED:
                reclaimed += 1
            elif res == UNDER_WRITEBACK:
                wb_pages.append(page)
                wb_nodes.append(self._node[page])
            else:
                lru.add_active(page)
                c.pgactivate += 1
        self.swapio.write(wb_pages, wb_nodes)
        if kswapd:
            c.pgscan_kswapd += scanned
            c.pgsteal_kswapd += reclaimed
        else:
            c.pgscan_direct += scanned
            c.pgsteal_direct += reclaimed
        if scanned and slab_priority is not None:
            cost += self.shrink_slab(nid, cpu, now + cost, slab_priority)
        # zsmalloc pages taken by the stores above.
        cost += self.alloc.fresh_cost_s()
        return reclaimed, scanned, cost

    def shrink_slab(self, nid: int, cpu: CPU, now: float, priority: int) -> float:
        """shrink_slab(): the zswap shrinker (NUMA aware) and zsmalloc's compaction."""
        cost = self.zswap.shrinker_scan(nid, cpu.node, now, priority)
        return cost + self.zswap.zs_shrinker(self.zero_check_s, priority)

    def _reclaim_batched(self, task: Task, nid: int, nr: int) -> Generator[simpy.Event, Any, int]:
        """shrink_lruvec() for a large target: SWAP_CLUSTER_MAX pages at a time, with the
        writes of each batch submitted (and any wait for request tags) before the next."""
        done = scanned = 0
        limit = 2 * self.lrus[nid].size + SWAP_CLUSTER_MAX
        while done < nr and scanned < limit:
            r, s, cost = self.shrink_node(nid, min(SWAP_CLUSTER_MAX, nr - done), task.cpu,
                                          task.now, False)
            task.pending += cost
            done += r
            scanned += s
            yield from self.wait_for_requests(task)
            if s == 0:
                break
        return done

    def wait_for_requests(self, task: Task) -> Generator[simpy.Event, Any, None]:
        """submit_bio() sleeps in blk_mq_get_tag() while the swap device's queue holds
        nr_requests: a reclaimer cannot run further ahead of the writes than that."""
        swapio = self.swapio
        while swapio.congested:
            yield from task.block(swapio.wait_for_tag())

    def _shrink_active(self, lru: NodeLRU) -> None:
        """shrink_active_list(): anon pages are deactivated whatever their references."""
        ref = self._ref
        for _ in range(SWAP_CLUSTER_MAX):
            page = lru.pop_active()
            if page < 0:
                break
            ref[page] = False
            lru.add_inactive(page)
            self.c.pgdeactivate += 1

    # ----- kswapd -----
    def _kswapd(self, nid: int) -> Generator[simpy.Event, Any, None]:
        env = self.env
        nd = self.alloc.nodes[nid]
        mine = [self.cpus[i] for i in self.node_cpus[nid]]
        while True:
            nd.kswapd_wake = env.event()
            yield nd.kswapd_wake
            self.kswapd_runs += 1
            task = Task(env, f"kswapd{nid}", least_loaded(mine), allowed=mine)
            yield from task.acquire()
            self.kswapd_awake[nid] = True
            idle_rounds = 0
            # kswapd_shrink_node(): reclaim the node's high watermark, then shrink_slab()
            # once, at the priority that scan size calls for.
            nr_to_reclaim = max(nd.wmark_high, SWAP_CLUSTER_MAX)
            since_slab = 0
            while nd.free < nd.wmark_high:
                rec, scanned, cost = self.shrink_node(nid, SWAP_CLUSTER_MAX, task.cpu, task.now,
                                                      True, None)
                since_slab += scanned
                if since_slab >= nr_to_reclaim:
                    since_slab = 0
                    cost += self.shrink_slab(nid, task.cpu, task.now + cost,
                                             self.kswapd_priority(nid, nr_to_reclaim))
                task.pending += cost
                yield from self.wait_for_requests(task)
                if rec == 0:
                    if scanned == 0 and not self.swapio.inflight:
                        break  # nothing left to reclaim on this node
                    idle_rounds += 1
                    if idle_rounds > 50:
                        break
                    yield from task.block(
                        self.alloc.freed_event | env.timeout(THROTTLE_S)  # type: ignore[operator]
                    )
                    continue
                idle_rounds = 0
                # cond_resched() after each folio: a woken task may take the CPU there.
                yield from task.run_kthread(cost / max(1, scanned))
            if since_slab:
                task.pending += self.shrink_slab(nid, task.cpu, task.now,
                                                 self.kswapd_priority(nid, nr_to_reclaim))
            yield from task.flush()
            task.release()
            self.kswapd_awake[nid] = False

    def reclaiming(self, nid: int) -> bool:
        """Is reclaim scanning this node: its kswapd is awake, or allocations there
        are below the low watermark (direct reclaim)."""
        nd = self.alloc.nodes[nid]
        return self.kswapd_awake[nid] or nd.free <= nd.wmark_low

    def kswapd_priority(self, nid: int, nr_to_reclaim: int) -> int:
        lru = self.lrus[nid]
        return kswapd_priority(lru.nr_inactive, nr_to_reclaim)

    # ----- allocation slow path with direct reclaim and the memcg charge -----
    def alloc_page(
        self, task: Task, preferred: int, allowed: tuple[int, ...] | None = None,
        interleave: bool = False,
    ) -> Generator[simpy.Event, Any, int]:
        """A frame for a user page, charged to the memcg; reclaims or throttles as needed."""
        alloc = self.alloc
        stalls = 0
        while True:
            nid = alloc.alloc(preferred, task.node, allowed, interleave)
            if nid >= 0:
                break
            self.c.allocstall += 1
            rec = 0
            # shrink_zones(): every node of the zonelist once, each to its own
            # nr_to_reclaim (shrink_lruvec() counts from zero for each node).
            for n in alloc.order(preferred, allowed):
                r, _, cost = self.shrink_node(n, SWAP_CLUSTER_MAX, task.cpu, task.now, False)
                task.pending += cost
                rec += r
                yield from self.wait_for_requests(task)
            if rec == 0:
                stalls = yield from self._throttle(task, stalls, "the page allocator")
        self.memcg.pages += 1
        if self.memcg.over_max(0):
            yield from self.memcg_reclaim(task, self.memcg.usage - self.memcg.max)
        return nid

    def memcg_reclaim(self, task: Task, nr: int) -> Generator[simpy.Event, Any, None]:
        """try_to_free_mem_cgroup_pages() until usage is back under memory.max."""
        stalls = 0
        nn = len(self.lrus)
        start = task.node
        while self.memcg.over_max(0):
            rec = 0
            for k in range(nn):
                n = (start + k) % nn
                rec += yield from self._reclaim_batched(task, n, max(SWAP_CLUSTER_MAX, nr))
            if rec == 0:
                stalls = yield from self._throttle(task, stalls, "memory.max")

    def high_reclaim(self, task: Task) -> Generator[simpy.Event, Any, None]:
        """mem_cgroup_handle_over_high(): reclaim the excess on return to user space."""
        nn = len(self.lrus)
        tries = 0
        while self.memcg.over_high() and tries < 4:
            excess = self.memcg.usage - self.memcg.high
            rec = 0
            for k in range(nn):
                rec += yield from self._reclaim_batched(
                    task, (task.node + k) % nn, max(SWAP_CLUSTER_MAX, excess))
            tries += 1
            if rec == 0:
                yield from task.block(self.alloc.freed_event | self.env.timeout(THROTTLE_S))  # type: ignore[operator]

    def _throttle(self, task: Task, stalls: int, who: str) -> Generator[simpy.Event, Any, int]:
        """reclaim_throttle(): wait for writeback, or declare OOM when nothing is in flight."""
        if not self.swapio.inflight:
            stalls += 1
            if stalls > 20:
                raise SimulationError(
                    f"out of memory: {who} cannot reclaim anything (swap full or "
                    f"memory.zswap.writeback=0 with a full pool); the kernel would OOM-kill"
                )
        yield from task.block(self.alloc.freed_event | self.env.timeout(THROTTLE_S))  # type: ignore[operator]
        return stalls
