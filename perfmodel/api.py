"""The Python API; the CLI is a thin layer over these functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perfmodel.config import (
    DEFAULT_PROFILE,
    DEFAULT_SCENARIO,
    HardwareProfile,
    Scenario,
    check_consistency,
    load_profile,
    load_scenario,
    resolve,
)
from perfmodel.results import Result
from perfmodel.simulation import simulate


def prepare(
    scenario: str | Path | None = None,
    hardware: str | Path | None = None,
    overrides: list[str] | None = None,
    hardware_overrides: list[str] | None = None,
) -> tuple[Scenario, HardwareProfile]:
    """Load and cross-check a scenario and a profile (bundled defaults when None)."""
    sc_path = resolve(str(scenario or DEFAULT_SCENARIO), "scenarios")
    hw_path = resolve(str(hardware or DEFAULT_PROFILE), "hardware")
    sc = load_scenario(sc_path, overrides)
    hw = load_profile(hw_path, hardware_overrides)
    check_consistency(sc, hw, str(sc_path), str(hw_path))
    return sc, hw


def run(
    scenario: str | Path | None = None,
    hardware: str | Path | None = None,
    overrides: list[str] | None = None,
    seed: int | None = None,
) -> Result:
    """Simulate a scenario on a profile; seed defaults to workload.seed."""
    sc, hw = prepare(scenario, hardware, overrides)
    return simulate(sc, hw, seed)


def describe_profile(hw: HardwareProfile) -> dict[str, Any]:
    """A profile's derived figures: CPU and memory totals, compressor and device costs."""
    ps = hw.memory.page_size
    comps = {}
    for name, cs in hw.compressors.items():
        row: dict[str, Any] = {"engine": cs.engine}
        for cls in ("text", "binary", "incompressible"):
            mean = cs.size_bytes[cls].mean_value()
            row[cls] = {
                "compress_us": cs.compress_ns[cls] / 1e3,
                "decompress_us": cs.decompress_ns[cls] / 1e3,
                "compress_mbps": ps / cs.compress_ns[cls] * 1e3,
                "ratio": ps / mean if mean else float("inf"),
                "mean_bytes": mean,
            }
        comps[name] = row
    devs = {}
    import numpy as np
    import simpy

    from perfmodel.hw.swapdev import SwapDevice

    for name, ds in hw.swap_devices.items():
        dev = SwapDevice(simpy.Environment(), ds, np.random.default_rng(0), ps, name)
        devs[name] = {
            "kind": ds.kind,
            "capacity_bytes": ds.capacity,
            "read_service_us": dev.mean_service_time("read") * 1e6,
            "write_service_us": dev.mean_service_time("write") * 1e6,
            "max_read_iops": dev.max_iops("read"),
            "max_write_iops": dev.max_iops("write"),
            "parallelism": ds.parallelism,
        }
    return {
        "name": hw.name,
        "description": hw.description,
        "cpus": hw.cpu.n_cpus,
        "cpu": f"{hw.cpu.sockets} x {hw.cpu.model}, {hw.cpu.cores_per_socket} cores, "
        f"{hw.cpu.threads_per_core} threads/core, {hw.cpu.clock_ghz} GHz",
        "memory_bytes": hw.total_memory,
        "nodes": [
            {"id": nd.id, "memory_bytes": nd.memory, "cpus": len(nd.cpus)} for nd in hw.numa.nodes
        ],
        "distances": hw.numa.distances,
        "latency_ns": hw.numa.latency_ns,
        "page_touch_us": ps / hw.memory.core_bandwidth_mbps,
        "compressors": comps,
        "swap_devices": devs,
    }
