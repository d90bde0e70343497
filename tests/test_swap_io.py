"""Swap write-out: plugged batches sorted by slot, merged into contiguous requests no
larger than max_sectors_kb, completing asynchronously; swap-in reads are synchronous."""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import simpy

from perfmodel.config import load_profile
from perfmodel.config.hardware import SwapDeviceSpec
from perfmodel.hw.numa import Topology
from perfmodel.hw.swapdev import SwapDevice
from perfmodel.kernel.counters import Counters
from perfmodel.kernel.memcg import Memcg
from perfmodel.kernel.page_alloc import PageAllocator
from perfmodel.kernel.pages import DISK, WRITEBACK, PageTable
from perfmodel.kernel.swap_io import SwapIO

PAGE = 4096
HW = load_profile(Path(__file__).resolve().parents[1] / "hardware" / "xeon-2s-nvme.yaml")


class SpyDevice(SwapDevice):
    """Records every request it is given."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.log: list[tuple[str, int, int]] = []

    def io(
        self, op: str, slot: int, npages: int = 1, dispatch: Callable[[], int] | None = None,
    ) -> Generator[simpy.Event, Any, float]:
        """Logs each request as it leaves the queue, with its final size."""

        def logged() -> int:
            n = dispatch() if dispatch is not None else npages
            self.log.append((op, slot, n))
            return n

        return (yield from super().io(op, slot, npages, logged))


def make(
    spec: SwapDeviceSpec, npages: int, max_pages: int | None = None
) -> tuple[simpy.Environment, SpyDevice, SwapIO, PageTable, PageAllocator, Memcg]:
    env = simpy.Environment()
    dev = SpyDevice(env, spec, np.random.default_rng(0))
    pt = PageTable(npages)
    alloc = PageAllocator(env, Topology(HW), [1 << 20, 1 << 20], PAGE, None, 10)
    memcg = Memcg(None, PAGE)
    io = SwapIO(env, dev, pt, alloc, memcg, Counters(), max_pages)
    return env, dev, io, pt, alloc, memcg


def writeback(io: SwapIO, pt: PageTable, pages: list[int], slots: list[int]) -> None:
    """What reclaim does before io.write: give each page a slot and mark it WRITEBACK."""
    for p, s in zip(pages, slots, strict=True):
        pt.slot[p] = s
        pt.state[p] = WRITEBACK
    io.write(pages, [0] * len(pages))


def test_batch_is_sorted_and_merged_into_contiguous_runs() -> None:
    spec = HW.swap_devices["nvme0"]
    env, dev, io, pt, alloc, memcg = make(spec, 16)
    memcg.pages = 6
    free0 = alloc.nodes[0].free
    writeback(io, pt, [0, 1, 2, 3, 4, 5], [11, 5, 3, 6, 10, 7])
    env.run()
    assert sorted(dev.log) == [("write", 3, 1), ("write", 5, 3), ("write", 10, 2)]
    assert (dev.writes, dev.written_pages) == (3, 6)
    assert io.c.pswpout == 6 and len(io.write_latencies) == 3
    # Completion hands the frames back and leaves the pages on disk.
    assert all(pt.state[p] == DISK for p in range(6))
    assert alloc.nodes[0].free == free0 + 6 and memcg.pages == 0 and not io.inflight


def test_merging_respects_max_sectors_kb() -> None:
    spec = HW.swap_devices["nvme0"]
    assert spec.max_sectors_kb == 1280
    n = 700
    order = np.random.default_rng(1).permutation(n).tolist()
    env, dev, io, pt, _, _ = make(spec, n)
    assert io.max_pages == 320  # 1280 KiB / 4 KiB
    writeback(io, pt, order, [1000 + p for p in order])
    env.run()
    assert sorted(dev.log) == [("write", 1000, 320), ("write", 1320, 320), ("write", 1640, 60)]
    # A smaller queue limit from the profile, and an explicit cap.
    small = spec.model_copy(update={"max_sectors_kb": 128})
    env, dev, io, pt, _, _ = make(small, n)
    writeback(io, pt, order, order)
    env.run()
    sizes = sorted(k for _, _, k in dev.log)
    assert sizes == [28] + [32] * 21 and sum(sizes) == n
    env, dev, io, pt, _, _ = make(spec, n, max_pages=1)
    writeback(io, pt, order, order)
    env.run()
    assert dev.writes == n


def test_hdd_sequential_writeout_runs_at_transfer_rate() -> None:
    """Reclaim batches of 32 contiguous slots, all queued at once: the head streams, and
    the queued batches back-merge into requests of max_sectors_kb."""
    spec = load_profile(
        Path(__file__).resolve().parents[1] / "hardware" / "desktop-2013-hdd.yaml"
    ).swap_devices["sda"]
    assert spec.hdd is not None
    n = 32 * 2000
    env, dev, io, pt, _, _ = make(spec, n)
    for b in range(0, n, 32):
        writeback(io, pt, list(range(b, b + 32)), list(range(b, b + 32)))
    env.run()
    mbps = n * PAGE / env.now / 1e6
    print(f"HDD sequential write-out: {mbps:.2f} MB/s, transfer {spec.hdd.transfer_mbps} MB/s")
    assert mbps == pytest.approx(spec.hdd.transfer_mbps, rel=0.01)
    assert dev.writes == pytest.approx(n / io.max_pages, abs=2)


def test_swapin_read_is_synchronous() -> None:
    spec = HW.swap_devices["nvme0"]
    env, dev, io, _, _, _ = make(spec, 8)
    done: list[float] = []

    def fault() -> Generator[simpy.Event, Any, None]:
        lat = yield from io.read(40, 8)
        done.append(env.now)
        assert lat == env.now

    env.process(fault())
    env.run()
    assert done and dev.log == [("read", 40, 8)] and io.read_latencies == [done[0]]


def test_a_write_queued_behind_a_busy_device_takes_back_merges() -> None:
    """The I/O scheduler back-merges a bio into a queued request that ends where it
    starts (elv_merge): writes submitted one by one (zswap writeback) to consecutive
    slots while the device is busy leave as one request; a request already in service
    takes no more."""
    spec = HW.swap_devices["nvme0"].model_copy(update={"parallelism": 1})
    env, dev, io, pt, _, _ = make(spec, 64)
    writeback(io, pt, [0], [100])
    env.run(until=1e-9)  # in service
    for k in range(1, 5):  # 101..104, one at a time, queued behind it
        writeback(io, pt, [k], [100 + k])
    assert io.outstanding == 2
    env.run()
    assert dev.log == [("write", 100, 1), ("write", 101, 4)]
    assert all(pt.state[p] == DISK for p in range(5))
