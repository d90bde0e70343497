"""Kernel lab without booting QEMU: guest mapping, /init, console parsing, usemem."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from perfmodel.config import load_profile, load_scenario
from perfmodel.errors import ConfigError, PerfmodelError
from perfmodel.lab import console as con
from perfmodel.lab.errors import LabError, LabNotSetUp
from perfmodel.lab.guest import GuestPlan, init_script, plan_guest, qemu_command
from perfmodel.lab.initramfs import Entry, write_newc
from perfmodel.lab.kernel import find_kernel
from perfmodel.lab.run import check_console, command_line, make_record

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "lab" / "scenarios" / "lab-usemem.yaml"
SAMPLE = ROOT / "tests" / "data" / "lab-console-sample.txt"


def _plan(profile: Path | str, *overrides: str) -> GuestPlan:
    sc = load_scenario(SCENARIO, list(overrides))
    return plan_guest(sc, load_profile(profile), str(SCENARIO))


def _cmd(plan: GuestPlan, accel: str = "tcg") -> list[str]:
    return qemu_command(plan, accel, Path("vmlinuz"), Path("initrd"), Path("swap.img"))


def _opt(cmd: list[str], name: str) -> list[str]:
    return [cmd[i + 1] for i, a in enumerate(cmd) if a == name]


def test_qemu_command_ram_smp_accel(lab_profile: Path) -> None:
    plan = _plan(lab_profile)
    cmd = _cmd(plan)
    assert _opt(cmd, "-m") == ["512M"]
    assert _opt(cmd, "-smp") == ["1"]
    assert _opt(cmd, "-accel") == ["tcg,thread=multi"]
    assert _opt(cmd, "-cpu") == ["Westmere"]
    assert "-no-reboot" in cmd and "-nographic" in cmd
    assert not _opt(cmd, "-numa")
    (drive,) = _opt(cmd, "-drive")
    assert "file=swap.img" in drive and "format=raw" in drive
    assert "throttling" not in drive
    assert plan.swap_size == 2 << 30
    kvm = _cmd(plan, "kvm")
    assert _opt(kvm, "-accel") == ["kvm"] and _opt(kvm, "-cpu") == ["host"]


def test_qemu_command_ram_override(lab_profile: Path) -> None:
    assert _opt(_cmd(_plan(lab_profile, "memory.ram=1GiB")), "-m") == ["1024M"]


def test_qemu_command_numa_two_nodes() -> None:
    plan = _plan("xeon-2s-nvme", "memory.ram=1GiB")
    cmd = _cmd(plan)
    assert _opt(cmd, "-smp") == ["72"]
    objs = _opt(cmd, "-object")
    assert objs == [
        "memory-backend-ram,id=mem0,size=512M",
        "memory-backend-ram,id=mem1,size=512M",
    ]
    assert _opt(cmd, "-numa") == [
        "node,nodeid=0,cpus=0-17,cpus=36-53,memdev=mem0",
        "node,nodeid=1,cpus=18-35,cpus=54-71,memdev=mem1",
    ]


def test_qemu_command_throttling(lab_profile: Path) -> None:
    (drive,) = _opt(_cmd(_plan(lab_profile, "swap.device=vda-slow")), "-drive")
    assert "throttling.iops-total=2000" in drive
    assert "throttling.bps-total=40000000" in drive


def test_unknown_device(lab_profile: Path) -> None:
    with pytest.raises(ConfigError, match="swap.device"):
        _plan(lab_profile, "swap.device=sdz")


def test_init_script_order(lab_profile: Path) -> None:
    plan = _plan(lab_profile)
    mods = ["virtio_blk.ko", "lz4_compress.ko", "lz4.ko"]
    lines = init_script(plan, mods).splitlines()
    assert lines[0] == "#!/bin/sh"
    insmod = [i for i, ln in enumerate(lines) if ln.startswith("insmod ")]
    zswap = [i for i, ln in enumerate(lines) if ln.startswith('setf "$Z/')]
    assert [lines[i].split()[1] for i in insmod] == [f"/lib/modules/{m}" for m in mods]
    # Parameters only after every module is in; enabled off first and set last.
    assert max(insmod) < min(zswap)
    written = [lines[i].split()[1:3] for i in zswap]
    assert written[0] == ['"$Z/enabled"', "N"]
    assert written[-1] == ['"$Z/enabled"', "Y"]
    assert ['"$Z/compressor"', "lz4"] in written
    assert ['"$Z/zpool"', "zsmalloc"] in written
    assert ['"$Z/max_pool_percent"', "20"] in written
    text = "\n".join(lines)
    assert "mount -t debugfs debugfs /sys/kernel/debug" in text
    assert "setf /proc/sys/vm/page-cluster 3 vm.page-cluster" in text
    assert "mkswap /dev/vda" in text and "swapon /dev/vda" in text
    run = next(ln for ln in lines if "/bin/usemem" in ln)
    assert "734003200" in run and "--order seq" in run and "--snapshot" in run
    assert "--zero 0.1" in run and "--incompressible 0.1" in run
    assert lines[-2] == "poweroff -f"
    # Release defaults stay untouched: the scenario leaves shrinker_enabled unset.
    assert "shrinker_enabled" not in text


def test_init_script_cgroup(lab_profile: Path) -> None:
    plan = _plan(lab_profile, "memory.cgroup.max=300MiB", "memory.cgroup.zswap_max=64MiB")
    text = init_script(plan, [])
    assert f"setf /sys/fs/cgroup/lab/memory.max {300 << 20}" in text
    assert "setf /sys/fs/cgroup/lab/memory.high max" in text
    assert f"setf /sys/fs/cgroup/lab/memory.zswap.max {64 << 20}" in text
    run = next(ln for ln in text.splitlines() if "/bin/usemem" in ln)
    assert run.startswith("sh -c ") and "cgroup.procs" in run and "--cgroup /sys/fs/cgroup/lab" in run


def test_random_order_and_processes(lab_profile: Path) -> None:
    plan = _plan(
        lab_profile,
        "workload.processes.0.pattern.kind=permutation",
        "workload.processes.0.count=2",
        "workload.processes.0.write_fraction=0.25",
    )
    args = " ".join(plan.usemem_args)
    assert "--order random" in args and "--processes 2" in args
    assert "--write-fraction 0.25" in args


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("workload.processes.0.pattern={kind: zipf, s: 1.1}", "workload.processes[0].pattern.kind"),
        (
            "workload.processes.0.pattern={kind: hotcold, hot_fraction: 0.1, "
            "hot_access_fraction: 0.9}",
            "workload.processes[0].pattern.kind",
        ),
        ("kernel.release=6.6", "kernel.release"),
        ("workload.processes.0.threads=4", "workload.processes[0].threads"),
        ("workload.processes.0.passes=1.5", "workload.processes[0].passes"),
    ],
)
def test_unsupported(lab_profile: Path, override: str, key: str) -> None:
    with pytest.raises(ConfigError) as e:
        _plan(lab_profile, override)
    msg = str(e.value)
    assert f": {key}: " in msg and "\n" not in msg


def test_uniform_draws_are_not_the_lab_shuffle(lab_profile: Path) -> None:
    """usemem's random order visits each page once per pass: that is `permutation`;
    independent `uniform` draws are a different workload, so the lab refuses them."""
    with pytest.raises(ConfigError, match="not supported by the lab"):
        _plan(lab_profile, "workload.processes.0.pattern.kind=uniform")


def test_pattern_error_names_supported(lab_profile: Path) -> None:
    with pytest.raises(ConfigError, match="not supported by the lab.*sequential, permutation"):
        _plan(lab_profile, "workload.processes.0.pattern={kind: zipf, s: 1.1}")


def test_lab_not_set_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFMODEL_LAB", str(tmp_path))
    with pytest.raises(LabNotSetUp, match="run lab/setup.sh first"):
        find_kernel("6.12")
    assert issubclass(LabNotSetUp, PerfmodelError)


def test_newc_archive(tmp_path: Path) -> None:
    out = tmp_path / "a.cpio"
    write_newc([Entry("bin", 0o040755), Entry("init", 0o100755, b"#!/bin/sh\n")], out)
    data = out.read_bytes()
    assert data.startswith(b"070701") and len(data) % 4 == 0
    assert b"init\0" in data and b"TRAILER!!!\0" in data
    if shutil.which("cpio"):
        listed = subprocess.run(
            ["cpio", "-it", "--quiet"], input=data, capture_output=True, check=True
        ).stdout.decode().split()
        assert listed == ["bin", "init"]


# ---- console parsing ----


def _sample() -> con.Console:
    return con.parse_console(SAMPLE.read_text())


def test_console_sample_parses() -> None:
    c = _sample()
    assert c.boot_uptime is not None
    assert c.release == "6.12.117+deb12-amd64"
    assert c.cmdline and c.cmdline.startswith("console=ttyS0")
    assert c.params["compressor"] == "lz4" and c.params["enabled"] == "Y"
    assert c.sysctl["vm.page-cluster"] == "3"
    assert [s.label for s in c.snaps] == ["before", "pass", "pass", "pass", "pass", "after"]
    assert [s.pass_index for s in c.snaps if s.label == "pass"] == [0, 1, 2, 3]
    assert c.done is not None and c.exit_status == 0 and not c.errors


def test_console_snapshot_values() -> None:
    c = _sample()
    last = con.snapshot_record([s for s in c.snaps if s.label == "pass"][-1])
    assert set(last) == {
        "t_s", "debugfs_zswap", "vmstat", "meminfo", "memory_stat", "numastat", "nr_zspages",
        "pcp", "cpu_ticks",
    }
    assert last["debugfs_zswap"]["stored_pages"] > 0
    assert last["debugfs_zswap"]["pool_total_size"] > 0
    assert last["vmstat"]["zswpout"] > 0
    assert last["meminfo"]["MemTotal"] > 0  # kB, as printed
    assert "node0" in last["numastat"] and last["numastat"]["node0"]["numa_hit"] > 0
    assert last["nr_zspages"] is not None and "node0" in last["nr_zspages"]
    assert last["memory_stat"] is None
    # A kernel message inside a file block is not read as a counter.
    assert all(not k.startswith("[") for k in last["vmstat"])
    before = con.snapshot_record(c.snaps[0])
    assert before["t_s"] == 0.0


def test_console_workload() -> None:
    w = con.workload_record(_sample())
    assert [p["kind"] for p in w["passes"]] == ["fill", "access", "access", "access"]
    assert all(p["accesses"] == 179200 for p in w["passes"])
    p0 = w["passes"][0]
    assert p0["throughput_mbps"] == pytest.approx(734003200 / p0["elapsed_s"] / 1e6)
    lat = w["latency_us"]
    assert lat is not None and set(lat) == {"sampling", "count", "p50", "p90", "p99", "p999"}
    assert lat["sampling"] == "stride"  # a usemem from before hashed sampling
    assert lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"]
    assert all("cpu_pages" not in p for p in w["passes"])  # a usemem from before cpu_pages


def test_console_workload_cpu_pages() -> None:
    """cpu_pages of a pass is summed over its processes, CPU by CPU; a process that
    saw fewer CPUs counts zero for the rest."""
    text = "\n".join([
        '@@PASS {"proc":0,"pass":0,"kind":"fill","elapsed_s":2.0,"throughput_mbps":1.0,'
        '"accesses":100,"bytes":409600,"cpu_pages":[60,40]}',
        '@@PASS {"proc":1,"pass":0,"kind":"fill","elapsed_s":3.0,"throughput_mbps":1.0,'
        '"accesses":100,"bytes":409600,"cpu_pages":[100]}',
    ])
    w = con.workload_record(con.parse_console(text))
    assert w["passes"][0]["cpu_pages"] == [160, 40]
    assert w["passes"][0]["accesses"] == 200


def test_console_snapshot_pcp() -> None:
    """usemem prints /proc/zoneinfo whole; the snapshot keeps each CPU's per-CPU list
    count per node. A console without it (older runs) gives None."""
    text = "\n".join([
        '@@SNAP {"label":"pass","pass":0,"t_s":1.5}',
        "@@FILE /proc/zoneinfo",
        "Node 0, zone    DMA32",
        "  pagesets",
        "    cpu: 0",
        "              count: 61",
        "              high:  422",
        "    cpu: 1",
        "              count: 386",
        "Node 1, zone    DMA32",
        "  pagesets",
        "    cpu: 0",
        "              count: 262",
        "@@ENDSNAP",
    ])
    snap = con.snapshot_record(con.parse_console(text).snaps[0])
    assert snap["pcp"] == {"node0": {"cpu0": 61, "cpu1": 386}, "node1": {"cpu0": 262}}
    assert con.snapshot_record(_sample().snaps[0])["pcp"] is None


def test_console_escapes_and_kernel_lines() -> None:
    text = (
        "Probing EDD... o\x1bc\x1b[?7l\x1b[2J@@BOOT 2.1\r\n"
        "[    3.0] virtio_blk virtio0: [vda] 4194304 512-byte logical blocks\r\n"
        "@@PARAM compressor lz4\r\n"
    )
    c = con.parse_console(text)
    assert c.boot_uptime == 2.1 and c.params == {"compressor": "lz4"}


def test_record_format(lab_profile: Path) -> None:
    plan = _plan(lab_profile)
    c = _sample()
    check_console(c, plan)
    sc = load_scenario(SCENARIO)
    rec = make_record(
        c,
        plan,
        sc.model_dump(mode="json", by_alias=True),
        "lab-qemu",
        command_line(str(SCENARIO), [], "lab-qemu", "out.json", 900),
        {"accel": "tcg"},
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        sc.name,
    )
    assert set(rec) == {
        "format", "id", "created", "source", "host", "kernel", "zswap_parameters", "sysctl",
        "memory", "scenario", "hardware", "snapshots", "missing", "workload", "commands",
    }
    assert rec["format"] == "perfmodel-run/1" and rec["source"] == "lab"
    assert rec["created"] == "2026-01-02T03:04:05Z"
    assert rec["id"] == "lab-usemem-612-lz4-p20-seq-20260102T030405Z"
    assert set(rec["kernel"]) == {"release", "cmdline"}
    assert set(rec["memory"]) == {"ram_bytes", "cgroup"} and rec["memory"]["cgroup"] is None
    assert rec["memory"]["ram_bytes"] % 1024 == 0 and rec["memory"]["ram_bytes"] > 0
    assert set(rec["snapshots"]) == {"before", "after", "passes"}
    assert len(rec["snapshots"]["passes"]) == 4
    assert set(rec["workload"]) == {"elapsed_s", "passes", "latency_us"}
    assert rec["scenario"]["vm"]["page-cluster"] == 3
    assert rec["commands"][0].startswith("perfmodel lab run ")
    json.dumps(rec)  # plain JSON types only


def test_check_console_catches_fallback(lab_profile: Path) -> None:
    c = _sample()
    c.params["compressor"] = "lzo"  # what the kernel does when lz4 is not loaded
    with pytest.raises(LabError, match="zswap.compressor: asked for lz4"):
        check_console(c, _plan(lab_profile))


def test_check_console_setup_error(lab_profile: Path) -> None:
    c = con.parse_console("@@BOOT 1.0\n@@SETUP-ERROR swapon /dev/vda failed\n")
    with pytest.raises(LabError, match="guest setup failed: swapon"):
        check_console(c, _plan(lab_profile))
    c = con.parse_console("SeaBIOS\nKernel panic - not syncing: VFS\n")
    with pytest.raises(LabError, match="did not reach /init.*Kernel panic"):
        check_console(c, _plan(lab_profile))


# ---- the guest workload ----




def test_usemem_emit(usemem: Path) -> None:
    out = subprocess.run([str(usemem), "--emit", "zero", "--pages", "3"], capture_output=True)
    assert out.returncode == 0 and out.stdout == bytes(3 * 4096)
    txt = subprocess.run([str(usemem), "--emit", "text", "--pages", "2"], capture_output=True)
    assert len(txt.stdout) == 2 * 4096 and txt.stdout[:4096] != txt.stdout[4096:]


def test_usemem_output_parses(usemem: Path) -> None:
    """The C side and the parser agree on the line format (run on the host)."""
    out = subprocess.run(
        [str(usemem), "2M", "--processes", "2", "--passes", "2", "--order", "random",
         "--zero", "0.25", "--sample-every", "4", "--write-fraction", "0.5", "--snapshot"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout[-500:]
    c = con.parse_console(out.stdout)
    assert c.start is not None and c.start["pages"] == 512
    assert [s.label for s in c.snaps] == ["before", "pass", "pass", "pass", "after"]
    assert len(c.passes) == 6  # 2 processes x (fill + 2 passes)
    w = con.workload_record(c)
    assert [p["accesses"] for p in w["passes"]] == [1024, 1024, 1024]
    assert [sum(p["cpu_pages"]) for p in w["passes"]] == [1024, 1024, 1024]
    lat = w["latency_us"]
    # One access in 4 by a hash of its position: about 2 x 2 x 128, binomially.
    assert lat is not None and lat["sampling"] == "hashed"
    assert abs(lat["count"] - 2 * 2 * 128) < 60
    snap = con.snapshot_record(c.snaps[1])
    assert snap["meminfo"].get("MemTotal", 0) > 0 and snap["vmstat"]
