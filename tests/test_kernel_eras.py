"""Which kernel behaviour the model follows, release by release and mechanism by mechanism.

Each test names the release range and the kernel function it follows. Most drive the
kernel objects directly (a Zswap wired the way machine.py wires it, or a Machine whose
workload never starts) so that counters can be pinned exactly; a few run a short
simulation. Tests marked xfail(strict=True) state the kernel's behaviour where the
model does not follow it yet; each reason says where the model departs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import simpy

from perfmodel import api
from perfmodel.config import load_profile
from perfmodel.config.scenario import CgroupSpec, ZswapSpec
from perfmodel.errors import ConfigError
from perfmodel.hw.compressor import (
    CLASS_NAMES,
    INCOMPRESSIBLE,
    SAME_FILLED,
    TEXT,
    ZERO,
    Compressor,
)
from perfmodel.hw.cpu import CPU
from perfmodel.hw.numa import Topology
from perfmodel.kernel.counters import Counters
from perfmodel.kernel.era import era_for
from perfmodel.kernel.memcg import Memcg
from perfmodel.kernel.page_alloc import PageAllocator
from perfmodel.kernel.pages import (
    DISK,
    RESIDENT,
    UNTOUCHED,
    WRITEBACK,
    ZEROMAP,
    ZSWAP,
    PageTable,
)
from perfmodel.kernel.reclaim import FREED, SWAP_CLUSTER_MAX
from perfmodel.kernel.sched import SLICE_S, Task
from perfmodel.kernel.zpool import make_zpool
from perfmodel.kernel.zswap import MAX_RECLAIM_RETRIES, TICK_S, Zswap
from perfmodel.machine import Machine
from perfmodel.results import Result
from perfmodel.simulation import simulate

ROOT = Path(__file__).resolve().parents[1]
PAGE = 4096
# One NUMA node and two CPUs: LRU walks and CPU contention stay easy to count.
LAPTOP = load_profile(ROOT / "hardware" / "laptop-2vcpu-sata.yaml")
XEON = load_profile(ROOT / "hardware" / "xeon-2s-nvme.yaml")
# A zsmalloc object of this size is above huge_class_size for chain 4 and 8: one page each.
HUGE = 4000

T = TypeVar("T")


def finish(gen: Generator[Any, Any, T]) -> T:
    """Run a kernel generator that must complete without sleeping; return its value."""
    try:
        next(gen)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the generator slept")


class ZRig:
    """A Zswap wired as machine.py wires it, on its own env with one node and two CPUs.

    totalram sets the pool limits: max_pages = totalram * max_pool_percent // 100.
    Writebacks are recorded in `written` instead of going to a device.
    """

    def __init__(
        self,
        release: str = "6.12",
        *,
        totalram: int = 100,
        npages: int = 256,
        ncpus: int = 2,
        compressor: str = "lz4",
        cgroup: CgroupSpec | None = None,
        cpu_nodes: tuple[int, ...] | None = None,
        **params: Any,
    ) -> None:
        self.env = env = simpy.Environment()
        self.era = era = era_for(release)
        spec = ZswapSpec(enabled=True, compressor=compressor, **params)
        self.pt = PageTable(npages)
        self.alloc = PageAllocator(env, Topology(LAPTOP), [1 << 20], PAGE, None, 10)
        self.memcg = Memcg(cgroup, PAGE)
        self.c = Counters()
        self.comp = Compressor(compressor, LAPTOP.compressors[compressor])
        name = spec.zpool or era.default_zpool
        self.zpool = make_zpool(name, PAGE, era.zsmalloc_chain_size)
        self.cpus = [CPU(env, i, cpu_nodes[i] if cpu_nodes else 0) for i in range(ncpus)]
        self.written: list[int] = []
        self.z = Zswap(
            env, spec, era, self.pt, self.comp, self.zpool, self.alloc, self.memcg, self.c,
            totalram, PAGE, 1, self.cpus, self._submit, 500e-9, 300e-9, 200e-9,
        )

    def _submit(self, pages: list[int], nodes: list[int]) -> None:
        self.written.extend(pages)

    def store(self, page: int, csize: int = HUGE, cls: int = TEXT) -> bool:
        """zswap_store() of one page as pageout() calls it; the page's state follows."""
        self.pt.content[page] = cls
        self.pt.csize[page] = csize
        ok, _ = self.z.store(page, 0, self.env.now)
        if ok:
            self.pt.state[page] = ZSWAP
        return ok

    def fill(self, pages: range, csize: int = HUGE) -> None:
        for p in pages:
            assert self.store(p, csize), p


# A Machine whose workload never starts (start_s) and whose page table is small.
RIG = [
    "memory.ram=64MiB",
    "memory.reserved=8MiB",
    "swap.size=512MiB",
    "workload.processes.0.footprint=8MiB",
    "workload.processes.0.start_s=1000",
]


def kernel(rel: str) -> list[str]:
    """Overrides selecting a release; usemem sets shrinker_enabled, which needs 6.8+."""
    out = [f'kernel.release="{rel}"']
    if era_for(rel).release < (6, 8):
        out.append("zswap.shrinker_enabled=null")
    return out


def machine(*overrides: str, hw: tuple[str, ...] = ()) -> Machine:
    sc, prof = api.prepare("usemem", "laptop-2vcpu-sata", RIG + list(overrides), list(hw))
    return Machine(sc, prof, seed=1)


def make_resident(
    m: Machine, pages: range, csize: int = 2000, cls: int = TEXT, node: int = 0
) -> None:
    """Pages faulted in and dirty, on the node's inactive list, charged and allocated."""
    pt = m.pt
    for p in pages:
        pt.state[p] = RESIDENT
        pt.node[p] = node
        pt.dirty[p] = True
        pt.content[p] = cls
        pt.csize[p] = csize
        m.lrus[node].add_inactive(p)
    m.alloc.nodes[node].free -= len(pages)
    m.memcg.pages += len(pages)


def task(m: Machine, cpu: int = 0) -> Task:
    return Task(m.env, "test", m.cpus[cpu])


def swap_out(m: Machine, page: int) -> int:
    """shrink_folio_list() on one page: off its LRU, then pageout(); FREED etc."""
    m.lrus[m.pt.node[page]].remove(page)
    return m.reclaim.pageout(page, 0, 0, 0.0)[0]


# ======================================================================================
# Releases: allocators and parameters
# ======================================================================================


@pytest.mark.parametrize(
    "release,zpools,default",
    [
        ("3.11", ("zbud",), "zbud"),
        ("3.17", ("zbud",), "zbud"),
        ("3.18", ("zbud", "zsmalloc"), "zbud"),
        ("4.7", ("zbud", "zsmalloc"), "zbud"),
        ("4.8", ("zbud", "z3fold", "zsmalloc"), "zbud"),
        ("6.6", ("zbud", "z3fold", "zsmalloc"), "zbud"),
        ("6.7", ("zbud", "z3fold", "zsmalloc"), "zsmalloc"),
        ("6.14", ("zbud", "z3fold", "zsmalloc"), "zsmalloc"),
        ("6.15", ("zsmalloc",), "zsmalloc"),
    ],
)
def test_allocators_by_release(release: str, zpools: tuple[str, ...], default: str) -> None:
    """zbud from 3.11, zsmalloc via zpool from 3.18, z3fold from 4.8; zsmalloc the
    default from 6.7 and the only allocator from 6.15 (zbud and z3fold removed)."""
    era = era_for(release)
    assert era.zpools == zpools
    assert era.default_zpool == default


@pytest.mark.parametrize(
    "name,debugfs,absent,present",
    [
        ("same_filled_pages", True, ["4.15", "6.11"], ["4.16", "6.10"]),
        ("reject_compress_fail", True, ["6.6"], ["6.7", "6.18"]),
        ("duplicate_entry", True, ["6.9"], ["3.11", "6.8"]),
        ("decompress_fail", True, ["6.14"], ["6.15"]),
        ("stored_incompressible_pages", True, ["6.17"], ["6.18"]),
        ("zswpout", False, ["5.18"], ["5.19"]),
        ("zswpwb", False, ["6.7"], ["6.8"]),
        ("swpout_zero", False, ["6.11"], ["6.12"]),
    ],
)
def test_counters_by_release(
    name: str, debugfs: bool, absent: list[str], present: list[str]
) -> None:
    """/sys/kernel/debug/zswap and /proc/vmstat show a counter only in the releases whose
    mm/zswap.c (or mm/vmstat.c) defines it."""
    for rel, want in [(r, False) for r in absent] + [(r, True) for r in present]:
        era = era_for(rel)
        names = era.debugfs_counters() if debugfs else era.vmstat_counters()
        assert (name in names) is want, rel


def test_unavailable_allocator_is_refused() -> None:
    """zswap.zpool (3.18+) naming an allocator the release lacks: z3fold before 4.8."""
    with pytest.raises(ConfigError, match="z3fold"):
        api.prepare("usemem", "laptop-2vcpu-sata", [*kernel("4.7"), "zswap.zpool=z3fold"])
    api.prepare("usemem", "laptop-2vcpu-sata", [*kernel("4.8"), "zswap.zpool=z3fold"])


@pytest.mark.parametrize(
    "rel,chain,kconfig", [("6.2", 4, None), ("6.3", 8, None), ("6.12", 16, 16)]
)
def test_zsmalloc_chain_size_by_release(rel: str, chain: int, kconfig: int | None) -> None:
    """CONFIG_ZSMALLOC_CHAIN_SIZE: fixed 4 pages per zspage before 6.3, default 8 from 6.3."""
    extra = [f"kernel.ZSMALLOC_CHAIN_SIZE={kconfig}"] if kconfig else []
    m = machine(*kernel(rel), "zswap.zpool=zsmalloc", *extra)
    assert m.zpool.chain_size == chain  # type: ignore[attr-defined]


# ======================================================================================
# Store path: 3.11-5.5 synchronous eviction
# ======================================================================================


def test_311_full_pool_evicts_inside_the_store() -> None:
    """zswap_frontswap_store() 3.11: pool_pages > max -> pool_limit_hit++ and
    zbud_reclaim_page() writes back the LRU head inside the store, which then goes on."""
    rig = ZRig("3.11", max_pool_percent=2)  # max_pages = 2; 3000 B: one per zbud page
    assert rig.zpool.name == "zbud" and rig.z.max_pages == 2
    rig.fill(range(3), csize=3000)  # 2 pages is not over the limit: the third fits
    assert rig.zpool.total_pages == 3 and rig.c.pool_limit_hit == 0
    assert rig.store(3, 3000)
    assert rig.c.pool_limit_hit == 1
    assert rig.written == [0] and rig.c.written_back_pages == 1
    assert rig.z.stored_pages == 3 and rig.zpool.total_pages == 3
    assert rig.c.reject_reclaim_fail == 0
    rig.env.run()
    assert rig.z.shrink_worker_runs == 0  # no worker before 5.6


def _311_with_unwritable_pool() -> ZRig:
    rig = ZRig("3.11", max_pool_percent=2)
    rig.fill(range(3), csize=3000)
    # Every entry's page is back in the swap cache: writeback gets -EEXIST.
    for p in range(3):
        rig.pt.state[p] = RESIDENT
    return rig


def test_311_failed_eviction_rejects() -> None:
    """zswap_frontswap_store() 3.11: zbud_reclaim_page() fails -> the page is rejected."""
    rig = _311_with_unwritable_pool()
    assert not rig.store(3, 3000)
    assert rig.c.pool_limit_hit == 1 and rig.c.reject_reclaim_fail >= 1
    assert rig.written == [] and rig.z.stored_pages == 3


def test_311_failed_eviction_counts_once() -> None:
    """zswap_frontswap_store() 3.11: reject_reclaim_fail++ once when eviction fails."""
    rig = _311_with_unwritable_pool()
    assert not rig.store(3, 3000)
    assert rig.c.reject_reclaim_fail == 1


def test_zsmalloc_before_62_cannot_evict() -> None:
    """zswap_frontswap_store() 3.18-5.5 with zsmalloc (no zpool_shrink before 6.2): a full
    pool rejects the page with reject_reclaim_fail and writes nothing back."""
    rig = ZRig("4.4", zpool="zsmalloc", max_pool_percent=2)
    rig.fill(range(3))
    assert not rig.store(3)
    assert (rig.c.pool_limit_hit, rig.c.reject_reclaim_fail) == (1, 1)
    assert rig.written == [] and rig.z.stored_pages == 3


# ======================================================================================
# Store path: same-filled pages (4.16-6.10) and the zeromap (6.11+)
# ======================================================================================


@pytest.mark.parametrize("release", ["4.16", "6.10"])
def test_same_filled_pages_stored_as_value(release: str) -> None:
    """zswap_store() 4.16-6.10: zswap_is_page_same_filled() -> an entry holding the value,
    no compression and no pool memory; same_filled_pages counts it."""
    rig = ZRig(release)
    assert rig.store(0, 0, ZERO) and rig.store(1, 34, SAME_FILLED)
    assert rig.z.same_filled_pages == 2 and rig.z.stored_pages == 2
    assert rig.zpool.total_pages == 0 and rig.memcg.zswap_bytes == 0
    assert rig.comp.busy_s == 0.0 and rig.c.zswpout == 2
    assert rig.z.lru_count == [0]  # no pool memory to reclaim: never on the zswap LRU
    rig.z.load(1, 0.0)
    assert rig.c.zswpin == 1 and rig.comp.busy_s == 0.0  # a memset, not a decompression
    rig.z.invalidate(0)
    rig.z.invalidate(1)
    assert rig.z.same_filled_pages == 0 and rig.z.stored_pages == 0


def test_same_filled_before_416_and_when_disabled_is_compressed() -> None:
    """zswap_frontswap_store() before 4.16, and 4.16-6.10 with same_filled_pages_enabled=N:
    a same-filled page is compressed like any other."""
    for rig in (ZRig("4.15"), ZRig("6.1", same_filled_pages_enabled=False)):
        assert rig.store(0, 34, SAME_FILLED)
        assert rig.z.same_filled_pages == 0 and rig.zpool.total_pages == 1
        # The memcg is charged the compressed length from 5.19 only.
        charged = 34 if rig.z.era.release >= (5, 19) else 0
        assert rig.memcg.zswap_bytes == charged and rig.comp.busy_s > 0


def test_non_same_filled_disabled_rejects_other_pages() -> None:
    """zswap_store() 5.17-6.10, non_same_filled_pages_enabled=N: only same-filled pages
    are stored; the rest are rejected without a counter."""
    rig = ZRig("6.1", non_same_filled_pages_enabled=False)
    assert rig.store(0, 0, ZERO)
    assert not rig.store(1, 1500, TEXT)
    assert rig.z.stored_pages == 1 and rig.comp.busy_s == 0.0
    assert rig.c.reject_compress_poor == rig.c.reject_alloc_fail == 0


@pytest.mark.xfail(
    strict=True,
    reason="a zero page's compressed length is 0 (Compressor.compressed_sizes skips class "
    "zero), so where zswap compresses zero pages (before 4.16; same_filled_pages_enabled=N) "
    "zs_malloc(0) fails with -EINVAL (reject_alloc_fail), and zbud stores a 0-byte object "
    "charged nothing, instead of the few bytes a compressor makes of it",
)
@pytest.mark.parametrize("release,params", [("4.15", {"zpool": "zsmalloc"}),
                                            ("6.1", {"same_filled_pages_enabled": False})])
def test_zero_page_compressed_like_a_same_filled_page(
    release: str, params: dict[str, Any]
) -> None:
    """zswap_store() where no same-filled check applies: a zero page compresses to a few
    bytes like any same-filled page and is stored."""
    rig = ZRig(release, **params)
    u = np.array([0.5])
    csize = int(rig.comp.compressed_sizes(np.array([ZERO], dtype=np.int8), u)[0])
    rig.pt.content[0] = ZERO
    rig.pt.csize[0] = csize
    ok, _ = rig.z.store(0, 0, 0.0)
    assert ok and rig.c.reject_alloc_fail == 0
    assert rig.memcg.zswap_bytes == LAPTOP.compressors["lz4"].size_bytes["same_filled"].value


def test_zeromap_takes_zero_pages_611() -> None:
    """swap_writepage() 6.11+: a zero-filled folio goes to the swap zeromap (swpout_zero),
    never to zswap; do_swap_page() reads it back as swpin_zero with no I/O. A non-zero
    same-filled page is compressed."""
    m = machine("vm.page-cluster=0")
    make_resident(m, range(2))
    m.pt.content[0] = ZERO
    m.pt.content[1] = SAME_FILLED
    m.pt.csize[1] = 34
    c, z = m.counters, m.zswap
    assert swap_out(m, 0) == FREED
    assert m.pt.state[0] == ZEROMAP and c.swpout_zero == 1
    assert c.zswpout == 0 and z.stored_pages == 0
    assert swap_out(m, 1) == FREED
    assert m.pt.state[1] == ZSWAP and c.zswpout == 1 and z.same_filled_pages == 0
    assert z.zpool.total_pages == 3  # 34 + 8 B: class 48, 256 per 3-page zspage
    finish(m.fault.fault(task(m), m.processes[0].vma, 0, False))
    assert (c.pgmajfault, c.swpin_zero, c.zswpin, c.pswpin) == (1, 1, 0, 0)
    assert m.pt.state[0] == RESIDENT


def test_zero_pages_are_zswap_entries_before_611() -> None:
    """swap_writepage() 4.16-6.10: no zeromap; zswap_store() keeps a zero page as a
    same-filled entry."""
    m = machine(*kernel("6.10"))
    make_resident(m, range(1), cls=ZERO, csize=0)
    assert swap_out(m, 0) == FREED
    assert m.pt.state[0] == ZSWAP and m.counters.swpout_zero == 0
    assert m.zswap.same_filled_pages == 1 and m.zswap.zpool.total_pages == 0


# ======================================================================================
# Store path: pool limit and accept_threshold_percent (5.6+)
# ======================================================================================


def _full_pool(release: str, **params: Any) -> ZRig:
    """totalram 1000 pages at 10%: max_pages 100; entries of one pool page each."""
    rig = ZRig(release, totalram=1000, zpool="zsmalloc", **params)
    assert rig.z.max_pages == 100
    return rig


def test_accept_threshold_hysteresis_611() -> None:
    """zswap_check_limits() 6.11+: cur >= max -> pool_limit_hit, reached_full; stores are
    rejected until cur <= accept_thr_pages (90 of 100)."""
    rig = _full_pool("6.12", max_pool_percent=10)
    rig.fill(range(100))
    assert not rig.store(100)
    assert rig.c.pool_limit_hit == 1 and rig.z.reached_full
    for p in range(9):
        rig.z.invalidate(p)
    assert rig.zpool.total_pages == 91
    assert not rig.store(101)
    assert rig.c.pool_limit_hit == 1  # refused by the threshold, not a new limit hit
    rig.z.invalidate(9)
    assert rig.store(102) and not rig.z.reached_full
    assert rig.zpool.total_pages == 91 and rig.c.pool_limit_hit == 1


def test_accept_threshold_hysteresis_is_full_can_accept() -> None:
    """zswap_is_full() / zswap_can_accept() (5.6 until the 2024 rework; 6.8 here): full
    when cur > max; accepted again only when cur < accept threshold."""
    rig = _full_pool("6.8", max_pool_percent=10)
    rig.fill(range(101))  # 100 pages is not over the limit yet
    assert not rig.store(101) and rig.c.pool_limit_hit == 1
    for p in range(11):
        rig.z.invalidate(p)
    assert rig.zpool.total_pages == 90
    assert not rig.store(102)
    rig.z.invalidate(11)
    assert rig.store(103) and not rig.z.reached_full


def test_accept_threshold_100_disables_hysteresis() -> None:
    """accept_threshold_percent=100 (5.6+): one freed page below the limit is enough."""
    rig = _full_pool("6.12", max_pool_percent=10, accept_threshold_percent=100)
    rig.fill(range(100))
    assert not rig.store(100)
    rig.z.invalidate(0)
    assert rig.store(101)


@pytest.mark.parametrize(
    "release,runs", [("6.1", [1, 1, 1]), ("6.8", [1, 2, 2]), ("6.12", [1, 2, 3])]
)
def test_which_failed_stores_queue_the_shrink_work(release: str, runs: list[int]) -> None:
    """zswap_store(): which refusals queue_work(shrink_wq). 5.6-6.4 (6.1): only a full pool;
    from 6.5 (6.8) also a refusal above the accept threshold; 6.12: any refusal while
    reached_full, here one by memory.zswap.max."""
    rig = _full_pool(release, max_pool_percent=10, accept_threshold_percent=50)
    n = 100 if rig.era.release >= (6, 11) else 101
    rig.fill(range(n))
    for p in range(n):
        rig.pt.state[p] = RESIDENT  # in the swap cache: the worker cannot shrink the pool
    got = []
    assert not rig.store(200)  # the pool is full
    rig.env.run()
    got.append(rig.z.shrink_worker_runs)
    for p in range(n - 70):
        rig.z.invalidate(p)
    assert not rig.store(201)  # under max, above the accept threshold (50)
    rig.env.run()
    got.append(rig.z.shrink_worker_runs)
    rig.memcg.zswap_max = 0
    assert not rig.store(202)  # memory.zswap.max
    rig.env.run()
    got.append(rig.z.shrink_worker_runs)
    assert got == runs


# ======================================================================================
# Load path: exclusive loads
# ======================================================================================


@pytest.mark.parametrize(
    "release,param,exclusive",
    [
        ("6.4", None, False),
        ("6.5", None, False),
        ("6.5", True, True),
        ("6.8", None, False),
        ("6.8", True, True),
        ("6.9", None, True),
    ],
)
def test_exclusive_loads_by_release(release: str, param: bool | None, exclusive: bool) -> None:
    """zswap_load(): 3.11-6.4 the entry stays; 6.5-6.8 exclusive_loads (default N) frees it;
    6.9+ always frees it."""
    rig = ZRig(release, zpool="zsmalloc", exclusive_loads=param)
    assert rig.store(0, 2000)
    rig.z.load(0, 0.0)
    assert rig.c.zswpin == 1
    assert rig.z.has_entry(0) is not exclusive
    assert rig.z.stored_pages == (0 if exclusive else 1)
    assert rig.zpool.total_pages == (0 if exclusive else 1)


@pytest.mark.parametrize("rel", ["6.4", "6.9"])
def test_exclusive_loads_parameter_only_in_65_to_68(rel: str) -> None:
    """/sys/module/zswap/parameters/exclusive_loads exists in 6.5-6.8 only."""
    with pytest.raises(ConfigError, match="exclusive_loads"):
        api.prepare("usemem", "laptop-2vcpu-sata", [*kernel(rel), "zswap.exclusive_loads=Y"])


def test_non_exclusive_load_keeps_entry_until_slot_freed() -> None:
    """zswap_frontswap_load() before 6.5: the entry stays; the clean swap-cache page is
    dropped on the next reclaim without a new store, and the entry goes when a write frees
    the swap slot (zswap_invalidate())."""
    m = machine(*kernel("6.1"), "vm.page-cluster=0")
    make_resident(m, range(1))
    c, z, vma = m.counters, m.zswap, m.processes[0].vma
    assert swap_out(m, 0) == FREED and c.zswpout == 1
    finish(m.fault.fault(task(m), vma, 0, False))
    assert c.zswpin == 1 and z.has_entry(0) and z.stored_pages == 1
    assert m.pt.state[0] == RESIDENT and not m.pt.dirty[0]
    assert swap_out(m, 0) == FREED
    assert m.pt.state[0] == ZSWAP and c.zswpout == 1  # dropped, not stored again
    finish(m.fault.fault(task(m), vma, 0, True))  # a write fault frees the slot
    assert c.zswpin == 2 and not z.has_entry(0) and z.stored_pages == 0


# ======================================================================================
# Writeback: second chance (6.12), the shrink worker and its work item
# ======================================================================================


@pytest.mark.parametrize("release,rotated", [("6.11", False), ("6.12", True)])
def test_second_chance_rotates_referenced_entry(release: str, rotated: bool) -> None:
    """shrink_memcg_cb() 6.12+: a referenced entry has its bit cleared and goes to the LRU
    tail; before 6.12 the LRU head is written back at once."""
    rig = ZRig(release, zpool="zsmalloc")
    rig.fill(range(2))
    r, _ = rig.z._writeback_one(0, 0, 0.0)
    if not rotated:
        assert r == 1 and rig.written == [0]
        return
    assert r == 0 and rig.written == [] and not rig.z.zref[0] and rig.z.zref[1]
    assert rig.z._writeback_one(0, 0, 0.0)[0] == 0  # entry 1 rotated too
    assert rig.z._writeback_one(0, 0, 0.0)[0] == 1 and rig.written == [0]
    assert rig.c.reject_reclaim_fail == 0  # a rotation is not a failure


def test_pool_limit_queues_worker_that_writes_back_to_threshold() -> None:
    """shrink_worker() 6.11+: queued by a store refused at the limit, it writes back until
    zswap_total_pages() <= accept threshold (9 of 10 here): one entry."""
    for release in ("6.11", "6.12"):
        rig = ZRig(release, zpool="zsmalloc", max_pool_percent=10)
        rig.fill(range(10))
        assert not rig.store(10) and rig.c.pool_limit_hit == 1
        rig.env.run()
        assert rig.z.shrink_worker_runs == 1
        assert rig.written == [0] and rig.c.written_back_pages == 1
        assert rig.zpool.total_pages == 9
        assert rig.store(11)  # back at the threshold: accepted


def test_second_chance_needs_ceil_n_over_16_worker_runs() -> None:
    """shrink_worker() 6.12: each run ends after MAX_RECLAIM_RETRIES (16) rounds that wrote
    nothing, so 40 referenced entries take ceil(40/16) = 3 runs before anything is
    written back."""
    n = 40
    rig = ZRig("6.12", totalram=400, zpool="zsmalloc", max_pool_percent=10)  # accept 36
    rig.fill(range(n))
    for run in range(1, math.ceil(n / MAX_RECLAIM_RETRIES) + 1):
        rig.z.queue_shrink(rig.env.now)
        rig.env.run()
        assert rig.z.shrink_worker_runs == run
        cleared = int((~rig.z.zref[:n]).sum())
        if run * MAX_RECLAIM_RETRIES < n:
            assert cleared == run * MAX_RECLAIM_RETRIES and rig.written == []
    # Run 3 clears the last 8 bits, then writes back from the head down to 36 pages.
    assert rig.written == [0, 1, 2, 3] and rig.zpool.total_pages == 36


def test_work_requests_before_a_run_merge() -> None:
    """queue_work() 5.6+ on a pending work item does nothing: three requests, one run of
    shrink_worker()."""
    rig = ZRig("6.12", zpool="zsmalloc")
    rig.fill(range(5))
    for _ in range(3):
        rig.z.queue_shrink(0.0)
    rig.env.run()
    assert rig.z.shrink_worker_runs == 1


def test_work_request_during_a_run_queues_exactly_one_more() -> None:
    """queue_work() 5.6+ while shrink_worker() runs re-queues it once: two requests during
    the first run give one second run, not two."""
    rig = ZRig("6.12", totalram=400, zpool="zsmalloc", max_pool_percent=10)
    rig.fill(range(40))  # referenced: each run is 16 rotations, 3.2 us
    rig.z.queue_shrink(0.0)
    mid: list[bool] = []

    def requester() -> Generator[simpy.Event, Any, None]:
        yield rig.env.timeout(1e-6)
        mid.append(rig.z.shrink_worker_runs == 1)
        rig.z.queue_shrink(rig.env.now)
        rig.z.queue_shrink(rig.env.now)

    rig.env.process(requester())
    rig.env.run()
    assert mid == [True]
    assert rig.z.shrink_worker_runs == 2
    assert int((~rig.z.zref[:40]).sum()) == 2 * MAX_RECLAIM_RETRIES


def test_work_request_for_later_runs_later() -> None:
    """queue_work() 5.6+ made at a later time (the caller's CPU work not yet paid) starts a
    run of shrink_worker() then, not before."""
    rig = ZRig("6.12", zpool="zsmalloc")
    rig.fill(range(5))
    rig.z.queue_shrink(0.0)
    rig.z.queue_shrink(0.5)
    rig.env.run(until=0.4)
    assert rig.z.shrink_worker_runs == 1
    rig.env.run()
    assert rig.z.shrink_worker_runs == 2 and rig.env.now >= 0.5


def test_pending_work_runs_at_cond_resched_when_every_cpu_is_busy() -> None:
    """shrink_worker() 5.6+ on an unbound kworker needs a CPU: with every CPU busy the
    pending work runs at a reclaimer's cond_resched(); with one CPU idle the kworker takes
    that instead."""
    for busy in (True, False):
        rig = ZRig("6.12", zpool="zsmalloc")
        rig.fill(range(5))
        inline: list[float] = []
        runs_while_held: list[int] = []

        def reclaimer(
            busy: bool = busy, rig: ZRig = rig, inline: list[float] = inline,
            held: list[int] = runs_while_held,
        ) -> Generator[simpy.Event, Any, None]:
            reqs = [c.res.request() for c in (rig.cpus if busy else rig.cpus[:1])]
            for r in reqs:
                yield r
            rig.z.queue_shrink(rig.env.now)
            # 10 ms of reclaim with a cond_resched() every 0.1 ms of its CPU time.
            for k in range(100):
                inline.append(rig.z.cond_resched(rig.cpus[0], rig.env.now + k * 1e-4))
            held.append(rig.z.shrink_worker_runs)
            yield rig.env.timeout(1e-2)
            for c, r in zip(rig.cpus, reqs, strict=False):
                c.res.release(r)

        rig.env.process(reclaimer())
        rig.env.run()
        assert rig.z.shrink_worker_runs == 1  # ran once, in one place or the other
        assert (sum(inline) > 0) is busy
        assert runs_while_held == [1 if busy else 0]


def _rotating_rig(release: str) -> ZRig:
    """Every run of the shrink work gives up at once: from 6.12 after 16 referenced
    entries; before 6.2 zsmalloc cannot evict at all."""
    rig = ZRig(release, zpool="zsmalloc", totalram=100_000, npages=4096)
    rig.fill(range(4000), csize=100)
    rig.z.max_pages = rig.z.accept_pages = 1
    return rig


def _queue_every_10us(rig: ZRig, until: float) -> list[tuple[float, int]]:
    """A reclaimer holding every CPU that fails a store (queue_work) every 10 us of its
    CPU time and calls cond_resched() right after; returns (time, runs so far)."""
    seen: list[tuple[float, int]] = []

    def reclaimer() -> Generator[simpy.Event, Any, None]:
        reqs = [c.res.request() for c in rig.cpus]
        for r in reqs:
            yield r
        t = 0.0
        while t < until:
            rig.z.queue_shrink(t)
            t += rig.z.cond_resched(rig.cpus[0], t) + 10e-6
            seen.append((t, rig.z.shrink_worker_runs))
        for c, r in zip(rig.cpus, reqs, strict=True):
            c.res.release(r)

    rig.env.process(reclaimer())
    rig.env.run()
    return seen


def test_kworker_preempts_at_once_under_cfs() -> None:
    """Before 6.6 (CFS) a kworker that slept is placed half a latency period behind
    min_vruntime, more than the wakeup granularity: every queue_work() that wakes it
    preempts the reclaimer at its next cond_resched()."""
    seen = _queue_every_10us(_rotating_rig("6.1"), 2e-3)
    assert all(runs == k + 1 for k, (_, runs) in enumerate(seen))


def test_kworker_preemption_follows_eevdf_lag() -> None:
    """6.6+ (EEVDF, RUN_TO_PARITY): a woken kworker preempts only while its lag is positive.
    With the reclaimer as the only other runnable task, a run of r seconds spends r/2 of
    lag, so a lag L gives ceil(2L/r) back-to-back runs; the next request waits until the
    reclaimer's slice is found used up at a tick (TICK_S), having earned half the wait."""
    rig = _rotating_rig("6.12")
    z = rig.z
    r = MAX_RECLAIM_RETRIES * z.lru_walk_s  # 16 rotations per run
    z._lag = 100e-6
    seen = _queue_every_10us(rig, 6e-3)
    chain = math.ceil(2 * 100e-6 / r)
    before_tick = [runs for t, runs in seen if t < TICK_S]
    assert max(before_tick) == chain
    first_after = next(t for t, runs in seen if runs > chain)
    assert TICK_S <= first_after < TICK_S + 20e-6
    # The wait earned half of itself back as lag (up to the clamp), and runs chain again.
    assert seen[-1][1] - chain == len([t for t, _ in seen if t >= first_after])


@pytest.mark.parametrize("release,preempts", [("6.12", True), ("6.11", False)])
def test_kworker_sleep_forgives_its_lag_from_612(release: str, preempts: bool) -> None:
    """6.12 DELAY_DEQUEUE with DELAY_ZERO: a kworker that went to sleep owing 100 us of
    lag stays queued until it is eligible and leaves with lag 0, so after a 1 ms sleep
    the next queue_work() finds it eligible and it preempts the reclaimer at its next
    cond_resched(). 6.6-6.11 place it with the lag it slept with: it waits."""
    rig = _rotating_rig(release)
    z = rig.z
    z._lag = -100e-6
    z._idle_since = 0.0
    ran: list[float] = []

    def reclaimer() -> Generator[simpy.Event, Any, None]:
        reqs = [c.res.request() for c in rig.cpus]
        for r in reqs:
            yield r
        yield rig.env.timeout(1e-3)
        z.queue_shrink(1e-3)
        ran.append(z.cond_resched(rig.cpus[0], 1e-3 + 1e-6))
        for c, r in zip(rig.cpus, reqs, strict=True):
            c.res.release(r)

    rig.env.process(reclaimer())
    rig.env.run(until=2e-3)
    assert (ran[0] > 0) is preempts


def test_writeback_cost_is_profile_writeback_plus_decompression() -> None:
    """kernel_costs.zswap_writeback_ns (the folio, the swap cache, freeing the entry, an
    unplugged bio) plus one decompression; unset, it is a swap-in plus a zswap load."""
    rig = ZRig("6.12", zpool="zsmalloc")
    rig.fill(range(2))
    z = rig.z
    assert z.writeback_s == pytest.approx(z.swapcache_s + z.load_cost_s)
    z.zref[:2] = False
    z.writeback_s = 50e-6
    ok, cost = z._writeback_one(0, 0, 0.0)
    assert ok == 1 and cost == pytest.approx(50e-6 + rig.comp.decompress_s[TEXT])


def test_each_run_pays_the_kworker_wakeup() -> None:
    """kernel_costs.kworker_wakeup_ns: waking the kworker and switching to it and back,
    once per run, on top of the run's LRU walks."""
    rig = _rotating_rig("6.12")
    z = rig.z
    z.wakeup_s = 10e-6
    z._lag = 1.0
    z.queue_shrink(0.0)
    req = [c.res.request() for c in rig.cpus]
    rig.env.run(until=1e-9)
    assert all(r.triggered for r in req)
    cost = z.cond_resched(rig.cpus[0], 0.0)
    assert cost == pytest.approx(10e-6 + MAX_RECLAIM_RETRIES * z.lru_walk_s)


@pytest.mark.parametrize(("node", "busy", "runs_on"), [
    (0, (), 0),  # the queuing node's CPU is idle: there
    (1, (), 1),
    (1, (1,), 0),  # its only CPU is busy: the scheduler moves the kworker to an idle one
    (1, (0, 1), None),  # none idle: it waits for its own node's CPU
])
def test_the_shrink_work_runs_on_the_queuing_nodes_cpus(
    node: int, busy: tuple[int, ...], runs_on: int | None,
) -> None:
    """An unbound workqueue has a worker pool per NUMA node (per LLC pod from 6.5), and
    queue_work() puts the item in the pool of the CPU that queued it. The scope is not
    strict: with no idle CPU in the pod, the kworker runs on an idle CPU elsewhere; with
    none idle at all it waits for its pod's CPU, and a reclaimer on another node cannot
    run the item at its cond_resched()."""
    rig = ZRig("6.12", cpu_nodes=(0, 1), max_pool_percent=10)
    z = rig.z
    z.wakeup_s = 10e-6  # so that the CPU that runs it shows busy time
    held = {c: rig.cpus[c].res.request() for c in busy}
    rig.env.run(until=1e-9)
    assert [c.id for c in z.pod(1)] == [1] and [c.id for c in z.pod(-1)] == [0, 1]
    z.queue_shrink(rig.env.now, node)
    rig.env.run(until=1e-3)
    if runs_on is None:
        assert z.shrink_worker_runs == 0
        assert z.cond_resched(rig.cpus[0], rig.env.now) == 0.0
        rig.cpus[1].res.release(held[1])
        rig.env.run(until=2e-3)
        runs_on = 1
    assert z.shrink_worker_runs == 1
    assert [c.busy_s > 0 for c in rig.cpus] == [runs_on == 0, runs_on == 1]


def test_a_batch_of_cpu_time_is_paid_a_slice_at_a_time() -> None:
    """CPU time owed for work done in one vectorised step is paid one slice at a time,
    with a waiting task running in between, as the tick shares the CPU."""
    env = simpy.Environment()
    cpu = CPU(env, 0, 0)
    a = Task(env, "a", cpu)
    b_ran: list[float] = []
    a_done: list[float] = []

    def task_a() -> Generator[simpy.Event, Any, None]:
        yield from a.acquire()
        yield env.timeout(0)  # b queues for the CPU
        a.pending = 10 * SLICE_S
        yield from a.maybe_yield_cpu()
        a.release()
        a_done.append(env.now)

    def task_b() -> Generator[simpy.Event, Any, None]:
        req = cpu.res.request()
        yield req
        b_ran.append(env.now)
        yield env.timeout(1e-4)
        cpu.res.release(req)

    env.process(task_a())
    env.process(task_b())
    env.run()
    assert b_ran == [pytest.approx(SLICE_S)]
    assert a_done == [pytest.approx(10 * SLICE_S + 1e-4)]


@pytest.mark.parametrize(("wake_at", "runs_at"), [
    # Woken 0.2 ms after kswapd got the CPU: RUN_TO_PARITY keeps kswapd on until its
    # 0.75 ms slice is used, and only the tick after that (4 ms, HZ=250) ends it.
    (0.2e-3, 4e-3 + 20e-6),
    # Woken after the slice: it preempts at kswapd's next cond_resched().
    (1.0e-3, 1.0e-3 + 20e-6),
])
def test_a_kernel_thread_yields_to_a_wakeup_as_eevdf_does(wake_at: float, runs_at: float) -> None:
    """kswapd pays its reclaim work with cond_resched() every folio (20 us here): a task
    woken onto its CPU gets it at the first cond_resched() once kswapd has used its base
    slice, and never sooner; kswapd then queues behind it."""
    from perfmodel.kernel.sched import BASE_SLICE_S, TICK_S

    assert (BASE_SLICE_S, TICK_S) == (0.75e-3, 4e-3)
    env = simpy.Environment()
    cpu = CPU(env, 0, 0)
    k = Task(env, "kswapd0", cpu)
    u = Task(env, "usemem", cpu)
    ran: list[float] = []
    k_done: list[float] = []

    def kswapd() -> Generator[simpy.Event, Any, None]:
        yield from k.acquire()
        k.pending = 10e-3
        yield from k.run_kthread(20e-6)
        k.release()
        k_done.append(env.now)

    def woken() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(wake_at)
        yield from u.acquire()
        ran.append(env.now)
        yield env.timeout(1e-3)
        u.release()

    env.process(kswapd())
    env.process(woken())
    env.run()
    assert ran == [pytest.approx(runs_at)]
    # kswapd's 10 ms are all paid, 1 ms later for the woken task's run.
    assert k_done == [pytest.approx(11e-3)]
    assert cpu.busy_s == pytest.approx(10e-3)


# ======================================================================================
# Writeback: era differences in the worker (xfail where the model departs)
# ======================================================================================


def test_shrink_worker_before_65_shrinks_once_per_run() -> None:
    """shrink_worker() 5.6-6.4: zpool_shrink(pool, 1) once, whatever the threshold."""
    rig = ZRig("6.1", zpool="zbud", max_pool_percent=10, accept_threshold_percent=50)
    rig.fill(range(11), csize=3000)  # one entry per zbud page
    assert not rig.store(11)
    rig.env.run()
    assert rig.c.written_back_pages == 1


def test_shrink_worker_68_stops_under_threshold() -> None:
    """shrink_worker() 6.5 to the 2024 rework (6.8 here): written back until the pool is
    under accept_thr (9): 11 -> 8."""
    rig = ZRig("6.8", zpool="zsmalloc", max_pool_percent=10)
    rig.fill(range(11))
    assert not rig.store(11)
    rig.env.run()
    assert rig.c.written_back_pages == 3 and rig.zpool.total_pages == 8


# ======================================================================================
# Writeback: the shrinker (6.8+)
# ======================================================================================


@pytest.mark.parametrize("release,param", [("6.7", True), ("6.8", None), ("6.12", False)])
def test_shrinker_off_does_nothing(release: str, param: bool | None) -> None:
    """zswap_shrinker_count()/scan() 6.8+: shrinker_enabled defaults to N and then returns
    0 / SHRINK_STOP; before 6.8 there is no zswap shrinker."""
    rig = ZRig(release, totalram=1000, zpool="zsmalloc", shrinker_enabled=param)
    assert not rig.z.shrinker_enabled
    rig.fill(range(100))
    assert rig.z.shrinker_scan(0, 0, 0.0, priority=0) == 0.0
    assert rig.written == [] and rig.z.shrinker.nr_deferred == [0]


def test_shrinker_writes_back_under_pressure() -> None:
    """do_shrink_slab() + zswap_shrinker_scan() 6.8+: at priority 0 the scan target is
    (freeable >> 0) * 4 / DEFAULT_SEEKS, capped at 2 * freeable: all 100 entries go."""
    rig = ZRig("6.11", totalram=1000, zpool="zsmalloc", shrinker_enabled=True)
    rig.fill(range(100), csize=PAGE)
    assert rig.z.shrinker_scan(0, 0, 0.0, priority=0) > 0
    assert rig.written == list(range(100)) and rig.c.written_back_pages == 100


@pytest.mark.parametrize("swapins,deferred", [(0, 50), (40, 30)])
def test_shrinker_count_subtracts_disk_swapins(swapins: int, deferred: int) -> None:
    """zswap_shrinker_count() 6.12+: nr_disk_swapins is taken off the LRU count (then scaled
    by backing / stored pages, 1 for page-sized objects); at priority 2, 100 entries give
    (100 >> 2) * 4 / 2 = 50 to scan, 60 give 30: under a batch of 128 and under freeable,
    so deferred."""
    rig = ZRig("6.12", totalram=1000, zpool="zsmalloc", shrinker_enabled=True)
    rig.fill(range(100), csize=PAGE)
    rig.z.nr_disk_swapins[0] = swapins
    rig.z.shrinker_scan(0, 0, 0.0, priority=2)
    assert rig.z.shrinker.nr_deferred == [deferred] and rig.written == []
    assert rig.z.nr_disk_swapins == [0]


def test_shrinker_keeps_disk_swapins_beyond_the_lru() -> None:
    """zswap_shrinker_count() 6.12: 150 swap-ins against 100 entries leave 50."""
    rig = ZRig("6.12", totalram=1000, zpool="zsmalloc", shrinker_enabled=True)
    rig.fill(range(100), csize=PAGE)
    rig.z.nr_disk_swapins[0] = 150
    rig.z.shrinker_scan(0, 0, 0.0, priority=2)
    assert rig.z.nr_disk_swapins == [50]


def test_shrinker_deferred_work_is_scaled_by_priority() -> None:
    """do_shrink_slab(): total_scan = (nr >> priority) + delta. With 8192 entries at
    priority 12, delta = 4 and nr >> 12 <= 2 * 8192 >> 12 = 4: never a batch of 128."""
    rig = ZRig("6.11", totalram=100_000, npages=8192, zpool="zsmalloc", shrinker_enabled=True)
    rig.fill(range(8192), csize=PAGE)
    for _ in range(40):
        rig.z.shrinker_scan(0, 0, 0.0)
    assert rig.c.written_back_pages == 0


# ======================================================================================
# Writeback: what one writeback is, and the memcg limit path
# ======================================================================================


def test_one_writeback_is_alloc_decompress_write() -> None:
    """zswap_writeback_entry(): one page allocation, one decompression, one async write;
    counted in written_back_pages, zswpwb and pswpout; the entry is freed before the I/O."""
    m = machine()
    make_resident(m, range(1), csize=HUGE)
    z, c, st = m.zswap, m.counters, m.alloc.stat
    assert swap_out(m, 0) == FREED
    z.zref[0] = False
    allocs = sum(st.numa_hit) + sum(st.numa_miss)
    busy = m.compressor.busy_s
    pool_pages = z.zpool.total_pages
    assert z._writeback_one(0, 0, 0.0)[0] == 1
    assert sum(st.numa_hit) + sum(st.numa_miss) == allocs + 1
    assert m.compressor.busy_s == pytest.approx(busy + m.compressor.decompress_s[TEXT])
    assert (c.written_back_pages, c.zswpwb, c.pswpout) == (1, 1, 1)
    assert z.stored_pages == 0 and z.zpool.total_pages == pool_pages - 1
    assert m.pt.state[0] == WRITEBACK
    m.env.run(until=0.1)
    assert m.device.writes == 1 and m.device.written_pages == 1
    # No reclaim runs on the node, so the written folio stays in the swap cache.
    assert m.pt.state[0] == RESIDENT and m.pt.backing[0] == DISK


def _memcg_at_zswap_max(release: str) -> ZRig:
    rig = ZRig(release, zpool="zsmalloc", cgroup=CgroupSpec(zswap_max=3 * PAGE))
    rig.fill(range(4))  # 3 x 4000 B < 12288 B: the fourth is still allowed
    assert rig.memcg.zswap_bytes == 4 * HUGE
    return rig


def test_memcg_zswap_max_writes_back_synchronously() -> None:
    """zswap_store() 6.8+: over memory.zswap.max, shrink_memcg() writes back one entry per
    node inside the store, before any worker runs."""
    rig = _memcg_at_zswap_max("6.11")
    rig.store(4)
    assert rig.written == [0] and rig.c.written_back_pages == 1
    assert rig.z.shrink_worker_runs == 0


def test_memcg_zswap_max_store_proceeds_after_writeback() -> None:
    """zswap_store() 6.8+: shrink_memcg() succeeded -> the store goes on (zswpout++)."""
    rig = _memcg_at_zswap_max("6.11")
    assert rig.store(4)
    assert rig.c.zswpout == 5


def test_memcg_zswap_max_before_68_rejects_without_writeback() -> None:
    """zswap_store() 5.19-6.7: obj_cgroup_may_zswap() false -> reject, nothing written back."""
    rig = _memcg_at_zswap_max("6.1")
    assert not rig.store(4)
    assert rig.c.written_back_pages == 0 and rig.written == []


def test_memcg_not_charged_before_519() -> None:
    """zswap_frontswap_store() before 5.19: the compressed copy is not charged to the memcg."""
    rig = ZRig("5.10", zpool="zsmalloc", cgroup=CgroupSpec())
    assert rig.store(0, 2000)
    assert rig.memcg.zswap_bytes == 0 and rig.memcg.usage == 0


def test_memcg_charges_compressed_bytes() -> None:
    """obj_cgroup_charge_zswap() 5.19+: the memcg is charged the compressed length (not
    the zswap_header, not the allocator's rounding) and uncharged on free."""
    rig = ZRig("6.1", zpool="zbud", cgroup=CgroupSpec())
    assert rig.store(0, 1000) and rig.store(1, 1001)
    assert rig.memcg.zswap_bytes == 2001 and rig.memcg.usage == 1
    rig.z.invalidate(0)
    assert rig.memcg.zswap_bytes == 1001
    rig.z.invalidate(1)
    assert rig.memcg.zswap_bytes == 0 and rig.memcg.usage == 0


# ======================================================================================
# Store path: 6.18 incompressible pages, compression failures
# ======================================================================================


def test_618_incompressible_page_stored_raw() -> None:
    """zswap_compress() 6.18+: a result of a page or more is stored as the page itself
    (dlen = PAGE_SIZE) when memcg writeback is allowed."""
    rig = ZRig("6.18")
    assert rig.store(0, 4128, INCOMPRESSIBLE)
    assert rig.z.stored_incompressible_pages == 1
    assert rig.memcg.zswap_bytes == PAGE and rig.zpool.total_pages == 1
    assert rig.c.reject_compress_fail == 0


def test_618_incompressible_rejected_without_memcg_writeback() -> None:
    """zswap_compress() 6.18+: with memory.zswap.writeback=0 the page is rejected
    (reject_compress_fail): kept raw it could never leave the pool."""
    rig = ZRig("6.18", cgroup=CgroupSpec(zswap_writeback=False))
    assert not rig.store(0, 4128, INCOMPRESSIBLE)
    assert rig.z.stored_incompressible_pages == 0 and rig.c.reject_compress_fail == 1


def test_618_incompressible_gauge_drops_when_entry_freed() -> None:
    """zswap_entry_free() 6.18+: stored_incompressible_pages-- for a raw entry."""
    rig = ZRig("6.18")
    assert rig.store(0, 4128, INCOMPRESSIBLE)
    rig.z.load(0, 0.0)  # exclusive: the entry is freed
    assert rig.z.stored_incompressible_pages == 0


def test_618_result_of_exactly_one_page_is_incompressible() -> None:
    """zswap_compress() 6.18+: dlen == PAGE_SIZE counts as incompressible."""
    rig = ZRig("6.18")
    assert rig.store(0, PAGE, INCOMPRESSIBLE)
    assert rig.z.stored_incompressible_pages == 1


@pytest.mark.parametrize("release,fail", [("6.6", 0), ("6.7", 1), ("6.17", 1)])
def test_compress_failure_counter_by_release(release: str, fail: int) -> None:
    """zswap_compress(): lz4 cannot fit an incompressible page in one page; the error is
    counted as reject_compress_fail from 6.7, nowhere before; never compress_poor."""
    rig = ZRig(release, zpool="zsmalloc")
    assert not rig.store(0, 4128, INCOMPRESSIBLE)
    assert rig.c.reject_compress_fail == fail and rig.c.reject_compress_poor == 0
    assert rig.z.stored_pages == 0 and rig.zpool.total_pages == 0
    assert ("reject_compress_fail" in era_for(release).debugfs_counters()) is bool(fail)


@pytest.mark.xfail(
    strict=True,
    reason="LZO (lzo1x_1_compress, no output bound before 6.15) does not fail on an "
    "incompressible page: it returns up to 4419 bytes, and the allocator's -ENOSPC makes "
    "it reject_compress_poor. Zswap.store treats every result over a page as a "
    "compressor failure",
)
@pytest.mark.parametrize("release,zpool", [("6.1", "zbud"), ("6.12", "zsmalloc")])
def test_lzo_oversize_output_is_compress_poor(release: str, zpool: str) -> None:
    """zswap_store(): lzo output of 4419 B -> zpool_malloc() -ENOSPC -> reject_compress_poor."""
    rig = ZRig(release, compressor="lzo", zpool=zpool)
    assert not rig.store(0, 4419, INCOMPRESSIBLE)
    assert rig.c.reject_compress_poor == 1 and rig.c.reject_compress_fail == 0


def test_compressed_size_distribution_per_compressor() -> None:
    """zswap_compress() (every release): the compressed length of a page comes from its
    compressor's size model in the profile, per content class: fixed sizes exactly,
    lognormal at its median for u = 0.5."""
    for prof in (LAPTOP, XEON):
        for name, spec in prof.compressors.items():
            comp = Compressor(name, spec)
            for idx, cname in enumerate(CLASS_NAMES):
                if cname == "zero":
                    continue
                dist = spec.size_bytes[cname]
                u = np.array([0.1, 0.5, 0.9])
                got = comp.compressed_sizes(np.full(3, idx, dtype=np.int8), u)
                want = dist.value if dist.dist == "fixed" else dist.median
                assert got[1] == round(float(want or 0)), (prof.name, name, cname)
                assert got[0] <= got[1] <= got[2]
                if dist.dist == "fixed":
                    assert got[0] == got[2]
    # lz4's bound for an incompressible page is over a page; lzo's is 4419 B.
    sizes = {n: s.size_bytes["incompressible"].value for n, s in LAPTOP.compressors.items()}
    assert sizes["lz4"] == 4128 and sizes["lzo"] == 4419


# ======================================================================================
# Allocators through zswap_store(), byte for byte
# ======================================================================================


@pytest.mark.parametrize("release,limit", [("6.1", 3960), ("6.5", 3968)])
def test_zbud_size_limit_is_compress_poor(release: str, limit: int) -> None:
    """zbud_alloc(): objects over PAGE_SIZE - 2 chunks (3968 B) get -ENOSPC, counted as
    reject_compress_poor; before 6.5 the 8-byte zswap_header is part of the object."""
    rig = ZRig(release, zpool="zbud")
    assert rig.store(0, limit)
    assert not rig.store(1, limit + 1)
    assert rig.c.reject_compress_poor == 1 and rig.c.reject_alloc_fail == 0
    assert rig.zpool.total_pages == 1


def test_zbud_pool_total_size_two_per_page() -> None:
    """zbud_alloc() (3.11-6.14): two objects per page at most: 5 entries of 1900 B (+8 B
    zswap_header before 6.5) take 3 pages of pool_total_size."""
    rig = ZRig("6.1", zpool="zbud")
    rig.fill(range(5), csize=1900)
    assert rig.z.pool_total_size == 3 * PAGE


@pytest.mark.parametrize("release,fits", [("5.10", 1272), ("6.5", 1280)])
def test_z3fold_three_per_page_with_header(release: str, fits: int) -> None:
    """z3fold_alloc() (4.8-6.14): three objects share a page while 3 x chunks <= 62 (20
    chunks = 1280 B); the zswap_header (8 B, before 6.5) moves the boundary down 8 bytes."""
    rig = ZRig(release, zpool="z3fold")
    rig.fill(range(3), csize=fits)
    assert rig.z.pool_total_size == PAGE
    rig = ZRig(release, zpool="z3fold")
    rig.fill(range(3), csize=fits + 1)
    assert rig.z.pool_total_size == 2 * PAGE


@pytest.mark.parametrize("release,pages", [("6.1", 10 + 6), ("6.5", 8 + 5)])
def test_zsmalloc_packing_by_chain_size(release: str, pages: int) -> None:
    """zs_malloc() size classes, chain 4 (before 6.3) and 8 (6.3+): 13 objects of 2500 B
    use 2731 B each with chain 4 (3 per 2-page zspage: 10 pages) and 2521 B with chain 8
    (13 per 8 pages); 6 of 3400 B are huge with chain 4 (6 pages) and 6 per 5-page zspage
    with chain 8 (5 pages)."""
    rig = ZRig(release, npages=32, zpool="zsmalloc")
    rig.fill(range(13), csize=2500)
    rig.fill(range(13, 19), csize=3400)
    assert rig.z.pool_total_size == pages * PAGE
    assert rig.memcg.zswap_bytes == 13 * 2500 + 6 * 3400


@pytest.mark.parametrize("release,huge,n,shared", [("6.1", 3257, 5, 4), ("6.5", 3625, 9, 8)])
def test_zsmalloc_huge_class_through_store(release: str, huge: int, n: int, shared: int) -> None:
    """zs_malloc() huge_class_size (3257 B chain 4 before 6.3, 3625 B chain 8): from there
    each entry takes a page; one byte less shares zspages (class 3264: 5 per 4 pages;
    class 3632: 9 per 8 pages)."""
    for csize, pages in ((huge - 1, shared), (huge, n)):
        rig = ZRig(release, zpool="zsmalloc")
        rig.fill(range(n), csize=csize)
        assert rig.zpool.total_pages == pages, csize


def test_zsmalloc_62_to_64_objects_carry_zswap_header() -> None:
    """zswap_frontswap_store() 6.2-6.4: hlen = sizeof(zswap_header) with zsmalloc too."""
    rig = ZRig("6.3", zpool="zsmalloc")
    assert rig.store(0, 2000)
    assert rig.zpool.object_bytes(int(rig.pt.handle[0])) == 2008


# ======================================================================================
# Reclaim: LRU aging, watermarks, direct and memcg reclaim
# ======================================================================================


def test_two_references_activate() -> None:
    """folio_check_references() (every release): a first PTE reference keeps an anon page
    on the inactive list with PG_referenced set; a second one (PG_referenced already set)
    activates it; an unreferenced page is reclaimed."""
    m = machine()
    make_resident(m, range(3))
    pt, lru, c = m.pt, m.lrus[0], m.counters
    pt.referenced[0] = pt.pgref[0] = True  # A: seen once already, referenced again
    pt.referenced[1] = True  # B: referenced once
    rec, scanned, _ = m.reclaim.shrink_node(0, 1, m.cpus[0], 0.0, True)
    assert (rec, scanned) == (1, 3)
    assert c.pgactivate == 1 and lru.nr_active == 1 and lru.nr_inactive == 1
    assert pt.pgref[1] and not pt.referenced[1] and pt.state[2] == ZSWAP
    assert (c.pgscan_kswapd, c.pgsteal_kswapd) == (3, 1)
    pt.referenced[1] = True  # B referenced a second time
    m.reclaim.shrink_node(0, 1, m.cpus[0], 0.0, True)
    assert c.pgactivate == 2


@pytest.mark.xfail(
    strict=True,
    reason="folio_check_references() sets PG_referenced before returning ACTIVATE and "
    "shrink_active_list() leaves it set, so one new reference re-activates a deactivated "
    "page; Reclaim.shrink_node clears pgref on activation",
)
def test_deactivated_page_reactivates_on_one_reference() -> None:
    """folio_check_references() (every release): 'the mark is set for activated folios as
    well so that recently deactivated but used folios are quickly recovered'."""
    m = machine()
    make_resident(m, range(3))
    pt, lru, c = m.pt, m.lrus[0], m.counters
    pt.referenced[0] = pt.pgref[0] = True
    m.reclaim.shrink_node(0, 1, m.cpus[0], 0.0, True)  # 0 activated, 1 reclaimed
    m.reclaim._shrink_active(lru)  # 0 deactivated
    pt.referenced[0] = True
    m.reclaim.shrink_node(0, 1, m.cpus[0], 0.0, True)
    assert c.pgactivate == 2


def test_watermarks_per_node() -> None:
    """__setup_per_zone_wmarks() (4.6+, watermark_scale_factor): min split by managed
    share; low and high add max(min / 4, managed * watermark_scale_factor / 10000) each."""
    env = simpy.Environment()
    a = PageAllocator(env, Topology(XEON), [10000, 30000], PAGE, 1024, 10)
    assert [(n.wmark_min, n.wmark_low, n.wmark_high) for n in a.nodes] == [
        (64, 80, 96), (192, 240, 288)]
    a = PageAllocator(env, Topology(XEON), [10000, 30000], PAGE, 1024, 100)
    assert [(n.wmark_min, n.wmark_low, n.wmark_high) for n in a.nodes] == [
        (64, 164, 264), (192, 492, 792)]


def test_fresh_frames_are_the_low_water_mark_of_free_pages() -> None:
    """The first use of a frame since boot costs kernel_costs.fresh_frame_ns (the host's
    fault under a hypervisor). Freed frames are handed out again before untouched ones,
    so only allocations that take free pages below their lowest count so far pay."""
    env = simpy.Environment()
    a = PageAllocator(env, Topology(XEON), [10000, 10000], PAGE, 1024, 10, 5e-6)
    for _ in range(100):
        assert a.alloc(0, 0) == 0
    assert a.fresh_frames == 100
    assert a.fresh_cost_s() == pytest.approx(100 * 5e-6)
    assert a.fresh_cost_s() == 0.0  # paid once
    a.free(0, 60)
    for _ in range(60):
        a.alloc(0, 0)
    assert a.fresh_frames == 100  # the freed frames again
    assert a.take(1, 7, 1)  # zsmalloc pages on the other node
    a.alloc(0, 0)
    assert a.fresh_frames == 108
    assert a.fresh_cost_s() == pytest.approx(8 * 5e-6)


def test_first_touches_pay_for_fresh_frames_once() -> None:
    """The fill pass's vectorised first touches (do_anonymous_page()) pay fresh_frame_ns
    per frame never used before; the same pages touched again after a free do not."""
    m = machine(hw=("kernel_costs.fresh_frame_ns=7000",))
    t = task(m)
    vma = m.processes[0].vma
    pages = np.arange(vma.start, vma.start + 64)
    assert m.fault.populate(t, vma, pages) == 64
    base = 64 * (m.fault.fault_s + m.fault.zero_fill_s)
    assert t.pending == pytest.approx(base + 64 * 7e-6)
    m.alloc.free(0, 64)  # as if those frames were reclaimed
    m.pt.state[pages] = UNTOUCHED  # for a second first touch
    t2 = task(m)
    assert m.fault.populate(t2, vma, pages) == 64
    assert t2.pending == pytest.approx(base)


def test_fill_pass_pays_fill_fresh_ns_per_page() -> None:
    """workload_costs.fill_fresh_ns: each page the fill pass writes costs that much on
    top of its class's fill_ns; the access passes do not pay it."""
    runs = []
    for ns in (0, 10000):
        sc, prof = api.prepare("usemem", "laptop-2vcpu-sata",
                               [*RIG[:-1]], [f"workload_costs.fill_fresh_ns={ns}"])
        r = simulate(sc, prof).to_dict()
        runs.append(r["workload"]["processes"][0]["passes"])
    pages = runs[0][0]["accesses"]
    assert pages == 8 * 1024 * 1024 // PAGE
    assert runs[1][0]["elapsed_s"] - runs[0][0]["elapsed_s"] == pytest.approx(pages * 1e-5)
    assert runs[1][1]["elapsed_s"] == pytest.approx(runs[0][1]["elapsed_s"])


def test_kswapd_woken_below_low_reclaims_to_high() -> None:
    """get_page_from_freelist() (every release) fails at the low watermark ->
    wake_all_kswapds(); the page comes from the min reserve; kswapd's balance_pgdat()
    reclaims SWAP_CLUSTER_MAX at a time until free reaches the high watermark, then sleeps."""
    m = machine()
    make_resident(m, range(1024))
    m.env.run(until=1e-9)  # kswapd asleep
    nd = m.alloc.nodes[0]
    nd.free = nd.wmark_low + 1
    assert m.alloc.alloc(0, 0) == 0 and m.alloc.kswapd_wakeups == 0  # fast path
    assert m.alloc.alloc(0, 0) == 0 and m.alloc.kswapd_wakeups == 1  # slow path
    assert nd.free == nd.wmark_low - 1
    m.env.run(until=0.5)
    c = m.counters
    assert m.reclaim.kswapd_runs == 1
    assert nd.wmark_high <= nd.free < nd.wmark_high + SWAP_CLUSTER_MAX
    assert c.pgsteal_kswapd > 0 and c.pgsteal_kswapd % SWAP_CLUSTER_MAX == 0
    assert c.allocstall == c.pgscan_direct == 0


def test_direct_reclaim_counts_allocstall() -> None:
    """__alloc_pages_slowpath() (every release): at the min watermark the allocating task
    reclaims itself (allocstall++, pgscan_direct / pgsteal_direct) one SWAP_CLUSTER_MAX
    batch, then allocates."""
    m = machine()
    make_resident(m, range(100))
    nd = m.alloc.nodes[0]
    nd.free = nd.wmark_min
    assert finish(m.reclaim.alloc_page(task(m), 0)) == 0
    c = m.counters
    assert c.allocstall == 1
    assert (c.pgscan_direct, c.pgsteal_direct) == (SWAP_CLUSTER_MAX, SWAP_CLUSTER_MAX)
    assert c.pgscan_kswapd == 0


def test_memcg_reclaim_pays_for_the_pool() -> None:
    """try_to_free_mem_cgroup_pages() with zswap (5.19+, obj_cgroup_charge_zswap()): the
    compressed copy is charged to the cgroup, so at 2:1 bringing usage down by 64 pages
    takes 128 stores."""
    m = machine("memory.cgroup.max=4MiB")
    make_resident(m, range(400), csize=2048)
    m.memcg.pages = 1024 + 64
    finish(m.reclaim.memcg_reclaim(task(m), 64))
    assert m.counters.zswpout == 128
    assert m.memcg.usage == 1024 and m.memcg.zswap_bytes == 128 * 2048


def test_memcg_limit_zswap_swaps_out_more_than_a_device(
    small_run: Callable[..., Result],
) -> None:
    """mem_cgroup_charge() under memory.max, 6.12: zswap charges its pool to the cgroup, so
    filling the same buffer under the same limit takes more swap-outs than with a swap
    device alone."""
    common = ["memory.ram=512MiB", "memory.cgroup.max=48MiB", "workload.processes.0.passes=0.001"]
    z = small_run(*common)
    d = small_run(*common, "zswap.enabled=N")

    def outs(r: Result) -> int:
        return r.vmstat["zswpout"] + r.vmstat["pswpout"] + r.vmstat["swpout_zero"]

    assert outs(z) > outs(d)
    limit = 48 << 20
    for r in (z, d):
        assert r.memory["memcg_usage_bytes"] <= limit
    # The pool's share of the limit is memory the workload cannot keep resident.
    assert z.memory["pages_by_location"]["resident"] < d.memory["pages_by_location"]["resident"]


# ======================================================================================
# Reclaim: the block layer's request limit
# ======================================================================================


def _spy_outstanding(m: Machine) -> list[int]:
    """Record the device's outstanding requests after every submission of writes."""
    seen: list[int] = []
    io = m.swapio
    write = io.write

    def spy(pages: list[int], nodes: list[int]) -> None:
        write(pages, nodes)
        seen.append(io.outstanding)

    io.write = spy  # type: ignore[method-assign]
    m.zswap.submit_write = spy
    return seen


def test_reclaimer_sleeps_for_a_request_tag() -> None:
    """blk_mq_get_tag() (every release, blk-mq): with nr_requests requests outstanding the
    submitter sleeps until one completes."""
    m = machine("zswap.enabled=N", hw=("swap_devices.sda.nr_requests=4",))
    io = m.swapio
    make_resident(m, range(8))
    for p in range(8):
        m.pt.slot[p] = 2 * p  # no two adjacent: eight requests
        m.pt.state[p] = WRITEBACK
    io.write(list(range(8)), [0] * 8)
    assert io.outstanding == 8 and io.congested
    woke: list[int] = []

    def reclaimer() -> Generator[simpy.Event, Any, None]:
        t = task(m)
        yield from t.acquire()
        yield from m.reclaim.wait_for_requests(t)
        woke.append(io.outstanding)

    m.env.process(reclaimer())
    m.env.run(until=0.1)
    assert woke and woke[0] < io.nr_requests and io.tag_waits >= 1


@pytest.mark.xfail(
    strict=True,
    reason="Reclaim waits for a tag only between shrink_node() calls, and one call writes "
    "every page it scans when none is freed at once (device swap-out): 300 scattered pages "
    "become 300 requests in one go. The kernel submits at most a SWAP_CLUSTER_MAX batch "
    "per shrink_folio_list() and sleeps in blk_mq_get_tag() per bio",
)
def test_reclaim_outstanding_bounded_by_nr_requests_plus_a_batch() -> None:
    """shrink_folio_list() + blk_mq_get_tag() (every release): kswapd alone, swap-out to
    the device: outstanding requests <= nr_requests + SWAP_CLUSTER_MAX."""
    m = machine("zswap.enabled=N", hw=("swap_devices.sda.nr_requests=4",))
    make_resident(m, range(300))
    for p in range(300):
        m.pt.slot[p] = 2 * p
    seen = _spy_outstanding(m)
    m.env.run(until=1e-9)
    m.alloc.nodes[0].free = m.alloc.nodes[0].wmark_low
    m.alloc.alloc(0, 0)
    m.env.run(until=0.5)
    assert seen and max(seen) <= 4 + SWAP_CLUSTER_MAX


def test_shrink_worker_writeback_bounded_by_nr_requests() -> None:
    """shrink_worker() -> __swap_writepage() (6.11 here): the kworker too waits for a tag."""
    m = machine(*kernel("6.11"), "zswap.accept_threshold_percent=0",
                hw=("swap_devices.sda.nr_requests=4",))
    make_resident(m, range(100), csize=HUGE)
    for p in range(100):
        assert swap_out(m, p) == FREED
    seen = _spy_outstanding(m)
    m.zswap.queue_shrink(0.0)
    m.env.run(until=0.5)
    assert m.counters.zswpwb == 100
    assert max(seen) <= 4 + SWAP_CLUSTER_MAX


# ======================================================================================
# Swap-in: readahead with zswap
# ======================================================================================


def _swapped_window(
    *overrides: str, disk: tuple[int, ...] = (), hw: tuple[str, ...] = (),
) -> Machine:
    """Pages 16..23 swapped out (to zswap, or to disk for those in `disk`), and a VMA
    readahead state that asks for the full 8-page window at 16."""
    m = machine(*overrides, hw=hw)
    make_resident(m, range(16, 24))
    for p in range(16, 24):
        if p in disk:
            # Swapped out to the device earlier: a slot, no frame, no LRU entry.
            m.lrus[0].remove(p)
            m.pt.slot[p] = m.slots.alloc(0, p)
            m.pt.state[p] = DISK
            m.alloc.free(0)
            m.memcg.pages -= 1
        else:
            assert swap_out(m, p) == FREED
    ra = m.processes[0].vma.ra
    ra.prev, ra.hits = 15, 6
    return m


def test_readahead_decompresses_every_zswap_page_in_the_fault() -> None:
    """swap_vma_readahead() + zswap_load() (6.12 here): the window of 1 << page-cluster
    pages is read in the fault; every zswap page in it is decompressed there (zswpin
    each), the others count as swap_ra, and a later touch of one is a swap_ra_hit, not a
    major fault."""
    m = _swapped_window()
    c, z, comp = m.counters, m.zswap, m.compressor
    t = task(m)
    finish(m.fault.fault(t, m.processes[0].vma, 16, False))
    assert (c.pgmajfault, c.zswpin, c.swap_ra, c.pswpin) == (1, 8, 7, 0)
    assert z.stored_pages == 0  # 6.12: exclusive loads
    assert all(m.pt.dirty[16:24])  # so each is stored again when next reclaimed
    per_page = m.fault.swapin_s + z.load_cost_s + comp.decompress_s[TEXT]
    assert t.pending == pytest.approx(m.fault.fault_s + 8 * per_page)
    finish(m.fault.fault(task(m), m.processes[0].vma, 17, False))
    assert (c.pgmajfault, c.swap_ra_hit, c.zswpin) == (1, 1, 8)


def test_readahead_hit_costs_the_same_on_both_fault_paths() -> None:
    """do_swap_page() finding the page in the swap cache (every release): a readahead hit
    is one minor fault, fault_ns + swapcache_hit_ns, whether the workload meets it one
    page at a time or in a vectorised run of hits (fault_ns was once charged twice there)."""
    from types import SimpleNamespace

    from perfmodel.workload.process import Thread

    m = _swapped_window()
    finish(m.fault.fault(task(m), m.processes[0].vma, 16, False))
    one = task(m)
    finish(m.fault.fault(one, m.processes[0].vma, 17, False))
    run = task(m)
    thread = SimpleNamespace(m=m, task=run, single_node=True, access_s=np.zeros(1),
                             proc=m.processes[0])
    faults = m.counters.pgfault
    Thread._hits(thread, np.arange(18, 24), False)  # type: ignore[arg-type]
    per_hit = m.fault.fault_s + m.fault.swapcache_hit_s
    assert one.pending == pytest.approx(per_hit)
    assert run.pending == pytest.approx(6 * per_hit)
    assert (m.counters.swap_ra_hit, m.counters.pgfault - faults) == (7, 6)


def test_major_fault_cost_is_charged_once_per_fault() -> None:
    """do_swap_page() (every release): kernel_costs.majfault_ns is the fault's own work
    (swap cache miss, readahead window, swap-in charge, refault), once per major fault
    however many pages the window reads; readahead pages pay only their swap-in."""
    base = _swapped_window()
    extra = _swapped_window(hw=("kernel_costs.majfault_ns=40000",))
    costs = []
    for m in (base, extra):
        t = task(m)
        finish(m.fault.fault(t, m.processes[0].vma, 16, False))
        costs.append(t.pending)
        assert m.counters.pgmajfault == 1 and m.counters.zswpin == 8
    assert costs[1] - costs[0] == pytest.approx(40e-6)


def test_readahead_window_mixes_zswap_and_disk() -> None:
    """swap_read_folio() (6.6+; swap_readpage() before) per page of the window: zswap pages
    are loaded synchronously (zswpin), the rest are read from the device (pswpin)."""
    m = _swapped_window(disk=(17, 19, 21, 23))
    c = m.counters
    proc = m.env.process(m.fault.fault(task(m), m.processes[0].vma, 16, False))
    m.env.run(until=proc)
    assert (c.zswpin, c.pswpin, c.swap_ra, c.pgmajfault) == (4, 4, 7, 1)
    assert m.zswap.nr_disk_swapins == [4]  # what the 6.12 shrinker count subtracts


def test_virtual_disk_reads_take_the_vcpu_for_their_steal() -> None:
    """A virtual disk on a small host (the lab's QEMU): each swap-in read costs the vCPU
    read_steal_us per request and read_steal_us_per_page per page, time in which the
    faulting task holds its CPU without doing guest work (so not in busy_s)."""
    done = []
    for hw in ((), ("swap_devices.sda.read_steal_us=100",
                    "swap_devices.sda.read_steal_us_per_page=10")):
        m = _swapped_window(disk=tuple(range(16, 24)), hw=hw)
        proc = m.env.process(m.fault.fault(task(m), m.processes[0].vma, 16, False))
        m.env.run(until=proc)
        assert (m.counters.pswpin, m.counters.swap_ra) == (8, 7)
        done.append((m.env.now, m.cpus[0].busy_s))
    # One plugged request of 8 contiguous slots: 100 + 8 * 10 us.
    assert done[1][0] - done[0][0] == pytest.approx(180e-6)
    assert done[1][1] == pytest.approx(done[0][1])


def test_readahead_read_costs_its_submission_cpu() -> None:
    """A disk page read only as readahead: the fault does not wait for the device, but
    the request's read_cpu_us (bio submission and completion) is the fault's CPU."""
    lat = "swap_devices.sda.read_latency_us={dist: fixed, value: 500}"
    got = []
    for extra in ((), ("swap_devices.sda.read_cpu_us=40",)):
        m = _swapped_window(disk=(20,), hw=(lat, *extra))
        t = task(m)
        proc = m.env.process(m.fault.fault(t, m.processes[0].vma, 16, False))
        m.env.run(until=proc)
        assert (m.counters.zswpin, m.counters.pswpin) == (7, 1)
        got.append((m.env.now, m.cpus[0].busy_s))
    for now, busy in got:
        # The target (16) came from zswap: the read of page 20 is readahead, which
        # the fault does not wait for. Its time is its CPU work alone.
        assert now == pytest.approx(busy)
    # Submitting and completing the readahead request is 40 us more of it.
    assert got[1][1] - got[0][1] == pytest.approx(40e-6)


def test_disk_target_waits_for_cpu_work_then_the_device() -> None:
    """The target on disk: the fault's latency is its CPU work, then read_cpu_us, then
    the device's latency, in series."""
    lat = "swap_devices.sda.read_latency_us={dist: fixed, value: 500}"
    m = _swapped_window(disk=(16,), hw=(lat, "swap_devices.sda.read_cpu_us=40"))
    t = task(m)
    proc = m.env.process(m.fault.fault(t, m.processes[0].vma, 16, False))
    m.env.run(until=proc)
    assert m.counters.pswpin == 1
    cpu = m.cpus[0].busy_s
    assert m.env.now == pytest.approx(cpu + 500e-6)
    assert m.fault.fault_latencies[-1] == pytest.approx(cpu + 500e-6)


def test_page_cluster_zero_reads_one_page() -> None:
    """swap_vma_readahead() (4.16+) with vm.page-cluster=0: 1 << 0 = one page, no
    readahead."""
    m = _swapped_window("vm.page-cluster=0")
    finish(m.fault.fault(task(m), m.processes[0].vma, 16, False))
    assert (m.counters.zswpin, m.counters.swap_ra) == (1, 0)


def _write_out(m: Machine, pages: range) -> int:
    """Resident pages isolated by reclaim and submitted to the disk, as pageout() leaves
    them; returns node 0's free pages at submission."""
    make_resident(m, pages)
    for p in pages:
        m.lrus[0].remove(p)
        m.pt.slot[p] = m.slots.alloc(0, p)
        m.pt.state[p] = WRITEBACK
    free = m.alloc.nodes[0].free
    m.swapio.write(list(pages), [0] * len(pages))
    return free


def test_a_written_folio_stays_in_the_swap_cache_until_reclaim() -> None:
    """folio_end_writeback() -> folio_rotate_reclaimable() (every release): a folio whose
    swap write completes is not freed. It waits, clean, at the inactive tail, and with no
    reclaim on its node it keeps its frame: the next access maps it in a minor fault
    (no read), and the next reclaim pass drops it without writing it again."""
    from types import SimpleNamespace

    from perfmodel.workload.process import Thread

    m = machine("zswap.enabled=N")
    free = _write_out(m, range(16, 20))
    m.env.run(until=0.5)
    assert not m.reclaim.reclaiming(0)
    assert m.counters.pswpout == 4 and m.swapio.kept_in_swapcache == 4
    assert m.alloc.nodes[0].free == free and m.memcg.pages == 4
    assert all(m.pt.state[p] == RESIDENT and m.pt.backing[p] == DISK for p in range(16, 20))
    # Page 16 one fault at a time, 17 and 18 in a vectorised run of hits: minor faults.
    t = task(m)
    finish(m.fault.fault(t, m.processes[0].vma, 16, False))
    run = task(m)
    thread = SimpleNamespace(m=m, task=run, single_node=True, access_s=np.zeros(1),
                             proc=m.processes[0])
    Thread._hits(thread, np.array([17, 18]), False)  # type: ignore[arg-type]
    assert (m.counters.pgmajfault, m.counters.pswpin, m.counters.pgfault) == (0, 0, 3)
    assert t.pending == pytest.approx(m.fault.fault_s + m.fault.swapcache_hit_s)
    assert run.pending == pytest.approx(2 * (m.fault.fault_s + m.fault.swapcache_hit_s))
    assert not m.pt.unmapped[16:19].any()
    # Page 19 is first in line for reclaim, which frees it with no second write.
    assert m.lrus[0].pop_inactive() == 19
    assert m.reclaim.pageout(19, 0, 0, 0.0)[0] == FREED
    assert m.pt.state[19] == DISK and m.counters.pswpout == 4
    assert m.alloc.nodes[0].free == free + 1


def test_a_written_folio_is_freed_at_completion_while_its_node_reclaims() -> None:
    """With kswapd at work on the node the rotated folio is reclaimed at once; the model
    frees it when its write completes."""
    m = machine("zswap.enabled=N")
    m.reclaim.kswapd_awake[0] = True
    free = _write_out(m, range(16, 18))
    m.env.run(until=0.5)
    assert m.swapio.kept_in_swapcache == 0 and m.alloc.nodes[0].free == free + 2
    assert m.pt.state[16] == DISK and m.pt.state[17] == DISK
