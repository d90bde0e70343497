"""Run a scenario in a QEMU guest and turn its console into a run record."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from perfmodel.config import check_consistency, load_profile, load_scenario, resolve
from perfmodel.errors import PerfmodelError
from perfmodel.kernel.era import KernelEra, parse_release
from perfmodel.lab import console as con
from perfmodel.lab import trace as tr
from perfmodel.lab.errors import LabError, LabNotSetUp
from perfmodel.lab.guest import GuestPlan, init_script, plan_guest, qemu_command
from perfmodel.lab.initramfs import guest_entries, write_newc
from perfmodel.lab.kernel import KernelTree, find_kernel, module_chain, module_name, read_module
from perfmodel.lab.paths import build_dir, lab_dir, repo_root

log_ = logging.getLogger("perfmodel.lab")

QEMU = "qemu-system-x86_64"
# A KVM guest that has not reached /init by then is taken as not working.
KVM_PROBE_S = 30.0
POLL_S = 0.5


def _usemem() -> Path:
    """The static workload binary, rebuilt when its source is newer."""
    src = lab_dir() / "workload" / "usemem.c"
    out = build_dir() / "usemem"
    if out.exists() and (not src.exists() or out.stat().st_mtime >= src.stat().st_mtime):
        return out
    if shutil.which("musl-gcc") is None or shutil.which("make") is None:
        raise LabNotSetUp("usemem is not built and musl-gcc is missing")
    proc = subprocess.run(
        ["make", "-s", "-C", str(src.parent), f"BUILD={build_dir()}", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not out.exists():
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise LabError(f"building usemem failed: {last}")
    return out


def _qemu_version() -> str:
    if shutil.which(QEMU) is None:
        raise LabNotSetUp(f"{QEMU} missing")
    out = subprocess.run([QEMU, "--version"], capture_output=True, text=True, check=False)
    first = out.stdout.splitlines()[0] if out.stdout else ""
    return first.removeprefix("QEMU emulator version ").strip()


def _host_cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _kvm_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def _direct_io_ok(path: Path) -> bool:
    """cache=none needs O_DIRECT, which tmpfs and some overlays refuse."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return False
    try:
        fd = os.open(path, os.O_RDWR | flag)
    except OSError:
        return False
    os.close(fd)
    return True


def _check_kernel(plan: GuestPlan, tree: KernelTree, sc_file: str) -> None:
    if plan.chain_size is None:
        return
    have = tree.config("ZSMALLOC_CHAIN_SIZE")
    built = int(have) if have else KernelEra(parse_release(tree.release)).zsmalloc_chain_size
    if plan.chain_size != built:
        raise PerfmodelError(
            f"{sc_file}: kernel.ZSMALLOC_CHAIN_SIZE: the lab's {tree.release} is built "
            f"with {built} (got {plan.chain_size})"
        )


def build_initramfs(plan: GuestPlan, tree: KernelTree, out: Path) -> list[str]:
    """Write the guest's initramfs; returns the module files in load order."""
    paths = module_chain(tree, list(plan.modules))
    modules = {module_name(p): read_module(p) for p in paths}
    init = init_script(plan, list(modules))
    write_newc(guest_entries(init, _usemem().read_bytes(), modules), out)
    return list(modules)


def _boot(
    cmd: list[str], log: Path, deadline: float, probe_s: float | None,
    stall_s: float | None = None,
) -> str:
    """Run QEMU until it exits: 'exited', 'timeout', 'probe-failed' (a probe saw no
    /init in time) or 'stalled' (stall_s seconds without console output)."""
    t0 = last_change = time.monotonic()
    last_size = -1
    with log.open("wb") as f:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None:
                time.sleep(POLL_S)
                now = time.monotonic()
                status = None
                if stall_s is not None:
                    size = log.stat().st_size
                    if size != last_size:
                        last_size, last_change = size, now
                    elif now - last_change > stall_s:
                        status = "stalled"
                if probe_s is not None and now - t0 > probe_s and b"@@BOOT" not in log.read_bytes():
                    status = "probe-failed"
                elif now > deadline:
                    status = "timeout"
                if status is not None:
                    proc.kill()
                    proc.wait()
                    return status
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if probe_s is not None and b"@@BOOT" not in log.read_bytes():
        return "probe-failed"
    return "exited"


def _hardware_ref(hardware: str) -> str:
    """Profile as the record names it: bundled name, or path relative to the repo."""
    p = Path(hardware)
    if not (p.exists() or p.suffix in (".yaml", ".yml") or os.sep in hardware):
        return hardware
    try:
        return str(p.resolve().relative_to(repo_root()))
    except ValueError:
        return str(p)


def command_line(
    scenario: str,
    overrides: list[str],
    hardware: str,
    out: str | None,
    timeout_s: float,
    trace: bool = False,
) -> str:
    cmd = ["perfmodel", "lab", "run", scenario, "--hardware", hardware]
    for o in overrides:
        cmd += ["--set", o]
    if out is not None:
        cmd += ["--out", out]
    if timeout_s != 900:
        cmd += ["--timeout", f"{timeout_s:g}"]
    if trace:
        cmd.append("--trace")
    return shlex.join(cmd)


def _record_id(sc_name: str, plan: GuestPlan, params: dict[str, Any], created: dt.datetime) -> str:
    series = plan.series.replace(".", "")
    enabled = params.get("enabled", "N") in ("Y", "1")
    z = f"{params.get('compressor', '?')}-p{params.get('max_pool_percent', '?')}" if enabled else "off"
    order = "random" if "random" in plan.usemem_args else "seq"
    name = sc_name.removeprefix("lab-")
    return f"lab-{name}-{series}-{z}-{order}-{created.strftime('%Y%m%dT%H%M%SZ')}"


def _norm(v: str) -> str:
    return {"1": "Y", "0": "N"}.get(v.strip(), v.strip())


def check_console(c: con.Console, plan: GuestPlan) -> None:
    """Raise LabError when the run did not do what the scenario asked."""
    if c.boot_uptime is None:
        raise LabError(f"guest did not reach /init: {con.summary(c)}")
    if c.setup_errors:
        raise LabError(f"guest setup failed: {c.setup_errors[0]}")
    for name, want in plan.zswap:
        got = c.params.get(name)
        if got is None or _norm(got) != _norm(want):
            raise LabError(
                f"zswap.{name}: asked for {want}, the kernel reports {got} "
                "(compressor or zpool not available?)"
            )
    if c.errors or c.exit_status not in (0, None) or (c.done and not c.done.get("ok", True)):
        why = "; ".join(c.errors + c.logs) or f"exit status {c.exit_status}"
        raise LabError(f"workload failed: {why}")
    if c.done is None:
        raise LabError(f"workload did not finish: {con.summary(c)}")
    labels = [s.label for s in c.snaps]
    if "before" not in labels or "after" not in labels:
        raise LabError("console lacks the before/after snapshots")


def make_record(
    c: con.Console,
    plan: GuestPlan,
    scenario: dict[str, Any],
    hardware: str,
    command: str,
    host: dict[str, Any],
    created: dt.datetime,
    sc_name: str,
) -> dict[str, Any]:
    """A perfmodel-run/1 record (validation/FORMAT.md) from a parsed console.

    With plan.trace, the record also has a `trace` key (perfmodel.lab.trace).
    """
    snaps = {s.label: s for s in c.snaps if s.label in ("before", "after")}
    passes = [con.snapshot_record(s) for s in c.snaps if s.label == "pass"]
    before = con.snapshot_record(snaps["before"])
    missing: list[str] = []
    for item in [*c.missing, *(m for s in c.snaps for m in s.missing)]:
        if item not in missing:
            missing.append(item)
    mem_total = before["meminfo"].get("MemTotal")
    if mem_total is None:
        missing.append("memory.ram_bytes: no MemTotal in /proc/meminfo")
    cgroup = None
    if plan.cgroup is not None:
        cgroup = {k: c.cgroup.get(k, "missing") for k in ("memory.max", "memory.high", "memory.zswap.max")}
    if plan.trace and not c.trace_end and not any(m.startswith("trace:") for m in missing):
        missing.append("trace: the dump did not end (no @@TRACEEND)")
    snapshots = {
        "before": before,
        "after": con.snapshot_record(snaps["after"]),
        "passes": passes,
    }
    record: dict[str, Any] = {
        "format": "perfmodel-run/1",
        "id": _record_id(sc_name, plan, c.params, created),
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": "lab",
        "host": host,
        "kernel": {"release": c.release or "", "cmdline": c.cmdline or ""},
        "zswap_parameters": dict(sorted(c.params.items())),
        "sysctl": dict(c.sysctl),
        "memory": {"ram_bytes": (mem_total or 0) * 1024, "cgroup": cgroup},
        "scenario": scenario,
        "hardware": hardware,
        "snapshots": snapshots,
        "missing": missing,
        "workload": con.workload_record(c),
        "commands": [command],
    }
    if plan.trace:
        record["trace"] = tr.trace_record(c, snapshots)
    return record


def lab_run(
    scenario: str,
    overrides: list[str],
    hardware: str = "lab-qemu",
    out: str | None = None,
    timeout_s: float = 900,
    *,
    accel: str = "auto",
    trace: bool = False,
) -> dict[str, Any]:
    """Run SCENARIO in a QEMU guest and return its perfmodel-run/1 record.

    accel: "auto" tries KVM and falls back to TCG; "kvm" or "tcg" force one.
    trace: ftrace the zswap shrink worker; its summary goes to record["trace"].
    Writes the record as JSON to `out` when given.
    """
    if accel not in ("auto", "kvm", "tcg"):
        raise PerfmodelError(f"accel: expected auto, kvm or tcg (got {accel!r})")
    t_start = time.monotonic()
    deadline = t_start + timeout_s
    sc_path = resolve(scenario, "scenarios")
    hw_path = resolve(hardware, "hardware")
    sc = load_scenario(sc_path, overrides)
    hw = load_profile(hw_path)
    check_consistency(sc, hw, str(sc_path), str(hw_path))
    plan = plan_guest(sc, hw, str(sc_path), trace=trace)

    tree = find_kernel(plan.series)
    _check_kernel(plan, tree, str(sc_path))
    qemu_version = _qemu_version()
    created = dt.datetime.now(dt.UTC)
    run_dir = build_dir() / f"run-{created.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    initrd = run_dir / "initramfs.cpio"
    mods = build_initramfs(plan, tree, initrd)
    log_.info("initramfs for %s with %s", tree.release, ", ".join(mods) or "no modules")
    swap = run_dir / "swap.img"
    log = run_dir / "console.log"

    tries = [accel]
    if accel == "auto":
        tries = ["kvm", "tcg"] if _kvm_usable() else ["tcg"]
    used = tries[-1]
    boot_t0 = time.monotonic()
    try:
        for i, acc in enumerate(tries):
            # A fresh sparse image per boot: mkswap in the guest writes only its header.
            swap.unlink(missing_ok=True)
            with swap.open("wb") as f:
                f.truncate(plan.swap_size)
            cmd = qemu_command(plan, acc, tree.vmlinuz, initrd, swap, _direct_io_ok(swap), QEMU)
            probe = KVM_PROBE_S if acc == "kvm" and i < len(tries) - 1 else None
            boot_t0 = time.monotonic()
            log_.info("booting under %s: %s", acc, shlex.join(cmd))
            status = _boot(cmd, log, deadline, probe)
            log_.info("QEMU %s after %.1f s", status, time.monotonic() - boot_t0)
            used = acc
            if status != "probe-failed":
                break
        wall = time.monotonic() - boot_t0
        text = log.read_text(errors="replace")
        c = con.parse_console(text)
        if status == "timeout":
            raise LabError(f"QEMU ran past the {timeout_s:g} s timeout: {con.summary(c)}")
        if status == "probe-failed":
            raise LabError(f"guest did not boot under {used}: {con.summary(c)}")
        check_console(c, plan)
    finally:
        swap.unlink(missing_ok=True)

    host = {
        "accel": used,
        "qemu": qemu_version,
        "machine": f"pc, -cpu {'host' if used == 'kvm' else 'Westmere'}",
        "vcpus": plan.vcpus,
        "guest_ram_bytes": plan.ram,
        "numa_nodes": [
            {"memory_bytes": n.memory, "cpus": list(n.cpus)} for n in plan.numa
        ] or None,
        "swap_device": plan.device.name,
        "swap_bytes": plan.swap_size,
        "swap_throttling": plan.device.throttling(),
        "host_cpu": _host_cpu(),
        "host_cpus": os.cpu_count(),
        "kvm_tried": "kvm" in tries,
        # Guest uptime when usemem started: boot plus /init's setup.
        "guest_boot_s": c.run_uptime,
        "wall_s": round(wall, 3),
    }
    record = make_record(
        c,
        plan,
        sc.model_dump(mode="json", by_alias=True),
        _hardware_ref(hardware),
        command_line(scenario, overrides, hardware, out, timeout_s, trace),
        host,
        created,
        sc.name,
    )
    if out is not None:
        try:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_text(json.dumps(record, indent=1) + "\n")
        except OSError as e:
            raise PerfmodelError(f"{out}: cannot write: {e.strerror}") from None
    return record
