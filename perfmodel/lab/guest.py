"""From a scenario and a hardware profile to a guest: QEMU options and /init.

Everything here is pure (no processes, no files) so that it can be tested
without booting anything.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from perfmodel.config import HardwareProfile, Scenario
from perfmodel.config.units import format_size
from perfmodel.errors import ConfigError
from perfmodel.kernel.era import parse_release
from perfmodel.lab.devices import LabDevice, lookup
from perfmodel.lab.kernel import SERIES

MiB = 1 << 20
PAGE = 4096
# Patterns usemem can run: address order, or a new random permutation per pass.
PATTERNS = {"sequential": "seq", "permutation": "random"}
# Sampling one page in 64 gives ~2800 latency samples per 700 MiB pass.
SAMPLE_EVERY = 64
# zswap parameters in the order they are written; "enabled" comes last, after
# the compressor and zpool exist, so no page is stored with a half-set pool.
ZSWAP_PARAMS = (
    "compressor",
    "zpool",
    "max_pool_percent",
    "accept_threshold_percent",
    "shrinker_enabled",
    "exclusive_loads",
    "same_filled_pages_enabled",
    "non_same_filled_pages_enabled",
)
# Module name of each zswap compressor's crypto driver.
COMPRESSOR_MODULES = {
    "lzo": "lzo",
    "lzo-rle": "lzo-rle",
    "lz4": "lz4",
    "lz4hc": "lz4hc",
    "zstd": "zstd",
    "deflate": "deflate",
    "842": "842",
}
SYSCTLS = ("page-cluster", "swappiness", "watermark_scale_factor", "min_free_kbytes")
CGROUP_DIR = "/sys/fs/cgroup/lab"
CGROUP_FILES = ("memory.max", "memory.high", "memory.zswap.max")


@dataclass(frozen=True)
class NumaNode:
    memory: int
    cpus: tuple[int, ...]


@dataclass(frozen=True)
class GuestPlan:
    series: str
    ram: int
    vcpus: int
    numa: tuple[NumaNode, ...]
    swap_size: int
    device: LabDevice
    modules: tuple[str, ...]
    zswap: tuple[tuple[str, str], ...]  # (parameter, value) in write order
    sysctls: tuple[tuple[str, str], ...]  # (vm file name, value)
    cgroup: tuple[tuple[str, str], ...] | None  # (cgroup file, value)
    usemem_args: tuple[str, ...]
    taskset: str | None = None
    chain_size: int | None = None
    notes: tuple[str, ...] = field(default=())
    trace: bool = False  # ftrace the zswap shrink worker (perfmodel.lab.trace)


def _kbool(v: bool) -> str:
    return "Y" if v else "N"


def _cpulist(cpus: tuple[int, ...]) -> list[tuple[int, int]]:
    """Contiguous ranges of a CPU list: (0, 1, 2, 5) -> [(0, 2), (5, 5)]."""
    ranges: list[tuple[int, int]] = []
    for c in sorted(cpus):
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    return ranges


def _cpulist_text(cpus: tuple[int, ...]) -> str:
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in _cpulist(cpus))


def plan_guest(
    sc: Scenario, hw: HardwareProfile, sc_file: str | None = None, *, trace: bool = False
) -> GuestPlan:
    """Map a scenario onto a guest; ConfigError names the key the lab cannot honour.

    trace: also ftrace the zswap shrink worker during the run (see TRACE_SETUP).
    """

    def bad(key: str, problem: str) -> ConfigError:
        return ConfigError(sc_file, key, problem)

    rel = parse_release(sc.kernel.release)
    if rel not in SERIES:
        have = ", ".join(sorted(SERIES.values()))
        raise bad("kernel.release", f"the lab has kernels {have} only (got {sc.kernel.release!r})")
    series = SERIES[rel]

    ram = sc.memory.ram if sc.memory.ram is not None else hw.total_memory
    if ram % MiB or ram < 128 * MiB:
        raise bad("memory.ram", f"the lab needs whole MiB and at least 128 MiB (got {ram} B)")
    if sc.swap.size is None:
        raise bad("swap.size", "the lab needs an explicit swap size")
    if sc.swap.size % MiB or sc.swap.size < 16 * MiB:
        raise bad("swap.size", "the lab needs whole MiB and at least 16 MiB")
    device = lookup(sc.swap.device, sc_file)

    # Guest NUMA nodes take the profile's layout, memory split in its proportions.
    nodes = sorted(hw.numa.nodes, key=lambda n: n.id)
    numa: list[NumaNode] = []
    if len(nodes) > 1:
        total = sum(n.memory for n in nodes)
        left = ram
        for i, n in enumerate(nodes):
            mem = left if i == len(nodes) - 1 else (ram * n.memory // total) // MiB * MiB
            if mem < 64 * MiB:
                raise bad("memory.ram", f"too small to split over {len(nodes)} NUMA nodes")
            numa.append(NumaNode(mem, tuple(n.cpus)))
            left -= mem

    procs = sc.workload.processes
    if len(procs) != 1:
        raise bad("workload.processes", f"the lab runs one process entry (got {len(procs)})")
    p = procs[0]
    at = "workload.processes[0]"
    if p.pattern.kind not in PATTERNS:
        raise bad(
            f"{at}.pattern.kind",
            f"'{p.pattern.kind}' is not supported by the lab (supported: {', '.join(PATTERNS)})",
        )
    if p.threads != 1:
        raise bad(f"{at}.threads", "the lab's usemem is single-threaded; use count for processes")
    if p.repeat != 1:
        raise bad(f"{at}.repeat", "the lab runs each process once")
    if not p.fill:
        raise bad(f"{at}.fill", "the lab's usemem always fills its memory first")
    if p.passes is None or p.passes != int(p.passes):
        raise bad(f"{at}.passes", "the lab needs a whole number of passes (not duration_s)")
    if p.compute_ns:
        raise bad(f"{at}.compute_ns", "the lab's usemem does no compute between accesses")
    if p.bytes_per_access != PAGE:
        raise bad(f"{at}.bytes_per_access", "the lab's usemem touches every cache line of a page")
    if p.start_s:
        raise bad(f"{at}.start_s", "the lab starts the workload at once")
    if p.footprint % PAGE:
        raise bad(f"{at}.footprint", "must be a whole number of pages")
    if p.cpus is not None and max(p.cpus) >= hw.cpu.n_cpus:
        raise bad(f"{at}.cpus", f"the guest has {hw.cpu.n_cpus} vCPUs")

    c = p.content
    args = [
        str(p.footprint),
        "--processes", str(p.count),
        "--passes", str(int(p.passes)),
        "--order", PATTERNS[p.pattern.kind],
        "--zero", f"{c.zero:g}",
        "--same-filled", f"{c.same_filled:g}",
        "--incompressible", f"{c.incompressible:g}",
        "--binary", f"{c.binary:g}",
        "--seed", str(sc.workload.seed),
        "--write-fraction", f"{p.write_fraction:g}",
        "--sample-every", str(SAMPLE_EVERY),
        "--snapshot",
    ]

    mp = p.mempolicy
    if mp.mode != "local":
        # mbind() on the worker's mapping: the VMA policy the model gives the process.
        assert mp.nodes is not None
        args += ["--mempolicy", f"{mp.mode}:{_cpulist_text(mp.nodes)}"]

    z = sc.zswap
    if z.compressor not in COMPRESSOR_MODULES:
        raise bad("zswap.compressor", f"'{z.compressor}' has no software driver in the lab")
    writes: list[tuple[str, str]] = []
    for name in ZSWAP_PARAMS:
        v = getattr(z, name)
        if v is None:
            continue  # the release's default
        writes.append((name, _kbool(v) if isinstance(v, bool) else str(v)))
    writes.append(("enabled", _kbool(z.enabled)))
    modules = ["virtio_pci", "virtio_blk", COMPRESSOR_MODULES[z.compressor]]
    if z.zpool is not None:
        modules.append(z.zpool)

    sysctls = [
        ("page-cluster", str(sc.vm.page_cluster)),
        ("swappiness", str(sc.vm.swappiness)),
        ("watermark_scale_factor", str(sc.vm.watermark_scale_factor)),
    ]
    if sc.vm.min_free_kbytes is not None:
        sysctls.append(("min_free_kbytes", str(sc.vm.min_free_kbytes)))

    cgroup: list[tuple[str, str]] | None = None
    cg = sc.memory.cgroup
    if cg is not None:
        cgroup = [
            ("memory.max", str(cg.max) if cg.max is not None else "max"),
            ("memory.high", str(cg.high) if cg.high is not None else "max"),
            ("memory.zswap.max", str(cg.zswap_max) if cg.zswap_max is not None else "max"),
        ]
        if not cg.zswap_writeback:
            cgroup.append(("memory.zswap.writeback", "0"))
        args += ["--cgroup", CGROUP_DIR]

    notes = []
    if sc.memory.reserved:
        notes.append(
            f"memory.reserved ({format_size(sc.memory.reserved)}) is a model input; "
            "the guest's own kernel and initramfs use what they use"
        )
    return GuestPlan(
        series=series,
        ram=ram,
        vcpus=hw.cpu.n_cpus,
        numa=tuple(numa),
        swap_size=sc.swap.size,
        device=device,
        modules=tuple(modules),
        zswap=tuple(writes),
        sysctls=tuple(sysctls),
        cgroup=tuple(cgroup) if cgroup is not None else None,
        usemem_args=tuple(args),
        taskset=_cpulist_text(p.cpus) if p.cpus is not None else None,
        chain_size=sc.kernel.ZSMALLOC_CHAIN_SIZE,
        notes=tuple(notes),
        trace=trace,
    )


# With --trace, just before @@RUN: the four workqueue events of the zswap shrink
# work (filtered on its function's address), the kworkers' sched_switch and
# sched_wakeup, and reclaim's own events (kswapd wakeups, direct reclaim). Each
# failure is a @@MISSING line and leaves T empty (no tracing); a filter that cannot
# be set leaves its event off rather than trace everything.
TRACE_EVENTS = (
    "workqueue_queue_work",
    "workqueue_activate_work",
    "workqueue_execute_start",
    "workqueue_execute_end",
)
RECLAIM_EVENTS = (
    "mm_vmscan_kswapd_wake",
    "mm_vmscan_direct_reclaim_begin",
    "mm_vmscan_direct_reclaim_end",
)
# With --trace, zswap's debugfs gauges every POOL_SAMPLE_S into a RAM file, printed
# after the run as @@POOL lines: the pool's path to its limit and back, which the
# per-pass snapshots cannot show. The loop forks nothing: busybox's `read -t` on a
# FIFO nobody writes is its sleep. (With `sleep`, a fork per sample under TCG added
# about 10% to the fill pass.)
POOL_SAMPLE_S = 0.05
POOL_SAMPLER = f"""\
D=${{D:-/sys/kernel/debug/zswap}}
POOL_FILE=${{POOL_FILE:-/pool.samples}}
P=
if [ -r $D/pool_total_size ] && mkfifo $POOL_FILE.fifo; then
  ( exec 3<> $POOL_FILE.fifo
    while :; do
      read u _ < /proc/uptime; read a < $D/pool_total_size; read b < $D/stored_pages
      read h < $D/pool_limit_hit; read w < $D/written_back_pages
      echo "$u $a $b $h $w"; read -t {POOL_SAMPLE_S} _ <&3
    done > $POOL_FILE ) &
  P=$!
else
  echo "@@MISSING trace: no $D/pool_total_size to sample"
fi"""
POOL_DUMP = """\
if [ -n "$P" ]; then
  kill $P
  sed 's/^/@@POOL /' $POOL_FILE
fi"""
TRACE_SETUP = f"""\
# ftrace of the zswap shrink worker (perfmodel lab run --trace).
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
T=/sys/kernel/tracing
[ -d $T/events ] || T=/sys/kernel/debug/tracing
A=
if [ -d $T/events ]; then
  A=$(grep ' shrink_worker$' /proc/kallsyms | cut -d' ' -f1 | head -n1)
  case "$A" in
    ''|*[!0]*) ;;
    *) A= ;;  # an all-zero address: kallsyms is hidden
  esac
  [ -n "$A" ] || {{ echo "@@MISSING trace: no shrink_worker in /proc/kallsyms"; T=; }}
else
  echo "@@MISSING trace: no tracefs at /sys/kernel/tracing or /sys/kernel/debug/tracing"; T=
fi
if [ -n "$T" ]; then
  {{ echo 8192 > $T/buffer_size_kb; }} 2>/dev/null || echo "@@MISSING trace: cannot set buffer_size_kb"
  for e in {" ".join(TRACE_EVENTS)}; do
    {{ echo "function == 0x$A" > $T/events/workqueue/$e/filter && echo 1 > $T/events/workqueue/$e/enable; }} 2>/dev/null \\
      || echo "@@MISSING trace: cannot enable workqueue/$e"
  done
  {{ echo 'prev_comm ~ "kworker*" || next_comm ~ "kworker*"' > $T/events/sched/sched_switch/filter \\
    && echo 1 > $T/events/sched/sched_switch/enable; }} 2>/dev/null || echo "@@MISSING trace: cannot enable sched/sched_switch"
  {{ echo 'comm ~ "kworker*"' > $T/events/sched/sched_wakeup/filter \\
    && echo 1 > $T/events/sched/sched_wakeup/enable; }} 2>/dev/null || echo "@@MISSING trace: cannot enable sched/sched_wakeup"
  for e in {" ".join(RECLAIM_EVENTS)}; do
    {{ echo 1 > $T/events/vmscan/$e/enable; }} 2>/dev/null || echo "@@MISSING trace: cannot enable vmscan/$e"
  done
  {{ echo 1 > $T/tracing_on; }} 2>/dev/null || {{ echo "@@MISSING trace: cannot turn tracing on"; T=; }}
fi
{POOL_SAMPLER}"""
# After @@EXIT: stop, then each CPU's buffer stats (overruns) and every event.
TRACE_DUMP = POOL_DUMP + """
if [ -n "$T" ]; then
  echo 0 > $T/tracing_on
  for d in $T/per_cpu/cpu*; do echo "@@TRACESTAT ${d##*/} $(tr '\\n' ' ' < $d/stats)"; done
  grep -v '^#' $T/trace | sed 's/^/@@TRACE /'
  echo "@@TRACEEND"
fi"""

KERNEL_CMDLINE = "console=ttyS0 rdinit=/init panic=-1 loglevel=4 printk.time=1"


def qemu_command(
    plan: GuestPlan,
    accel: str,
    kernel: Path,
    initrd: Path,
    swap_image: Path,
    direct_io: bool = True,
    qemu: str = "qemu-system-x86_64",
) -> list[str]:
    """The QEMU command line; accel is 'kvm' or 'tcg'."""
    if accel == "kvm":
        accel_opts = ["-accel", "kvm", "-cpu", "host"]
    else:
        # Westmere: -cpu max hangs now and then in kswapd under QEMU 7.2's TCG.
        accel_opts = ["-accel", "tcg,thread=multi", "-cpu", "Westmere"]
    cmd = [
        qemu,
        "-nographic",
        "-no-reboot",
        "-nodefaults",
        "-serial", "stdio",
        *accel_opts,
        "-m", f"{plan.ram // MiB}M",
        "-smp", str(plan.vcpus),
    ]
    for i, node in enumerate(plan.numa):
        cmd += ["-object", f"memory-backend-ram,id=mem{i},size={node.memory // MiB}M"]
        cpus = "".join(
            f",cpus={a}" if a == b else f",cpus={a}-{b}" for a, b in _cpulist(node.cpus)
        )
        cmd += ["-numa", f"node,nodeid={i}{cpus},memdev=mem{i}"]
    cache = "cache=none,aio=threads" if direct_io else "cache=writeback"
    drive = [f"file={swap_image}", "format=raw", "if=none", "id=swap", cache]
    drive += plan.device.throttling()
    cmd += [
        "-drive", ",".join(drive),
        "-device", "virtio-blk-pci,drive=swap",
        "-kernel", str(kernel),
        "-initrd", str(initrd),
        "-append", KERNEL_CMDLINE,
    ]
    return cmd


def init_script(plan: GuestPlan, module_files: list[str]) -> str:
    """The guest's /init: modules, swap, sysctls, zswap, cgroup, usemem, power off.

    Every line meant for the host starts with '@@' (see perfmodel.lab.console).
    """
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# perfmodel lab guest: set up, run usemem once, power off.",
        "export PATH=/bin",
        "mount -t proc proc /proc",
        "mount -t sysfs sysfs /sys",
        "mount -t devtmpfs devtmpfs /dev",
        'mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || echo "@@MISSING debugfs: cannot mount"',
        "# Kernel messages would break the data lines on the shared console.",
        "echo 1 > /proc/sys/kernel/printk",
        "echo",  # end whatever the firmware left unterminated on the line
        'echo "@@BOOT $(cut -d" " -f1 /proc/uptime)"',
        'fail() { echo "@@SETUP-ERROR $*"; sync; poweroff -f; sleep 10; }',
        'setf() { echo "$2" > "$1" 2>/dev/null || fail "$3: cannot write \'$2\' to $1"; }',
    ]
    for m in module_files:
        lines.append(f'insmod /lib/modules/{q(m)} 2>/dev/null || fail "insmod {m} failed"')
    lines += [
        "i=0",
        'while [ ! -b /dev/vda ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done',
        '[ -b /dev/vda ] || fail "swap disk /dev/vda did not appear"',
        'mkswap /dev/vda >/dev/null 2>&1 || fail "mkswap /dev/vda failed"',
        'swapon /dev/vda || fail "swapon /dev/vda failed"',
    ]
    for name, value in plan.sysctls:
        lines.append(f"setf /proc/sys/vm/{name} {q(value)} vm.{name}")
    lines += [
        "Z=/sys/module/zswap/parameters",
        '[ -d "$Z" ] || fail "zswap: $Z missing"',
        "# Off while the compressor and zpool change; the scenario's value is last.",
        'setf "$Z/enabled" N zswap.enabled',
    ]
    for name, value in plan.zswap:
        lines.append(f'setf "$Z/{name}" {q(value)} zswap.{name}')
    if plan.cgroup is not None:
        lines += [
            "mkdir -p /sys/fs/cgroup",
            'mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2"',
            'setf /sys/fs/cgroup/cgroup.subtree_control +memory "memory controller"',
            f"mkdir -p {CGROUP_DIR}",
        ]
        for name, value in plan.cgroup:
            lines.append(f"setf {CGROUP_DIR}/{name} {q(value)} memory.cgroup.{name}")
    lines += [
        'echo "@@UNAME $(uname -r)"',
        'echo "@@CMDLINE $(cat /proc/cmdline)"',
        'for f in "$Z"/*; do echo "@@PARAM ${f##*/} $(cat "$f")"; done',
        "for s in " + " ".join(SYSCTLS) + '; do echo "@@SYSCTL vm.$s $(cat /proc/sys/vm/$s)"; done',
    ]
    if plan.cgroup is not None:
        lines.append(
            "for f in " + " ".join(CGROUP_FILES) + "; do "
            f'echo "@@CGROUP $f $(cat {CGROUP_DIR}/$f 2>/dev/null || echo missing)"; done'
        )
    run = "/bin/usemem " + " ".join(q(a) for a in plan.usemem_args)
    if plan.taskset is not None:
        run = f"taskset -c {q(plan.taskset)} {run}"
    if plan.cgroup is not None:
        # A child shell joins the cgroup so that only the workload is charged.
        run = f"sh -c {q(f'echo $$ > {CGROUP_DIR}/cgroup.procs && exec {run}')}"
    if plan.trace:
        lines.append(TRACE_SETUP)
    lines += [
        'echo "@@RUN $(cut -d" " -f1 /proc/uptime)"',
        run,
        "rc=$?",
        'echo "@@EXIT $rc"',
    ]
    if plan.trace:
        lines.append(TRACE_DUMP)
    lines += [
        'if [ "$rc" != 0 ]; then',
        "  dmesg | grep -i -e 'killed process' -e 'out of memory' -e 'page allocation failure'"
        " | tail -n 5 | sed 's/^/@@LOG /'",
        "fi",
        "sync",
        "poweroff -f",
        "sleep 10",
    ]
    return "\n".join(lines) + "\n"
