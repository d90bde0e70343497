"""Assembles one simulated machine from a hardware profile and a scenario."""

from __future__ import annotations

import numpy as np
import simpy

from perfmodel.config.hardware import HardwareProfile
from perfmodel.config.scenario import Scenario
from perfmodel.hw.compressor import Compressor
from perfmodel.hw.cpu import CPU
from perfmodel.hw.numa import Topology
from perfmodel.hw.swapdev import SwapDevice
from perfmodel.kernel.counters import Counters
from perfmodel.kernel.fault import FaultHandler
from perfmodel.kernel.lru import NodeLRU
from perfmodel.kernel.memcg import Memcg
from perfmodel.kernel.page_alloc import PageAllocator
from perfmodel.kernel.pages import PageTable
from perfmodel.kernel.reclaim import Reclaim
from perfmodel.kernel.swap_io import SwapIO
from perfmodel.kernel.swap_slots import SwapSlots
from perfmodel.kernel.zpool import make_zpool
from perfmodel.kernel.zswap import Zswap
from perfmodel.workload.process import WorkloadProcess


def split_by_weight(total: int, weights: list[int]) -> list[int]:
    """Integer split of total in proportion to weights, remainder to the first parts."""
    wsum = sum(weights)
    parts = [total * w // wsum for w in weights]
    for i in range(total - sum(parts)):
        parts[i % len(parts)] += 1
    return parts


class Machine:
    def __init__(self, sc: Scenario, hw: HardwareProfile, seed: int) -> None:
        self.sc = sc
        self.hw = hw
        self.env = env = simpy.Environment()
        self.era = era = sc.kernel.era
        ps = hw.memory.page_size
        self.page_size = ps
        self.core_bw_mbps = hw.memory.core_bandwidth_mbps
        self.topo = topo = Topology(hw)
        self.cpus = [CPU(env, c, topo.cpu_node[c]) for c in range(hw.cpu.n_cpus)]
        self.counters = counters = Counters()
        root = np.random.SeedSequence(seed)
        dev_seed, work_seed = root.spawn(2)

        # Memory: mem= caps what the kernel manages; it is spread over the nodes in
        # proportion to their size. reserved is held by everything but the workload.
        node_mem = [nd.memory for nd in sorted(hw.numa.nodes, key=lambda n: n.id)]
        if sc.memory.ram is not None:
            installed = sc.memory.ram // ps
            hm = hw.memory
            lost = (hm.boot_reserved + installed * hm.memmap_bytes_per_page + ps - 1) // ps
            self.totalram_pages = max(1, installed - lost)
        else:
            self.totalram_pages = sum(node_mem) // ps
        node_pages = split_by_weight(self.totalram_pages, node_mem)
        reserved = split_by_weight(sc.memory.reserved // ps, node_mem)
        managed = [max(0, a - r) for a, r in zip(node_pages, reserved, strict=True)]
        self.alloc = alloc = PageAllocator(
            env, topo, managed, ps, sc.vm.min_free_kbytes, sc.vm.watermark_scale_factor,
            hw.kernel_costs.fresh_frame_ns * 1e-9,
        )
        self.memcg = memcg = Memcg(sc.memory.cgroup, ps)

        # Workload pages: one range per process slot.
        self.slots_layout: list[tuple[int, int, int]] = []  # (process index, base, npages)
        base = 0
        for i, p in enumerate(sc.workload.processes):
            npg = p.footprint // ps
            for _ in range(p.count):
                self.slots_layout.append((i, base, npg))
                base += npg
        self.pt = pt = PageTable(base)
        on_active = np.zeros(base, dtype=np.bool_)
        self.lrus = [NodeLRU(pt, on_active) for _ in range(topo.n)]

        dev_name = sc.swap.device or next(iter(hw.swap_devices))
        self.dev_name = dev_name
        dspec = hw.swap_devices[dev_name]
        swap_bytes = sc.swap.size if sc.swap.size is not None else dspec.capacity
        self.device = SwapDevice(env, dspec, np.random.default_rng(dev_seed), ps, dev_name)
        self.slots = SwapSlots(swap_bytes // ps, len(self.cpus), dspec.kind == "hdd")
        self.swapio = swapio = SwapIO(env, self.device, pt, alloc, memcg, counters,
                                      slots=self.slots)

        self.compressor = Compressor(sc.zswap.compressor, hw.compressors[sc.zswap.compressor])
        zpool_name = sc.zswap.zpool or era.default_zpool
        chain = sc.kernel.ZSMALLOC_CHAIN_SIZE or era.zsmalloc_chain_size
        self.zpool = make_zpool(zpool_name, ps, chain)
        kc = hw.kernel_costs
        self.zswap = Zswap(
            env, sc.zswap, era, pt, self.compressor, self.zpool, alloc, memcg, counters,
            self.totalram_pages, ps, topo.n, self.cpus, swapio.write,
            kc.zswap_store_ns * 1e-9, kc.zswap_load_ns * 1e-9, kc.zswap_lru_walk_ns * 1e-9,
            kc.swapin_ns * 1e-9,
            None if kc.zswap_writeback_ns is None else kc.zswap_writeback_ns * 1e-9,
            kc.kworker_wakeup_ns * 1e-9,
        )
        # Per-node worker pools unless the boot parameter makes the scope the system.
        self.zswap.wq_per_node = sc.kernel.workqueue_default_affinity_scope != "system"
        self.zswap.io_congested = lambda: swapio.congested
        self.zswap.wait_for_tag = swapio.wait_for_tag
        page_touch_s = ps / (hw.memory.core_bandwidth_mbps * 1e6)
        self.reclaim = Reclaim(
            env, era, pt, self.lrus, alloc, memcg, self.zswap, self.slots, swapio, counters,
            self.cpus, topo.node_cpus, kc.reclaim_ns_per_page * 1e-9, page_touch_s,
        )
        swapio.lrus = self.lrus
        swapio.reclaiming = self.reclaim.reclaiming
        self.fault = FaultHandler(
            env, era, pt, self.lrus, self.reclaim, self.zswap, self.slots, swapio, counters,
            sc.vm.page_cluster, dspec.kind != "hdd", kc.fault_ns * 1e-9, page_touch_s,
            kc.swapin_ns * 1e-9, kc.swapcache_hit_ns * 1e-9, kc.majfault_ns * 1e-9,
        )

        all_cpus = list(range(len(self.cpus)))
        slot_seeds = work_seed.spawn(len(self.slots_layout))
        self.processes: list[WorkloadProcess] = []
        for k, (i, b, npg) in enumerate(self.slots_layout):
            spec = sc.workload.processes[i]
            cpus = list(spec.cpus) if spec.cpus is not None else all_cpus
            pt.proc[b : b + npg] = k
            self.processes.append(WorkloadProcess(self, spec, k, b, npg, cpus, slot_seeds[k]))
        proc_of = memoryview(pt.proc)
        vmas = [p.vma for p in self.processes]

        def vma_policy(page: int, node: int) -> tuple[int, tuple[int, ...] | None, bool]:
            vma = vmas[proc_of[page]]
            return vma.policy.target(node, page - vma.start)

        self.zswap.vma_policy = vma_policy
