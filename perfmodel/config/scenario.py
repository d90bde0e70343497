"""Scenario schema: kernel, sysctls, zswap parameters, memory limits, workload."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from perfmodel.config.base import CpuList, KBool, Size, StrictModel
from perfmodel.kernel.era import KernelEra, parse_release

ZPOOLS = ("zbud", "z3fold", "zsmalloc")


class KernelSpec(StrictModel):
    release: str = "6.12"
    # Kconfig; None takes the release's default.
    ZSMALLOC_CHAIN_SIZE: int | None = Field(default=None, ge=1, le=16)
    # The boot parameter workqueue.default_affinity_scope (6.5+; the key cannot hold
    # its dot, which --set reads as nesting): which CPUs an unbound
    # work item such as zswap's shrink work may run on, relative to the CPU that
    # queued it. "cache" (the default; the model takes a node for an LLC) and "numa"
    # are that CPU's node, as with every release before 6.5 (per-node pools);
    # "system" is any CPU. The finer "cpu" and "smt" scopes are not modelled.
    workqueue_default_affinity_scope: Literal["cache", "numa", "system"] = "cache"

    @field_validator("release", mode="before")
    @classmethod
    def _release(cls, v: object) -> str:
        if isinstance(v, float | int) and not isinstance(v, bool):
            raise ValueError(f'write the release as a string, e.g. "6.12" (got {v!r})')
        parse_release(str(v))
        return str(v)

    @property
    def era(self) -> KernelEra:
        return KernelEra(parse_release(self.release))


class VmSpec(StrictModel):
    """/proc/sys/vm sysctls, under their file names."""

    page_cluster: int = Field(default=3, ge=0, le=31, alias="page-cluster")
    swappiness: int = Field(default=60, ge=0, le=200)
    watermark_scale_factor: int = Field(default=10, ge=1, le=3000)
    min_free_kbytes: int | None = Field(default=None, ge=0)


class ZswapSpec(StrictModel):
    """/sys/module/zswap/parameters, with the kernel's defaults.

    Parameters that exist only in some releases default to None and take the
    release's default; setting one the release does not have is an error.
    """

    enabled: KBool = False
    compressor: str = "lzo"
    zpool: str | None = None
    max_pool_percent: int = Field(default=20, ge=0, le=100)
    accept_threshold_percent: int = Field(default=90, ge=0, le=100)
    shrinker_enabled: KBool | None = None
    exclusive_loads: KBool | None = None
    same_filled_pages_enabled: KBool | None = None
    non_same_filled_pages_enabled: KBool | None = None
    # Model switch, not a kernel parameter: whose policy places the page a
    # writeback decompresses into. The kernel uses the task's (alloc_page
    # semantics) in every release; "vma" uses the owner's VMA policy instead.
    writeback_alloc: Literal["task", "vma"] = "task"

    @field_validator("zpool")
    @classmethod
    def _zpool(cls, v: str | None) -> str | None:
        if v is not None and v not in ZPOOLS:
            raise ValueError(f"unknown zpool '{v}'; known: {', '.join(ZPOOLS)}")
        return v


class CgroupSpec(StrictModel):
    """cgroup v2 memory controller files; None means 'max'."""

    max: Size | None = None
    high: Size | None = None
    zswap_max: Size | None = None
    zswap_writeback: KBool = True


class MemorySpec(StrictModel):
    # RAM the kernel manages, like mem=; None takes all of the profile's memory.
    ram: Size | None = None
    # Memory the kernel, page cache and other tasks hold, unavailable to the workload.
    reserved: Size = 0
    cgroup: CgroupSpec | None = None


class SwapSpec(StrictModel):
    device: str | None = None
    size: Size | None = None


class PatternSpec(StrictModel):
    # uniform: independent draws (pages may repeat); permutation: each page once per
    # pass in a new random order.
    kind: Literal["sequential", "uniform", "permutation", "zipf", "hotcold"]
    # zipf: access probability of the k-th hottest page is proportional to k^-s.
    s: float | None = Field(default=None, gt=0, le=5)
    # hotcold: hot_fraction of the pages get hot_access_fraction of the accesses.
    hot_fraction: float | None = Field(default=None, gt=0, lt=1)
    hot_access_fraction: float | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def _params(self) -> PatternSpec:
        wants = {
            "sequential": set(),
            "uniform": set(),
            "permutation": set(),
            "zipf": {"s"},
            "hotcold": {"hot_fraction", "hot_access_fraction"},
        }[self.kind]
        for name in ("s", "hot_fraction", "hot_access_fraction"):
            given = getattr(self, name) is not None
            if given and name not in wants:
                raise ValueError(f"'{name}' does not apply to pattern {self.kind}")
            if not given and name in wants:
                raise ValueError(f"pattern {self.kind} needs '{name}'")
        return self


class ContentSpec(StrictModel):
    """Fractions of the workload's pages by content class; they sum to 1."""

    zero: float = Field(default=0.0, ge=0, le=1)
    same_filled: float = Field(default=0.0, ge=0, le=1)
    text: float = Field(default=0.0, ge=0, le=1)
    binary: float = Field(default=0.0, ge=0, le=1)
    incompressible: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _sum(self) -> ContentSpec:
        total = self.zero + self.same_filled + self.text + self.binary + self.incompressible
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"content fractions must sum to 1, got {total:g}")
        return self

    def as_dict(self) -> dict[str, float]:
        return {
            "zero": self.zero,
            "same_filled": self.same_filled,
            "text": self.text,
            "binary": self.binary,
            "incompressible": self.incompressible,
        }


class MempolicySpec(StrictModel):
    """set_mempolicy()/mbind() for the process's memory (MPOL_* modes)."""

    mode: Literal["local", "bind", "preferred", "interleave"] = "local"
    # Node list in cpulist syntax; local takes none.
    nodes: CpuList | None = None

    @model_validator(mode="after")
    def _nodes(self) -> MempolicySpec:
        if self.mode == "local" and self.nodes is not None:
            raise ValueError("'nodes' does not apply to mode local")
        if self.mode != "local" and not self.nodes:
            raise ValueError(f"mode {self.mode} needs 'nodes'")
        if self.mode == "preferred" and self.nodes is not None and len(self.nodes) != 1:
            raise ValueError("mode preferred takes exactly one node")
        return self


class ProcessSpec(StrictModel):
    name: str
    # Identical processes running at once (make -jN).
    count: int = Field(default=1, ge=1, le=4096)
    # Each process slot runs this many instances one after another (job churn).
    repeat: int = Field(default=1, ge=1, le=100000)
    threads: int = Field(default=1, ge=1, le=4096)
    # CPUs the threads may run on (cpulist); None means every CPU.
    cpus: CpuList | None = None
    mempolicy: MempolicySpec = MempolicySpec()
    footprint: Size
    pattern: PatternSpec
    # First pass writes every page once in order, like usemem filling its buffer.
    fill: bool = True
    write_fraction: float = Field(default=0.0, ge=0, le=1)
    compute_ns: float = Field(default=0.0, ge=0)
    bytes_per_access: int = Field(default=4096, ge=1)
    content: ContentSpec
    # Length after the fill: passes (footprint-sized access counts) or simulated seconds.
    passes: float | None = Field(default=None, gt=0)
    duration_s: float | None = Field(default=None, gt=0)
    start_s: float = Field(default=0.0, ge=0)

    @field_validator("footprint")
    @classmethod
    def _fp(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("footprint must be > 0")
        return v

    @model_validator(mode="after")
    def _length(self) -> ProcessSpec:
        if (self.passes is None) == (self.duration_s is None):
            raise ValueError("give exactly one of 'passes' or 'duration_s'")
        return self


class WorkloadSpec(StrictModel):
    seed: int = Field(default=1, ge=0)
    processes: list[ProcessSpec] = Field(min_length=1)


class SimSpec(StrictModel):
    # Pool size and ratio are sampled at this interval for the time series.
    sample_interval_s: float = Field(default=0.05, gt=0)
    # Stop rather than run forever on a thrashing configuration.
    max_sim_seconds: float = Field(default=3600.0, gt=0)


class Scenario(StrictModel):
    name: str
    description: str = ""
    kernel: KernelSpec = KernelSpec()
    vm: VmSpec = VmSpec()
    zswap: ZswapSpec = ZswapSpec()
    memory: MemorySpec = MemorySpec()
    swap: SwapSpec = SwapSpec()
    workload: WorkloadSpec
    sim: SimSpec = SimSpec()

    @model_validator(mode="after")
    def _era_params(self) -> Scenario:
        era = self.kernel.era
        have = era.zswap_parameters()
        for p in (
            "shrinker_enabled",
            "exclusive_loads",
            "same_filled_pages_enabled",
            "non_same_filled_pages_enabled",
        ):
            if getattr(self.zswap, p) is not None and p not in have:
                raise ValueError(
                    f"zswap.{p}: kernel {self.kernel.release} has no such parameter"
                )
        if self.zswap.zpool is not None and self.zswap.zpool not in era.zpools:
            raise ValueError(
                f"zswap.zpool: '{self.zswap.zpool}' is not available in kernel "
                f"{self.kernel.release} (has: {', '.join(era.zpools)})"
            )
        return self
