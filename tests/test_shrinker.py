"""do_shrink_slab() arithmetic (mm/shrinker.c, 5.13+) and the priority kswapd shrinks at.

Every expected number is worked out by hand from the kernel's formulas in the docstring.
"""

from __future__ import annotations

import pytest

from perfmodel.kernel.shrinker import (
    DEF_PRIORITY,
    SHRINK_BATCH,
    SlabShrinker,
    kswapd_priority,
)
from perfmodel.kernel.zpool import Zsmalloc


class Recorder:
    """A scan_objects() that frees what it is asked to, or stops after `stop_after` calls."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls: list[int] = []
        self.stop_after = stop_after

    def __call__(self, nr_to_scan: int) -> int | None:
        if self.stop_after is not None and len(self.calls) >= self.stop_after:
            return None
        self.calls.append(nr_to_scan)
        return nr_to_scan


def test_nothing_below_a_batch_is_deferred_whole() -> None:
    """freeable 1000 at priority 6: delta = (1000 >> 6) * 4 / 2 = 30, under 128 and 1000:
    nothing is scanned and 30 is deferred."""
    s, scan = SlabShrinker(), Recorder()
    assert s.shrink(1000, 6, scan) == 0
    assert scan.calls == [] and s.nr_deferred == [30]


def test_deferred_work_counts_shifted_by_priority() -> None:
    """total_scan = (nr >> priority) + delta: at priority 12 with 8192 objects delta = 4
    and nr >> 12 <= 4, so 100 calls never reach a batch; deferred stops at 2 * 8192."""
    s, scan = SlabShrinker(), Recorder()
    for _ in range(100):
        s.shrink(8192, DEF_PRIORITY, scan)
    assert scan.calls == [] and s.nr_deferred == [400]
    for _ in range(5000):
        s.shrink(8192, DEF_PRIORITY, scan)
    assert scan.calls == [] and s.nr_deferred == [2 * 8192]


def test_deferred_work_comes_due_at_a_lower_priority() -> None:
    """freeable 2048 at priority 6: delta = 64; the deferred count adds 64 a call until
    (nr >> 6) + 64 >= 128, i.e. nr >= 4096 = 2 * freeable, its cap: the 65th call scans.
    It scans 128 at once (one batch), and 4096 + 64 - 128 is deferred, capped at 4096."""
    s, scan = SlabShrinker(), Recorder()
    for _ in range(64):
        s.shrink(2048, 6, scan)
    assert scan.calls == [] and s.nr_deferred == [4096]
    assert s.shrink(2048, 6, scan) == SHRINK_BATCH
    assert scan.calls == [128] and s.nr_deferred == [4032]


def test_a_small_cache_is_scanned_whole_when_the_target_covers_it() -> None:
    """while (total_scan >= batch || total_scan >= freeable): 50 objects at priority 0
    give delta = 100, capped at 2 * 50 = 100 >= 50: one scan of min(128, 100)."""
    s, scan = SlabShrinker(), Recorder()
    assert s.shrink(50, 0, scan) == 100
    assert scan.calls == [100] and s.nr_deferred == [0]


def test_shrink_stop_ends_the_call_and_defers_the_rest() -> None:
    """SHRINK_STOP after one batch of 128: freeable 10000 at priority 0 asks for 20000;
    128 scanned, 20000 - 128 deferred, capped at 2 * 10000."""
    s, scan = SlabShrinker(), Recorder(stop_after=1)
    assert s.shrink(10000, 0, scan) == 128
    assert s.nr_deferred == [20000 - 128]


def test_seeks_zero_trims_half() -> None:
    """shrinker->seeks == 0: delta = freeable / 2 whatever the priority."""
    s, scan = SlabShrinker(seeks=0), Recorder()
    assert s.shrink(1000, DEF_PRIORITY, scan) == 384  # 500: three batches of 128
    assert s.nr_deferred == [500 - 384]


def test_per_node_deferred_counts_are_apart() -> None:
    s = SlabShrinker(nodes=2)
    s.shrink(1000, 6, Recorder(), nid=1)
    assert s.nr_deferred == [0, 30]


@pytest.mark.parametrize(
    "reclaimable,nr_to_reclaim,priority",
    [
        (60_000, 1024, 6),  # fls(60000) - 1 - fls(1023) = 15 - 10 = 5: clamped up to 6
        (1 << 20, 32, 12),  # 20 - 5 = 15: clamped down to 12
        (100_000, 32, 11),  # fls(99999) = 17: 16 - 5 = 11
        (5_000, 32, 7),  # fls(4999) = 13: 12 - 5 = 7
    ],
)
def test_kswapd_priority(reclaimable: int, nr_to_reclaim: int, priority: int) -> None:
    """set_initial_priority(): fls_long(reclaimable) - 1 - fls_long(nr_to_reclaim - 1),
    clamped to [DEF_PRIORITY / 2, DEF_PRIORITY] since "mm/mglru: fix overshooting
    shrinker memory"."""
    assert kswapd_priority(reclaimable, nr_to_reclaim) == priority


def _fragmented_pool(holes: int) -> Zsmalloc:
    """Four-object zspages of one page (1008 B objects) with `holes` of every 4 freed."""
    pool = Zsmalloc(4096, chain_size=8)
    handles = [pool.malloc(1000) for _ in range(4 * 4096)]
    assert pool.total_pages == 4096
    for i, h in enumerate(handles):
        if i % 4 < holes:
            pool.free(h)
    return pool


def test_zsmalloc_compacts_at_kswapd_priority_not_at_def_priority() -> None:
    """zs_shrinker_count() = pages zs_compact() could free. Half-empty zspages: 2048 of
    4096 pages compactable. At priority 12, delta = 0 and nr >> 12 <= 1: never. At 6,
    delta = 64 a call: as worked out above, the 65th call compacts."""
    pool = _fragmented_pool(2)
    assert pool.compactable_pages() == 2048

    def compact(_: int) -> int | None:
        return pool.compact() or None

    s = SlabShrinker()
    for _ in range(1000):
        s.shrink(pool.compactable_pages(), DEF_PRIORITY, compact)
    assert pool.total_pages == 4096
    s = SlabShrinker()
    for _ in range(64):
        s.shrink(pool.compactable_pages(), 6, compact)
    assert pool.total_pages == 4096
    s.shrink(pool.compactable_pages(), 6, compact)
    assert pool.total_pages == 2048 and pool.compactable_pages() == 0
