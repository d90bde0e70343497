"""Hardware profile schema: one YAML file describes one machine."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from perfmodel.config.base import CpuList, Dist, Size, StrictModel

# Page content classes that a compressor's size model covers. Zero-filled pages
# never reach a compressor on any kernel (same-filled check or zeromap), so
# "zero" is a scenario class only.
CONTENT_CLASSES = ("same_filled", "text", "binary", "incompressible")

# Crypto API names the kernel accepts for zswap.compressor.
KNOWN_COMPRESSORS = (
    "lzo",
    "lzo-rle",
    "lz4",
    "lz4hc",
    "zstd",
    "deflate",
    "842",
    "deflate-iaa",
    "842-nx",
)


class CPUSpec(StrictModel):
    model: str
    sockets: int = Field(ge=1, le=64)
    cores_per_socket: int = Field(ge=1, le=1024)
    threads_per_core: int = Field(ge=1, le=8)
    clock_ghz: float = Field(gt=0, le=10)

    @property
    def n_cpus(self) -> int:
        return self.sockets * self.cores_per_socket * self.threads_per_core


class NodeSpec(StrictModel):
    id: int = Field(ge=0)
    memory: Size
    cpus: CpuList

    @field_validator("memory")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("node memory must be > 0")
        return v


Matrix = list[list[float]]


class NumaSpec(StrictModel):
    nodes: list[NodeSpec] = Field(min_length=1)
    # ACPI SLIT distances as in /sys/devices/system/node/node*/distance.
    distances: list[list[int]]
    # Idle load latency (ns) and read bandwidth (MB/s) from CPU node (row) to memory node (column).
    latency_ns: Matrix
    bandwidth_mbps: Matrix

    @model_validator(mode="after")
    def _shape(self) -> NumaSpec:
        n = len(self.nodes)
        ids = [nd.id for nd in self.nodes]
        if sorted(ids) != list(range(n)):
            raise ValueError(f"nodes: node ids must be 0..{n - 1}, each once; got {ids}")
        for name in ("distances", "latency_ns", "bandwidth_mbps"):
            m = getattr(self, name)
            if len(m) != n or any(len(row) != n for row in m):
                shape = f"{len(m)}x{'/'.join(str(len(r)) for r in m)}"
                raise ValueError(f"{name}: must be a {n}x{n} matrix for {n} nodes, got {shape}")
            if any(v <= 0 for row in m for v in row):
                raise ValueError(f"{name}: entries must be > 0")
        for i in range(n):
            if self.distances[i][i] != 10:
                raise ValueError(
                    f"distances[{i}][{i}]: must be 10 (local), got {self.distances[i][i]}"
                )
        seen: dict[int, int] = {}
        for nd in self.nodes:
            for c in nd.cpus:
                if c in seen:
                    raise ValueError(f"nodes: CPU {c} is in node {seen[c]} and node {nd.id}")
                seen[c] = nd.id
        return self


class MemorySpec(StrictModel):
    page_size: int = 4096
    # Single-core streaming bandwidth: the cost of touching or copying a page.
    core_bandwidth_mbps: float = Field(gt=0)
    # What boot takes out of installed RAM before the buddy allocator gets it, when a
    # scenario gives memory.ram (QEMU -m, mem=): MemTotal = ram - boot_reserved -
    # memmap_bytes_per_page per page. zswap's max_pool_percent is a share of MemTotal
    # (totalram_pages()), so this moves the pool limit. Node memory sizes in the profile
    # are taken as MemTotal already. 64 = sizeof(struct page) on x86-64.
    boot_reserved: Size = 0
    memmap_bytes_per_page: int = Field(default=64, ge=0, le=4096)

    @field_validator("page_size")
    @classmethod
    def _pow2(cls, v: int) -> int:
        if v < 4096 or v & (v - 1):
            raise ValueError(f"page_size must be a power of two >= 4096, got {v}")
        return v


class CompressorSpec(StrictModel):
    # cpu: runs on the reclaiming/faulting CPU. offload: an accelerator with its own engines.
    engine: Literal["cpu", "offload"] = "cpu"
    engines: int = Field(default=1, ge=1)
    compress_ns: dict[str, float]
    decompress_ns: dict[str, float]
    # Compressed length in bytes per content class; above page_size the
    # compressor fails (kernel dst buffer is one page).
    size_bytes: dict[str, Dist]

    @model_validator(mode="after")
    def _classes(self) -> CompressorSpec:
        for field in ("compress_ns", "decompress_ns", "size_bytes"):
            d = getattr(self, field)
            for k in d:
                if k not in CONTENT_CLASSES:
                    raise ValueError(
                        f"{field}: unknown content class '{k}'; known: {', '.join(CONTENT_CLASSES)}"
                    )
            missing = [c for c in CONTENT_CLASSES if c not in d]
            if missing:
                raise ValueError(f"{field}: missing content class(es) {', '.join(missing)}")
        for field in ("compress_ns", "decompress_ns"):
            for k, v in getattr(self, field).items():
                if not v > 0:
                    raise ValueError(f"{field}.{k} must be > 0, got {v}")
        return self


class HddSpec(StrictModel):
    rpm: float = Field(gt=0)
    track_to_track_ms: float = Field(gt=0)
    avg_seek_ms: float = Field(gt=0)
    full_stroke_ms: float = Field(gt=0)
    transfer_mbps: float = Field(gt=0)
    # Order of the block-layer queue when the head frees: clook serves the nearest request
    # at or above the head, wrapping to the lowest (mq-deadline's sector-sorted dispatch,
    # deadline_from_pos()); look reverses at the last request instead (CFQ/SCAN-like);
    # fifo serves in arrival order.
    scheduler: Literal["clook", "look", "fifo"] = "clook"

    @model_validator(mode="after")
    def _order(self) -> HddSpec:
        if not self.track_to_track_ms <= self.avg_seek_ms <= self.full_stroke_ms:
            raise ValueError("need track_to_track_ms <= avg_seek_ms <= full_stroke_ms")
        return self


class QdPoint(StrictModel):
    """One measured 4 KiB random-read point: fio iodepth, IOPS and mean latency."""

    qd: int = Field(ge=1, le=65536)
    read_iops: float = Field(gt=0)
    read_latency_us: float = Field(gt=0)

    @property
    def in_flight(self) -> float:
        """Requests inside the device by Little's law: IOPS x latency (<= qd; the rest is
        host time between a completion and the next submission)."""
        return self.read_iops * self.read_latency_us * 1e-6


# SATA NCQ tags per device (32 in the Serial ATA specification).
SATA_NCQ_DEPTH = 32

# Little's law bounds on a curve point: in_flight / qd. Above 1 the device would hold
# more than was submitted (1.03 allows rounding in published figures); below 0.85 the
# host would spend over 15 % of each cycle outside the device, which suggests a typo.
_QD_FLIGHT_MIN = 0.85
_QD_FLIGHT_MAX = 1.03


class SwapDeviceSpec(StrictModel):
    kind: Literal["nvme", "sata_ssd", "hdd"]
    capacity: Size
    # Device service time per 4 KiB request, excluding queueing.
    read_latency_us: Dist | None = None
    write_latency_us: Dist | None = None
    read_bandwidth_mbps: float = Field(gt=0)
    write_bandwidth_mbps: float = Field(gt=0)
    read_iops: float | None = Field(default=None, gt=0)
    write_iops: float | None = Field(default=None, gt=0)
    # Requests served at once: NVMe internal parallelism, flash channels, 1 for a disk head.
    parallelism: int = Field(ge=1, le=4096)
    # Commands the device accepts at once; the rest wait in the block layer. SATA NCQ
    # has 32 tags (the default for sata_ssd); None: no limit (NVMe queues are deep).
    queue_depth: int | None = Field(default=None, ge=1, le=65536)
    # Mean read latency versus queue depth (SSDs): with n requests in service a read
    # takes the curve's latency at n in flight; see perfmodel/hw/swapdev.py.
    qd_curve: list[QdPoint] | None = None
    # Largest merged request, /sys/block/*/queue/max_sectors_kb. Default 1280 KiB =
    # BLK_DEF_MAX_SECTORS_CAP, 2560 sectors (include/linux/blkdev.h; raised to 4 MiB in
    # 2025 by commit 9b8b84879d4a).
    max_sectors_kb: int = Field(default=1280, ge=4)
    # Requests the block layer hands out, /sys/block/*/queue/nr_requests: a submitter
    # sleeps in blk_mq_get_tag() once this many are outstanding, which is what holds
    # back reclaim when swap writes back up. Default 256 = 2 * BLKDEV_DEFAULT_RQ, what
    # blk_mq_init_sched() gives a queue with an I/O scheduler and >= 128 tags.
    nr_requests: int = Field(default=256, ge=1, le=65536)
    # A virtual disk on a host with few cores: host CPU that each read request (and each
    # page of it) takes from the guest's vCPU, seen as time missing from the guest's
    # /proc/stat. 0 for a physical device.
    read_steal_us: float = Field(default=0.0, ge=0)
    read_steal_us_per_page: float = Field(default=0.0, ge=0)
    # Guest CPU per swap-in read request beyond the per-page costs: building and
    # submitting the bio, the driver's doorbell, the completion interrupt. Paid by the
    # faulting task; not part of read_latency_us, which is the device's own time.
    read_cpu_us: float = Field(default=0.0, ge=0)
    hdd: HddSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _ncq(cls, data: Any) -> Any:
        # Filled in before validation so that the dumped profile shows the depth used.
        if (
            isinstance(data, dict)
            and data.get("kind") == "sata_ssd"
            and data.get("queue_depth") is None
        ):
            data = {**data, "queue_depth": SATA_NCQ_DEPTH}
        return data

    @model_validator(mode="after")
    def _kind(self) -> SwapDeviceSpec:
        if self.capacity <= 0:
            raise ValueError("capacity must be > 0")
        if self.kind == "hdd":
            if self.hdd is None:
                raise ValueError("kind hdd needs an 'hdd' section (rpm, seek times, transfer rate)")
            if self.qd_curve is not None:
                raise ValueError("qd_curve applies to SSDs; kind hdd models its head instead")
        else:
            if self.hdd is not None:
                raise ValueError(f"an 'hdd' section does not apply to kind {self.kind}")
            if self.read_latency_us is None or self.write_latency_us is None:
                raise ValueError(f"kind {self.kind} needs read_latency_us and write_latency_us")
        if self.qd_curve is not None:
            self._check_curve(self.qd_curve)
        return self

    def _check_curve(self, curve: list[QdPoint]) -> None:
        if not curve:
            raise ValueError("qd_curve: give at least one point or leave it out")
        prev: QdPoint | None = None
        for i, pt in enumerate(curve):
            ratio = pt.in_flight / pt.qd
            if not _QD_FLIGHT_MIN <= ratio <= _QD_FLIGHT_MAX:
                raise ValueError(
                    f"qd_curve[{i}]: read_iops x read_latency_us = {pt.in_flight:.2f} requests "
                    f"in flight at qd {pt.qd}; Little's law needs {_QD_FLIGHT_MIN:g} to "
                    f"{_QD_FLIGHT_MAX:g} x qd"
                )
            if prev is not None and (pt.qd <= prev.qd or pt.in_flight <= prev.in_flight):
                raise ValueError(
                    f"qd_curve[{i}]: qd and read_iops x latency must grow from point to point"
                )
            prev = pt
        last = curve[-1]
        if self.parallelism < math.ceil(last.in_flight - 1e-9):
            raise ValueError(
                f"parallelism {self.parallelism} is below the {last.in_flight:.1f} requests "
                f"in service at qd_curve's qd {last.qd}"
            )
        if self.queue_depth is not None and self.queue_depth < last.qd:
            raise ValueError(
                f"queue_depth {self.queue_depth} is below qd_curve's largest qd {last.qd}"
            )


class KernelCostsSpec(StrictModel):
    """CPU cost of kernel work that is not compression, per event.

    The defaults are assumptions of the right order for a 2-3 GHz core; a
    profile measured on its host should override them.
    """

    # Trap, page-table update and swap-cache lookup of one fault.
    fault_ns: float = Field(default=1000.0, gt=0)
    # Isolating, rmap-walking, unmapping and TLB-flushing one scanned page.
    reclaim_ns_per_page: float = Field(default=1500.0, gt=0)
    # zswap bookkeeping beyond compression: entry slab, xarray, list_lru.
    zswap_store_ns: float = Field(default=500.0, gt=0)
    zswap_load_ns: float = Field(default=300.0, gt=0)
    # do_swap_page() beyond fault_ns, per page brought in (target or readahead): swap
    # cache insertion, swap_read_folio() dispatch, swap entry upkeep.
    swapin_ns: float = Field(default=1000.0, ge=0)
    # A fault that finds its page in the swap cache (a readahead hit, or a page under
    # writeback), beyond fault_ns: lookup, mapping the folio, freeing the swap entry.
    swapcache_hit_ns: float = Field(default=500.0, ge=0)
    # One zswap LRU entry looked at by the shrink worker or shrinker without writing it
    # back (a second-chance rotation or a failed writeback).
    zswap_lru_walk_ns: float = Field(default=200.0, gt=0)
    # One zswap writeback beyond decompression: the swap-cache folio, freeing the entry,
    # and a write bio submitted without a plug. Unset: swapin_ns + zswap_load_ns.
    zswap_writeback_ns: float | None = Field(default=None, gt=0)
    # A major (swap-in) fault's own work under memory pressure beyond fault_ns: swap cache
    # miss, readahead window, memcg swap-in charge, workingset refault, folio locking.
    majfault_ns: float = Field(default=0.0, ge=0)
    # Waking a kworker and switching to it and back, once per run of a work item.
    kworker_wakeup_ns: float = Field(default=3000.0, ge=0)
    # The first use of a page frame since boot, beyond the fault: under a hypervisor the
    # host's own fault on guest memory it has not backed yet. 0 on bare metal.
    fresh_frame_ns: float = Field(default=0.0, ge=0)


class WorkloadCostsSpec(StrictModel):
    """CPU time the workload itself spends per page, beyond touching it.

    fill_ns: writing one page of each content class on its first touch (the lab's
    usemem builds text with a word generator, which under emulation costs more than
    compressing it). Classes left out cost nothing.
    fill_fresh_ns: what writing a page on the fill pass costs beyond fill_ns, per page
    of any class: fill_ns is timed on pages written over and over, the fill pass
    writes each page once, just after its fault (under an emulator, a cold software
    TLB and cold caches)."""

    fill_ns: dict[Literal["zero", "same_filled", "text", "binary", "incompressible"],
                  Annotated[float, Field(ge=0)]] = {}
    fill_fresh_ns: float = Field(default=0.0, ge=0)


class HardwareProfile(StrictModel):
    name: str
    description: str = ""
    cpu: CPUSpec
    numa: NumaSpec
    memory: MemorySpec
    compressors: dict[str, CompressorSpec] = Field(min_length=1)
    swap_devices: dict[str, SwapDeviceSpec] = Field(min_length=1)
    kernel_costs: KernelCostsSpec = KernelCostsSpec()
    workload_costs: WorkloadCostsSpec = WorkloadCostsSpec()

    @model_validator(mode="after")
    def _consistent(self) -> HardwareProfile:
        for name in self.compressors:
            if name not in KNOWN_COMPRESSORS:
                raise ValueError(
                    f"compressors.{name}: unknown compressor '{name}'; "
                    f"known: {', '.join(KNOWN_COMPRESSORS)}"
                )
        n = self.cpu.n_cpus
        in_nodes = sorted(c for nd in self.numa.nodes for c in nd.cpus)
        if in_nodes != list(range(n)):
            missing = sorted(set(range(n)) - set(in_nodes))
            extra = sorted(set(in_nodes) - set(range(n)))
            parts = []
            if missing:
                parts.append(f"CPUs {missing[:8]} are in no node")
            if extra:
                parts.append(f"CPUs {extra[:8]} do not exist ({n} CPUs)")
            raise ValueError("numa.nodes: " + "; ".join(parts))
        return self

    @property
    def total_memory(self) -> int:
        return sum(nd.memory for nd in self.numa.nodes)

    def node_of_cpu(self) -> dict[int, int]:
        return {c: nd.id for nd in self.numa.nodes for c in nd.cpus}
