"""What a given kernel release does in zswap: features, defaults, counters.

Sources: mm/zswap.c history as summarised in the project's kernel notes.
Each flag is the release where the behaviour starts (inclusive) and, where
it was removed, the first release without it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Release = tuple[int, int]

OLDEST: Release = (3, 11)
NEWEST: Release = (6, 18)

_REL_RE = re.compile(r"^\s*(\d+)\.(\d+)(?:[.\-+~].*)?\s*$")


def parse_release(text: str) -> Release:
    m = _REL_RE.match(str(text))
    if not m:
        raise ValueError(f"cannot read kernel release {text!r}; write e.g. \"6.12\"")
    rel = (int(m.group(1)), int(m.group(2)))
    if not OLDEST <= rel <= NEWEST:
        raise ValueError(
            f"kernel release {text!r} is outside the modelled range "
            f"{OLDEST[0]}.{OLDEST[1]}..{NEWEST[0]}.{NEWEST[1]}"
        )
    return rel


def _between(rel: Release, first: Release, gone: Release | None = None) -> bool:
    return rel >= first and (gone is None or rel < gone)


@dataclass(frozen=True)
class KernelEra:
    release: Release

    # --- store path ---
    @property
    def zeromap(self) -> bool:
        """6.11+: zero-filled pages go to the swap zeromap, never to zswap."""
        return self.release >= (6, 11)

    @property
    def same_filled(self) -> bool:
        """4.16-6.10: same-filled pages stored as a value with no pool memory."""
        return _between(self.release, (4, 16), (6, 11))

    @property
    def hysteresis(self) -> bool:
        """5.6+: accept_threshold_percent with an asynchronous shrink worker."""
        return self.release >= (5, 6)

    @property
    def sync_evict_in_store(self) -> bool:
        """Before 5.6 a full pool evicts synchronously inside zswap_store."""
        return self.release < (5, 6)

    @property
    def compress_fail_counter(self) -> bool:
        """6.7+: reject_compress_fail exists; before, a failed compress is counted nowhere."""
        return self.release >= (6, 7)

    @property
    def store_incompressible_raw(self) -> bool:
        return self.release >= (6, 18)

    # --- scheduler ---
    @property
    def eevdf(self) -> bool:
        """6.6+: EEVDF; a woken task preempts only with positive lag. Before, CFS
        places a sleeper half a latency period back, so a kworker preempts at once."""
        return self.release >= (6, 6)

    @property
    def delay_dequeue(self) -> bool:
        """6.12+: EEVDF keeps a sleeper with negative lag queued until it is eligible
        (DELAY_DEQUEUE), so a long enough sleep forgives the debt."""
        return self.release >= (6, 12)

    # --- load path ---
    @property
    def exclusive_loads_param(self) -> bool:
        return _between(self.release, (6, 5), (6, 9))

    @property
    def always_exclusive(self) -> bool:
        return self.release >= (6, 9)

    # --- writeback ---
    @property
    def shrinker_param(self) -> bool:
        return self.release >= (6, 8)

    @property
    def second_chance(self) -> bool:
        """6.12+: the shrinker honours a referenced bit per entry."""
        return self.release >= (6, 12)

    @property
    def zsmalloc_can_evict(self) -> bool:
        """zsmalloc gained writeback (zpool_shrink) in 6.2; zswap owns the LRU from 6.5."""
        return self.release >= (6, 2)

    @property
    def zsmalloc_on_page_node(self) -> bool:
        return self.release >= (6, 16)

    # --- allocators and defaults ---
    @property
    def zpools(self) -> tuple[str, ...]:
        out = []
        if self.release < (6, 15):
            out.append("zbud")
        if _between(self.release, (4, 8), (6, 15)):
            out.append("z3fold")
        if self.release >= (3, 18):
            out.append("zsmalloc")
        return tuple(out)

    @property
    def default_zpool(self) -> str:
        return "zsmalloc" if self.release >= (6, 7) else "zbud"

    @property
    def zsmalloc_chain_size(self) -> int:
        """CONFIG_ZSMALLOC_CHAIN_SIZE default: 8 from 6.3, fixed 4 before."""
        return 8 if self.release >= (6, 3) else 4

    # --- counters present in debugfs and /proc/vmstat ---
    @property
    def has_zswpout(self) -> bool:
        return self.release >= (5, 19)

    @property
    def has_zswpwb(self) -> bool:
        return self.release >= (6, 8)

    @property
    def has_swpout_zero(self) -> bool:
        return self.release >= (6, 12)

    def zswap_parameters(self) -> tuple[str, ...]:
        """Files in /sys/module/zswap/parameters for this release."""
        p = ["enabled", "compressor", "max_pool_percent"]
        if self.release < (6, 18) and self.release >= (3, 18):
            p.append("zpool")
        if self.hysteresis:
            p.append("accept_threshold_percent")
        if self.same_filled:
            p.append("same_filled_pages_enabled")
        if _between(self.release, (5, 17), (6, 11)):
            p.append("non_same_filled_pages_enabled")
        if self.exclusive_loads_param:
            p.append("exclusive_loads")
        if self.shrinker_param:
            p.append("shrinker_enabled")
        return tuple(p)

    def debugfs_counters(self) -> tuple[str, ...]:
        c = [
            "pool_limit_hit",
            "reject_reclaim_fail",
            "reject_alloc_fail",
            "reject_kmemcache_fail",
            "reject_compress_poor",
        ]
        if self.compress_fail_counter:
            c.append("reject_compress_fail")
        c.append("written_back_pages")
        if self.release < (6, 9):
            c.append("duplicate_entry")
        c.append("pool_total_size")
        c.append("stored_pages")
        if self.same_filled:
            c.append("same_filled_pages")
        if self.release >= (6, 15):
            c.append("decompress_fail")
        if self.store_incompressible_raw:
            c.append("stored_incompressible_pages")
        return tuple(c)

    def vmstat_counters(self) -> tuple[str, ...]:
        c = ["pswpin", "pswpout", "pgmajfault", "swap_ra", "swap_ra_hit"]
        if self.has_zswpout:
            c += ["zswpin", "zswpout"]
        if self.has_zswpwb:
            c.append("zswpwb")
        if self.has_swpout_zero:
            c += ["swpin_zero", "swpout_zero"]
        return tuple(c)


def era_for(text: str) -> KernelEra:
    return KernelEra(parse_release(text))
