"""Reading a live kernel's counters into run-record snapshots.

Everything is read below two roots, /proc and /sys by default, so that tests
can point the reader at a fake tree. What cannot be read is not an error: it
becomes a `missing` entry saying why ("debugfs: not mounted"). Only the few
sources a record cannot do without (/proc/vmstat, /proc/meminfo, the vm
sysctls) stop the collection.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfmodel.errors import ConfigError

SYSCTLS = ("page-cluster", "swappiness", "watermark_scale_factor", "min_free_kbytes")
REQUIRED_SYSCTLS = ("page-cluster", "swappiness")
CGROUP_FILES = ("memory.max", "memory.high", "memory.zswap.max")

_NODE_RE = re.compile(r"^node(\d+)$")
_ZONE_RE = re.compile(r"^Node\s+(\d+),\s+zone\s+\S+")


def _why(e: OSError) -> str:
    if isinstance(e, PermissionError):
        geteuid = getattr(os, "geteuid", None)
        return "permission denied (not root)" if geteuid and geteuid() != 0 else "permission denied"
    if isinstance(e, FileNotFoundError):
        return "not present"
    return e.strerror or type(e).__name__


def _parse_pairs(text: str) -> dict[str, int]:
    """'name value' lines (vmstat, numastat, memory.stat); other lines are skipped."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def parse_meminfo(text: str) -> dict[str, int]:
    """'Name:   123 kB' lines; values kept in kB as printed (HugePages_* are counts)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if parts:
            try:
                out[name.strip()] = int(parts[0])
            except ValueError:
                continue
    return out


def parse_zoneinfo_zspages(text: str) -> dict[str, int] | None:
    """nr_zspages summed over each node's zones; None when the kernel has no such stat."""
    out: dict[str, int] = {}
    node: str | None = None
    for line in text.splitlines():
        m = _ZONE_RE.match(line)
        if m:
            node = f"node{m.group(1)}"
            continue
        parts = line.split()
        if node is not None and len(parts) == 2 and parts[0] == "nr_zspages":
            try:
                out[node] = out.get(node, 0) + int(parts[1])
            except ValueError:
                continue
    return out or None


def parse_zoneinfo_pcp(text: str) -> dict[str, dict[str, int]] | None:
    """Free pages held on each CPU's per-CPU lists, per node: zoneinfo's pagesets
    `count`, summed over the node's zones. None when zoneinfo lists no pagesets."""
    out: dict[str, dict[str, int]] = {}
    node: str | None = None
    cpu: str | None = None
    for line in text.splitlines():
        m = _ZONE_RE.match(line)
        if m:
            node, cpu = f"node{m.group(1)}", None
            continue
        parts = line.split()
        if node is None or len(parts) != 2:
            continue
        try:
            v = int(parts[1])
        except ValueError:
            continue
        if parts[0] == "cpu:":
            cpu = f"cpu{v}"
        elif parts[0] == "count:" and cpu is not None:
            per = out.setdefault(node, {})
            per[cpu] = per.get(cpu, 0) + v
    return out or None


@dataclass
class SnapshotReader:
    """Reads counters below `proc` and `sys`; collects what it could not read in `missing`."""

    proc: Path = Path("/proc")
    sys: Path = Path("/sys")
    # Ordered and de-duplicated: every snapshot would otherwise repeat the same reasons.
    _missing: dict[str, None] = field(default_factory=dict)
    cgroup_dir: Path | None = None

    def __post_init__(self) -> None:
        self.proc = Path(self.proc)
        self.sys = Path(self.sys)

    @property
    def missing(self) -> list[str]:
        return list(self._missing)

    def note(self, text: str) -> None:
        self._missing.setdefault(text, None)

    # --- small readers ---------------------------------------------------------

    def _read(self, path: Path) -> str:
        return path.read_text(encoding="utf-8", errors="replace")

    def _required(self, path: Path) -> str:
        try:
            return self._read(path)
        except OSError as e:
            raise ConfigError(
                str(path), None, f"cannot read: {_why(e)}; collect needs a Linux host"
            ) from None

    def _optional(self, path: Path, label: str) -> str | None:
        try:
            return self._read(path)
        except OSError as e:
            self.note(f"{label}: {_why(e)}")
            return None

    # --- facts read once ---------------------------------------------------------

    def kernel(self) -> dict[str, str]:
        release = self._optional(self.proc / "sys/kernel/osrelease", "kernel.release")
        cmdline = self._optional(self.proc / "cmdline", "kernel.cmdline")
        return {
            "release": release.strip() if release else platform.release(),
            "cmdline": (cmdline or "").replace("\0", " ").strip(),
        }

    def zswap_parameters(self) -> dict[str, str]:
        d = self.sys / "module/zswap/parameters"
        try:
            names = sorted(os.listdir(d))
        except OSError as e:
            reason = "zswap not in this kernel" if isinstance(e, FileNotFoundError) else _why(e)
            self.note(f"zswap parameters: {reason}")
            return {}
        out = {}
        for name in names:
            text = self._optional(d / name, f"zswap parameter {name}")
            if text is not None:
                out[name] = text.rstrip("\n")
        return out

    def sysctls(self) -> dict[str, str]:
        out = {}
        for name in SYSCTLS:
            path = self.proc / "sys/vm" / name
            if name in REQUIRED_SYSCTLS:
                text: str | None = self._required(path)
            else:
                text = self._optional(path, f"sysctl vm.{name}")
            if text is not None:
                out[f"vm.{name}"] = text.strip()
        return out

    def memtotal_bytes(self) -> int:
        info = parse_meminfo(self._required(self.proc / "meminfo"))
        if "MemTotal" not in info:
            raise ConfigError(str(self.proc / "meminfo"), None, "no MemTotal line")
        return info["MemTotal"] * 1024

    def find_cgroup(self) -> Path | None:
        """The nearest cgroup (v2) of this process, or an ancestor, with a memory limit."""
        text = self._optional(self.proc / "self/cgroup", "cgroup")
        if text is None:
            return None
        rel = None
        v1_memory = False
        for line in text.splitlines():
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            if parts[0] == "0" and parts[1] == "":
                rel = parts[2]
            elif "memory" in parts[1].split(","):
                v1_memory = True
        if rel is None:
            if v1_memory:
                self.note("cgroup: a cgroup v1 memory controller is not read (v2 only)")
            return None
        base = self.sys / "fs/cgroup"
        cur = base / rel.strip().lstrip("/")
        while True:
            for name in CGROUP_FILES:
                try:
                    value = self._read(cur / name).strip()
                except OSError:
                    continue
                if value != "max":
                    return cur
            if cur == base or base not in cur.parents:
                return None
            cur = cur.parent

    def cgroup(self) -> dict[str, str] | None:
        self.cgroup_dir = self.find_cgroup()
        if self.cgroup_dir is None:
            return None
        out = {}
        for name in CGROUP_FILES:
            try:
                out[name] = self._read(self.cgroup_dir / name).strip()
            except OSError as e:
                # No file means no such limit (memory.zswap.max is 5.19+).
                self.note(f"cgroup {name}: {_why(e)}")
                out[name] = "max"
        return out

    def host(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"accel": "native", "arch": platform.machine()}
        cpuinfo = self._optional(self.proc / "cpuinfo", "cpuinfo")
        if cpuinfo:
            for line in cpuinfo.splitlines():
                name, sep, value = line.partition(":")
                if sep and name.strip() == "model name":
                    facts["cpu_model"] = value.strip()
                    break
            facts["cpus"] = sum(1 for ln in cpuinfo.splitlines() if ln.startswith("processor"))
        nodes = self._node_dirs()
        if nodes:
            facts["numa_nodes"] = len(nodes)
        return facts

    # --- snapshots ------------------------------------------------------------------

    def debugfs_zswap(self) -> dict[str, int]:
        debug = self.sys / "kernel/debug"
        zdir = debug / "zswap"
        try:
            names = sorted(os.listdir(zdir))
        except FileNotFoundError:
            self.note(f"debugfs: {self._debugfs_absent_reason(debug)}")
            return {}
        except OSError as e:
            self.note(f"debugfs: {_why(e)}")
            return {}
        out: dict[str, int] = {}
        for name in names:
            text = self._optional(zdir / name, f"debugfs zswap/{name}")
            if text is None:
                continue
            try:
                out[name] = int(text.strip())
            except ValueError:
                self.note(f"debugfs zswap/{name}: not a number")
        return out

    def _debugfs_absent_reason(self, debug: Path) -> str:
        try:
            entries = os.listdir(debug)
        except FileNotFoundError:
            return "no /sys/kernel/debug (kernel without debugfs)"
        except OSError as e:
            return _why(e)
        if not entries:
            return "not mounted"
        return "no zswap directory (zswap not in this kernel or not yet initialised)"

    def _node_dirs(self) -> list[tuple[int, Path]]:
        d = self.sys / "devices/system/node"
        try:
            names = os.listdir(d)
        except OSError:
            return []
        nodes = []
        for name in names:
            m = _NODE_RE.match(name)
            if m:
                nodes.append((int(m.group(1)), d / name))
        return sorted(nodes)

    def numastat(self) -> dict[str, dict[str, int]]:
        nodes = self._node_dirs()
        if not nodes:
            self.note("numastat: no NUMA nodes under /sys/devices/system/node")
            return {}
        out = {}
        for idx, path in nodes:
            text = self._optional(path / "numastat", f"numastat node{idx}")
            if text is not None:
                out[f"node{idx}"] = _parse_pairs(text)
        return out

    def zoneinfo(self) -> tuple[dict[str, int] | None, dict[str, dict[str, int]] | None]:
        """(nr_zspages, pcp) from one read of /proc/zoneinfo."""
        text = self._optional(self.proc / "zoneinfo", "zoneinfo")
        if text is None:
            return None, None
        return parse_zoneinfo_zspages(text), parse_zoneinfo_pcp(text)

    def memory_stat(self) -> dict[str, int] | None:
        if self.cgroup_dir is None:
            return None
        text = self._optional(self.cgroup_dir / "memory.stat", "cgroup memory.stat")
        return _parse_pairs(text) if text is not None else None

    def snapshot(self, t_s: float) -> dict[str, Any]:
        """One Snapshot of the run record format, as a plain dict."""
        zspages, pcp = self.zoneinfo()
        return {
            "t_s": float(t_s),
            "debugfs_zswap": self.debugfs_zswap(),
            "vmstat": _parse_pairs(self._required(self.proc / "vmstat")),
            "meminfo": parse_meminfo(self._required(self.proc / "meminfo")),
            "memory_stat": self.memory_stat(),
            "numastat": self.numastat(),
            "nr_zspages": zspages,
            "pcp": pcp,
        }
