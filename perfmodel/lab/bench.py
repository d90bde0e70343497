"""Measure the lab's own hardware profiles inside its QEMU guests.

Emulation distorts costs (under TCG guest CPU work slows far more than I/O),
so hardware/lab-qemu.yaml and hardware/lab-qemu-2node.yaml are measured where
the kernel under test runs: the guest boots an initramfs with two static
microbenchmarks,

- lab/bench/pagebench.c: compress and decompress time per 4 KiB page and
  compressed sizes for each compressor (the real lz4, zstd, lzo and zlib
  libraries) and content class, the cost of a page copy, memory latency;
- lab/bench/iobench.c: O_DIRECT latency, bandwidth and IOPS per queue depth of
  each lab swap device, plus the cost of a first-touch page fault;

and prints what the kernel reports about CPUs and NUMA nodes. The three lab
devices (perfmodel/lab/devices.py) are attached at once, each with its QEMU
throttling, and found in the guest by their virtio serial numbers.

Console lines for the host start with '@@':

    @@BOOT <uptime>          @@UNAME <release>       @@NPROC <n>
    @@FILE <path> ... @@ENDFILE   a file's text (cpuinfo, meminfo, sysfs topology)
    @@T <phase> <uptime>     a phase starts (pagebench, faults, io-<device>, end)
    @@QUEUE <device> <dev> <nr_requests> <max_sectors_kb> <scheduler...>
    @@BENCH {json}  @@MEM {json}   pagebench
    @@FAULT {json}  @@IO {json}    iobench
    @@KCOST {json}                 kbench (per-page kernel costs, swap on the first disk)
    @@ERROR <message>        @@SETUP-ERROR <message>
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfmodel.lab.console import _ANSI, _KMSG, _TAG
from perfmodel.lab.devices import DEVICES, LabDevice
from perfmodel.lab.errors import LabError, LabNotSetUp
from perfmodel.lab.guest import GuestPlan, MiB, NumaNode, qemu_command
from perfmodel.lab.initramfs import EXE, Entry, guest_entries, write_newc
from perfmodel.lab.kernel import KernelTree, find_kernel, module_chain, module_name, read_module
from perfmodel.lab.paths import build_dir, cache_dir, lab_dir, repo_root
from perfmodel.profiling.host import (
    CompressorStats,
    DeviceStats,
    Topology,
    parse_pagebench,
    read_topology,
    render_profile,
)

log_ = logging.getLogger("perfmodel.lab")

GiB = 1 << 30
PAGE = 4096
# The model caps a scenario's memory.ram by the profile's total; the corpus
# guests use 512 MiB.
MIN_PROFILE_MEMORY = 512 * MiB
# One sparse raw image per lab device for the measurements.
IMAGE_SIZE = 2 * GiB
# A lab run's swap disk is a sparse file of the scenario's swap.size, so the
# profiles give the largest size the lab is used with, not the test image's.
PROFILE_CAPACITY = 64 * GiB
# Guest disks in attach order: lab device name, virtio serial the guest finds it by.
BENCH_DISKS = ("vda", "vda-ssd", "vda-slow")
# Kind written for every lab device: virtio-blk has a deep queue (a 256-entry
# virtqueue, blk-mq), not the 32 tags of SATA NCQ that kind sata_ssd implies.
DEVICE_KIND = "nvme"
HOW = "perfmodel lab profile in the QEMU guest"


@dataclass(frozen=True)
class BenchParams:
    """What the guest runs. With these a TCG boot takes about two minutes (pagebench
    about 30 s, iobench about 80 s for the three disks)."""

    pages: int = 2000  # pagebench pages per content class
    reps: int = 3  # pagebench repetitions (best of)
    io_samples: int = 5000  # timed random 4 KiB requests per direction at queue depth 1
    seq_mib: int = 128  # sequential region for the bandwidth test
    qds: tuple[int, ...] = (1, 4, 16)
    qd_ms: int = 2000  # time per queue depth and direction
    fault_mib: int = 256  # first-touch region for the fault cost
    kcost_mib: int = 32  # kbench region per content class (swapped out and in)
    kcost_rounds: int = 3


@dataclass(frozen=True)
class BenchGuest:
    """One guest topology and the profile it measures."""

    profile: str
    vcpus: int
    ram: int
    numa: tuple[NumaNode, ...] = ()  # empty: no -numa options, one node

    def plan(self, series: str, modules: tuple[str, ...]) -> GuestPlan:
        """A GuestPlan for qemu_command: the same -m, -smp and -numa as a lab run."""
        return GuestPlan(
            series=series, ram=self.ram, vcpus=self.vcpus, numa=self.numa,
            swap_size=IMAGE_SIZE, device=DEVICES["vda"], modules=modules, zswap=(),
            sysctls=(), cgroup=None, usemem_args=(),
        )


# lab-qemu-2node: -smp 2 and one memory-backend-ram node per vCPU, as plan_guest
# makes for a two-node profile (memory split evenly).
GUESTS: dict[str, BenchGuest] = {
    g.profile: g
    for g in (
        BenchGuest("lab-qemu", 1, 2048 * MiB),
        BenchGuest("lab-qemu-2node", 2, 2048 * MiB,
                   (NumaNode(1024 * MiB, (0,)), NumaNode(1024 * MiB, (1,)))),
    )
}


def serial(device: str) -> str:
    """virtio-blk serial of a lab device's disk (at most 20 characters)."""
    return f"bench-{device}"


# ---------------------------------------------------------------------------
# Guest: /init, initramfs, QEMU command (pure except the initramfs writer)


def bench_init_script(module_files: list[str], params: BenchParams,
                      devices: tuple[str, ...] = BENCH_DISKS) -> str:
    """The guest's /init: topology, pagebench, fault timing, iobench per disk, power off."""
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# perfmodel lab bench guest: report CPUs and nodes, run the microbenchmarks, power off.",
        "export PATH=/bin",
        "mount -t proc proc /proc",
        "mount -t sysfs sysfs /sys",
        "mount -t devtmpfs devtmpfs /dev",
        "# Kernel messages would break the data lines on the shared console.",
        "echo 1 > /proc/sys/kernel/printk",
        "echo",
        'echo "@@BOOT $(cut -d" " -f1 /proc/uptime)"',
        'fail() { echo "@@SETUP-ERROR $*"; sync; poweroff -f; sleep 10; }',
        'phase() { echo "@@T $1 $(cut -d" " -f1 /proc/uptime)"; }',
        'dump() { for f in "$@"; do [ -r "$f" ] || continue; echo "@@FILE $f"; cat "$f"; '
        'echo; echo "@@ENDFILE"; done; }',
    ]
    for m in module_files:
        lines.append(f'insmod /lib/modules/{q(m)} 2>/dev/null || fail "insmod {m} failed"')
    lines += [
        'echo "@@UNAME $(uname -r)"',
        'echo "@@NPROC $(nproc)"',
        "dump /proc/cpuinfo /proc/meminfo /sys/devices/system/cpu/online",
        "for c in /sys/devices/system/cpu/cpu[0-9]*; do",
        '  dump "$c/topology/physical_package_id" "$c/topology/core_id" '
        '"$c/topology/thread_siblings_list"',
        "done",
        "for n in /sys/devices/system/node/node[0-9]*; do",
        '  dump "$n/cpulist" "$n/meminfo" "$n/distance"',
        "done",
        "# Disks by virtio serial, not by probe order.",
        "disk() { for d in /sys/block/vd*; do "
        '[ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] && { echo "${d##*/}"; return 0; }; '
        "done; return 1; }",
        "i=0",
        "while [ \"$i\" -lt 100 ]; do",
        "  n=0",
        f"  for s in {' '.join(serial(d) for d in devices)}; do disk \"$s\" >/dev/null && n=$((n + 1)); done",
        f"  [ \"$n\" -eq {len(devices)} ] && break",
        "  sleep 0.1; i=$((i + 1))",
        "done",
        "phase pagebench",
        f"/bin/pagebench --pages {params.pages} --reps {params.reps} "
        '|| echo "@@ERROR pagebench failed with status $?"',
        "phase faults",
        f'/bin/iobench --faults {params.fault_mib} || echo "@@ERROR iobench --faults failed"',
    ]
    io = (f"--samples {params.io_samples} --seq-mib {params.seq_mib} "
          f"--qd {','.join(str(x) for x in params.qds)} --qd-ms {params.qd_ms}")
    for d in devices:
        lines += [
            f"phase io-{d}",
            f"if v=$(disk {serial(d)}); then",
            "  Q=/sys/block/$v/queue",
            f'  echo "@@QUEUE {d} /dev/$v $(cat $Q/nr_requests) $(cat $Q/max_sectors_kb) '
            '$(cat $Q/scheduler)"',
            f'  /bin/iobench --label {d} {io} "/dev/$v" '
            f'|| echo "@@ERROR iobench on {d} (/dev/$v) failed"',
            "else",
            f'  echo "@@ERROR disk {serial(d)} did not appear"',
            "fi",
        ]
    # Kernel costs last: swap goes on the first disk, which iobench has finished with.
    lines += [
        "phase kcosts",
        f"if v=$(disk {serial(devices[0])}); then",
        '  mkswap /dev/$v >/dev/null 2>&1 && swapon /dev/$v || echo "@@ERROR swapon /dev/$v failed"',
        "  echo 0 > /proc/sys/vm/page-cluster",
        "  Z=/sys/module/zswap/parameters",
        '  echo N > $Z/enabled; echo lz4 > $Z/compressor',
        '  [ -w $Z/zpool ] && echo zsmalloc > $Z/zpool',
        '  echo Y > $Z/enabled || echo "@@ERROR cannot enable zswap"',
        "  mkdir -p /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && "
        "echo +memory > /sys/fs/cgroup/cgroup.subtree_control && mkdir -p /sys/fs/cgroup/kb "
        '|| echo "@@ERROR kbench: no memory cgroup"',
        f'  /bin/kbench {params.kcost_mib} {params.kcost_rounds} /sys/fs/cgroup/kb $Z '
        '|| echo "@@ERROR kbench failed with status $?"',
        "  swapoff /dev/$v",
        "fi",
    ]
    lines += ["phase end", "sync", "poweroff -f", "sleep 10"]
    return "\n".join(lines) + "\n"


def bench_entries(init: str, pagebench: bytes, iobench: bytes,
                  modules: dict[str, bytes], kbench: bytes = b"") -> list[Entry]:
    """The lab guest's file system with the benchmarks instead of usemem."""
    ents = [e for e in guest_entries(init, b"", modules) if e.path != "bin/usemem"]
    out = [*ents, Entry("bin/pagebench", EXE, pagebench), Entry("bin/iobench", EXE, iobench)]
    if kbench:
        out.append(Entry("bin/kbench", EXE, kbench))
    return out


def bench_qemu_command(guest: BenchGuest, accel: str, kernel: Path, initrd: Path,
                       images: dict[str, Path], direct_io: bool = True,
                       qemu: str = "qemu-system-x86_64") -> list[str]:
    """A lab run's QEMU command line with one virtio disk per lab device.

    Accelerator, CPU model, -m, -smp and -numa come from guest.qemu_command, so
    they match a lab run; its single swap disk is replaced by the three below.
    """
    plan = guest.plan("", ())
    first = BENCH_DISKS[0]
    cmd = qemu_command(plan, accel, kernel, initrd, images[first], direct_io, qemu)
    i = cmd.index("-drive")
    if cmd[i + 2] != "-device" or not cmd[i + 3].startswith("virtio-blk-pci"):
        raise LabError("unexpected qemu_command layout: no -drive/-device pair")
    cache = "cache=none,aio=threads" if direct_io else "cache=writeback"
    disks: list[str] = []
    for n, name in enumerate(BENCH_DISKS):
        dev: LabDevice = DEVICES[name]
        drive = [f"file={images[name]}", "format=raw", "if=none", f"id=disk{n}", cache]
        drive += dev.throttling()
        disks += ["-drive", ",".join(drive),
                  "-device", f"virtio-blk-pci,drive=disk{n},serial={serial(name)}"]
    return cmd[:i] + disks + cmd[i + 4:]


# ---------------------------------------------------------------------------
# Console


@dataclass
class BenchConsole:
    boot_uptime: float | None = None
    release: str | None = None
    nproc: int | None = None
    files: dict[str, str] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    bench_lines: list[str] = field(default_factory=list)  # @@BENCH and @@MEM, for parse_pagebench
    fault: dict[str, Any] | None = None
    io: dict[str, dict[str, Any]] = field(default_factory=dict)  # by lab device name
    queues: dict[str, str] = field(default_factory=dict)
    kcost: dict[str, dict[str, Any]] = field(default_factory=dict)  # by content class
    errors: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)


def parse_bench_console(text: str) -> BenchConsole:
    c = BenchConsole()
    current: list[str] | None = None
    path = ""
    lines = _ANSI.sub("", text.replace("\r", "")).split("\n")
    for raw in lines:
        line = raw.rstrip()
        m = _TAG.search(line)
        if m is None:
            if current is not None and not _KMSG.match(line):
                current.append(line)
            continue
        tag, rest = m.group(1), (m.group(2) or "").strip()
        if current is not None:
            c.files[path] = "\n".join(current) + "\n"
            current = None
        if tag == "BOOT":
            c.boot_uptime = _float(rest)
        elif tag == "UNAME":
            c.release = rest
        elif tag == "NPROC":
            c.nproc = int(rest) if rest.isdigit() else None
        elif tag == "FILE":
            path, current = rest, []
        elif tag == "T":
            name, _, t = rest.partition(" ")
            v = _float(t)
            if v is not None:
                c.phases[name] = v
        elif tag in ("BENCH", "MEM"):
            c.bench_lines.append(f"@@{tag} {rest}")
        elif tag == "FAULT":
            c.fault = _json(rest)
        elif tag == "IO":
            _keyed(c, c.io, tag, rest, "label")
        elif tag == "QUEUE":
            name, _, what = rest.partition(" ")
            c.queues[name] = what
        elif tag == "KCOST":
            _keyed(c, c.kcost, tag, rest, "class")
        elif tag in ("ERROR", "SETUP-ERROR"):
            c.errors.append(rest)
    if current is not None:
        c.files[path] = "\n".join(current) + "\n"
    c.tail = [ln.strip() for ln in lines if ln.strip()][-6:]
    return c


def _keyed(c: BenchConsole, into: dict[str, dict[str, Any]], tag: str, rest: str,
           key: str) -> None:
    """A JSON line filed under its `key` field, or an error naming the tag."""
    d = _json(rest)
    if isinstance(d, dict) and key in d:
        into[str(d[key])] = d
    else:
        c.errors.append(f"unreadable @@{tag} line: {rest[:80]}")


def _float(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


def _json(s: str) -> Any:
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        return None


def guest_topology(c: BenchConsole) -> Topology:
    """host.read_topology over the guest's files, rebuilt in a scratch tree."""
    if "/proc/cpuinfo" not in c.files:
        raise LabError("the guest console has no /proc/cpuinfo")
    with tempfile.TemporaryDirectory(prefix="perfmodel-guest-") as tmp:
        for p, text in c.files.items():
            dst = Path(tmp) / p.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text)
        return read_topology(tmp)


def latency_samples(lat: dict[str, Any]) -> list[float]:
    """n latencies spread over the measured percentiles (iobench prints 101 of them).

    Sample i sits at percentile 100 i / n, interpolated, so the median and the 99th
    percentile of the list are those iobench measured.
    """
    pct = [float(x) for x in lat["pct"]]
    n = int(lat["n"])
    out = []
    for i in range(n):
        x = 100.0 * i / n
        k = min(int(x), len(pct) - 2)
        out.append(pct[k] + (pct[k + 1] - pct[k]) * (x - k))
    return out


def device_stats(name: str, io: dict[str, Any], dev: LabDevice, capacity: int) -> DeviceStats:
    """A DeviceStats from one @@IO line: latencies, bandwidths, IOPS and parallelism."""
    qd = sorted(io["qd"], key=lambda p: p["qd"])
    if not qd:
        raise LabError(f"{name}: iobench reported no queue-depth points")
    top = qd[-1]
    lat1 = float(io["read_lat_us"]["mean"])
    in_service = top["read_iops"] * lat1 * 1e-6
    par = max(1, round(in_service))
    par_note = (
        f"Little's law: {top['read_iops']:.0f} random 4 KiB reads/s at queue depth {top['qd']} "
        f"x {lat1:.1f} us mean queue-depth-1 read latency = {in_service:.2f} in service"
    )
    per_qd = ", ".join(
        f"QD{p['qd']} {p['read_iops']:.0f}/{p['write_iops']:.0f}" for p in qd
    )
    if dev.iops_total is not None:
        read_iops = write_iops = float(dev.iops_total)
        iops_note = (
            f"QEMU throttling.iops-total={dev.iops_total} (reads and writes share it); "
            f"measured random 4 KiB read/write IOPS {per_qd}"
        )
    else:
        read_iops = max(p["read_iops"] for p in qd)
        write_iops = max(p["write_iops"] for p in qd)
        iops_note = f"highest measured random 4 KiB read/write IOPS over {per_qd}"
    return DeviceStats(
        read_lat_us=latency_samples(io["read_lat_us"]),
        write_lat_us=latency_samples(io["write_lat_us"]),
        read_mbps=float(io["read_mbps"]),
        write_mbps=float(io["write_mbps"]),
        capacity=capacity,
        capacity_note="a sparse file of swap.size per run; 64 GiB is the most the lab makes "
        "(measured on 2 GiB images)",
        parallelism=par,
        parallelism_note=par_note,
        read_iops=read_iops,
        write_iops=write_iops,
        iops_note=iops_note,
    )


@dataclass
class GuestRun:
    """What one boot measured, and how it ran."""

    guest: BenchGuest
    console: BenchConsole
    accel: str
    qemu_version: str
    wall_s: float
    host_cpu: str = ""
    host_cpus: int = 0
    other_guests: int | None = None  # QEMU processes already running on the host
    params: BenchParams = field(default_factory=BenchParams)
    image_size: int = IMAGE_SIZE
    date: str = ""
    attempts: int = 1  # boots it took; earlier ones got stuck


def check_bench_console(c: BenchConsole) -> None:
    if c.boot_uptime is None:
        raise LabError(f"guest did not reach /init: {' | '.join(c.tail)[-300:]}")
    if c.errors:
        raise LabError(f"guest benchmark failed: {c.errors[0]}")
    comps, mem = parse_pagebench("\n".join(c.bench_lines))
    if not comps or not mem:
        raise LabError(f"pagebench output missing: {' | '.join(c.tail)[-300:]}")
    missing = [d for d in BENCH_DISKS if d not in c.io]
    if missing:
        raise LabError(f"iobench output missing for {', '.join(missing)}: "
                       f"{' | '.join(c.tail)[-300:]}")


def profile_text(run: GuestRun) -> str:
    """The profile YAML for one guest run: render_profile plus the lab's header,
    node memory check and the measured fault cost."""
    c = run.console
    check_bench_console(c)
    g = run.guest
    topo = guest_topology(c)
    topo.model = f"{topo.model} (QEMU {run.accel.upper()} vCPU)"
    comps, mem = parse_pagebench("\n".join(c.bench_lines))
    # Userspace has no lzo-rle (lzo with a zero-run encoding): it takes lzo's figures.
    if "lzo" in comps:
        comps["lzo-rle"] = comps["lzo"]

    total = sum(n["memory_bytes"] for n in topo.nodes)
    small_mem = total < MIN_PROFILE_MEMORY
    if small_mem:
        sizes = [n.memory for n in g.numa] or [g.ram]
        for nd, size in zip(topo.nodes, sizes, strict=False):
            nd["memory_bytes"] = size

    devices = []
    for name in BENCH_DISKS:
        io = c.io[name]
        dev = DEVICES[name]
        stats = device_stats(name, io, dev, PROFILE_CAPACITY)
        where = io.get("device", "?")
        thr = " ".join(dev.throttling()) or "no throttling"
        note = f"(guest {where}, {thr}{_queue_note(c.queues.get(name, ''))})"
        devices.append((name, DEVICE_KIND, stats, note))

    text = render_profile(g.profile, topo, comps, mem, devices, HOW)
    lines = _refit_latencies(text.splitlines(), c.io, g.vcpus)
    date = run.date or time.strftime("%Y-%m-%d")
    src = f"# measured by {HOW} on {date}"
    if small_mem:
        lines = [
            ln.replace("# node meminfo MemTotal",
                       f"# QEMU -m / memory-backend size: the guest's MemTotal ({total} B) "
                       f"is below the corpus's {MIN_PROFILE_MEMORY} B")
            for ln in lines
        ]
    numa_opt = ", ".join(f"node {i} {n.memory // MiB}M cpus {','.join(map(str, n.cpus))}"
                         for i, n in enumerate(g.numa))
    accel_desc = ("-accel kvm -cpu host" if run.accel == "kvm"
                  else "-accel tcg,thread=multi -cpu Westmere")
    p = run.params
    pages = max((s.pages for cl in comps.values() for s in cl.values()), default=p.pages)
    phases = c.phases
    t_pb = _span(phases, "pagebench", "faults")
    t_io = _span(phases, f"io-{BENCH_DISKS[0]}", "end")
    load = (f", {run.other_guests} other QEMU process(es) running when the measurements began"
            if run.other_guests is not None else "")
    header = [
        "#",
        f"# Measured inside the lab's QEMU guest, not guessed: kernel {c.release}, "
        f"QEMU {run.qemu_version}, {accel_desc},",
        f"# -smp {g.vcpus}, -m {g.ram // MiB}M"
        + (f", memory-backend-ram NUMA nodes: {numa_opt}" if g.numa else ", no -numa options")
        + f"; the same options as `perfmodel lab run` with a {g.profile} profile.",
        f"# Host: {run.host_cpu} x {run.host_cpus} CPUs{load}. Guest boot to /init "
        f"{c.boot_uptime:.1f} s; whole boot {run.wall_s:.0f} s wall"
        + (f"; pagebench {t_pb:.0f} s" if t_pb is not None else "")
        + (f", iobench on 3 disks {t_io:.0f} s" if t_io is not None else "")
        + (f"; boot {run.attempts} (the earlier got stuck and were killed)"
           if run.attempts > 1 else "") + ".",
        f"# Compressors: lab/bench/pagebench.c (static; liblz4, libzstd level 3, liblzo2 lzo1x-1, "
        f"zlib raw deflate), {pages} pages per class, best of {p.reps} rounds.",
        "# The kernel's own implementations differ somewhat; lzo-rle takes lzo's figures.",
        "# CPU and NUMA: the guest's /proc/cpuinfo and /sys/devices/system (cpu*/topology, "
        "node*/cpulist, meminfo, distance).",
        "# Memory latency and bandwidth: pagebench's pointer chase and 4 KiB page copy on one "
        "vCPU; QEMU's emulated",
        "# nodes are the same host memory, so remote equals local here.",
        "# Swap devices: lab/bench/iobench.c with O_DIRECT on three virtio-blk disks attached at "
        "once, one per lab device,",
        f"# each a fresh sparse raw image of {run.image_size} B (cache=none,aio=threads, the "
        "lab's swap disk options) with the device's",
        "# QEMU throttling (perfmodel/lab/devices.py). Sequential: "
        f"{p.seq_mib} MiB in 1 MiB requests (writes allocate, as on the",
        f"# lab's fresh swap image). Latency: {p.io_samples} random 4 KiB requests at queue depth "
        "1 (writes to unwritten blocks,",
        f"# reads of written ones). IOPS: {'/'.join(map(str, p.qds))} threads of random 4 KiB "
        f"requests for {p.qd_ms} ms each. kind {DEVICE_KIND}: a virtio-blk",
        "# disk has a deep blk-mq queue, not SATA's 32 NCQ tags.",
        "# kernel_costs: fault_ns and fresh_frame_ns from first-touch timings; reclaim, swap-in and zswap "
        "bookkeeping from kbench, which",
        "# swaps 4 KiB zero and text pages out with MADV_PAGEOUT and back in by touching them "
        "(below). memory.boot_reserved",
        "# from the guest's MemTotal. zswap_writeback_ns and kworker_wakeup_ns: from the "
        "shrink-worker traces in validation/traces;",
        "# majfault_ns: from the guest's system time in the lab runs of validation/runs.",
    ]
    lines[1:1] = header
    desc = (f"description: measured inside the lab's QEMU {run.accel.upper()} guest "
            f"({g.vcpus} vCPU, {len(topo.nodes)} NUMA node(s)) by perfmodel lab profile")
    lines = [desc if ln.startswith("description:") else ln for ln in lines]
    # The model name has digits of its own (Westmere E56xx): say where it comes from.
    lines = [f"{ln}  # guest /proc/cpuinfo model name" if ln.startswith("  model: ") and "#" not in ln
             else ln for ln in lines]

    boot = _boot_reserved_lines(c, g.ram, src)
    if boot:
        i = next(k for k, ln in enumerate(lines) if ln.startswith("  core_bandwidth_mbps:"))
        lines[i + 1:i + 1] = boot
    steal = read_steal_lines(_lab_records("runs"), g.vcpus)
    if steal:
        for i in [k for k, ln in enumerate(lines) if ln.startswith("    write_iops:")][::-1]:
            lines[i + 1:i + 1] = steal
    fill = mem.get("fill_ns")
    if isinstance(fill, dict) and fill and lines[-1].startswith("    "):
        # render_profile ends with workload_costs.fill_ns: this line joins that block.
        fresh_fill = fill_fresh_line(_lab_records("runs"), g.vcpus,
                                     {k: float(v) for k, v in fill.items()})
        if fresh_fill:
            lines.append(fresh_fill)
    fault_line = _fault_line(c.fault, mem, src)
    lines.append("kernel_costs:  # measured in the guest; see each line")
    if fault_line:
        lines.append(fault_line)
        fresh = _fresh_frame_line(c.fault, src)
        if fresh:
            lines.append(fresh)
        fault_ns = float(fault_line.split(":")[1].split("#")[0])
        lines += _kcost_lines(c.kcost, comps, mem, fault_ns, src)
        lz4 = comps.get("lz4", {}).get("text")
        if lz4 is not None:
            costs = _cost_values(lines)
            costs["lz4_compress_ns"] = lz4.compress_ns
            costs["lz4_decompress_ns"] = lz4.decompress_ns
            runs = _lab_records("runs")
            lines += majfault_cost_lines(runs, costs)
            lines += trace_cost_lines(_lab_records("traces"), lz4.decompress_ns)
            rd = read_cpu_line(runs, costs)
            if rd:
                for i in [k for k, ln in enumerate(lines)
                          if ln.startswith("    write_iops:")][::-1]:
                    lines.insert(i + 1, rd)
    else:
        lines[-1] = "kernel_costs: {}  # defaults: the fault timing was not usable"
    return "\n".join(lines) + "\n"


def _cost_values(lines: list[str]) -> dict[str, float]:
    """The numbers of the kernel_costs lines rendered so far ("  name: value  # ...")."""
    out: dict[str, float] = {}
    for ln in lines:
        m = re.match(r"^  ([a-z_]+_ns(?:_per_page)?): ([0-9.]+)", ln)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def _lab_records(subdir: str) -> list[tuple[str, dict[str, Any]]]:
    """The lab's run records in validation/SUBDIR (runs: the corpus; traces: --trace runs)."""
    out = []
    for f in sorted((repo_root() / "validation" / subdir).glob("*.json")):
        try:
            out.append((f.name, json.loads(f.read_text())))
        except (OSError, json.JSONDecodeError):
            continue
    return out


def _ticked_passes(
    records: list[tuple[str, dict[str, Any]]], counters: tuple[str, ...],
) -> Iterator[tuple[str, int, dict[str, int], dict[str, float], float]]:
    """The access passes of lab runs whose snapshots carry /proc/stat: (record name,
    pass index, vmstat deltas of `counters`, cpu_ticks deltas, elapsed seconds)."""
    for name, rec in records:
        passes = (rec.get("snapshots") or {}).get("passes") or []
        times = [float(p.get("elapsed_s", 0))
                 for p in (rec.get("workload") or {}).get("passes", [])]
        for i in range(1, len(passes)):
            a, b = passes[i - 1], passes[i]
            if not a.get("cpu_ticks") or not b.get("cpu_ticks"):
                continue
            d = {k: b["vmstat"].get(k, 0) - a["vmstat"].get(k, 0) for k in counters}
            ticks = {k: v - a["cpu_ticks"].get(k, 0) for k, v in b["cpu_ticks"].items()}
            yield name, i, d, ticks, times[i] if i < len(times) else 0.0


_MAJ_COUNTS = ("pgmajfault", "swap_ra", "swap_ra_hit", "zswpwb", "pswpout", "pswpin", "zswpin",
               "zswpout", "pgscan_kswapd", "pgscan_direct")


@dataclass
class MajfaultFit:
    """The system time of lab access passes left after the per-event costs."""

    each: list[float]  # ns per major fault, per pass
    used: list[str]  # "record pass i"
    per_fault: float  # ns: majfault_ns
    per_read: float | None  # ns per disk read, when the passes' disk shares allow a split


def majfault_fit(records: list[tuple[str, dict[str, Any]]],
                 costs: dict[str, float]) -> MajfaultFit | None:
    """For every access pass of a run whose snapshots carry /proc/stat (cpu_ticks) and that
    faults without readahead (swap_ra under 1% of pgmajfault), writes nothing back and
    sends under 1% of its stores to disk: the pass's system time less what the other
    per-event costs charge for its counted events (first-touch faults, swap-ins, zswap
    loads with lz4 decompression, scanned pages, stores with lz4 compression, readahead
    hits). Of lz4 runs only.

    What is left grows with the share of faults read from disk: submitting and
    completing a read is guest CPU too. With three or more passes whose disk shares
    (pswpin / pgmajfault) span 0.1 or more, least squares splits it into a part per
    major fault and a part per disk read (each read is one request: no readahead);
    otherwise the part per fault is the mean."""
    need = ("fault_ns", "swapin_ns", "zswap_load_ns", "zswap_store_ns",
            "reclaim_ns_per_page", "swapcache_hit_ns", "lz4_compress_ns", "lz4_decompress_ns")
    if any(k not in costs for k in need):
        return None
    c = costs
    rows: list[tuple[float, float, float]] = []  # (major faults, disk reads, leftover ns)
    used: list[str] = []
    # The costs are lz4's: a run with another compressor would leave its difference here.
    lz4 = [(n, r) for n, r in records
           if (r.get("zswap_parameters") or {}).get("compressor", "lz4") == "lz4"]
    for name, i, d, ticks, _ in _ticked_passes(lz4, _MAJ_COUNTS):
        maj = d["pgmajfault"]
        if (maj < 10000 or d["swap_ra"] > 0.01 * maj or d["zswpwb"]
                or d["pswpout"] > 0.01 * max(1, d["zswpout"])):
            continue
        system_ns = ticks["system"] * 1e7  # USER_HZ
        charged = (maj * c["fault_ns"]
                   + (d["zswpin"] + d["pswpin"]) * c["swapin_ns"]
                   + d["zswpin"] * (c["zswap_load_ns"] + c["lz4_decompress_ns"])
                   + (d["pgscan_kswapd"] + d["pgscan_direct"]) * c["reclaim_ns_per_page"]
                   + d["zswpout"] * (c["zswap_store_ns"] + c["lz4_compress_ns"])
                   + d["swap_ra_hit"] * (c["fault_ns"] + c["swapcache_hit_ns"]))
        rows.append((maj, d["pswpin"], system_ns - charged))
        used.append(f"{name} pass {i}")
    if not rows:
        return None
    each = [e / m for m, _, e in rows]
    shares = [r / m for m, r, _ in rows]
    if len(rows) >= 3 and max(shares) - min(shares) >= 0.1:
        import numpy as np

        a = np.array([[m, r] for m, r, _ in rows], dtype=float)
        (pf, pr), *_ = np.linalg.lstsq(a, np.array([e for *_, e in rows]), rcond=None)
        if pf > 0 and pr >= 0:
            return MajfaultFit(each, used, float(pf), float(pr))
    mean = sum(each) / len(each)
    return MajfaultFit(each, used, mean, None) if mean > 0 else None


def majfault_cost_lines(records: list[tuple[str, dict[str, Any]]],
                        costs: dict[str, float]) -> list[str]:
    """kernel_costs.majfault_ns from the guest's system time in lab runs (majfault_fit())."""
    fit = majfault_fit(records, costs)
    if fit is None:
        return []
    each = ", ".join(f"{e / 1e3:.1f}" for e in fit.each)
    head = (f"  majfault_ns: {round(fit.per_fault, -2):.0f}  # guest system time (/proc/stat) "
            f"of access passes without readahead or writeback, less the per-event costs "
            f"above for the events vmstat counted, per major fault: {each} us in "
            f"{'; '.join(fit.used)} (validation/runs)")
    if fit.per_read is None:
        return [f"{head}; mean of {len(fit.each)}"]
    return [f"{head}; least squares over the {len(fit.each)} passes = "
            f"{fit.per_fault / 1e3:.1f} us per major fault + {fit.per_read / 1e3:.1f} us per "
            f"disk read (the swap device's read_cpu_us)"]


def read_cpu_line(records: list[tuple[str, dict[str, Any]]],
                  costs: dict[str, float]) -> str | None:
    """A swap device's read_cpu_us: majfault_fit()'s guest CPU per disk read."""
    fit = majfault_fit(records, costs)
    if fit is None or fit.per_read is None:
        return None
    return (f"    read_cpu_us: {fit.per_read / 1e3:.1f}  # guest system time per swap-in disk "
            f"read beyond the per-page costs: least squares over {len(fit.each)} access passes "
            f"of lz4 runs without readahead (validation/runs), see majfault_ns")


def read_steal_lines(records: list[tuple[str, dict[str, Any]]], vcpus: int) -> list[str]:
    """read_steal_us and read_steal_us_per_page from the vCPU time the guest lost.

    For every access pass of a run whose snapshots carry /proc/stat (cpu_ticks): the
    wall time its ticks miss (on any vCPU), against its swap-in read requests (pswpin
    over the mean pages per swap-in fault, (pgmajfault + swap_ra) / pgmajfault) and pages (pswpin),
    with a share of wall time as a third term for what the host takes regardless. Only
    runs of a guest with `vcpus` vCPUs (the host's cores are shared differently
    otherwise). Least squares; nothing with fewer than 4 passes or a negative
    coefficient."""
    import numpy as np

    rows: list[tuple[float, float, float]] = []
    lost: list[float] = []
    used: set[str] = set()
    same = [(n, r) for n, r in records if (r.get("host") or {}).get("vcpus") == vcpus]
    for name, _, d, ticks, elapsed in _ticked_passes(same, ("pswpin", "pgmajfault", "swap_ra")):
        if d["pgmajfault"] <= 0 or elapsed <= 0:
            continue
        window = (d["pgmajfault"] + d["swap_ra"]) / d["pgmajfault"]
        rows.append((d["pswpin"] / window, float(d["pswpin"]), elapsed))
        # USER_HZ ticks, summed over the vCPUs.
        lost.append(vcpus * elapsed - sum(ticks.values()) / 100.0)
        used.add(name)
    if len(rows) < 4:
        return []
    coef = np.linalg.lstsq(np.array(rows), np.array(lost), rcond=None)[0]
    per_req, per_page, share = (float(x) for x in coef)
    if min(per_req, per_page) < 0:
        return []
    how = (f"least squares over {len(rows)} access passes of {len(used)} lab runs with "
           f"cpu_ticks (validation/runs, {vcpus} vCPU): wall time their /proc/stat misses = "
           f"{per_req * 1e6:.1f} us per swap-in read request + {per_page * 1e6:.1f} us per "
           f"page + {share * 100:.2f}% of wall time")
    return [
        f"    read_steal_us: {per_req * 1e6:.1f}  # {how}",
        f"    read_steal_us_per_page: {per_page * 1e6:.1f}  # see read_steal_us",
    ]


def fill_fresh_line(records: list[tuple[str, dict[str, Any]]], vcpus: int,
                    fill_ns: dict[str, float]) -> str | None:
    """workload_costs.fill_fresh_ns: the fill pass's user time (/proc/stat) beyond what
    fill_ns gives for its pages, per page; the median over the lab runs of one usemem
    process on a `vcpus`-vCPU guest whose snapshots carry cpu_ticks. None with fewer
    than 4 runs or a negative median."""
    import statistics

    each: list[float] = []
    for _, rec in records:
        if (rec.get("host") or {}).get("vcpus") != vcpus:
            continue
        procs = ((rec.get("scenario") or {}).get("workload") or {}).get("processes") or []
        passes = (rec.get("snapshots") or {}).get("passes") or []
        before = (rec.get("snapshots") or {}).get("before") or {}
        if len(procs) != 1 or not passes or not before.get("cpu_ticks"):
            continue
        p = procs[0]
        ticks = passes[0].get("cpu_ticks")
        if not ticks or int(p.get("count", 1)) != 1 or not p.get("fill", True):
            continue
        pages = int(p["footprint"]) // 4096
        content = p.get("content") or {}
        user_s = (ticks["user"] - before["cpu_ticks"]["user"]) / 100.0  # USER_HZ
        gen_s = sum(pages * float(f) * fill_ns.get(c, 0.0) * 1e-9 for c, f in content.items())
        each.append((user_s - gen_s) / pages * 1e9)
    if len(each) < 4:
        return None
    med = statistics.median(each)
    if med < 0:
        return None
    return (f"  fill_fresh_ns: {med:.0f}  # the fill pass's guest user time (/proc/stat) "
            f"less fill_ns for its pages, per page: median of {len(each)} lab runs "
            f"(validation/runs, {vcpus} vCPU; {min(each):.0f} to {max(each):.0f} ns)")


def trace_cost_lines(records: list[tuple[str, dict[str, Any]]],
                     decompress_ns: float) -> list[str]:
    """kernel_costs.zswap_writeback_ns and kworker_wakeup_ns from shrink-worker traces.

    A writeback: the kworker's CPU time in its long runs (the ones that write back;
    short runs only rotate referenced entries) per written-back page, less the lz4
    decompression the model charges separately. A kworker wakeup: the medians of
    queue_work to sched_wakeup, switch-in to execute_start and execute_end to
    switch-out. Each is the mean over the traced runs that have it, of 1-vCPU guests
    only: with a second vCPU the kworker mostly runs beside the reclaimer, not
    after it, and its wakeups are not the same."""
    wb: list[float] = []
    wake: list[float] = []
    names: list[str] = []
    for name, rec in records:
        if (rec.get("host") or {}).get("vcpus", 1) != 1:
            continue
        w = (rec.get("trace") or {}).get("shrink_worker") or {}
        per_page = w.get("long_runs_cpu_us_per_written_back_page")
        parts = [w.get(k) for k in ("queue_to_wakeup_us", "switch_in_to_start_us",
                                     "end_to_switch_out_us")]
        if per_page:
            wb.append(float(per_page) * 1e3 - decompress_ns)
        if all(isinstance(x, (int, float)) for x in parts):
            wake.append(sum(float(x) for x in parts) * 1e3)  # type: ignore[arg-type]
        if per_page or all(parts):
            names.append(name)
    out: list[str] = []
    where = f"shrink-worker traces (perfmodel lab run --trace) {', '.join(names)}"
    if wb and min(wb) > 0:
        out.append(
            f"  zswap_writeback_ns: {round(sum(wb) / len(wb), -2):.0f}  # {where}: kworker CPU in "
            f"its writeback runs per written-back page, less lz4 text decompression "
            f"{decompress_ns:.0f} ns; mean of {len(wb)}")
    if wake:
        out.append(
            f"  kworker_wakeup_ns: {round(sum(wake) / len(wake), -2):.0f}  # {where}: medians of "
            f"queue_work to sched_wakeup, switch-in to execute_start and execute_end to "
            f"switch-out; mean of {len(wake)}")
    return out


def _boot_reserved_lines(c: BenchConsole, ram: int, src: str) -> list[str]:
    """memory.boot_reserved: installed RAM less MemTotal less the memmap.

    struct page (64 B per 4 KiB page) is the part that scales with RAM; the rest is
    the kernel image, early allocations and reservations, taken as fixed."""
    m = re.search(r"^MemTotal:\s+(\d+) kB", c.files.get("/proc/meminfo", ""), re.M)
    if m is None:
        return []
    memtotal = int(m.group(1)) * 1024
    memmap = ram // PAGE * 64
    fixed = ram - memtotal - memmap
    if fixed < 0:
        return []
    return [
        f"  boot_reserved: {fixed}  # -m {ram // MiB}M gave MemTotal {memtotal} B: "
        f"{ram - memtotal} B short, less the memmap {src}",
        f"  memmap_bytes_per_page: 64  # sizeof(struct page) on x86-64 {src}",
    ]


def _kcost_lines(kcost: dict[str, dict[str, Any]], comps: dict[str, dict[str, CompressorStats]],
                 mem: dict[str, float], fault_ns: float, src: str) -> list[str]:
    """kernel_costs from kbench, per page, by solving the sums the model charges.

    lru (first writes inside a small memory.max): fault_ns + a page clear, plus per
    scanned page reclaim_ns_per_page and per reclaimed zero page a page read. zero and
    text (MADV_PAGEOUT, then touching the pages): their swap-out difference is
    zswap_store_ns + lz4 compression less the zero check; a zero page's swap-in is
    fault_ns + swapin_ns + a page clear, a text page's fault_ns + swapin_ns +
    zswap_load_ns + lz4 decompression. pagebench gives the lz4 figures."""
    zero, text, lru = kcost.get("zero"), kcost.get("text"), kcost.get("lru")
    lz4 = comps.get("lz4", {}).get("text")
    bw = mem.get("copy_mbps")
    if not zero or not text or not lru or lz4 is None or not bw:
        return []
    n = int(zero.get("pages", 0))
    rounds = int(zero.get("rounds", 1))
    zv, tv = zero.get("vmstat", {}), text.get("vmstat", {})
    # Every page must have taken the path the sums assume.
    if (zv.get("swpout_zero", 0) < n * rounds or tv.get("zswpout", 0) < n * rounds
            or tv.get("zswpin", 0) < n * rounds):
        return []
    touched = int(lru.get("pages", 0)) * int(lru.get("rounds", 1))
    # The cgroup's memory.stat: /proc/vmstat leaves cgroup reclaim out.
    scanned, stolen = int(lru.get("pgscan", 0)), int(lru.get("pgsteal", 0))
    if touched <= 0 or scanned <= 0 or stolen <= 0:
        return []
    touch = PAGE / float(bw) * 1e3
    scan_pp, steal_pp = scanned / touched, stolen / touched
    reclaim = (float(lru["touch_ns"]) - fault_ns - touch - steal_pp * touch) / scan_pp
    store = float(text["pageout_ns"]) - float(zero["pageout_ns"]) + touch - lz4.compress_ns
    swapin = float(zero["swapin_ns"]) - fault_ns - touch
    load = float(text["swapin_ns"]) - fault_ns - swapin - lz4.decompress_ns
    if min(reclaim, store, swapin, load) <= 0:
        return []
    out_lines: list[str] = []
    disk = kcost.get("disk")
    if disk and disk.get("vmstat", {}).get("pgmajfault", 1) == 0 and (
            disk["vmstat"].get("pswpout", 0) >= int(disk["pages"]) * int(disk["rounds"])):
        hit = float(disk["swapin_ns"]) - fault_ns
        if hit > 0:
            out_lines.append(
                f"  swapcache_hit_ns: {round(hit)}  # kbench disk: {disk['pages']} pages written "
                f"to swap with zswap off and touched again from the swap cache, "
                f"{float(disk['swapin_ns']):.0f} ns per minor fault, less fault_ns {src}")
    how = (f"kbench, {n} pages x {rounds} rounds, vm.page-cluster 0, zswap lz4/zsmalloc: "
           f"MADV_PAGEOUT {float(zero['pageout_ns']):.0f} ns per zero page and "
           f"{float(text['pageout_ns']):.0f} ns per text page; swap-in "
           f"{float(zero['swapin_ns']):.0f} / {float(text['swapin_ns']):.0f} ns")
    slow = reclaim / 1500.0
    return [
        f"  reclaim_ns_per_page: {round(reclaim)}  # kbench lru: first writes of zero to "
        f"{touched} pages in a {lru.get('cap_mib', '?')} MiB memory.max took "
        f"{float(lru['touch_ns']):.0f} ns each, with {scan_pp:.2f} pages scanned and "
        f"{steal_pp:.2f} reclaimed to the zeromap per page; less fault_ns and page clears "
        f"and reads of {touch:.0f} ns, per scanned page {src}",
        f"  zswap_store_ns: {round(store)}  # {how}; text less zero page out, plus the zero "
        f"check, less pagebench lz4 compress {lz4.compress_ns:.0f} ns {src}",
        f"  swapin_ns: {round(swapin)}  # zero page in less fault_ns and a page clear {src}",
        f"  zswap_load_ns: {round(load)}  # text page in less fault_ns, swapin_ns and pagebench "
        f"lz4 decompress {lz4.decompress_ns:.0f} ns {src}",
        *out_lines,
        f"  zswap_lru_walk_ns: {round(200 * slow)}  # DERIVED: the 200 ns default scaled by "
        f"measured/default reclaim_ns_per_page = {slow:.1f}; an LRU rotation is not timeable "
        "from userspace",
    ]


def latency_dist(lat: dict[str, Any]) -> str | None:
    """A lognormal through the measured median and mean, in YAML flow form.

    Under TCG about 1 % of requests take milliseconds (host scheduling, timer ticks),
    so a lognormal through the median and p99 would put the mean 30-50 % above the
    measured one; the model's service rate follows the mean. None when the mean is
    not above the median (no lognormal fits).
    """
    med, mean = float(lat["p50"]), float(lat["mean"])
    if med <= 0 or mean <= med * 1.001:
        return None
    sigma = math.sqrt(2 * math.log(mean / med))
    return f"{{dist: lognormal, median: {med:.1f}, sigma: {sigma:.3f}}}"


def read_host_share(io: dict[str, Any], vcpus: int = 1) -> tuple[float, float] | None:
    """Per timed QD1 read: (guest CPU, time the vCPU did not run), microseconds, from
    /proc/stat's ticks over the loop (iobench's read_stat). Both are in the latency a
    program sees, but the model charges the swap path's own CPU (read_cpu_us) and the
    host's (read_steal_us) apart from the device, so the device is what is left. With
    more than one vCPU the ticks are summed over all of them: the time missing cannot
    be put on the reading one (and such a profile has no read_steal_us), so it is 0."""
    st = io.get("read_stat")
    n = int((io.get("read_lat_us") or {}).get("n", 0))
    if not isinstance(st, dict) or n <= 0:
        return None
    tick_us = 1e4  # USER_HZ = 100
    busy = sum(int(st.get(k, 0)) for k in ("user", "nice", "system", "irq", "softirq"))
    ticks = busy + sum(int(st.get(k, 0)) for k in ("idle", "iowait", "steal"))
    wall = float(st.get("wall_us", 0))
    if wall <= 0 or ticks <= 0:
        return None
    lost = max(0.0, wall - ticks * tick_us) / n if vcpus == 1 else 0.0
    return busy * tick_us / n, lost


def _less(lat: dict[str, Any], d: float) -> dict[str, Any] | None:
    """The latency object with d taken off every figure; None if that leaves the median
    under a third of what it was (the split would be more noise than signal)."""
    if d <= 0:
        return lat
    if float(lat["p50"]) - d < float(lat["p50"]) / 3:
        return None
    out = dict(lat)
    for k in ("mean", "min", "max", "p50", "p90", "p99"):
        out[k] = max(0.0, float(lat[k]) - d)
    out["pct"] = [max(0.0, float(x) - d) for x in lat["pct"]]
    return out


_LAT_LINE = re.compile(r"^(    (read|write)_latency_us: )(\{[^}]*\})(  # )(.*)$")


def _refit_latencies(lines: list[str], io: dict[str, dict[str, Any]],
                     vcpus: int = 1) -> list[str]:
    """Replace render_profile's median/p99 latency fits by latency_dist's median/mean."""
    out: list[str] = []
    device = None
    in_devices = False
    for ln in lines:
        if not ln.startswith(" "):
            in_devices = ln.startswith("swap_devices:")
        elif in_devices and re.match(r"^  [\w-]+:\s*$", ln):
            device = ln.strip().rstrip(":")
        m = _LAT_LINE.match(ln)
        if in_devices and m and device in io:
            lat = io[device][f"{m.group(2)}_lat_us"]
            share = read_host_share(io[device], vcpus) if m.group(2) == "read" else None
            dev_lat = _less(lat, sum(share)) if share else None
            split = ""
            if share and dev_lat is not None:
                split = (f"; less {share[0]:.1f} us of guest CPU and {share[1]:.1f} us the vCPU "
                         f"did not run per read (/proc/stat over the timed reads), which "
                         f"read_cpu_us and read_steal_us stand for")
            dist = latency_dist(dev_lat if dev_lat is not None else lat)
            if dist is not None:
                note = (f"lognormal through the median and mean of {lat['n']} random 4 KiB "
                        f"O_DIRECT {m.group(2)}s at queue depth 1 (mean {lat['mean']:.1f}, "
                        f"p90 {lat['p90']:.1f}, p99 {lat['p99']:.1f}, max {lat['max']:.0f} us"
                        f"{split}), ")
                rest = m.group(5)
                rest = rest[rest.index("measured by"):] if "measured by" in rest else rest
                ln = f"{m.group(1)}{dist}{m.group(4)}{note}{rest}"
        out.append(ln)
    return out


def _queue_note(q: str) -> str:
    """', I/O scheduler mq-deadline' from '@@QUEUE' text: dev nr_requests max_sectors_kb sched..."""
    m = re.search(r"\[([\w-]+)\]", q)
    return f", I/O scheduler {m.group(1)}" if m else ""


def _span(phases: dict[str, float], a: str, b: str) -> float | None:
    if a in phases and b in phases:
        return phases[b] - phases[a]
    return None


def _fresh_frame_line(fault: dict[str, Any] | None, src: str) -> str | None:
    """kernel_costs.fresh_frame_ns: iobench's first round of first touches less its best.

    The first round takes frames the guest has not used since boot; QEMU backs guest
    RAM lazily, so each costs the host a fault of its own. Later rounds get the frames
    the previous round freed. None without per-round times or without a difference."""
    rounds = (fault or {}).get("round_ns")
    if not isinstance(rounds, list) or len(rounds) < 2:
        return None
    first, best = float(rounds[0]), min(float(r) for r in rounds[1:])
    if first <= best:
        return None
    return (
        f"  fresh_frame_ns: {round(first - best)}  # iobench --faults: the first round's first "
        f"touches took {first:.0f} ns per page against {best:.0f} ns in the best later round, "
        f"which reuses the frames the first freed: the host's fault on guest memory never "
        f"touched since boot {src}"
    )


def _fault_line(fault: dict[str, Any] | None, mem: dict[str, float], src: str) -> str | None:
    """kernel_costs.fault_ns: first touch minus the model's zero-fill of a page.

    The model charges a first touch fault_ns plus page_size / core_bandwidth_mbps
    (the page clear); the measured first touch covers both.
    """
    if not fault or "first_touch_ns" not in fault:
        return None
    bw = mem.get("copy_mbps")
    if not bw:
        return None
    zero = PAGE / float(bw) * 1e3
    ft = float(fault["first_touch_ns"])
    ns = ft - zero
    if ns <= 0:
        return None
    return (
        f"  fault_ns: {round(ns)}  # iobench --faults: first write to a fresh anonymous 4 KiB page "
        f"{ft:.0f} ns (best of 3 rounds over {fault.get('pages', '?')} pages, MADV_NOHUGEPAGE), "
        f"less the model's zero-fill 4096 B / core_bandwidth_mbps = {zero:.0f} ns {src}"
    )


# ---------------------------------------------------------------------------
# Running


def _binary(name: str) -> Path:
    """A static benchmark from lab/bench, (re)built when its source is newer."""
    src_dir = lab_dir() / "bench"
    out = build_dir() / name
    sources = [src_dir / f"{name}.c", src_dir / "pagegen.h"]
    newest = max((s.stat().st_mtime for s in sources if s.exists()), default=0.0)
    if out.exists() and out.stat().st_mtime >= newest:
        return out
    if shutil.which("make") is None or shutil.which("cc") is None:
        raise LabNotSetUp(f"{name} is not built and make or cc is missing")
    proc = subprocess.run(["make", "-s", "-C", str(src_dir), f"OUT={build_dir()}", str(out)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not out.exists():
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise LabError(f"building {name} failed: {last} (it needs static libc, liblz4, "
                       "libzstd, liblzo2 and zlib)")
    return out


def _other_guests() -> int | None:
    """QEMU system emulators already running on this host, by /proc/*/comm."""
    try:
        n = 0
        for comm in Path("/proc").glob("[0-9]*/comm"):
            try:
                n += comm.read_text().startswith("qemu-system")
            except OSError:
                continue
        return n
    except OSError:
        return None


def _write_atomic(path: Path, text: str) -> None:
    """Replace path in one step: lab runs read these profiles while we write them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# The guest prints at least every ~40 s (iobench on the throttled disk is the longest
# silence); a console quiet for this long means the guest is stuck.
STALL_S = 240.0
# Boots per profile: a stuck guest (seen once in a few dozen boots: I/O that never
# completes under TCG) is booted again from scratch.
ATTEMPTS = 2


def _boot_watched(cmd: list[str], log: Path, deadline: float, probe_s: float | None,
                  stall_s: float = STALL_S) -> str:
    """The lab's boot loop with the console watchdog on."""
    from perfmodel.lab import run as labrun

    return labrun._boot(cmd, log, deadline, probe_s, stall_s)


@dataclass
class BootResult:
    accel: str
    text: str
    wall_s: float
    attempts: int  # boots under the accelerator used, the last one complete
    failed_logs: list[Path] = field(default_factory=list)


def _boot_guest(guest: BenchGuest, tree: KernelTree, initrd: Path, run_dir: Path,
                tries: list[str], timeout_s: float) -> BootResult:
    """Boot one guest until it runs through (at most ATTEMPTS boots)."""
    from perfmodel.lab import run as labrun

    images = {d: cache_dir() / f"bench-{os.getpid()}-{d}.img" for d in BENCH_DISKS}
    log = run_dir / f"console-{guest.profile}.log"
    failed: list[Path] = []
    status, used, wall, attempt = "exited", tries[-1], 0.0, 0
    try:
        plan = [(acc, i < len(tries) - 1) for i, acc in enumerate(tries)]
        while plan:
            acc, probing = plan.pop(0)
            for img in images.values():
                # Fresh sparse images each boot, as the lab's swap image is.
                img.unlink(missing_ok=True)
                with img.open("wb") as f:
                    f.truncate(IMAGE_SIZE)
            direct = labrun._direct_io_ok(images[BENCH_DISKS[0]])
            cmd = bench_qemu_command(guest, acc, tree.vmlinuz, initrd, images, direct,
                                     labrun.QEMU)
            probe = labrun.KVM_PROBE_S if acc == "kvm" and probing else None
            log_.info("booting %s under %s: %s", guest.profile, acc, shlex.join(cmd))
            t0 = time.monotonic()
            status = _boot_watched(cmd, log, t0 + timeout_s, probe)
            wall = time.monotonic() - t0
            used = acc
            log_.info("QEMU %s after %.1f s", status, wall)
            if status == "probe-failed":
                continue
            attempt += 1
            if status in ("stalled", "timeout") and attempt < ATTEMPTS:
                keep = log.with_name(f"{log.stem}-{status}-{attempt}.log")
                os.replace(log, keep)
                failed.append(keep)
                log_.warning("%s: guest %s (console kept as %s); booting it again",
                             guest.profile, status, keep.name)
                plan.insert(0, (acc, False))
    finally:
        for img in images.values():
            img.unlink(missing_ok=True)
    text = log.read_text(errors="replace")
    if status in ("stalled", "timeout"):
        c = parse_bench_console(text)
        why = (f"its console was silent for {STALL_S:g} s" if status == "stalled"
               else f"it ran past the {timeout_s:g} s timeout")
        raise LabError(f"{guest.profile}: guest stuck in {attempt} boot(s), {why}: "
                       f"{' | '.join(c.tail)[-300:]} (console: {log})")
    if status == "probe-failed":
        raise LabError(f"{guest.profile}: guest did not boot under {used} (console: {log})")
    return BootResult(used, text, wall, attempt, failed)


def lab_profile(
    kernel: str = "6.12",
    out_dir: str | Path = "hardware",
    timeout_s: float = 900,
    *,
    accel: str = "auto",
    profiles: list[str] | None = None,
    params: BenchParams | None = None,
) -> list[tuple[Path, GuestRun]]:
    """Boot one guest per lab profile, measure it, and write hardware/<profile>.yaml.

    timeout_s bounds each boot. accel: "auto" tries KVM (with the lab's probe)
    and falls back to TCG, as `perfmodel lab run` does. Returns (path, run) per
    profile written; the console logs stay in lab/build/bench-*/.
    """
    from perfmodel.lab import run as labrun

    if accel not in ("auto", "kvm", "tcg"):
        raise LabError(f"accel: expected auto, kvm or tcg (got {accel!r})")
    names = profiles or list(GUESTS)
    unknown = [n for n in names if n not in GUESTS]
    if unknown:
        raise LabError(f"no bench guest for {', '.join(unknown)} (have {', '.join(GUESTS)})")
    params = params or BenchParams()
    tree = find_kernel(kernel)
    qemu_version = labrun._qemu_version()
    # lz4 and zsmalloc for kbench's zswap (either may be built in).
    paths = module_chain(tree, ["virtio_pci", "virtio_blk", "lz4", "zsmalloc"])
    modules = {module_name(p): read_module(p) for p in paths}
    pagebench = _binary("pagebench").read_bytes()
    iobench = _binary("iobench").read_bytes()
    kbench = _binary("kbench").read_bytes()
    created = dt.datetime.now(dt.UTC)
    run_dir = build_dir() / f"bench-{created.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    initrd = run_dir / "initramfs.cpio"
    init = bench_init_script(list(modules), params)
    write_newc(bench_entries(init, pagebench, iobench, modules, kbench), initrd)

    tries = [accel]
    if accel == "auto":
        tries = ["kvm", "tcg"] if labrun._kvm_usable() else ["tcg"]
    out: list[tuple[Path, GuestRun]] = []
    # Other guests on the host would slow these ones down: say whether any ran.
    others = _other_guests()
    for name in names:
        guest = GUESTS[name]
        boot = _boot_guest(guest, tree, initrd, run_dir, tries, timeout_s)
        tries = [boot.accel]  # a KVM probe that failed once fails again
        run = GuestRun(guest, parse_bench_console(boot.text), boot.accel, qemu_version,
                       boot.wall_s, labrun._host_cpu(), os.cpu_count() or 0, others, params,
                       IMAGE_SIZE, created.strftime("%Y-%m-%d"), boot.attempts)
        try:
            yaml_text = profile_text(run)
        except LabError as e:
            raise LabError(f"{name}: {e} (console: {run_dir / f'console-{name}.log'})") from None
        path = Path(out_dir) / f"{name}.yaml"
        _check_profile(yaml_text, name)
        _write_atomic(path, yaml_text)
        log_.info("wrote %s", path)
        out.append((path, run))
    return out


def _check_profile(text: str, name: str) -> None:
    """Validate before replacing a bundled profile."""
    from perfmodel.config import load_profile
    from perfmodel.errors import PerfmodelError

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / f"{name}.yaml"
        p.write_text(text)
        try:
            load_profile(p)
        except PerfmodelError as e:
            raise LabError(f"the measured {name} profile does not validate: {e}") from None


def summary(run: GuestRun) -> list[str]:
    """A few lines of what a guest measured, for the command line."""
    c = run.console
    comps, mem = parse_pagebench("\n".join(c.bench_lines))
    out = [f"{run.guest.profile}: {c.release} {run.accel}, boot to /init {c.boot_uptime:.1f} s, "
           f"wall {run.wall_s:.0f} s"]
    for comp in ("lz4", "zstd", "lzo"):
        s: CompressorStats | None = comps.get(comp, {}).get("text")
        if s:
            out.append(f"  {comp:5s} text: compress {s.compress_ns / 1e3:7.1f} us, decompress "
                       f"{s.decompress_ns / 1e3:6.1f} us, size p50 {s.size_p50:.0f} B")
    if mem:
        out.append(f"  page copy {mem.get('page_copy_ns', 0):.0f} ns ({mem.get('copy_mbps', 0):.0f}"
                   f" MB/s), pointer chase {mem.get('latency_ns', 0):.0f} ns")
    if c.fault:
        out.append(f"  first-touch fault {c.fault['first_touch_ns']:.0f} ns/page")
    for name in BENCH_DISKS:
        io = c.io.get(name)
        if not io:
            continue
        qd = " ".join(f"QD{p['qd']}={p['read_iops']:.0f}" for p in io["qd"])
        out.append(f"  {name:8s} read p50 {io['read_lat_us']['p50']:.0f} us, write p50 "
                   f"{io['write_lat_us']['p50']:.0f} us, seq {io['read_mbps']:.0f}/"
                   f"{io['write_mbps']:.0f} MB/s, read IOPS {qd}")
    return out


__all__ = [
    "BENCH_DISKS", "GUESTS", "BenchParams", "GuestRun", "bench_init_script",
    "bench_qemu_command", "device_stats", "lab_profile", "latency_dist", "parse_bench_console",
    "profile_text",
]
