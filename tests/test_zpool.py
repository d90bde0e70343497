"""Page accounting of the zbud / z3fold / zsmalloc models against hand-computed values."""

from __future__ import annotations

import math
import random

import pytest

from perfmodel.kernel.zpool import (
    EINVAL,
    ENOSPC,
    Z3fold,
    Zbud,
    Zpool,
    Zsmalloc,
    make_zpool,
)

PAGE = 4096

# caller size -> bytes per object (pages_per_zspage * 4096 / objs_per_zspage), chain 4 / 8
BYTES_PER_OBJECT = [
    (500, 512, 512),
    (1000, 1024, 1024),
    (2000, 2048, 2048),
    (2500, 2731, 2521),
    (3000, 3072, 3072),
    (3400, 4096, 3413),
    (3600, 4096, 3641),
    (3800, 4096, 4096),
    (3900, 4096, 4096),
    (4096, 4096, 4096),
]


def _zs(chain: int) -> Zsmalloc:
    pool = make_zpool("zsmalloc", chain_size=chain)
    assert isinstance(pool, Zsmalloc)
    return pool


# -- zsmalloc ----------------------------------------------------------------------------


@pytest.mark.parametrize("size,b4,b8", BYTES_PER_OBJECT)
def test_zsmalloc_bytes_per_object(size: int, b4: int, b8: int) -> None:
    for chain, want in ((4, b4), (8, b8)):
        _, pages, objs = _zs(chain).size_class(size)
        assert round(pages * PAGE / objs) == want, (chain, size)


def test_zsmalloc_huge_class_size() -> None:
    assert _zs(4).huge_class_size == 3257
    assert _zs(8).huge_class_size == 3625
    # One byte below the threshold still shares zspages, at the threshold it does not.
    for chain, huge in ((4, 3257), (8, 3625)):
        pool = _zs(chain)
        assert pool.size_class(huge)[1:] == (1, 1)
        assert pool.size_class(huge - 1)[2] > 1


def test_zsmalloc_handle_size_and_merge() -> None:
    pool = _zs(8)
    # 24 + 8 handle bytes = 32, the smallest class; 25 + 8 = 33 goes up to 48.
    assert pool.size_class(24)[0] == 32
    assert pool.size_class(25)[0] == 48
    # 2000 + 8 = 2008 rounds to class 2016, which has the same (1 page, 2 objs) shape
    # as 2048 and is merged into it.
    assert pool.size_class(2000) == (2048, 1, 2)
    # 3072 wastes nothing with 3 or 6 pages; the first minimum (3) wins.
    assert pool.size_class(3000) == (3072, 3, 4)


def test_zsmalloc_mixed_batch_chain8() -> None:
    pool = _zs(8)
    batch = [500] * 10 + [1000] * 5 + [2500] * 3 + [3800] * 2 + [100]
    handles = [pool.malloc(s) for s in batch]
    assert all(h >= 0 for h in handles)
    # 500: class 512, 8/page -> 2 pages; 1000: class 1024, 4/page -> 2 pages;
    # 2500: class 2512, 13 per 8-page zspage -> 8 pages; 3800: huge -> 2 pages;
    # 100: class 112, 256 per 7-page zspage (7*4096 = 256*112) -> 7 pages.
    assert pool.total_pages == 2 + 2 + 8 + 2 + 7
    assert pool.total_bytes == 21 * PAGE
    assert pool.nr_objects == len(batch)
    for h, s in zip(handles, batch, strict=True):
        assert pool.object_bytes(h) == s
    for h in handles:
        pool.free(h)
    assert pool.total_pages == 0
    assert pool.nr_objects == 0


def test_zsmalloc_mixed_batch_chain4() -> None:
    pool = _zs(4)
    batch = [500] * 10 + [1000] * 5 + [2500] * 3 + [3800] * 2 + [100]
    for s in batch:
        assert pool.malloc(s) >= 0
    # 2500: class 2720, 3 per 2-page zspage -> 2 pages; 100: class 112,
    # 73 per 2-page zspage -> 2 pages; the rest as with chain 8.
    assert pool.total_pages == 2 + 2 + 2 + 2 + 2


def test_zsmalloc_fills_fullest_zspage_first() -> None:
    pool = _zs(8)
    a = [pool.malloc(500) for _ in range(8)]  # zspage A, full
    b = [pool.malloc(500) for _ in range(8)]  # zspage B, full
    pool.free(a[0])  # A: 7/8 in use
    for h in b[:3]:
        pool.free(h)  # B: 5/8 in use
    x = pool.malloc(500)
    assert x >= 0 and pool.total_pages == 2
    # x went to the fuller zspage A, so emptying B releases its page.
    for h in b[3:]:
        pool.free(h)
    assert pool.total_pages == 1


def test_zsmalloc_fragmentation_and_compact() -> None:
    pool = _zs(8)
    _, pages, objs = pool.size_class(2500)
    assert (pages, objs) == (8, 13)
    n = 130
    hs = [pool.malloc(2500) for _ in range(n)]
    assert pool.total_pages == n // objs * pages == 80
    for h in hs[::2]:
        pool.free(h)
    left = n - len(hs[::2])
    # Every zspage still holds 6 or 7 objects: nothing is released.
    assert pool.total_pages == 80
    freed = pool.compact()
    want = math.ceil(left / objs) * pages
    assert pool.total_pages == want == 40
    assert freed == 80 - want
    assert pool.compact() == 0
    # Migrated handles stay valid and free cleanly.
    for h in hs[1::2]:
        pool.free(h)
    assert pool.total_pages == 0


def test_zsmalloc_compact_keeps_partial_target_usable() -> None:
    pool = _zs(8)
    hs = [pool.malloc(500) for _ in range(24)]  # 3 zspages of 8 x class 512
    for i, h in enumerate(hs):
        if i % 8 >= 2:
            pool.free(h)  # 2 objects left in each zspage
    assert pool.total_pages == 3
    assert pool.compact() == 2
    assert pool.total_pages == 1
    # The zspage that received the objects is 6/8 used and takes the next two.
    pool.malloc(500)
    pool.malloc(500)
    assert pool.total_pages == 1
    pool.malloc(500)
    assert pool.total_pages == 2


def test_zsmalloc_compact_random_matches_ceiling() -> None:
    rng = random.Random(7)
    pool = _zs(8)
    live: dict[int, int] = {}
    for _ in range(20000):
        if live and rng.random() < 0.45:
            h = rng.choice(list(live)) if len(live) < 50 else next(iter(live))
            pool.free(h)
            del live[h]
        else:
            s = rng.randint(1, PAGE)
            h = pool.malloc(s, nid=rng.randint(0, 1))
            assert h >= 0 and h not in live
            live[h] = s
    before = pool.total_pages
    freed = pool.compact()
    by_class: dict[int, list[int]] = {}
    for s in live.values():
        size, pages, objs = pool.size_class(s)
        by_class.setdefault(size, [0, pages, objs])[0] += 1
    want = sum(math.ceil(k / objs) * pages for k, pages, objs in by_class.values())
    assert pool.total_pages == want
    assert freed == before - want
    assert pool.node_pages(0) + pool.node_pages(1) == pool.total_pages
    assert pool.nr_objects == len(live)


def test_zsmalloc_node_pages() -> None:
    pool = _zs(8)
    first = pool.malloc(500, nid=1)  # creates a zspage on node 1
    rest = [pool.malloc(500, nid=0) for _ in range(7)]  # fill it, no new page
    assert (pool.node_pages(0), pool.node_pages(1)) == (0, 1)
    nxt = pool.malloc(500, nid=0)  # zspage full: a new one on node 0
    assert (pool.node_pages(0), pool.node_pages(1)) == (1, 1)
    assert pool.malloc(2500, nid=2) >= 0
    assert pool.node_pages(2) == 8
    assert sum(pool.node_pages(n) for n in range(3)) == pool.total_pages == 10
    for h in [first, *rest]:
        pool.free(h)
    assert pool.node_pages(1) == 0
    pool.free(nxt)
    assert pool.node_pages(0) == 0


def test_zsmalloc_errors() -> None:
    pool = _zs(8)
    assert pool.malloc(0) == -EINVAL
    assert pool.malloc(PAGE + 1) == -ENOSPC
    assert pool.total_pages == 0 and pool.nr_objects == 0
    h = pool.malloc(PAGE)
    assert h >= 0 and pool.total_pages == 1


# -- zbud --------------------------------------------------------------------------------


def test_zbud_limits() -> None:
    pool = make_zpool("zbud")
    assert pool.malloc(0) == -EINVAL
    assert pool.malloc(3969) == -ENOSPC
    assert pool.malloc(PAGE) == -ENOSPC
    big = pool.malloc(3968)  # 62 chunks: leaves exactly one chunk
    assert big >= 0 and pool.total_pages == 1
    assert pool.malloc(64) >= 0 and pool.total_pages == 1  # 1 chunk fits
    assert pool.malloc(1) >= 0 and pool.total_pages == 2  # page already has two buddies


def test_zbud_two_per_page() -> None:
    pool = make_zpool("zbud")
    a, b = pool.malloc(1900), pool.malloc(1900)  # 30 + 30 chunks <= 63
    assert pool.total_pages == 1 and pool.total_bytes == 4096
    c = pool.malloc(1900)
    assert pool.total_pages == 2 and pool.total_bytes == 8192
    # Two small objects still take a page each once a page has two buddies.
    pool.malloc(10)
    pool.malloc(10)
    assert pool.total_pages == 3
    pool.free(a)
    assert pool.total_pages == 3  # b keeps the page
    pool.free(b)
    assert pool.total_pages == 2
    pool.free(c)
    assert pool.nr_objects == 2


def test_zbud_chunk_rounding() -> None:
    pool = make_zpool("zbud")
    pool.malloc(2048)  # 32 chunks, 31 free
    pool.malloc(1985)  # 32 chunks: does not fit
    assert pool.total_pages == 2


def test_zbud_best_fit() -> None:
    pool = make_zpool("zbud")
    pool.malloc(53 * 64)  # page 1: 10 free chunks
    pool.malloc(33 * 64)  # page 2: 30 free chunks
    pool.malloc(9 * 64)  # fullest page that fits: page 1
    pool.malloc(29 * 64)  # so this still fits page 2
    assert pool.total_pages == 2


def test_zbud_same_fit_takes_latest_page() -> None:
    pool = make_zpool("zbud")
    a = pool.malloc(3000, nid=0)  # page on node 0, 16 chunks free
    pool.malloc(3000, nid=1)  # page on node 1, 16 chunks free, listed last
    pool.malloc(1000, nid=0)  # list head (node-1 page) takes it
    pool.free(a)
    assert (pool.node_pages(0), pool.node_pages(1)) == (0, 1)


def test_zbud_free_all_and_nodes() -> None:
    pool = make_zpool("zbud")
    hs = [pool.malloc(100 + 37 * i, nid=i % 3) for i in range(90)]  # up to 3393 bytes
    assert min(hs) >= 0
    assert sum(pool.node_pages(n) for n in range(3)) == pool.total_pages > 0
    for h in hs:
        pool.free(h)
    assert pool.total_pages == 0 and pool.nr_objects == 0
    assert all(pool.node_pages(n) == 0 for n in range(3))


# -- z3fold ------------------------------------------------------------------------------


def test_z3fold_three_per_page() -> None:
    pool = make_zpool("z3fold")
    assert isinstance(pool, Z3fold) and pool.nchunks == 62
    hs = [pool.malloc(1200) for _ in range(3)]  # 19 chunks each, 57 <= 62
    assert pool.total_pages == 1 and pool.total_bytes == 4096
    hs.append(pool.malloc(1200))  # a fourth object never shares
    assert pool.total_pages == 2
    pool.malloc(64)  # page 2 has room: 19 + 1 chunks
    assert pool.total_pages == 2
    for h in hs:
        pool.free(h)
    assert pool.nr_objects == 1 and pool.total_pages == 1
    for _ in range(2):
        pool.malloc(100)  # fills the page holding the 64-byte object
    assert pool.total_pages == 1
    pool.malloc(100)
    assert pool.total_pages == 2


def test_z3fold_header_is_two_chunks() -> None:
    pool = make_zpool("z3fold")
    for _ in range(3):
        pool.malloc(1300)  # 21 chunks: 3 * 21 = 63 > 62
    assert pool.total_pages == 2


def test_z3fold_limits_and_headless() -> None:
    pool = make_zpool("z3fold")
    assert pool.malloc(0) == -EINVAL
    assert pool.malloc(PAGE + 1) == -ENOSPC
    h = pool.malloc(3904)  # 61 chunks: largest in-page object
    assert pool.malloc(64) >= 0
    assert pool.total_pages == 1
    big = [pool.malloc(3905), pool.malloc(PAGE)]  # headless: a page each
    assert min(big) >= 0 and pool.total_pages == 3
    assert pool.malloc(64) >= 0 and pool.total_pages == 4  # headless pages take nothing
    pool.free(big[0])
    pool.free(big[1])
    pool.free(h)
    assert pool.total_pages == 1


def test_z3fold_single_buddy_moves() -> None:
    pool = make_zpool("z3fold")
    a, b, c = (pool.malloc(1200) for _ in range(3))  # page 1: full
    d, e = pool.malloc(1200), pool.malloc(1200)  # page 2: 24 chunks free
    assert pool.total_pages == 2
    pool.free(b)
    pool.free(c)  # a is alone on page 1 and fits in page 2: moved, page 1 freed
    assert pool.total_pages == 1
    pool.free(d)
    pool.free(e)  # a now lives on page 2 as a foreign object
    assert pool.total_pages == 1
    pool.free(a)
    assert pool.total_pages == 0 and pool.nr_objects == 0


def test_z3fold_random_free_all() -> None:
    rng = random.Random(3)
    pool = make_zpool("z3fold")
    live: list[int] = []
    for _ in range(5000):
        if live and rng.random() < 0.4:
            pool.free(live.pop(rng.randrange(len(live))))
        else:
            h = pool.malloc(rng.randint(1, PAGE), nid=rng.randint(0, 1))
            assert h >= 0
            live.append(h)
        # Three objects per page at most, one page per object at worst.
        assert len(live) / 3 <= pool.total_pages <= len(live)
    assert pool.node_pages(0) + pool.node_pages(1) == pool.total_pages
    for h in live:
        pool.free(h)
    assert pool.total_pages == 0 and pool.nr_objects == 0


# -- common ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["zbud", "z3fold", "zsmalloc"])
def test_interface(name: str) -> None:
    pool = make_zpool(name)
    assert isinstance(pool, Zpool) and pool.name == name
    assert pool.compact() == 0
    h = pool.malloc(777)
    assert pool.object_bytes(h) == 777 and pool.nr_objects == 1
    pool.free(h)
    with pytest.raises(ValueError):
        pool.free(h)
    with pytest.raises(ValueError):
        pool.object_bytes(h)
    # Handles are reused.
    assert pool.malloc(100) == h


def test_classes_and_factory() -> None:
    assert isinstance(make_zpool("zbud"), Zbud)
    assert make_zpool("zsmalloc", chain_size=4).chain_size == 4  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        make_zpool("zswap")
