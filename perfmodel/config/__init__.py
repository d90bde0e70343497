"""Loading and cross-checking hardware profiles and scenarios."""

from __future__ import annotations

import os
from pathlib import Path

from perfmodel.config.hardware import HardwareProfile
from perfmodel.config.loader import load_model
from perfmodel.config.scenario import Scenario
from perfmodel.config.units import format_size
from perfmodel.errors import ConfigError

__all__ = [
    "HardwareProfile",
    "Scenario",
    "bundled_dir",
    "check_consistency",
    "load_profile",
    "load_scenario",
    "resolve",
    "DEFAULT_PROFILE",
    "DEFAULT_SCENARIO",
]

DEFAULT_PROFILE = "xeon-2s-nvme"
DEFAULT_SCENARIO = "usemem"


def bundled_dir(kind: str) -> Path:
    """Directory of bundled data ('hardware' or 'scenarios')."""
    root = os.environ.get("PERFMODEL_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[2]
    return base / kind


def resolve(name_or_path: str, kind: str) -> Path:
    """A path as given, or a bundled file by its short name ('usemem')."""
    p = Path(name_or_path)
    if p.exists() or p.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        return p
    cand = bundled_dir(kind) / f"{name_or_path}.yaml"
    if cand.exists():
        return cand
    known = sorted(f.stem for f in bundled_dir(kind).glob("*.yaml"))
    raise ConfigError(
        name_or_path, None, f"no such file, and no bundled {kind} named so (bundled: {', '.join(known)})"
    )


def load_profile(path: str | Path, overrides: list[str] | None = None) -> HardwareProfile:
    return load_model(HardwareProfile, resolve(str(path), "hardware"), overrides)


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    return load_model(Scenario, resolve(str(path), "scenarios"), overrides)


def check_consistency(sc: Scenario, hw: HardwareProfile, sc_file: str, hw_file: str) -> None:
    """Checks that need both files; errors name the scenario key at fault."""
    if sc.zswap.compressor not in hw.compressors:
        raise ConfigError(
            sc_file,
            "zswap.compressor",
            f"'{sc.zswap.compressor}' is not offered by profile {hw.name} "
            f"(has: {', '.join(sorted(hw.compressors))})",
        )
    if sc.swap.device is not None and sc.swap.device not in hw.swap_devices:
        raise ConfigError(
            sc_file,
            "swap.device",
            f"'{sc.swap.device}' is not in profile {hw.name} (has: {', '.join(hw.swap_devices)})",
        )
    dev = hw.swap_devices[sc.swap.device or next(iter(hw.swap_devices))]
    swap_size = sc.swap.size if sc.swap.size is not None else dev.capacity
    if swap_size > dev.capacity:
        raise ConfigError(
            sc_file,
            "swap.size",
            f"{format_size(swap_size)} exceeds the device capacity {format_size(dev.capacity)}",
        )
    total = hw.total_memory
    ram = sc.memory.ram if sc.memory.ram is not None else total
    if ram > total:
        raise ConfigError(
            sc_file, "memory.ram", f"{format_size(ram)} exceeds the profile's {format_size(total)}"
        )
    if sc.memory.reserved >= ram:
        raise ConfigError(sc_file, "memory.reserved", "leaves no memory for the workload")
    page = hw.memory.page_size
    footprint = 0
    for i, p in enumerate(sc.workload.processes):
        if p.cpus is not None:
            bad = [c for c in p.cpus if c >= hw.cpu.n_cpus]
            if bad:
                raise ConfigError(
                    sc_file,
                    f"workload.processes[{i}].cpus",
                    f"CPU {bad[0]} does not exist (profile {hw.name} has {hw.cpu.n_cpus} CPUs)",
                )
        if p.mempolicy.nodes is not None:
            nn = len(hw.numa.nodes)
            bad = [n for n in p.mempolicy.nodes if n >= nn]
            if bad:
                raise ConfigError(
                    sc_file,
                    f"workload.processes[{i}].mempolicy.nodes",
                    f"node {bad[0]} does not exist (profile {hw.name} has {nn} node(s))",
                )
        if p.bytes_per_access > page:
            raise ConfigError(
                sc_file,
                f"workload.processes[{i}].bytes_per_access",
                f"{p.bytes_per_access} exceeds the page size {page}",
            )
        if p.footprint < page:
            raise ConfigError(
                sc_file, f"workload.processes[{i}].footprint", f"smaller than one page ({page} B)"
            )
        footprint += p.footprint * p.count
    usable = ram - sc.memory.reserved
    if sc.memory.cgroup is not None and sc.memory.cgroup.max is not None:
        usable = min(usable, sc.memory.cgroup.max)
        if sc.memory.cgroup.max < 16 * page:
            raise ConfigError(sc_file, "memory.cgroup.max", "too small to run anything")
    if footprint > usable + swap_size:
        raise ConfigError(
            sc_file,
            "workload.processes",
            f"total footprint {format_size(footprint)} exceeds memory {format_size(usable)} "
            f"plus swap {format_size(swap_size)}: the kernel would OOM-kill",
        )
