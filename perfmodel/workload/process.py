"""Workload processes and their threads.

A thread walks its access stream in chunks. Runs of resident pages cost one
vectorised step and one timeout; only faults cost SimPy events.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from perfmodel.config.scenario import ProcessSpec
from perfmodel.hw.compressor import CLASS_NAMES
from perfmodel.kernel.fault import VMA
from perfmodel.kernel.mempolicy import Mempolicy
from perfmodel.kernel.pages import RESIDENT, UNTOUCHED, WRITEBACK, ZSWAP
from perfmodel.kernel.sched import SLICE_S, Task
from perfmodel.workload.access import Sequential, make_pattern
from perfmodel.workload.content import fill_content

if TYPE_CHECKING:
    from perfmodel.machine import Machine

MIN_CHUNK, MAX_CHUNK = 64, 8192


@dataclass
class PassRecord:
    """One pass of one process instance: start/end and bytes touched."""

    index: int
    kind: str
    start_s: float = math.inf
    end_s: float = 0.0
    accesses: int = 0
    # The kernel counters when the pass ended (its last thread), cumulative: a lab
    # record's snapshots are taken at the same points.
    counters: dict[str, int] | None = None
    # Accesses made on each CPU (by CPU id), as usemem's cpu_pages counts them.
    cpu_pages: dict[int, int] = field(default_factory=dict)


@dataclass
class InstanceRecord:
    name: str
    slot: int
    instance: int
    start_s: float = 0.0
    end_s: float = 0.0
    accesses: int = 0
    bytes_per_access: int = 4096
    passes: list[PassRecord] = field(default_factory=list)


class WorkloadProcess:
    """One process slot: runs `repeat` instances of spec one after another."""

    def __init__(
        self, m: Machine, spec: ProcessSpec, slot: int, base: int, npages: int, cpus: list[int],
        seed: np.random.SeedSequence,
    ) -> None:
        self.m = m
        self.spec = spec
        self.slot = slot
        self.base = base
        self.npages = npages
        self.cpus = cpus
        self.seed = seed
        self.vma = VMA(base, base + npages, Mempolicy(spec.mempolicy))
        self.records: list[InstanceRecord] = []
        self.done = m.env.event()
        m.env.process(self._run())

    def _run(self) -> Generator[simpy.Event, Any, None]:
        env = self.m.env
        spec = self.spec
        if spec.start_s:
            yield env.timeout(spec.start_s)
        seeds = self.seed.spawn(spec.repeat)
        for k in range(spec.repeat):
            rng = np.random.default_rng(seeds[k])
            self._populate(rng)
            rec = InstanceRecord(spec.name, self.slot, k, start_s=env.now,
                                 bytes_per_access=spec.bytes_per_access)
            self.records.append(rec)
            nthreads = spec.threads
            tseeds = seeds[k].spawn(nthreads)
            threads = []
            for t in range(nthreads):
                cpu = self.m.cpus[self.cpus[(self.slot * nthreads + t) % len(self.cpus)]]
                th = Thread(self, rec, t, nthreads, cpu, np.random.default_rng(tseeds[t]))
                threads.append(env.process(th.run()))
            yield simpy.AllOf(env, threads)
            rec.end_s = env.now
            if k + 1 < spec.repeat:
                self._exit()
        self.done.succeed()

    def _populate(self, rng: np.random.Generator) -> None:
        pt = self.m.pt
        lo, hi = self.base, self.base + self.npages
        classes, sizes = fill_content(self.spec.content, self.m.compressor, self.npages, rng)
        pt.content[lo:hi] = classes
        pt.csize[lo:hi] = sizes
        self.vma.ra.__init__()  # type: ignore[misc]

    def _exit(self) -> None:
        """exit_mmap(): free frames, swap slots and zswap entries of this instance."""
        m = self.m
        pt = m.pt
        state = memoryview(pt.state)
        node = memoryview(pt.node)
        slot = memoryview(pt.slot)
        for p in range(self.base, self.base + self.npages):
            s = state[p]
            if s == UNTOUCHED:
                continue
            if s == RESIDENT:
                m.lrus[node[p]].remove(p)
                m.alloc.free(node[p])
                m.memcg.pages -= 1
            elif s == WRITEBACK:
                m.swapio.orphan(p)
            m.zswap.invalidate(p)
            if slot[p] >= 0:
                m.swapio.free_slot(slot[p])
                slot[p] = -1
            state[p] = UNTOUCHED
        lo, hi = self.base, self.base + self.npages
        pt.backing[lo:hi] = 0
        pt.readahead[lo:hi] = False
        pt.unmapped[lo:hi] = False
        pt.dirty[lo:hi] = False
        pt.referenced[lo:hi] = False
        pt.pgref[lo:hi] = False
        assert not (pt.state[lo:hi] == ZSWAP).any()


class Thread:
    def __init__(
        self, proc: WorkloadProcess, rec: InstanceRecord, tid: int, nthreads: int, cpu: Any,
        rng: np.random.Generator,
    ) -> None:
        self.proc = proc
        self.m = proc.m
        self.rec = rec
        self.rng = rng
        # The process's cpumask: the scheduler may move the thread within it.
        self.task = Task(self.m.env, f"{proc.spec.name}/{proc.slot}.{tid}", cpu, pid=proc.slot,
                         allowed=[self.m.cpus[c] for c in proc.cpus])
        n = proc.npages
        self.lo = n * tid // nthreads
        self.hi = n * (tid + 1) // nthreads
        self.share = self.hi - self.lo
        self.chunk = 256
        spec = proc.spec
        m = self.m
        # Seconds per access by CPU node (row) and memory node (column).
        self._access_by_node = np.array([
            [
                spec.compute_ns * 1e-9
                + m.topo.touch_cost_s(spec.bytes_per_access, m.core_bw_mbps, i, j)
                for j in range(m.topo.n)
            ]
            for i in range(m.topo.n)
        ])
        self.single_node = m.topo.n == 1
        # Writing each content class on the fill pass, by class index.
        wc = m.hw.workload_costs
        self.fill_s = np.array([(wc.fill_ns.get(c, 0.0) + wc.fill_fresh_ns) * 1e-9
                                for c in CLASS_NAMES])

    @property
    def access_s(self) -> np.ndarray:
        """Seconds per access by memory node, from the node the thread runs on now."""
        return self._access_by_node[self.task.cpu.node]

    def run(self) -> Generator[simpy.Event, Any, None]:
        spec = self.proc.spec
        env = self.m.env
        yield from self.task.acquire()
        idx = 0
        if spec.fill and self.share > 0:
            yield from self._pass(idx, "fill", Sequential(self.lo, self.hi), self.share, 1.0)
            idx += 1
        pattern = make_pattern(spec.pattern, self.proc.npages, self.lo, self.hi, self.rng)
        per_pass = self.share
        if spec.passes is not None:
            left = spec.passes
            while left > 1e-9 and per_pass > 0:
                frac = min(1.0, left)
                yield from self._pass(idx, "access", pattern, int(round(per_pass * frac)),
                                      spec.write_fraction)
                idx += 1
                left -= frac
        else:
            assert spec.duration_s is not None
            end = env.now + spec.duration_s
            while env.now < end:
                yield from self._pass(idx, "access", pattern, max(1, per_pass),
                                      spec.write_fraction, until=end)
                idx += 1
        yield from self.task.flush()
        self.task.release()

    def _pass(
        self, idx: int, kind: str, pattern: Any, count: int, write_fraction: float,
        until: float = math.inf,
    ) -> Generator[simpy.Event, Any, None]:
        recs = self.rec.passes
        while len(recs) <= idx:
            recs.append(PassRecord(len(recs), kind))
        pr = recs[idx]
        pr.start_s = min(pr.start_s, self.task.now)
        base = self.proc.base
        rng = self.rng
        left = count
        while left > 0 and self.task.now < until:
            n = min(self.chunk, left)
            pages = pattern.chunk(n) + base
            if write_fraction >= 1.0:
                writes: np.ndarray | bool = True
            elif write_fraction <= 0.0:
                writes = False
            else:
                writes = rng.random(n) < write_fraction
            if kind == "fill" and self.fill_s.any():
                self.task.pending += float(self.fill_s[self.m.pt.content[pages]].sum())
            faults = yield from self._access(pages, writes, isinstance(pattern, Sequential))
            left -= n
            pr.accesses += n
            cpu_id = self.task.cpu.id
            pr.cpu_pages[cpu_id] = pr.cpu_pages.get(cpu_id, 0) + n
            self.rec.accesses += n
            # Aim for a few faults per chunk: the residency mask is rebuilt after each.
            if faults * 4 < n:
                self.chunk = min(MAX_CHUNK, self.chunk * 2)
            elif faults * 2 > n:
                self.chunk = max(MIN_CHUNK, self.chunk // 2)
        if self.task.now >= pr.end_s:
            pr.end_s = self.task.now
            pr.counters = self.m.counters.as_dict()

    def _access(
        self, pages: np.ndarray, writes: np.ndarray | bool, distinct: bool
    ) -> Generator[simpy.Event, Any, int]:
        """Touch pages in order. distinct: no page repeats in the chunk (sequential)."""
        m = self.m
        pt = m.pt
        state = pt.state
        task = self.task
        fault = m.fault
        n = len(pages)
        i = 0
        faults = 0
        while i < n:
            st = state[pages[i:]]
            nonres = np.flatnonzero(st != RESIDENT)
            j = i + (int(nonres[0]) if nonres.size else n - i)
            if distinct and j < n and st[j - i] == UNTOUCHED:
                # Populate a run of first touches at once while frames are free.
                k = j - i
                other = np.flatnonzero(st[k:] != UNTOUCHED)
                end = k + (int(other[0]) if other.size else len(st) - k)
                done = fault.populate(task, self.proc.vma, pages[j : i + end])
                if done:
                    run = pages[j : j + done]
                    if self.single_node:
                        task.pending += done * float(self.access_s[0])
                    else:
                        task.pending += float(self.access_s[pt.node[run]].sum())
                    faults += 1
                    # The hits before the run, then continue after it.
                    if j > i:
                        self._hits(pages[i:j], writes if isinstance(writes, bool) else writes[i:j])
                    i = j + done
                    if task.pending >= SLICE_S:
                        yield from task.maybe_yield_cpu()
                    continue
            if j > i:
                self._hits(pages[i:j], writes if isinstance(writes, bool) else writes[i:j])
                i = j
                if task.pending >= SLICE_S:
                    yield from task.maybe_yield_cpu()
                    continue  # others ran: residency may have changed
                if i >= n:
                    break
            page = int(pages[i])
            w = bool(writes) if isinstance(writes, bool) else bool(writes[i])
            yield from fault.fault(task, self.proc.vma, page, w)
            faults += 1
            # The faulting access itself.
            task.pending += self.access_s[pt.node[page]] if not self.single_node else self.access_s[0]
            if w:
                pt.dirty[page] = True
            i += 1
            if task.pending >= SLICE_S:
                yield from task.maybe_yield_cpu()
        return faults

    def _hits(self, run: np.ndarray, writes: np.ndarray | bool) -> None:
        m = self.m
        pt = m.pt
        task = self.task
        if self.single_node:
            task.pending += len(run) * float(self.access_s[0])
        else:
            nodes = pt.node[run]
            task.pending += float(self.access_s[nodes].sum())
            remote = int((nodes != task.cpu.node).sum())
            m.alloc.stat.cross_node_bytes += remote * self.proc.spec.bytes_per_access
        pt.referenced[run] = True
        hit = _map_swapcache(m, task, run, pt.readahead)
        if hit is not None:
            k = len(hit)
            m.counters.swap_ra_hit += k
            if m.fault.vma_readahead:
                self.proc.vma.ra.hit(int(hit[-1]), k)
            else:
                m.fault.cluster_ra.hits += k
        # Written folios left in the swap cache (no reclaim on their node).
        _map_swapcache(m, task, run, pt.unmapped)
        if writes is False:
            return
        w = run if writes is True else run[writes]
        if len(w) == 0:
            return
        has_slot = pt.slot[w] >= 0
        pt.dirty[w] = True
        if has_slot.any():
            # A write to a page still in the swap cache drops its swap copy (do_wp_page).
            for p in w[has_slot].tolist():
                m.fault.drop_swap(p)
                task.pending += m.fault.fault_s


def _map_swapcache(m: Machine, task: Task, run: np.ndarray, flag: np.ndarray) -> np.ndarray | None:
    """Pages of the run in the swap cache but not mapped (flag set): a minor fault each,
    which maps the folio (ra_hit_s includes fault_s). Returns them, or None."""
    sel = flag[run]
    if not sel.any():
        return None
    hit = run[sel]
    flag[hit] = False
    k = len(hit)
    m.counters.pgfault += k
    task.pending += k * m.fault.ra_hit_s
    return hit
