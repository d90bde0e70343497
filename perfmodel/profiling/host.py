"""profile-host: a hardware profile measured on the machine it describes.

Topology comes from sysfs; compressor costs and compressed sizes from the
pagebench program (the same one the lab runs inside its guests); the swap
device from direct-I/O reads and writes on a given file or device.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfmodel.config.hardware import CONTENT_CLASSES
from perfmodel.config.units import parse_cpulist
from perfmodel.errors import PerfmodelError

Z90 = 1.2815515655446004  # standard normal 90th percentile

# What pagebench runs for each kernel compressor name.
_LIBS = {
    "lz4": "liblz4 LZ4_compress_default, as the kernel's lz4",
    "lz4hc": "liblz4 LZ4_compress_HC at the default level, as the kernel's lz4hc",
    "zstd": "libzstd level 3, the kernel's default level",
    "lzo": "liblzo2 lzo1x_1_compress, the kernel's lzo",
    "lzo-rle": "lzo figures: userspace has no lzo-rle (a zero-run variant of lzo1x-1)",
    "deflate": "zlib raw deflate, window 2^11, default level, as crypto/deflate.c",
}


@dataclass
class Topology:
    model: str
    clock_ghz: float
    sockets: int
    cores_per_socket: int
    threads_per_core: int
    nodes: list[dict[str, Any]] = field(default_factory=list)  # id, memory_bytes, cpus
    distances: list[list[int]] = field(default_factory=list)


def read_topology(root: str | Path = "/") -> Topology:
    """CPU and NUMA layout as the kernel reports it."""
    r = Path(root)
    cpuinfo = (r / "proc/cpuinfo").read_text() if (r / "proc/cpuinfo").exists() else ""
    m = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    model = m.group(1).strip() if m else "unknown"
    mhz = [float(x) for x in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", cpuinfo, re.M)]
    clock = round(max(mhz) / 1000, 3) if mhz else 1.0
    cpu_dir = r / "sys/devices/system/cpu"
    online = parse_cpulist((cpu_dir / "online").read_text().strip()) if (cpu_dir / "online").exists() else [0]
    packages: dict[int, set[int]] = {}
    threads = 1
    for c in online:
        topo = cpu_dir / f"cpu{c}" / "topology"
        pkg = int((topo / "physical_package_id").read_text()) if (topo / "physical_package_id").exists() else 0
        core = int((topo / "core_id").read_text()) if (topo / "core_id").exists() else c
        packages.setdefault(pkg, set()).add(core)
        sib = topo / "thread_siblings_list"
        if sib.exists():
            threads = max(threads, len(parse_cpulist(sib.read_text().strip())))
    sockets = max(1, len(packages))
    cores = max(1, len(online) // (sockets * threads))
    node_dir = r / "sys/devices/system/node"
    nodes: list[dict[str, Any]] = []
    distances: list[list[int]] = []
    ids = sorted(int(p.name[4:]) for p in node_dir.glob("node[0-9]*")) if node_dir.exists() else []
    for nid in ids:
        nd = node_dir / f"node{nid}"
        cpus = parse_cpulist(t) if (t := (nd / "cpulist").read_text().strip()) else []
        mem_kb = 0
        mi = nd / "meminfo"
        if mi.exists():
            mm = re.search(r"MemTotal:\s+(\d+) kB", mi.read_text())
            mem_kb = int(mm.group(1)) if mm else 0
        nodes.append({"id": nid, "memory_bytes": mem_kb * 1024, "cpus": cpus})
        dist = nd / "distance"
        distances.append([int(x) for x in dist.read_text().split()] if dist.exists() else [10])
    if not nodes:
        mem = re.search(r"MemTotal:\s+(\d+) kB", (r / "proc/meminfo").read_text())
        nodes = [{"id": 0, "memory_bytes": int(mem.group(1)) * 1024 if mem else 0, "cpus": online}]
        distances = [[10]]
    return Topology(model, clock, sockets, cores, threads, nodes, distances)


@dataclass
class CompressorStats:
    compress_ns: float
    decompress_ns: float
    size_p10: float
    size_p50: float
    size_p90: float
    size_min: float
    size_max: float
    size_mean: float
    pages: int


def parse_pagebench(text: str) -> tuple[dict[str, dict[str, CompressorStats]], dict[str, float]]:
    """Lines `@@BENCH {json}` (one per compressor and class) and `@@MEM {json}`."""
    comps: dict[str, dict[str, CompressorStats]] = {}
    mem: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("@@BENCH "):
            d = json.loads(line[len("@@BENCH "):])
            comps.setdefault(d["compressor"], {})[d["class"]] = CompressorStats(
                d["compress_ns"], d["decompress_ns"], d["size_p10"], d["size_p50"],
                d["size_p90"], d["size_min"], d["size_max"], d["size_mean"], d["pages"],
            )
        elif line.startswith("@@MEM "):
            mem.update(json.loads(line[len("@@MEM "):]))
    return comps, mem


def size_dist(s: CompressorStats) -> str:
    """A Dist in YAML flow form fitted to the measured quantiles."""
    if s.size_max - s.size_min <= max(2.0, 0.02 * s.size_p50):
        return f"{{dist: fixed, value: {round(s.size_p50)}}}"
    sigma = max(0.01, math.log(max(s.size_p90, s.size_p50 + 1) / s.size_p50) / Z90)
    return f"{{dist: lognormal, median: {round(s.size_p50)}, sigma: {sigma:.3f}}}"


@dataclass
class DeviceStats:
    read_lat_us: list[float]
    write_lat_us: list[float]
    read_mbps: float
    write_mbps: float
    capacity: int
    parallelism: int = 1
    parallelism_note: str = "queue-depth-1 measurement: no internal parallelism observed"
    read_iops: float | None = None
    write_iops: float | None = None
    iops_note: str = ""
    capacity_note: str = "size of the measured file or device"


def _pctl(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def measure_device(path: str | Path, samples: int = 2000, span: int | None = None,
                   write: bool = False) -> DeviceStats:
    """Random 4 KiB direct reads (and writes, when allowed) plus 1 MiB sequential streams."""
    p = str(path)
    flags = os.O_RDWR if write else os.O_RDONLY
    try:
        fd = os.open(p, flags | getattr(os, "O_DIRECT", 0))
    except OSError as e:
        raise PerfmodelError(f"{p}: cannot open for direct I/O: {e.strerror}") from None
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        span = min(span or size, size)
        if span < (1 << 20):
            raise PerfmodelError(f"{p}: too small to measure ({size} bytes)")
        buf = mmap.mmap(-1, 1 << 20)  # page aligned, as O_DIRECT needs
        small = memoryview(buf)[:4096]
        import random

        rng = random.Random(1)
        reads: list[float] = []
        writes: list[float] = []
        for _ in range(samples):
            off = rng.randrange(span // 4096) * 4096
            t0 = time.perf_counter_ns()
            os.preadv(fd, [small], off)
            reads.append((time.perf_counter_ns() - t0) / 1e3)
            if write:
                t0 = time.perf_counter_ns()
                os.pwritev(fd, [small], off)
                writes.append((time.perf_counter_ns() - t0) / 1e3)
        big = memoryview(buf)
        n = min(64, span >> 20)
        t0 = time.perf_counter()
        for i in range(n):
            os.preadv(fd, [big], i << 20)
        rmbps = n * (1 << 20) / (time.perf_counter() - t0) / 1e6
        wmbps = 0.0
        if write:
            t0 = time.perf_counter()
            for i in range(n):
                os.pwritev(fd, [big], i << 20)
            os.fsync(fd)
            wmbps = n * (1 << 20) / (time.perf_counter() - t0) / 1e6
        return DeviceStats(reads, writes, rmbps, wmbps, size)
    finally:
        os.close(fd)


def _lat_dist(xs: list[float]) -> str:
    med = statistics.median(xs)
    p99 = max(_pctl(xs, 0.99), med * 1.001)
    return f"{{dist: lognormal, median: {med:.1f}, p99: {p99:.1f}}}"


def render_profile(
    name: str, topo: Topology, comps: dict[str, dict[str, CompressorStats]],
    mem: dict[str, float], devices: list[tuple[str, str, DeviceStats, str]], how: str,
) -> str:
    """devices: (name, kind, measurement, extra note) per swap device."""
    """The profile as YAML text, each measured number with a comment saying how."""
    when = time.strftime("%Y-%m-%d")
    src = f"# measured by {how} on {when}"
    out = [
        f"# Hardware profile measured on the machine it describes ({how}, {when}).",
        f"name: {name}",
        f"description: measured {topo.model}, {len(topo.nodes)} NUMA node(s)",
        "",
        "cpu:",
        f"  model: {json.dumps(topo.model)}  # /proc/cpuinfo model name",
        f"  sockets: {topo.sockets}  # sysfs physical_package_id",
        f"  cores_per_socket: {topo.cores_per_socket}  # sysfs core_id count per package",
        f"  threads_per_core: {topo.threads_per_core}  # sysfs thread_siblings_list",
        f"  clock_ghz: {topo.clock_ghz}  # /proc/cpuinfo cpu MHz",
        "numa:",
        "  nodes:",
    ]
    for nd in topo.nodes:
        cpus = ",".join(str(c) for c in nd["cpus"])
        out += [
            f"    - id: {nd['id']}  # /sys/devices/system/node",
            f"      memory: {nd['memory_bytes']}  # node meminfo MemTotal",
            f"      cpus: \"{cpus}\"  # node cpulist",
        ]
    n = len(topo.nodes)
    lat = mem.get("latency_ns", 100.0)
    bw = mem.get("copy_mbps", 10000.0)
    out.append("  distances:  # node distance files (SLIT)")
    out += [f"    - {row}  # node{i}/distance" for i, row in enumerate(topo.distances)]
    out.append(f"  latency_ns:  # pagebench pointer chase on the local node; remote assumed equal {src}")
    out += [f"    - {[lat] * n}  # pagebench @@MEM latency_ns" for _ in range(n)]
    out.append(f"  bandwidth_mbps:  # pagebench page copy; remote assumed equal {src}")
    out += [f"    - {[round(bw)] * n}  # pagebench @@MEM copy_mbps" for _ in range(n)]
    out += [
        "memory:",
        f"  page_size: {os.sysconf('SC_PAGESIZE')}  # sysconf(_SC_PAGESIZE)",
        f"  core_bandwidth_mbps: {round(bw)}  # pagebench 4 KiB page copy rate, one core {src}",
        "compressors:",
    ]
    for cname in sorted(comps):
        classes = comps[cname]
        missing = [c for c in CONTENT_CLASSES if c not in classes]
        if missing:
            raise PerfmodelError(f"pagebench output lacks {cname} classes {missing}")
        out.append(f"  {cname}:  # {_LIBS.get(cname, 'userspace library')}")
        for field_name in ("compress_ns", "decompress_ns"):
            out.append(f"    {field_name}:")
            for c in CONTENT_CLASSES:
                s = classes[c]
                v = getattr(s, field_name)
                out.append(f"      {c}: {max(1, round(v))}  # mean of {s.pages} pages {src}")
        out.append("    size_bytes:")
        for c in CONTENT_CLASSES:
            s = classes[c]
            out.append(
                f"      {c}: {size_dist(s)}  # p10/p50/p90 {s.size_p10:.0f}/{s.size_p50:.0f}/"
                f"{s.size_p90:.0f} B over {s.pages} pages {src}"
            )
    out.append("swap_devices:")
    for dname, dkind, dstats, dnote in devices:
        d_src = f"{src}{' ' + dnote if dnote else ''}"
        out += [
            f"  {dname}:",
            f"    kind: {dkind}",
            f"    capacity: {dstats.capacity}  # {dstats.capacity_note}",
            f"    read_latency_us: {_lat_dist(dstats.read_lat_us)}  # "
            f"{len(dstats.read_lat_us)} random 4 KiB O_DIRECT reads {d_src}",
            f"    write_latency_us: {_lat_dist(dstats.write_lat_us or dstats.read_lat_us)}  # "
            "random 4 KiB O_DIRECT writes"
            f"{'' if dstats.write_lat_us else ' (not measured: read-only; reads used)'} {d_src}",
            f"    read_bandwidth_mbps: {dstats.read_mbps:.0f}  # 1 MiB sequential O_DIRECT reads "
            f"{d_src}",
            f"    write_bandwidth_mbps: {(dstats.write_mbps or dstats.read_mbps):.0f}  # 1 MiB "
            f"sequential writes{'' if dstats.write_mbps else ' (not measured; read rate used)'} "
            f"{d_src}",
            f"    parallelism: {dstats.parallelism}  # {dstats.parallelism_note}",
        ]
        if dstats.read_iops:
            out.append(f"    read_iops: {dstats.read_iops:.0f}  # {dstats.iops_note} {d_src}")
        if dstats.write_iops:
            out.append(f"    write_iops: {dstats.write_iops:.0f}  # {dstats.iops_note} {d_src}")
    fill = mem.get("fill_ns")
    if isinstance(fill, dict) and fill:
        out.append("workload_costs:")
        out.append("  fill_ns:  # pagebench: writing one 4 KiB page of each class with the "
                   "workload's generator (lab/bench/pagegen.h), best of the rounds")
        out += [f"    {c}: {float(v):.0f}  # ns per page {src}" for c, v in fill.items()]
    return "\n".join(out) + "\n"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def find_pagebench(given: str | None) -> Path:
    """The pagebench binary: as given, already built, or built now with make."""
    import shutil
    import subprocess

    if given:
        p = Path(given)
        if not p.is_file():
            raise PerfmodelError(f"{given}: no such pagebench binary")
        return p
    built = repo_root() / "lab" / "build" / "pagebench"
    if built.is_file():
        return built
    if shutil.which("make") is None or shutil.which("cc") is None:
        raise PerfmodelError("profile-host needs pagebench: install make and a C compiler, "
                             "or pass --pagebench PATH")
    res = subprocess.run(["make", "-s", "-C", str(repo_root() / "lab" / "bench")],
                         capture_output=True, text=True)
    if res.returncode != 0 or not built.is_file():
        last = (res.stderr.strip().splitlines() or ["make failed"])[-1]
        raise PerfmodelError(
            f"cannot build pagebench ({last}); it needs the static liblz4, libzstd, liblzo2 "
            "and zlib development files (Debian: liblz4-dev libzstd-dev liblzo2-dev zlib1g-dev)"
        )
    return built


def run_pagebench(binary: Path, pages: int = 2000) -> str:
    import subprocess

    res = subprocess.run([str(binary), "--pages", str(pages)], capture_output=True, text=True)
    if res.returncode != 0:
        raise PerfmodelError(f"{binary}: pagebench failed: {res.stderr.strip()[:200]}")
    return res.stdout


def profile_host(
    out: str | None, device: str | None, write: bool, pagebench: str | None, name: str,
    kind: str, pages: int = 2000,
) -> str:
    """Measure this machine and return (and write, when out is given) a profile."""
    topo = read_topology("/")
    comps, mem = parse_pagebench(run_pagebench(find_pagebench(pagebench), pages))
    # lzo-rle is lzo with a zero-run encoding; userspace has no lzo-rle, so it
    # takes lzo's figures (the kernel's two differ by a few percent).
    if "lzo" in comps:
        comps["lzo-rle"] = comps["lzo"]
    tmp: Path | None = None
    if device is None:
        # No device named: measure a scratch file where the profile is written.
        base = Path(out).resolve().parent if out else Path.cwd()
        tmp = base / ".perfmodel-devtest"
        with open(tmp, "wb") as f:
            f.truncate(256 << 20)
            f.write(b"\0" * (1 << 20))
        device, write = str(tmp), True
    try:
        dev = measure_device(device, write=write)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    text = render_profile(name, topo, comps, mem, [("swap0", kind, dev, "")],
                          "perfmodel profile-host with pagebench")
    if out:
        Path(out).write_text(text)
    return text
