"""Swap I/O: plugged, merged writes of reclaimed pages and synchronous swap-in reads."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from perfmodel.hw.swapdev import SwapDevice
from perfmodel.kernel.counters import Counters
from perfmodel.kernel.lru import NodeLRU
from perfmodel.kernel.memcg import Memcg
from perfmodel.kernel.page_alloc import PageAllocator
from perfmodel.kernel.pages import DISK, RESIDENT, WRITEBACK, PageTable
from perfmodel.kernel.swap_slots import SwapSlots


class SwapIO:
    """Frames of pages under write-out belong to the I/O until it completes.

    A fault on a page under writeback takes the frame back (swap-cache hit);
    an exiting process leaves its frames to be freed by the completion.
    """

    def __init__(
        self,
        env: simpy.Environment,
        dev: SwapDevice,
        pt: PageTable,
        alloc: PageAllocator,
        memcg: Memcg,
        counters: Counters,
        max_pages: int | None = None,
        slots: SwapSlots | None = None,
    ) -> None:
        self.env = env
        self.dev = dev
        # Largest merged write: the queue's max_sectors_kb unless given.
        if max_pages is None:
            max_pages = dev.spec.max_sectors_kb * 1024 // dev.page_size
        self.max_pages = max(1, max_pages)
        self.pt = pt
        self.alloc = alloc
        self.memcg = memcg
        self.c = counters
        self._state = memoryview(pt.state)
        self._slot = memoryview(pt.slot)
        self._gen = 0
        # page -> (gen, node) while the frame is owned by an in-flight write
        self.inflight: dict[int, tuple[int, int]] = {}
        self.orphans: dict[tuple[int, int], int] = {}
        self.write_latencies: list[float] = []
        self.read_latencies: list[float] = []
        # A slot under write-out stays allocated until the write completes, even if
        # its owner lets go of it (the swap cache holds a reference).
        self.slots = slots
        self.busy: dict[int, int] = {}
        self.deferred_free: set[int] = set()
        # Writes queued but not yet in service, by the slot just past their end: the
        # I/O scheduler back-merges a new write that starts there (elv_merge()).
        self._mergeable: dict[int, list[tuple[int, int, int]]] = {}
        # Block-layer requests outstanding, reads and writes alike (one tag space).
        self.nr_requests = dev.spec.nr_requests
        self.outstanding = 0
        self._tag_freed: simpy.Event | None = None
        self.tag_waits = 0  # times a submitter slept for a tag
        # Set by the machine: each node's LRU, and whether reclaim is running on a node
        # (on its own, as in unit tests, every written frame is freed at completion).
        self.lrus: list[NodeLRU] = []
        self.reclaiming: Callable[[int], bool] = lambda nid: True
        self.kept_in_swapcache = 0

    @property
    def congested(self) -> bool:
        return self.outstanding >= self.nr_requests

    def wait_for_tag(self) -> simpy.Event:
        """An event that fires when a request completes (blk_mq_get_tag() sleeping)."""
        if self._tag_freed is None:
            self._tag_freed = self.env.event()
        self.tag_waits += 1
        return self._tag_freed

    def _put_request(self) -> None:
        self.outstanding -= 1
        ev = self._tag_freed
        if ev is not None and self.outstanding < self.nr_requests:
            self._tag_freed = None
            ev.succeed()

    def write(self, pages: list[int], nodes: list[int]) -> None:
        """Submit async writes for pages already in WRITEBACK state.

        Sorted by slot and merged into contiguous runs of at most max_pages, as a blk
        plug flushing into the queue would (blk_attempt_plug_merge, bounded by
        max_sectors_kb); a run that starts right after a write still waiting in the
        queue is merged into it instead (the scheduler's back merge).
        """
        if not pages:
            return
        slot = self._slot
        order = sorted(range(len(pages)), key=lambda i: slot[pages[i]])
        self.c.pswpout += len(pages)
        run: list[tuple[int, int, int]] = []
        prev = -2
        cap = self.max_pages
        merge = self._mergeable
        for i in order:
            p = pages[i]
            s = slot[p]
            if run and (s != prev + 1 or len(run) == cap):
                self._submit(prev + 1 - len(run), run)
                run = []
            self._gen += 1
            self.inflight[p] = (self._gen, nodes[i])
            self.busy[s] = self.busy.get(s, 0) + 1
            if not run and s in merge and len(merge[s]) < cap:
                queued = merge.pop(s)
                queued.append((p, self._gen, nodes[i]))
                merge[s + 1] = queued
                prev = -2
                continue
            run.append((p, self._gen, nodes[i]))
            prev = s
        if run:
            self._submit(prev + 1 - len(run), run)

    def _submit(self, first: int, run: list[tuple[int, int, int]]) -> None:
        """One merged write request: it holds a tag from now until it completes."""
        self.outstanding += 1
        self._mergeable[first + len(run)] = run
        self.env.process(self._write_run(first, run))

    def _write_run(
        self, first: int, run: list[tuple[int, int, int]]
    ) -> Generator[simpy.Event, Any, None]:
        # first is taken at submission: a fault may free the slot before the process starts.
        def dispatch() -> int:
            # Leaving the scheduler's queue: no more merges into this request.
            end = first + len(run)
            if self._mergeable.get(end) is run:
                del self._mergeable[end]
            return len(run)

        lat = yield from self.dev.io("write", first, len(run), dispatch)
        self.write_latencies.append(lat)
        self._put_request()
        state = self._state
        freed = 0
        busy = self.busy
        for s in range(first, first + len(run)):
            left = busy[s] - 1
            if left:
                busy[s] = left
            else:
                del busy[s]
                if s in self.deferred_free:
                    self.deferred_free.discard(s)
                    assert self.slots is not None
                    self.slots.free(s)
        for p, gen, nid in run:
            cur = self.inflight.get(p)
            if cur is not None and cur[0] == gen:
                del self.inflight[p]
                if state[p] == WRITEBACK and not self.reclaiming(nid):
                    self._keep_in_swapcache(p, nid)
                    continue
                if state[p] == WRITEBACK:
                    state[p] = DISK
                self.alloc.free(nid)
                self.memcg.pages -= 1
                freed += 1
            elif (p, gen) in self.orphans:
                self.alloc.free(self.orphans.pop((p, gen)))
                self.memcg.pages -= 1
                freed += 1
        if freed:
            self.alloc.signal_freed()

    def _keep_in_swapcache(self, p: int, nid: int) -> None:
        """folio_end_writeback() rotates the clean folio to the inactive tail, where the
        next reclaim pass of its node frees it. With that node's reclaim running, that
        is at once, and the model frees the frame here; with no reclaim on the node the
        folio stays in the swap cache, holding its frame, until pressure returns."""
        pt = self.pt
        self._state[p] = RESIDENT
        pt.backing[p] = DISK
        pt.dirty[p] = False
        pt.referenced[p] = False
        pt.pgref[p] = False
        pt.unmapped[p] = True
        self.lrus[nid].add_inactive_tail(p)
        self.kept_in_swapcache += 1

    def slot_busy(self, slot: int) -> bool:
        return slot in self.busy

    def free_slot(self, slot: int) -> None:
        """swap_free(): now, or when the write-out holding the slot completes."""
        if slot in self.busy:
            self.deferred_free.add(slot)
        else:
            assert self.slots is not None
            self.slots.free(slot)

    def rescue(self, page: int) -> int:
        """A fault found the page under writeback: it keeps its frame. Returns the node."""
        _, nid = self.inflight.pop(page)
        self._state[page] = RESIDENT
        return nid

    def orphan(self, page: int) -> None:
        """The owner exited while the write was in flight."""
        gen, nid = self.inflight.pop(page)
        self.orphans[(page, gen)] = nid

    def read_cpu_s(self, requests: int) -> float:
        """Guest CPU seconds to submit and complete these read requests."""
        return requests * self.dev.spec.read_cpu_us * 1e-6

    def read_steal_s(self, requests: int, pages: int) -> float:
        """vCPU time the host takes for these reads (a virtual disk; 0 for a real one)."""
        spec = self.dev.spec
        return (requests * spec.read_steal_us + pages * spec.read_steal_us_per_page) * 1e-6

    def read(self, slot: int, npages: int) -> Generator[simpy.Event, Any, float]:
        self.outstanding += 1
        lat = yield from self.dev.io("read", slot, npages)
        self.read_latencies.append(lat)
        self._put_request()
        return lat

    def read_async(self, slot: int, npages: int) -> None:
        self.env.process(self.read(slot, npages))
