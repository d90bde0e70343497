"""Byte-exact page accounting for the zswap allocators: zbud, z3fold, zsmalloc.

zswap's debugfs ``pool_total_size`` is ``zpool_get_total_pages() * PAGE_SIZE``:
whole allocator pages, so internal fragmentation (partly filled zbud/z3fold pages,
half-empty zspages, per-class rounding) is part of it.  These models track exactly
the state that decides how many pages an allocator holds and nothing else (no
object contents, no locks, no per-CPU lists).

Every malloc/free is O(1) apart from tiny bounded loops: free slots live in
insertion-ordered dicts used as LIFO lists (the kernel's ``list_add`` +
``list_first_entry``), and a bitmask per pool/class says which lists are non-empty,
so "the first non-empty list at or above i" is a couple of integer operations.

Sources: mm/zsmalloc.c (6.3+: chain size, inuse-ratio fullness groups),
mm/zbud.c, mm/z3fold.c.
"""

from __future__ import annotations

ENOSPC = 28
EINVAL = 22

# zsmalloc constants (64-bit kernel; ZS_MIN_ALLOC_SIZE is 32 for any chain size <= 1M).
ZS_HANDLE_SIZE = 8
ZS_MIN_ALLOC_SIZE = 32
# Inuse-ratio fullness groups (mm/zsmalloc.c, 6.3+): 0 = empty, 1..10 = partly
# used in 10% steps (10 = 90..99%), 11 = full.  Only 1..10 are kept on lists.
_FG_EMPTY = 0
_FG_99 = 10
_FG_FULL = 11

# sizeof(struct z3fold_header) on x86_64 without spinlock/lockdep debugging:
# list_head 16 + spinlock 4 + kref 4 + work_struct 32 + 2 pointers 16
# + short cpu 2 + 4 ushort 8 + bitfield ushort 2 = 84, padded to 88.
Z3FOLD_HEADER_BYTES = 88


class Zpool:
    """Common interface and handle table of the three allocators.

    A handle is a small int, reused LIFO after free.  ``malloc`` returns a handle
    >= 0 or a negative errno like the kernel's zpool_malloc().
    """

    name: str = ""

    def __init__(self, page_size: int) -> None:
        if page_size < 4096 or page_size & (page_size - 1):
            raise ValueError(f"page_size must be a power of two >= 4096, got {page_size}")
        self.page_size = page_size
        # handle -> size given to malloc; 0 marks a free handle.
        self._size: list[int] = []
        self._free_handles: list[int] = []
        self._nr_objects = 0
        self._total_pages = 0
        self._node_pages: dict[int, int] = {}

    # -- interface -----------------------------------------------------------------

    def malloc(self, size: int, nid: int = 0) -> int:
        raise NotImplementedError

    def free(self, handle: int) -> None:
        raise NotImplementedError

    def compact(self) -> int:
        """Pages released by allocator compaction; only zsmalloc can migrate objects."""
        return 0

    def compactable_pages(self) -> int:
        return 0

    @property
    def total_pages(self) -> int:
        return self._total_pages

    @property
    def total_bytes(self) -> int:
        """debugfs pool_total_size."""
        return self._total_pages * self.page_size

    def node_pages(self, nid: int) -> int:
        return self._node_pages.get(nid, 0)

    @property
    def nr_objects(self) -> int:
        return self._nr_objects

    def object_bytes(self, handle: int) -> int:
        self._check(handle)
        return self._size[handle]

    # -- helpers -------------------------------------------------------------------

    def _new_handle(self, size: int) -> int:
        self._nr_objects += 1
        if self._free_handles:
            h = self._free_handles.pop()
            self._size[h] = size
            return h
        self._size.append(size)
        return len(self._size) - 1

    def _check(self, handle: int) -> None:
        # A bad handle is a bug in the caller (the kernel would oops), not an errno.
        if not (0 <= handle < len(self._size)) or self._size[handle] == 0:
            raise ValueError(f"{self.name}: invalid or already freed handle {handle}")

    def _release_handle(self, handle: int) -> None:
        self._size[handle] = 0
        self._free_handles.append(handle)
        self._nr_objects -= 1

    def _add_pages(self, nid: int, pages: int) -> None:
        self._total_pages += pages
        np = self._node_pages
        np[nid] = np.get(nid, 0) + pages


# ======================================================================================
# zbud / z3fold
# ======================================================================================


class _BuddyPage:
    __slots__ = ("nid", "used", "handles", "free_list", "foreign")

    def __init__(self, nid: int) -> None:
        self.nid = nid
        self.used = 0  # chunks taken by objects (header excluded)
        self.handles: list[int] = []  # at most 3, so list.remove is cheap
        self.free_list = -1  # index of the unbuddied list holding the page, -1 if none
        self.foreign = 0  # z3fold: objects moved in from another page


class _ChunkPool(Zpool):
    """Pages of PAGE_SIZE/64-byte chunks, a header, and at most ``max_objs`` objects.

    ``unbuddied[i]`` holds pages with room for another object and exactly i free
    chunks; allocation takes the most recently listed page from the first non-empty
    list i >= chunks (``for_each_unbuddied_list``), i.e. the fullest page that fits.
    """

    def __init__(self, page_size: int, max_objs: int, header_bytes: int, headless: bool) -> None:
        super().__init__(page_size)
        self.chunk_size = page_size >> 6
        hdr_aligned = -(-header_bytes // self.chunk_size) * self.chunk_size
        self.header_chunks = hdr_aligned // self.chunk_size
        self.nchunks = (page_size - hdr_aligned) // self.chunk_size
        # Largest object that shares a page: at least one chunk must stay for a buddy.
        self.max_buddy_size = page_size - hdr_aligned - self.chunk_size
        self.max_objs = max_objs
        self._headless = headless
        self._unbuddied: list[dict[_BuddyPage, None]] = [{} for _ in range(self.nchunks)]
        self._mask = 0  # bit i set <=> unbuddied[i] non-empty
        self._page_of: list[_BuddyPage | None] = []

    def malloc(self, size: int, nid: int = 0) -> int:
        if size <= 0:
            return -EINVAL
        if size > self.max_buddy_size:
            if not self._headless or size > self.page_size:
                return -ENOSPC
            # z3fold HEADLESS page: the object gets a page of its own, no header.
            page = _BuddyPage(nid)
            page.used = -1
            self._add_pages(nid, 1)
            return self._place(page, size)
        chunks = (size + self.chunk_size - 1) // self.chunk_size
        page = self._take_fitting(chunks)
        if page is None:
            page = _BuddyPage(nid)
            self._add_pages(nid, 1)
        page.used += chunks
        h = self._place(page, size)
        if len(page.handles) < self.max_objs:
            self._list_add(page)
        return h

    def free(self, handle: int) -> None:
        self._check(handle)
        page = self._page_of[handle]
        assert page is not None
        size = self._size[handle]
        self._page_of[handle] = None
        self._release_handle(handle)
        page.handles.remove(handle)
        if page.used < 0:  # headless
            self._add_pages(page.nid, -1)
            return
        if page.free_list >= 0:
            self._list_del(page)
        page.used -= (size + self.chunk_size - 1) // self.chunk_size
        self._on_free(page, handle)
        if not page.handles:
            self._add_pages(page.nid, -1)
        else:
            self._settle(page)

    # -- internals -------------------------------------------------------------------

    def _place(self, page: _BuddyPage, size: int) -> int:
        h = self._new_handle(size)
        page.handles.append(h)
        if h == len(self._page_of):
            self._page_of.append(page)
        else:
            self._page_of[h] = page
        return h

    def _take_fitting(self, chunks: int) -> _BuddyPage | None:
        m = self._mask >> chunks
        if not m:
            return None
        i = chunks + (m & -m).bit_length() - 1
        lst = self._unbuddied[i]
        page = next(reversed(lst))
        del lst[page]
        if not lst:
            self._mask &= ~(1 << i)
        page.free_list = -1
        return page

    def _list_add(self, page: _BuddyPage) -> None:
        i = self.nchunks - page.used
        self._unbuddied[i][page] = None
        self._mask |= 1 << i
        page.free_list = i

    def _list_del(self, page: _BuddyPage) -> None:
        i = page.free_list
        lst = self._unbuddied[i]
        del lst[page]
        if not lst:
            self._mask &= ~(1 << i)
        page.free_list = -1

    def _on_free(self, page: _BuddyPage, handle: int) -> None:
        """Hook run after an object left a (non-headless) page."""

    def _settle(self, page: _BuddyPage) -> None:
        """Put a page that still holds objects back on its unbuddied list."""
        self._list_add(page)


class Zbud(_ChunkPool):
    """mm/zbud.c: at most two objects (first and last buddy) per page, 64-byte chunks.

    One header chunk, NCHUNKS = 63; objects above PAGE_SIZE - 2 chunks (3968 bytes)
    get -ENOSPC.  Which buddy slot an object takes does not change the page count,
    so it is not tracked.
    """

    name = "zbud"

    def __init__(self, page_size: int = 4096) -> None:
        # ZHDR_SIZE_ALIGNED is defined as one CHUNK_SIZE in zbud.
        super().__init__(page_size, max_objs=2, header_bytes=page_size >> 6, headless=False)


class Z3fold(_ChunkPool):
    """mm/z3fold.c: up to three objects (first, middle, last) per page.

    Kept from the kernel:
      * 64-byte chunks; header = sizeof(struct z3fold_header) (88 bytes on x86_64)
        rounded up to a chunk, i.e. 2 chunks and NCHUNKS = 62 on 4K pages.  (The
        "63" in z3fold.c's comment predates the header's work_struct/slots fields.)
      * sizes up to PAGE_SIZE - header - one chunk (3904) share pages; larger ones
        up to PAGE_SIZE go to a HEADLESS page of their own; > PAGE_SIZE is -ENOSPC.
      * allocation takes the first page from the first non-empty unbuddied list
        with >= chunks free (fullest fit), else a new page; empty pages are freed.
      * compact_single_buddy(): when a free leaves a page holding one object of its
        own (no "foreign" objects moved in earlier), that object is moved into
        another page with room, if any, and the emptied page is freed.

    Simplified:
      * free space is one pool of NCHUNKS - used chunks.  The kernel places the
        middle object right after the first one and counts only the larger gap
        beside it as free (num_free_chunks), then moves it (z3fold_compact_page)
        only when mapped state allows and the gap is >= 3 chunks; here every free
        chunk is usable, so a page may take an object the kernel would refuse.
      * the kernel's per-CPU unbuddied lists and asynchronous compaction work are
        one global list set and synchronous compaction at free time.
    """

    name = "z3fold"

    def __init__(self, page_size: int = 4096, header_bytes: int = Z3FOLD_HEADER_BYTES) -> None:
        super().__init__(page_size, max_objs=3, header_bytes=header_bytes, headless=True)
        self._foreign: set[int] = set()  # handles living on a page they were moved to

    def _on_free(self, page: _BuddyPage, handle: int) -> None:
        if handle in self._foreign:
            self._foreign.discard(handle)
            page.foreign -= 1

    def _settle(self, page: _BuddyPage) -> None:
        if len(page.handles) == 1 and page.foreign == 0:
            h = page.handles[0]
            chunks = page.used
            # The page is off the lists here, as in do_compact_page().
            dst = self._take_fitting(chunks)
            if dst is not None:
                dst.used += chunks
                dst.handles.append(h)
                dst.foreign += 1
                self._foreign.add(h)
                self._page_of[h] = dst
                if len(dst.handles) < self.max_objs:
                    self._list_add(dst)
                self._add_pages(page.nid, -1)
                return
        self._list_add(page)


# ======================================================================================
# zsmalloc
# ======================================================================================


class _ZsPage:
    __slots__ = ("cls", "nid", "handles", "fg")

    def __init__(self, cls: _SizeClass, nid: int) -> None:
        self.cls = cls
        self.nid = nid
        self.handles: set[int] = set()
        self.fg = _FG_EMPTY


class _SizeClass:
    __slots__ = ("size", "pages", "objs", "fg_of", "lists", "mask", "zspages", "inuse")

    def __init__(self, size: int, pages: int, objs: int) -> None:
        self.size = size
        self.pages = pages
        self.objs = objs
        # get_fullness_group() for every inuse count, precomputed.
        self.fg_of = [_fg(i, objs) for i in range(objs + 1)]
        # lists[g] for g in 1..10; dict order = list order, last key = list head.
        self.lists: list[dict[_ZsPage, None]] = [{} for _ in range(_FG_FULL)]
        self.mask = 0  # bit g set <=> lists[g] non-empty
        self.zspages = 0
        self.inuse = 0


def _fg(inuse: int, objs: int) -> int:
    if inuse == 0:
        return _FG_EMPTY
    if inuse == objs:
        return _FG_FULL
    # +1 so that 1 object out of 127 is in the 10% group, not the empty one.
    return 100 * inuse // objs // 10 + 1


def zspage_chain_size(class_size: int, page_size: int, chain_size: int) -> int:
    """calculate_zspage_chain_size(): pages per zspage with the least tail waste."""
    if (class_size & (class_size - 1)) == 0:
        return 1
    best, best_waste = 1, None
    for i in range(1, chain_size + 1):
        waste = (i * page_size) % class_size
        if best_waste is None or waste < best_waste:
            best, best_waste = i, waste
    return best


class Zsmalloc(Zpool):
    """mm/zsmalloc.c (6.3+ layout) with CONFIG_ZSMALLOC_CHAIN_SIZE = ``chain_size``.

    Each object is ``size + ZS_HANDLE_SIZE`` rounded up to a 16-byte size class;
    classes with identical (pages_per_zspage, objs_per_zspage) are merged into the
    larger one.  zs_malloc() fills the first zspage of the fullest inuse-ratio group
    (90-99% first), zs_free() frees a zspage as soon as it is empty, and compact()
    runs __zs_compact(): move objects from the least-used zspages into the most-used
    ones until no class has a whole zspage of free slots.
    """

    name = "zsmalloc"

    def __init__(self, page_size: int = 4096, chain_size: int = 8) -> None:
        super().__init__(page_size)
        if not 1 <= chain_size <= 16:
            raise ValueError(f"zsmalloc chain_size must be 1..16, got {chain_size}")
        self.chain_size = chain_size
        self.delta = page_size >> 8  # ZS_SIZE_CLASS_DELTA
        nr_classes = -(-(page_size - ZS_MIN_ALLOC_SIZE) // self.delta) + 1
        self._class_at: list[_SizeClass] = [None] * nr_classes  # type: ignore[list-item]
        self._classes: list[_SizeClass] = []  # distinct classes, largest first
        self.huge_class_size = 0
        prev: _SizeClass | None = None
        # zs_create_pool(): walk from the largest class down, merging look-alikes.
        for i in range(nr_classes - 1, -1, -1):
            size = min(ZS_MIN_ALLOC_SIZE + i * self.delta, page_size)
            pages = zspage_chain_size(size, page_size, chain_size)
            objs = pages * page_size // size
            if pages != 1 and objs != 1 and not self.huge_class_size:
                # Objects >= this size (before the handle is added) land in a class
                # with one object per page.
                self.huge_class_size = size - (ZS_HANDLE_SIZE - 1)
            if prev is not None and prev.pages == pages and prev.objs == objs:
                self._class_at[i] = prev
                continue
            prev = _SizeClass(size, pages, objs)
            self._class_at[i] = prev
            self._classes.append(prev)
        self._zspage_of: list[_ZsPage | None] = []

    def size_class(self, size: int) -> tuple[int, int, int]:
        """(class size, pages_per_zspage, objs_per_zspage) used for a malloc of size."""
        c = self._class_for(size)
        return c.size, c.pages, c.objs

    def _class_for(self, size: int) -> _SizeClass:
        size += ZS_HANDLE_SIZE
        idx = 0
        if size > ZS_MIN_ALLOC_SIZE:
            idx = min(len(self._class_at) - 1, -(-(size - ZS_MIN_ALLOC_SIZE) // self.delta))
        return self._class_at[idx]

    def malloc(self, size: int, nid: int = 0) -> int:
        if size <= 0:
            return -EINVAL
        if size > self.page_size:  # ZS_MAX_ALLOC_SIZE
            return -ENOSPC
        cls = self._class_for(size)
        if cls.mask:
            # find_get_zspage(): head of the fullest non-empty group.
            zsp = next(reversed(cls.lists[cls.mask.bit_length() - 1]))
        else:
            zsp = _ZsPage(cls, nid)
            cls.zspages += 1
            self._add_pages(nid, cls.pages)
        h = self._new_handle(size)
        if h == len(self._zspage_of):
            self._zspage_of.append(zsp)
        else:
            self._zspage_of[h] = zsp
        zsp.handles.add(h)
        cls.inuse += 1
        fg = cls.fg_of[len(zsp.handles)]
        if fg != zsp.fg:
            _move(cls, zsp, fg)
        return h

    def free(self, handle: int) -> None:
        self._check(handle)
        zsp = self._zspage_of[handle]
        assert zsp is not None
        self._zspage_of[handle] = None
        self._release_handle(handle)
        zsp.handles.remove(handle)
        cls = zsp.cls
        cls.inuse -= 1
        fg = cls.fg_of[len(zsp.handles)]
        if fg != zsp.fg:
            _move(cls, zsp, fg)
        if fg == _FG_EMPTY:
            cls.zspages -= 1
            self._add_pages(zsp.nid, -cls.pages)

    def compactable_pages(self) -> int:
        """zs_shrinker_count(): pages zs_compact() could free, summed over classes."""
        total = 0
        for cls in self._classes:
            total += (cls.zspages * cls.objs - cls.inuse) // cls.objs * cls.pages
        return total

    def compact(self) -> int:
        freed = 0
        for cls in self._classes:
            freed += self._compact_class(cls)
        return freed

    def _compact_class(self, cls: _SizeClass) -> int:
        objs = cls.objs
        freed = 0
        dst: _ZsPage | None = None
        # zs_can_compact(): a whole zspage's worth of free slots exists.
        while cls.zspages * objs - cls.inuse >= objs:
            if dst is None:
                dst = _isolate(cls, cls.mask.bit_length() - 1)  # isolate_dst_zspage
                if dst is None:
                    break
            src = _isolate(cls, (cls.mask & -cls.mask).bit_length() - 1)  # isolate_src
            if src is None:
                break
            n = min(objs - len(dst.handles), len(src.handles))
            zs_of = self._zspage_of
            for _ in range(n):
                h = src.handles.pop()
                dst.handles.add(h)
                zs_of[h] = dst
            fg = cls.fg_of[len(src.handles)]
            if fg == _FG_EMPTY:
                cls.zspages -= 1
                self._add_pages(src.nid, -cls.pages)
                freed += cls.pages
            else:
                _move(cls, src, fg)
            if len(dst.handles) == objs:
                _move(cls, dst, _FG_FULL)
                dst = None
        if dst is not None:
            _move(cls, dst, cls.fg_of[len(dst.handles)])
        return freed


def _move(cls: _SizeClass, zsp: _ZsPage, fg: int) -> None:
    """Relink zspage into group fg at the list head (remove_zspage + insert_zspage)."""
    old = zsp.fg
    if _FG_EMPTY < old < _FG_FULL:
        lst = cls.lists[old]
        del lst[zsp]
        if not lst:
            cls.mask &= ~(1 << old)
    if _FG_EMPTY < fg < _FG_FULL:
        cls.lists[fg][zsp] = None
        cls.mask |= 1 << fg
    zsp.fg = fg


def _isolate(cls: _SizeClass, fg: int) -> _ZsPage | None:
    """Take the head zspage of group fg off its list (fg <= 0: none available)."""
    if fg <= 0:
        return None
    zsp = next(reversed(cls.lists[fg]))
    _move(cls, zsp, -1)  # -1: isolated, on no list
    return zsp


def make_zpool(name: str, page_size: int = 4096, chain_size: int = 8) -> Zpool:
    """Allocator by zswap's ``zpool`` parameter name; chain_size is for zsmalloc only."""
    if name == "zbud":
        return Zbud(page_size)
    if name == "z3fold":
        return Z3fold(page_size)
    if name == "zsmalloc":
        return Zsmalloc(page_size, chain_size)
    raise ValueError(f"unknown zpool {name!r}; expected zbud, z3fold or zsmalloc")
