"""perfmodel lab profile without booting QEMU: guest /init and command, console parsing,
the profiles rendered from a captured guest console, and iobench building."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from perfmodel.config import load_profile
from perfmodel.config.hardware import CONTENT_CLASSES
from perfmodel.lab.__main__ import main as lab_main
from perfmodel.lab.bench import (
    BENCH_DISKS,
    GUESTS,
    MIN_PROFILE_MEMORY,
    BenchParams,
    GuestRun,
    _boot_watched,
    bench_entries,
    bench_init_script,
    bench_qemu_command,
    device_stats,
    guest_topology,
    latency_dist,
    latency_samples,
    parse_bench_console,
    profile_text,
    serial,
)
from perfmodel.lab.devices import DEVICES
from perfmodel.lab.errors import LabError
from perfmodel.lab.guest import qemu_command
from perfmodel.profiling.host import parse_pagebench

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "lab-bench-console-sample.txt"
IOBENCH_C = ROOT / "lab" / "bench" / "iobench.c"


def _opt(cmd: list[str], name: str) -> list[str]:
    return [cmd[i + 1] for i, a in enumerate(cmd) if a == name]


def _run(profile: str, text: str | None = None) -> GuestRun:
    c = parse_bench_console(text if text is not None else SAMPLE.read_text())
    return GuestRun(GUESTS[profile], c, "tcg", "7.2.0", 200.0, "Test CPU", 2, 0,
                    BenchParams(), date="2026-01-02")


def test_sample_console_parses() -> None:
    c = parse_bench_console(SAMPLE.read_text())
    assert c.boot_uptime is not None and c.release
    assert not c.errors
    assert set(c.io) == set(BENCH_DISKS)
    assert {"pagebench", "faults", "end"} <= set(c.phases)
    comps, mem = parse_pagebench("\n".join(c.bench_lines))
    assert {"lz4", "zstd", "lzo", "lz4hc", "deflate"} <= set(comps)
    assert all(set(comps[k]) == set(CONTENT_CLASSES) for k in comps)
    assert mem["copy_mbps"] > 0 and mem["page_copy_ns"] > 0
    assert c.fault is not None and c.fault["first_touch_ns"] > 0
    for name in BENCH_DISKS:
        io = c.io[name]
        assert len(io["read_lat_us"]["pct"]) == 101
        assert [p["qd"] for p in io["qd"]] == [1, 4, 16]
    topo = guest_topology(c)
    assert topo.nodes and topo.nodes[0]["memory_bytes"] > 0
    assert sum(len(n["cpus"]) for n in topo.nodes) == c.nproc


def test_throttled_sample_devices_are_slower() -> None:
    c = parse_bench_console(SAMPLE.read_text())
    slow, fast = c.io["vda-slow"], c.io["vda"]
    # 2000 IOPS: a queue of 16 cannot beat the throttle by much.
    assert slow["qd"][-1]["read_iops"] < 1.2 * DEVICES["vda-slow"].iops_total
    assert slow["read_mbps"] < 1.2 * DEVICES["vda-slow"].bps_total / 1e6
    assert fast["qd"][-1]["read_iops"] > slow["qd"][-1]["read_iops"]


@pytest.mark.parametrize("name", list(GUESTS))
def test_rendered_profiles_load(tmp_path: Path, name: str) -> None:
    text = profile_text(_run(name))
    p = tmp_path / f"{name}.yaml"
    p.write_text(text)
    hw = load_profile(p)
    assert hw.name == name
    assert set(hw.swap_devices) == set(BENCH_DISKS)
    assert {"lz4", "zstd", "lzo", "lzo-rle"} <= set(hw.compressors)
    assert hw.total_memory >= MIN_PROFILE_MEMORY
    for dname, dev in hw.swap_devices.items():
        assert dev.parallelism >= 1
        assert dev.capacity >= 2 << 30  # the lab scenario's 2 GiB swap fits
        lim = DEVICES[dname].iops_total
        if lim is not None:
            assert dev.read_iops == dev.write_iops == lim
        else:
            assert dev.read_iops and dev.write_iops
    assert hw.kernel_costs.fault_ns > 0
    bare = [ln for ln in text.splitlines()
            if re.search(r"\d", ln) and "#" not in ln
            and not re.match(r"^(name|description)\s*:", ln)]
    assert not bare


def test_small_guest_memory_falls_back_to_qemu_size(tmp_path: Path) -> None:
    text = re.sub(r"MemTotal:(\s+)\d+ kB", r"MemTotal:\g<1>102400 kB", SAMPLE.read_text())
    out = profile_text(_run("lab-qemu", text))
    p = tmp_path / "lab-qemu.yaml"
    p.write_text(out)
    assert load_profile(p).total_memory == GUESTS["lab-qemu"].ram
    assert "is below the corpus's" in out


def test_two_node_topology_from_files() -> None:
    files = ["@@BOOT 1.0", "@@FILE /proc/cpuinfo",
             *[f"processor\t: {i}\nmodel name\t: Westmere\ncpu MHz\t\t: 2600.000\n" for i in (0, 1)],
             "@@ENDFILE", "@@FILE /sys/devices/system/cpu/online", "0-1", "@@ENDFILE"]
    for n in (0, 1):
        d = f"/sys/devices/system/node/node{n}"
        files += [f"@@FILE {d}/cpulist", str(n), "@@ENDFILE",
                  f"@@FILE {d}/meminfo", f"Node {n} MemTotal:       1000000 kB", "@@ENDFILE",
                  f"@@FILE {d}/distance", "10 20" if n == 0 else "20 10", "@@ENDFILE"]
    topo = guest_topology(parse_bench_console("\n".join(files)))
    assert [nd["cpus"] for nd in topo.nodes] == [[0], [1]]
    assert topo.distances == [[10, 20], [20, 10]]
    assert topo.nodes[1]["memory_bytes"] == 1000000 * 1024


def test_latency_samples_keep_quantiles() -> None:
    pct = [10.0 + q for q in range(100)] + [1000.0]
    xs = latency_samples({"n": 2000, "pct": pct})
    assert len(xs) == 2000
    s = sorted(xs)
    assert s[1000] == pytest.approx(60.0)
    assert s[int(0.99 * 2000)] == pytest.approx(109.0)


def _io(iops: list[float], lat1: float) -> dict:
    lat = {"n": 100, "mean": lat1, "p50": lat1, "pct": [lat1] * 101}
    return {"read_mbps": 100.0, "write_mbps": 90.0, "read_lat_us": lat, "write_lat_us": lat,
            "qd": [{"qd": q, "read_iops": i, "write_iops": i / 2, "read_lat_us": 1.0,
                    "write_lat_us": 1.0} for q, i in zip((1, 4, 16), iops, strict=True)]}


def test_device_stats_littles_law_and_iops() -> None:
    d = device_stats("vda", _io([5000, 15000, 30000], 100.0), DEVICES["vda"], 1 << 30)
    assert d.parallelism == 3  # 30000/s x 100 us
    assert (d.read_iops, d.write_iops) == (30000, 15000)
    s = device_stats("vda-slow", _io([1900, 2000, 2000], 50.0), DEVICES["vda-slow"], 1 << 30)
    assert s.parallelism == 1  # 0.1 in service rounds to 0, at least 1
    assert s.read_iops == s.write_iops == 2000
    assert "throttling.iops-total=2000" in s.iops_note


def test_incomplete_console_is_an_error() -> None:
    text = SAMPLE.read_text()
    cut = text[: text.index('@@IO {"label":"vda-slow"')]
    with pytest.raises(LabError, match="vda-slow"):
        profile_text(_run("lab-qemu", cut))
    with pytest.raises(LabError, match="pagebench failed"):
        profile_text(_run("lab-qemu", text + "\n@@ERROR pagebench failed with status 1\n"))


def test_qemu_command_three_throttled_disks() -> None:
    g = GUESTS["lab-qemu-2node"]
    images = {d: Path(f"{d}.img") for d in BENCH_DISKS}
    cmd = bench_qemu_command(g, "tcg", Path("vmlinuz"), Path("initrd"), images)
    base = qemu_command(g.plan("", ()), "tcg", Path("vmlinuz"), Path("initrd"), images["vda"])
    for opt in ("-accel", "-cpu", "-m", "-smp", "-numa", "-object", "-kernel", "-append"):
        assert _opt(cmd, opt) == _opt(base, opt)
    assert _opt(cmd, "-smp") == ["2"]
    assert len(_opt(cmd, "-numa")) == 2
    drives, devs = _opt(cmd, "-drive"), _opt(cmd, "-device")
    assert len(drives) == len(devs) == 3
    for n, name in enumerate(BENCH_DISKS):
        assert drives[n].startswith(f"file={name}.img,")
        assert "cache=none,aio=threads" in drives[n]
        for t in DEVICES[name].throttling():
            assert t in drives[n]
        assert devs[n] == f"virtio-blk-pci,drive=disk{n},serial={serial(name)}"
        assert len(serial(name)) <= 20  # virtio-blk serial limit
    one = bench_qemu_command(GUESTS["lab-qemu"], "tcg", Path("k"), Path("i"), images)
    assert _opt(one, "-smp") == ["1"] and not _opt(one, "-numa")
    assert _opt(one, "-m") == ["2048M"]


def test_init_script_runs_each_benchmark() -> None:
    init = bench_init_script(["virtio_blk.ko"], BenchParams(pages=123))
    assert init.startswith("#!/bin/sh\n")
    assert "insmod /lib/modules/virtio_blk.ko" in init
    assert "/bin/pagebench --pages 123" in init
    assert "/bin/iobench --faults" in init
    assert "/bin/kbench " in init and "swapon" in init
    for name in BENCH_DISKS:
        assert f"disk {serial(name)}" in init and f"--label {name} " in init
    assert init.rstrip().endswith("sleep 10") and "poweroff -f" in init
    paths = {e.path for e in bench_entries(init, b"pb", b"io", {"virtio_blk.ko": b"x"})}
    assert {"init", "bin/pagebench", "bin/iobench", "lib/modules/virtio_blk.ko"} <= paths
    assert "bin/usemem" not in paths


def test_cli_has_profile_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        lab_main(["profile", "--help"])
    assert e.value.code == 0
    assert "--out-dir" in capsys.readouterr().out


def test_iobench_compiles(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    out = tmp_path / "iobench"
    res = subprocess.run([cc, "-O2", "-Wall", "-static", "-pthread", "-o", str(out),
                          str(IOBENCH_C)], capture_output=True, text=True, check=False)
    if res.returncode != 0 and "cannot find -l" in res.stderr:
        pytest.skip(f"static libraries missing: {res.stderr.strip().splitlines()[-1]}")
    assert res.returncode == 0, res.stderr
    assert "warning" not in res.stderr
    usage = subprocess.run([str(out)], capture_output=True, text=True, check=False)
    assert usage.returncode == 2 and "iobench" in usage.stderr


def test_boot_watchdog_kills_a_silent_guest(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    quiet = ["sh", "-c", "echo @@BOOT 0.5; sleep 30"]
    assert _boot_watched(quiet, log, time.monotonic() + 20, None, stall_s=1.0) == "stalled"
    assert "@@BOOT" in log.read_text()
    done = ["sh", "-c", "echo @@BOOT 0.5; echo @@T end 1"]
    assert _boot_watched(done, log, time.monotonic() + 20, None, stall_s=5.0) == "exited"
    assert _boot_watched(quiet, log, time.monotonic() + 1, None, stall_s=10.0) == "timeout"


def test_latency_dist_keeps_the_mean(tmp_path: Path) -> None:
    # A TCG-like sample: a tight body and a 1 % tail of milliseconds.
    lat = {"n": 1000, "mean": 230.0, "p50": 186.0, "p90": 226.0, "p99": 1974.0, "max": 6845.0}
    d = latency_dist(lat)
    assert d is not None and "median: 186.0" in d
    (tmp_path / "d.yaml").write_text(f"x: {d}\n")
    from perfmodel.config.base import Dist

    x = Dist.model_validate(yaml.safe_load((tmp_path / "d.yaml").read_text())["x"])
    assert x.mean_value() == pytest.approx(230.0, rel=1e-3)
    assert latency_dist({**lat, "mean": 186.0}) is None
    # The rendered profile carries the same fit, with the measured quantiles in the comment.
    text = profile_text(_run("lab-qemu"))
    io = parse_bench_console(SAMPLE.read_text()).io["vda"]
    want = latency_dist(io["read_lat_us"])
    line = next(ln for ln in text.splitlines() if ln.startswith("    read_latency_us:"))
    assert want is not None and want in line and "p99" in line.split("#", 1)[1]


def test_kernel_costs_solve_the_kbench_sums(tmp_path: Path) -> None:
    """kernel_costs from kbench: each model charge sums back to the guest's timing."""
    run = _run("lab-qemu")
    c = run.console
    assert set(c.kcost) == {"zero", "text", "disk", "lru"}
    p = tmp_path / "lab-qemu.yaml"
    p.write_text(profile_text(run))
    hw = load_profile(p)
    kc = hw.kernel_costs
    touch = 4096 / hw.memory.core_bandwidth_mbps * 1e3  # ns
    lz4 = hw.compressors["lz4"]
    zero, text, disk, lru = (c.kcost[k] for k in ("zero", "text", "disk", "lru"))
    # zero and text pages out: the same reclaim, then the zero check or a store.
    assert kc.zswap_store_ns + lz4.compress_ns["text"] - touch == pytest.approx(
        text["pageout_ns"] - zero["pageout_ns"], abs=2)
    assert kc.fault_ns + kc.swapin_ns + touch == pytest.approx(zero["swapin_ns"], abs=2)
    assert kc.fault_ns + kc.swapin_ns + kc.zswap_load_ns + lz4.decompress_ns["text"] == (
        pytest.approx(text["swapin_ns"], abs=2))
    assert kc.fault_ns + kc.swapcache_hit_ns == pytest.approx(disk["swapin_ns"], abs=2)
    # The first round of first touches, on frames unused since boot, less the best.
    assert kc.fault_ns + touch + kc.fresh_frame_ns == pytest.approx(
        c.fault["round_ns"][0], abs=2)
    # A first write under memory.max: fault, clear, and the reclaim it takes.
    per = lru["pages"] * lru["rounds"]
    scan, steal = lru["pgscan"] / per, lru["pgsteal"] / per
    assert kc.fault_ns + touch + scan * kc.reclaim_ns_per_page + steal * touch == (
        pytest.approx(lru["touch_ns"], abs=3))
    # The guest's MemTotal at -m 2048M comes back from boot_reserved and the memmap.
    installed = GUESTS["lab-qemu"].ram
    pages = installed // 4096
    memtotal = installed - hw.memory.boot_reserved - pages * hw.memory.memmap_bytes_per_page
    assert memtotal == 2021400 * 1024
    # usemem's page generator, per class, from pagebench.
    assert hw.workload_costs.fill_ns["text"] > hw.workload_costs.fill_ns["zero"] > 0


def test_kernel_costs_need_every_page_on_the_expected_path(tmp_path: Path) -> None:
    """A kbench round where pages went elsewhere (zswap off, say) gives no figures."""
    text = SAMPLE.read_text().replace('"zswpout":24576', '"zswpout":100')
    out = profile_text(_run("lab-qemu", text))
    assert "reclaim_ns_per_page" not in out and "fault_ns:" in out


def test_kbench_compiles(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    out = tmp_path / "kbench"
    src = ROOT / "lab" / "bench" / "kbench.c"
    res = subprocess.run([cc, "-O2", "-Wall", "-static", "-o", str(out), str(src)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0 and "cannot find -l" in res.stderr:
        pytest.skip(f"static libraries missing: {res.stderr.strip().splitlines()[-1]}")
    assert res.returncode == 0, res.stderr
    assert "warning" not in res.stderr
    usage = subprocess.run([str(out), "0"], capture_output=True, text=True, check=False)
    assert usage.returncode == 2 and "kbench" in usage.stderr


def test_read_steal_from_the_wall_time_the_guest_lost() -> None:
    """perfmodel lab profile derives a virtual disk's read_steal_us (per swap-in read
    request) and read_steal_us_per_page from the wall time that the guest's /proc/stat
    ticks miss in the access passes of runs with the guest's vCPU count."""
    from perfmodel.lab.bench import read_steal_lines

    def rec(vcpus: int, passes: list[tuple[int, int, int, float]]) -> dict:
        # passes: (pgmajfault, swap_ra, pswpin, elapsed); lost = 40 us per request +
        # 5 us per page + 1% of the wall time.
        snaps = [{"vmstat": {}, "cpu_ticks": {"user": 0.0}}]
        times = [{"elapsed_s": 10.0}]
        ticks = 0.0
        for maj, ra, pin, el in passes:
            req = pin / ((maj + ra) / maj)
            lost = 40e-6 * req + 5e-6 * pin + 0.01 * el
            ticks += (el - lost) * 100
            snaps.append({"vmstat": {"pgmajfault": maj, "swap_ra": ra, "pswpin": pin},
                          "cpu_ticks": {"user": ticks}})
            times.append({"elapsed_s": el})
        # Counters are cumulative in the snapshots.
        for i in range(2, len(snaps)):
            for k in ("pgmajfault", "swap_ra", "pswpin"):
                snaps[i]["vmstat"][k] += snaps[i - 1]["vmstat"][k]
        return {"host": {"vcpus": vcpus}, "snapshots": {"passes": snaps},
                "workload": {"passes": times}}

    one = rec(1, [(20000, 140000, 160000, 14.0), (18000, 0, 18000, 18.0),
                  (22000, 150000, 18000, 13.0), (16000, 0, 16000, 16.0)])
    two = rec(2, [(20000, 0, 20000, 20.0)] * 4)
    lines = read_steal_lines([("a.json", one), ("b.json", two)], 1)
    assert lines[0].startswith("    read_steal_us: 40.0  #") and "4 access passes" in lines[0]
    assert lines[1].startswith("    read_steal_us_per_page: 5.0  #")
    assert read_steal_lines([("b.json", two)], 1) == []


def test_fill_fresh_from_the_fill_pass_user_time() -> None:
    """perfmodel lab profile derives workload_costs.fill_fresh_ns from the fill pass's
    user time less fill_ns for its pages: the median per page over the one-process
    runs of a guest with the profile's vCPU count, none with fewer than 4 runs."""
    from perfmodel.lab.bench import fill_fresh_line

    fill = {"text": 30000.0, "zero": 1000.0}

    def rec(vcpus: int, user_s: float, count: int = 1) -> dict:
        proc = {"footprint": 4096 * 1000, "count": count, "fill": True,
                "content": {"text": 0.8, "zero": 0.2}}
        return {"host": {"vcpus": vcpus},
                "scenario": {"workload": {"processes": [proc]}},
                "snapshots": {"before": {"cpu_ticks": {"user": 10.0}},
                              "passes": [{"cpu_ticks": {"user": 10.0 + user_s * 100}}]}}

    # 1000 pages: 800 * 30 us + 200 * 1 us = 24.2 ms of generator; 4, 5, 6, 9 us more.
    recs = [(f"{i}.json", rec(1, 0.0242 + extra * 1e-3)) for i, extra in enumerate((4, 5, 6, 9))]
    recs += [("two.json", rec(2, 1.0)), ("many.json", rec(1, 1.0, count=2))]
    line = fill_fresh_line(recs, 1, fill)
    assert line is not None and line.startswith("  fill_fresh_ns: 5500  #")
    assert "median of 4 lab runs" in line and "4000 to 9000 ns" in line
    assert fill_fresh_line(recs[1:], 1, fill) is None


def test_majfault_cost_from_the_guest_system_time() -> None:
    """perfmodel lab profile derives kernel_costs.majfault_ns from runs that carry
    /proc/stat: per access pass without readahead, writeback or disk stores, the system
    time less the per-event costs charged for the counted events, per major fault."""
    from perfmodel.lab.bench import majfault_cost_lines

    costs = dict(fault_ns=10000, swapin_ns=5000, zswap_load_ns=3000, zswap_store_ns=2000,
                 reclaim_ns_per_page=1000, swapcache_hit_ns=500, lz4_compress_ns=4000,
                 lz4_decompress_ns=2000)

    def snap(system_ticks: int, **vm: int) -> dict:
        return {"vmstat": vm, "cpu_ticks": {"system": system_ticks}}

    # 20000 faults, each one zswap load; 20000 scans and stores. Charged per fault:
    # 10 + 5 + 5 (load + decompress) + 1 + 6 (store + compress) = 27 us = 0.54 s; the
    # pass took 0.74 s of system time (74 ticks), so 10 us more per fault.
    counts = dict(pgmajfault=20000, zswpin=20000, pgscan_kswapd=20000, zswpout=20000)
    rec = {"snapshots": {"passes": [snap(0), snap(74, **counts)]}}
    ra = {"snapshots": {"passes": [snap(0), snap(74, **counts, swap_ra=5000)]}}
    # zstd's costs are not lz4's: the same pass with twice the system time is left out.
    zstd = {"zswap_parameters": {"compressor": "zstd"},
            "snapshots": {"passes": [snap(0), snap(148, **counts)]}}
    lines = majfault_cost_lines([("r.json", rec), ("ra.json", ra), ("z.json", zstd)], costs)
    assert len(lines) == 1 and lines[0].startswith("  majfault_ns: 10000  #")
    assert "r.json pass 1" in lines[0] and "ra.json" not in lines[0]
    assert "z.json" not in lines[0]
    assert majfault_cost_lines([("ra.json", ra)], costs) == []


def test_majfault_cost_split_from_the_disk_reads() -> None:
    """With passes at several disk shares the leftover system time is split by least
    squares into a part per major fault (majfault_ns) and one per disk read, which the
    device's measured read latency already holds."""
    from perfmodel.lab.bench import majfault_cost_lines

    costs = dict(fault_ns=10000, swapin_ns=5000, zswap_load_ns=3000, zswap_store_ns=2000,
                 reclaim_ns_per_page=1000, swapcache_hit_ns=500, lz4_compress_ns=4000,
                 lz4_decompress_ns=2000)
    recs = []
    for k, disk in enumerate((2000, 8000, 16000)):
        zs = 20000 - disk
        # charged: 10 us a fault, 5 us a swap-in, 5 us a zswap load; leftover 12 us a
        # fault + 40 us a disk read.
        ns = 20000 * (10000 + 5000 + 12000) + zs * 5000 + disk * 40000
        vm = dict(pgmajfault=20000, zswpin=zs, pswpin=disk)
        recs.append((f"r{k}.json", {"snapshots": {"passes": [
            {"vmstat": {}, "cpu_ticks": {"system": 0}},
            {"vmstat": vm, "cpu_ticks": {"system": round(ns / 1e7)}}]}}))
    lines = majfault_cost_lines(recs, costs)
    assert len(lines) == 1 and lines[0].startswith("  majfault_ns: 12000  #")
    assert "40.0 us per disk read" in lines[0]
    from perfmodel.lab.bench import read_cpu_line

    rd = read_cpu_line(recs, costs)
    assert rd is not None and rd.startswith("    read_cpu_us: 40.0  #")
    # One disk share only: no split, the mean per fault.
    assert read_cpu_line(recs[:1], costs) is None
    one = majfault_cost_lines(recs[:1], costs)
    assert one[0].startswith("  majfault_ns: 16000  #") and "mean of 1" in one[0]


def test_device_read_latency_less_the_guest_cpu_and_the_lost_time() -> None:
    """iobench's read_stat: over 1000 timed reads of 200 us (0.2 s), /proc/stat counted
    5 busy ticks (50 ms: 50 us a read) and 12 idle ticks, so 30 ms (30 us a read) the
    vCPU did not run. The device's latency is what is left: 120 us."""
    from perfmodel.lab.bench import _refit_latencies, read_host_share

    pct = [150.0 + i for i in range(101)]  # median 200
    lat = {"n": 1000, "mean": 210.0, "min": 150.0, "max": 250.0, "p50": 200.0, "p90": 240.0,
           "p99": 249.0, "pct": pct}
    io = {"read_lat_us": lat, "write_lat_us": dict(lat),
          "read_stat": {"wall_us": 200000.0, "user": 0, "system": 4, "irq": 0, "softirq": 1,
                        "idle": 3, "iowait": 9, "steal": 0}}
    assert read_host_share(io) == pytest.approx((50.0, 30.0))
    lines = ["swap_devices:", "  vda:",
             "    read_latency_us: {dist: lognormal, median: 1, sigma: 1}  # x",
             "    write_latency_us: {dist: lognormal, median: 1, sigma: 1}  # x"]
    out = _refit_latencies(lines, {"vda": io})
    assert "median: 120.0" in out[2] and "less 50.0 us of guest CPU and 30.0 us" in out[2]
    assert "median: 200.0" in out[3]  # writes are left whole
    # Without read_stat (an older iobench) the latency is taken whole.
    del io["read_stat"]
    assert "median: 200.0" in _refit_latencies(lines, {"vda": io})[2]
