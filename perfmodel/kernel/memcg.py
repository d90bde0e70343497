"""cgroup v2 memory controller: memory.max, memory.high and the zswap charge."""

from __future__ import annotations

from perfmodel.config.scenario import CgroupSpec


class Memcg:
    """Charges in pages; zswap's compressed bytes are charged as well (MEMCG_ZSWAP_B)."""

    __slots__ = ("max", "high", "zswap_max", "zswap_writeback", "pages", "zswap_bytes", "page_size")

    def __init__(self, spec: CgroupSpec | None, page_size: int) -> None:
        inf = 1 << 62
        self.page_size = page_size
        self.max = spec.max // page_size if spec and spec.max is not None else inf
        self.high = spec.high // page_size if spec and spec.high is not None else inf
        self.zswap_max = spec.zswap_max if spec and spec.zswap_max is not None else inf
        self.zswap_writeback = spec.zswap_writeback if spec else True
        self.pages = 0
        self.zswap_bytes = 0

    @property
    def usage(self) -> int:
        """memory.current in pages: anon pages plus the zswap charge."""
        return self.pages + (self.zswap_bytes + self.page_size - 1) // self.page_size

    def over_max(self, extra: int = 1) -> bool:
        return self.usage + extra > self.max

    def over_high(self) -> bool:
        return self.usage > self.high

    def may_zswap(self) -> bool:
        """obj_cgroup_may_zswap(): below memory.zswap.max."""
        return self.zswap_bytes < self.zswap_max
