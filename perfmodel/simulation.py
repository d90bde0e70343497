"""Run one scenario on one hardware profile and collect the result."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from perfmodel.config.hardware import HardwareProfile
from perfmodel.config.scenario import Scenario
from perfmodel.kernel.pages import DISK, RESIDENT, WRITEBACK, ZEROMAP, ZSWAP
from perfmodel.machine import Machine
from perfmodel.results import Result, latency_summary, mixture_summary, quantile_grid

FORMAT = "perfmodel-result/1"


class _Sampler:
    """Pool size and compression ratio over time; one event per interval."""

    def __init__(self, m: Machine, interval: float) -> None:
        self.m = m
        self.interval = interval
        self.series: dict[str, list[float]] = {
            k: []
            for k in (
                "t_s",
                "stored_pages",
                "pool_total_size",
                "compression_ratio",
                "resident_pages",
                "writeback_pages",
                "free_pages",
                "zswpout",
                "pswpout",
                "pgmajfault",
                "accesses",
            )
        }
        m.env.process(self._run())

    def sample(self) -> None:
        m = self.m
        z = m.zswap
        s = self.series
        pool = z.pool_total_size
        s["t_s"].append(m.env.now)
        s["stored_pages"].append(z.stored_pages)
        s["pool_total_size"].append(pool)
        s["compression_ratio"].append(z.stored_pages * m.page_size / pool if pool else 0.0)
        s["resident_pages"].append(sum(lru.size for lru in m.lrus))
        # Off the LRU but still mapped from the swap cache: a touch is a minor fault.
        s["writeback_pages"].append(len(m.swapio.inflight))
        s["free_pages"].append(sum(nd.free for nd in m.alloc.nodes))
        s["zswpout"].append(m.counters.zswpout)
        s["pswpout"].append(m.counters.pswpout)
        s["pgmajfault"].append(m.counters.pgmajfault)
        s["accesses"].append(sum(r.accesses for p in m.processes for r in p.records))

    def _run(self) -> Generator[simpy.Event, Any, None]:
        while True:
            self.sample()
            yield self.m.env.timeout(self.interval)


def simulate(sc: Scenario, hw: HardwareProfile, seed: int | None = None) -> Result:
    seed = sc.workload.seed if seed is None else seed
    m = Machine(sc, hw, seed)
    env = m.env
    sampler = _Sampler(m, sc.sim.sample_interval_s)
    done = simpy.AllOf(env, [p.done for p in m.processes])
    limit = env.timeout(sc.sim.max_sim_seconds)
    env.run(until=simpy.AnyOf(env, [done, limit]))
    truncated = not done.triggered
    sampler.sample()
    return collect(m, sc, hw, seed, truncated, sampler.series)


def _access_latency(m: Machine, processes: list[dict[str, Any]]) -> dict[str, float | int]:
    """Latency of an access on the access passes, as a workload sampling every n-th
    access sees it: a major fault's own latency, a readahead hit's minor fault, or a
    plain touch of a resident page."""
    accesses = sum(p["accesses"] for proc in processes for p in proc["passes"]
                   if p["kind"] == "access")
    majors = m.fault.fault_latencies
    minors = m.counters.swap_ra_hit
    touch = m.page_size / (m.core_bw_mbps * 1e6)
    minor_s = m.fault.ra_hit_s + touch
    hits = max(0, accesses - len(majors) - minors)
    return mixture_summary(majors, [(minors, minor_s), (hits, touch)])


def collect(
    m: Machine, sc: Scenario, hw: HardwareProfile, seed: int, truncated: bool,
    series: dict[str, list[float]],
) -> Result:
    era = m.era
    c = m.counters.as_dict()
    z = m.zswap
    ps = m.page_size
    c["written_back_pages"] = c["written_back_pages"]
    debugfs: dict[str, int] = {}
    gauges = {
        "stored_pages": z.stored_pages,
        "pool_total_size": z.pool_total_size,
        "same_filled_pages": z.same_filled_pages,
        "stored_incompressible_pages": z.stored_incompressible_pages,
    }
    for name in era.debugfs_counters():
        debugfs[name] = int(gauges[name]) if name in gauges else int(c[name])
    vmstat = {name: int(c[name]) for name in era.vmstat_counters()}
    for extra in ("pgfault", "pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd",
                  "pgsteal_direct", "allocstall", "pgactivate", "pgdeactivate"):
        vmstat[extra] = int(c[extra])
    vmstat["nr_zspages"] = m.zpool.total_pages if m.zpool.name == "zsmalloc" else 0
    numa = {
        "numastat": m.alloc.stat.as_dict(),
        # Per-node zswap footprint: allocator pages on each node (nr_zspages for zsmalloc).
        "pool_pages_per_node": [m.zpool.node_pages(n) for n in range(m.topo.n)],
        "cross_node_bytes": m.alloc.stat.cross_node_bytes,
        "resident_pages_per_node": [lru.size for lru in m.lrus],
    }

    state = m.pt.state
    counts = {
        "resident": int((state == RESIDENT).sum()),
        "zswap": int((state == ZSWAP).sum()),
        "disk": int((state == DISK).sum()),
        "zeromap": int((state == ZEROMAP).sum()),
        "writeback": int((state == WRITEBACK).sum()),
    }
    stored_bytes = z.stored_pages * ps
    pool = z.pool_total_size
    footprint = m.pt.n * ps
    memory = {
        "totalram_bytes": m.totalram_pages * ps,
        "footprint_bytes": footprint,
        "max_pool_bytes": z.max_pages * ps,
        "compression_ratio": stored_bytes / pool if pool else 0.0,
        # RAM zswap saves at the end: the pages it holds minus the pool that holds them.
        "memory_saved_bytes": stored_bytes - pool,
        "memory_saved_fraction": (stored_bytes - pool) / footprint if footprint else 0.0,
        "peak_pool_total_size": max(series["pool_total_size"], default=0),
        "pages_by_location": counts,
        "swap_slots_used": m.slots.nr_used,
        "memcg_usage_bytes": m.memcg.usage * ps if sc.memory.cgroup else None,
        "free_pages_per_node": [nd.free for nd in m.alloc.nodes],
        "watermarks_per_node": [
            {"min": nd.wmark_min, "low": nd.wmark_low, "high": nd.wmark_high} for nd in m.alloc.nodes
        ],
    }
    meminfo = {"Zswap": pool // 1024, "Zswapped": stored_bytes // 1024}

    processes = []
    total_bytes = 0
    end = 0.0
    start = float("inf")
    for proc in m.processes:
        for rec in proc.records:
            start = min(start, rec.start_s)
            end = max(end, rec.end_s)
            nbytes = rec.accesses * rec.bytes_per_access
            total_bytes += nbytes
            passes = []
            for pr in rec.passes:
                dur = pr.end_s - pr.start_s if pr.accesses else 0.0
                b = pr.accesses * rec.bytes_per_access
                passes.append({
                    "pass": pr.index,
                    "kind": pr.kind,
                    "elapsed_s": dur,
                    "throughput_mbps": b / dur / 1e6 if dur > 0 else 0.0,
                    "accesses": pr.accesses,
                    "cpu_pages": [pr.cpu_pages.get(i, 0) for i in range(len(m.cpus))],
                    "counters": pr.counters or {},
                })
            dur = rec.end_s - rec.start_s
            processes.append({
                "name": rec.name,
                "slot": rec.slot,
                "instance": rec.instance,
                "elapsed_s": dur,
                "throughput_mbps": nbytes / dur / 1e6 if dur > 0 else 0.0,
                "passes": passes,
            })
    wall = (end - start) if processes and end > start else 0.0
    workload = {
        "elapsed_s": wall,
        "throughput_mbps": total_bytes / wall / 1e6 if wall > 0 else 0.0,
        "bytes_accessed": total_bytes,
        "processes": processes,
    }
    latency = {
        "access": _access_latency(m, processes),
        "fault": latency_summary(m.fault.fault_latencies),
        "fault_cdf": quantile_grid(m.fault.fault_latencies),
        "store": latency_summary(z.store_latencies),
        "load": latency_summary(z.load_latencies),
        "swapin_io": latency_summary(m.swapio.read_latencies),
        "swapout_io": latency_summary(m.swapio.write_latencies),
    }
    dev = m.device
    devices = {
        m.dev_name: {
            "kind": dev.spec.kind,
            "reads": dev.reads,
            "writes": dev.writes,
            "read_pages": dev.read_pages,
            "written_pages": dev.written_pages,
            "utilisation": dev.busy_time / max(m.env.now, 1e-12) / dev.servers,
            "slot_fragmentation": m.slots.fragmentation(),
            "mean_alloc_run": m.slots.mean_alloc_run(),
        }
    }
    cpus = {
        "busy_s_per_cpu": [round(cpu.busy_s, 9) for cpu in m.cpus if cpu.busy_s > 0] or [0.0],
        "compressor_busy_s": m.compressor.busy_s,
        "kswapd_runs": m.reclaim.kswapd_runs,
        # Executions of the zswap shrink work item (workqueue_execute_start of shrink_worker).
        "shrink_worker_runs": z.shrink_worker_runs,
    }
    config = {
        "scenario": sc.model_dump(mode="json", by_alias=True),
        "hardware": hw.model_dump(mode="json", by_alias=True),
        "effective": {
            "zswap.zpool": m.zpool.name,
            "kernel.ZSMALLOC_CHAIN_SIZE": getattr(m.zpool, "chain_size", None),
            "zswap.exclusive_loads": z.exclusive,
            "zswap.shrinker_enabled": z.shrinker_enabled,
            "swap.device": m.dev_name,
            "swap.size": m.slots.nslots * ps,
            "swap.readahead": "vma" if m.fault.vma_readahead else "cluster",
            "zswap_parameters": list(era.zswap_parameters()),
        },
    }
    return Result(
        format=FORMAT,
        scenario=sc.name,
        hardware=hw.name,
        seed=seed,
        kernel_release=sc.kernel.release,
        elapsed_s=m.env.now,
        truncated=truncated,
        debugfs=debugfs,
        vmstat=vmstat,
        meminfo=meminfo,
        workload=workload,
        latency=latency,
        memory=memory,
        timeseries=series,
        devices=devices,
        cpus=cpus,
        numa=numa,
        config=config,
    )
