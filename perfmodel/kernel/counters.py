"""Kernel counters under their own names: debugfs zswap and /proc/vmstat."""

from __future__ import annotations

DEBUGFS = (
    "pool_limit_hit",
    "reject_reclaim_fail",
    "reject_alloc_fail",
    "reject_kmemcache_fail",
    "reject_compress_poor",
    "reject_compress_fail",
    "written_back_pages",
    "duplicate_entry",
    "same_filled_pages",
    "decompress_fail",
    "stored_incompressible_pages",
)
VMSTAT = (
    "pswpin",
    "pswpout",
    "zswpin",
    "zswpout",
    "zswpwb",
    "pgmajfault",
    "pgfault",
    "swap_ra",
    "swap_ra_hit",
    "swpin_zero",
    "swpout_zero",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "allocstall",
    "pgactivate",
    "pgdeactivate",
    "pgrotated",
)


class Counters:
    """Monotonic event counters; plain int attributes so the hot path stays cheap.

    Gauges (stored_pages, pool_total_size) live with the objects that own them.
    """

    __slots__ = DEBUGFS + VMSTAT

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}
