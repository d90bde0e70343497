"""Parse the guest console into the parts of a run record.

Lines meant for the host start with '@@' (written by /init and usemem):

    @@BOOT <uptime>            /init started
    @@SETUP-ERROR <message>    /init gave up before the workload
    @@UNAME <release>          @@CMDLINE <text>
    @@PARAM <name> <value>     each file of /sys/module/zswap/parameters
    @@SYSCTL <name> <value>    @@CGROUP <file> <value>
    @@MISSING <what>: <why>
    @@RUN <uptime>             the workload starts
    @@START {json}             usemem's arguments and page counts
    @@SNAP {json} ... @@ENDSNAP   with @@FILE <path> blocks of raw file text
    @@PASS {json}              one per process and pass
    @@LAT {json}|null          @@DONE {json}     @@ERROR <message>
    @@EXIT <status>            @@LOG <kernel message>
    @@TRACE <trace line>       with --trace: one line of the ftrace buffer, after @@EXIT
    @@TRACESTAT <cpuN> <text>  that CPU's ring buffer stats on one line (entries, overrun, ...)
    @@TRACEEND                 the trace dump is complete
    @@POOL <uptime> <pool_total_size> <stored_pages> <pool_limit_hit> <written_back_pages>
                               with --trace: zswap's debugfs sampled during the run

Anything else (kernel messages, QEMU noise) is ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from perfmodel.validate.snapshot import parse_zoneinfo_pcp

# printk lines carry a timestamp; they can land inside a file block.
_KMSG = re.compile(r"^\s*\[\s*\d+\.\d+\]")
# A tag may follow unterminated firmware or kernel output on the same line.
_TAG = re.compile(r"@@([A-Z][A-Z-]*)(?: (.*))?$")
# Terminal resets (ESC c, ESC [2J, ...) that firmware and kernel write to the serial line.
_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_]|c)")


@dataclass
class Snap:
    label: str
    pass_index: int | None
    t_s: float
    files: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


@dataclass
class Console:
    boot_uptime: float | None = None
    run_uptime: float | None = None
    release: str | None = None
    cmdline: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    sysctl: dict[str, str] = field(default_factory=dict)
    cgroup: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    setup_errors: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    start: dict[str, Any] | None = None
    snaps: list[Snap] = field(default_factory=list)
    passes: list[dict[str, Any]] = field(default_factory=list)
    latency: dict[str, Any] | None = None
    done: dict[str, Any] | None = None
    exit_status: int | None = None
    tail: list[str] = field(default_factory=list)
    trace_lines: list[str] = field(default_factory=list)  # raw text after '@@TRACE '
    pool_samples: list[list[float]] = field(default_factory=list)  # @@POOL lines
    trace_stats: list[str] = field(default_factory=list)
    trace_end: bool = False


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _kv(rest: str) -> tuple[str, str]:
    key, _, value = rest.partition(" ")
    return key, value.strip()


def parse_console(text: str) -> Console:
    c = Console()
    snap: Snap | None = None
    current: list[str] | None = None  # lines of the open @@FILE block
    lines = _ANSI.sub("", text.replace("\r", "")).split("\n")
    for raw in lines:
        line = raw.rstrip()
        m = _TAG.search(line)
        if m is None:
            if current is not None and line and not _KMSG.match(line):
                current.append(line)
            continue
        current = None
        tag, rest = m.group(1), (m.group(2) or "").strip()
        if tag == "TRACE":
            # Kept raw: the trace's own column padding is part of its format.
            c.trace_lines.append(m.group(2) or "")
        elif tag == "BOOT":
            c.boot_uptime = float(rest) if _is_float(rest) else 0.0
        elif tag == "RUN":
            c.run_uptime = float(rest) if _is_float(rest) else None
        elif tag == "SETUP-ERROR":
            c.setup_errors.append(rest)
        elif tag == "UNAME":
            c.release = rest
        elif tag == "CMDLINE":
            c.cmdline = rest
        elif tag == "PARAM":
            k, v = _kv(rest)
            c.params[k] = v
        elif tag == "SYSCTL":
            k, v = _kv(rest)
            c.sysctl[k] = v
        elif tag == "CGROUP":
            k, v = _kv(rest)
            c.cgroup[k] = v
        elif tag == "MISSING":
            (snap.missing if snap is not None else c.missing).append(rest)
        elif tag == "START":
            c.start = _json(rest)
        elif tag == "SNAP":
            head = _json(rest) or {}
            snap = Snap(str(head.get("label", "?")), head.get("pass"), float(head.get("t_s", 0)))
        elif tag == "FILE" and snap is not None:
            current = snap.files.setdefault(rest, [])
        elif tag == "ENDSNAP" and snap is not None:
            c.snaps.append(snap)
            snap = None
        elif tag == "PASS":
            d = _json(rest)
            if isinstance(d, dict):
                c.passes.append(d)
        elif tag == "LAT":
            d = _json(rest)
            c.latency = d if isinstance(d, dict) else None
        elif tag == "DONE":
            c.done = _json(rest)
        elif tag == "ERROR":
            c.errors.append(rest)
        elif tag == "LOG":
            c.logs.append(rest)
        elif tag == "POOL":
            fields = rest.split()
            if len(fields) == 5 and all(_is_float(f) for f in fields):
                c.pool_samples.append([float(f) for f in fields])
        elif tag == "TRACESTAT":
            c.trace_stats.append(rest)
        elif tag == "TRACEEND":
            c.trace_end = True
        elif tag == "EXIT":
            c.exit_status = int(rest) if rest.lstrip("-").isdigit() else None
    c.tail = [ln.strip() for ln in lines if ln.strip()][-8:]
    return c


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _int(s: str) -> int | None:
    try:
        return int(s)
    except ValueError:
        return None


def _pairs(lines: list[str], sep: str | None = None) -> dict[str, int]:
    """'name value' lines (vmstat, numastat, memory.stat) as ints."""
    out: dict[str, int] = {}
    for ln in lines:
        parts = ln.split(sep) if sep else ln.split()
        if len(parts) >= 2:
            v = _int(parts[1].split()[0]) if parts[1].strip() else None
            if v is not None:
                out[parts[0].strip()] = v
    return out


# Fields of /proc/stat's "cpu" line, in USER_HZ ticks (10 ms).
CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _cpu_ticks(line: str) -> dict[str, int] | None:
    parts = line.split()
    if not parts or parts[0] != "cpu":
        return None
    vals = [_int(v) for v in parts[1:1 + len(CPU_FIELDS)]]
    if any(v is None for v in vals):
        return None
    return dict(zip(CPU_FIELDS, vals, strict=False))  # type: ignore[arg-type]


def snapshot_record(s: Snap) -> dict[str, Any]:
    """One Snapshot of the perfmodel-run/1 format."""
    debugfs: dict[str, int] = {}
    vmstat: dict[str, int] = {}
    meminfo: dict[str, int] = {}
    memory_stat: dict[str, int] | None = None
    numastat: dict[str, dict[str, int]] = {}
    nr_zspages: dict[str, int] | None = None
    pcp: dict[str, dict[str, int]] | None = None
    cpu_ticks: dict[str, int] | None = None
    for path, lines in s.files.items():
        if path.startswith("/sys/kernel/debug/zswap/"):
            v = _int(lines[0].strip()) if lines else None
            if v is not None:
                debugfs[path.rsplit("/", 1)[1]] = v
        elif path == "/proc/vmstat":
            vmstat = _pairs(lines)
        elif path == "/proc/meminfo":
            meminfo = _pairs(lines, ":")
        elif path.endswith("/numastat") and "/node/" in path:
            numastat[path.split("/")[-2]] = _pairs(lines)
        elif path == "nr_zspages":
            nr_zspages = _pairs(lines)
        elif path == "/proc/zoneinfo":
            pcp = parse_zoneinfo_pcp("\n".join(lines))
        elif path.endswith("/memory.stat"):
            memory_stat = _pairs(lines)
        elif path == "/proc/stat" and lines:
            cpu_ticks = _cpu_ticks(lines[0])
    return {
        "t_s": s.t_s if s.label != "before" else 0.0,
        "debugfs_zswap": debugfs,
        "vmstat": vmstat,
        "meminfo": meminfo,
        "memory_stat": memory_stat,
        "numastat": numastat,
        "nr_zspages": nr_zspages,
        "pcp": pcp,
        "cpu_ticks": cpu_ticks,
    }


def workload_record(c: Console) -> dict[str, Any]:
    """usemem's report summed over processes: a pass ends when its last process does."""
    by_pass: dict[int, list[dict[str, Any]]] = {}
    for p in c.passes:
        by_pass.setdefault(int(p["pass"]), []).append(p)
    passes = []
    for idx in sorted(by_pass):
        rows = by_pass[idx]
        elapsed = max(float(r["elapsed_s"]) for r in rows)
        nbytes = sum(float(r.get("bytes", 0)) for r in rows)
        entry: dict[str, Any] = {
            "pass": idx,
            "kind": str(rows[0]["kind"]),
            "elapsed_s": elapsed,
            "throughput_mbps": nbytes / elapsed / 1e6 if elapsed > 0 else 0.0,
            "accesses": sum(int(r["accesses"]) for r in rows),
        }
        per_cpu: list[list[Any]] = [r["cpu_pages"] for r in rows
                                     if isinstance(r.get("cpu_pages"), list)]
        if per_cpu and len(per_cpu) == len(rows):
            # usemem's sched_getcpu() samples: pages touched on each CPU, all processes.
            width = max(len(v) for v in per_cpu)
            entry["cpu_pages"] = [sum(int(v[i]) for v in per_cpu if i < len(v))
                                  for i in range(width)]
        passes.append(entry)
    lat = None
    if c.latency is not None:
        lat = {"sampling": str(c.latency.get("sampling", "stride")),
               "count": int(c.latency["count"])}
        lat.update({k: float(c.latency[k]) for k in ("p50", "p90", "p99", "p999")})
    elapsed = float(c.done["elapsed_s"]) if c.done else sum(p["elapsed_s"] for p in passes)
    return {"elapsed_s": elapsed, "passes": passes, "latency_us": lat}


def summary(c: Console, limit: int = 300) -> str:
    """The last console lines on one line, for error messages."""
    text = " | ".join(_KMSG.sub("", ln).strip() for ln in c.tail)
    return text[-limit:] if text else "(no console output)"
