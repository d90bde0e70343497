"""NUMA topology: distances, fallback order and remote-access cost."""

from __future__ import annotations

from perfmodel.config.hardware import HardwareProfile


class Topology:
    def __init__(self, hw: HardwareProfile) -> None:
        self.n = len(hw.numa.nodes)
        self.distance = [list(r) for r in hw.numa.distances]
        self.latency_ns = [list(r) for r in hw.numa.latency_ns]
        self.bandwidth_mbps = [list(r) for r in hw.numa.bandwidth_mbps]
        # Zonelist order: nearest node first, ties by id (build_zonelists).
        self.fallback = [
            sorted(range(self.n), key=lambda j, i=i: (self.distance[i][j], j)) for i in range(self.n)
        ]
        self.cpu_node = hw.node_of_cpu()
        self.node_cpus = {nd.id: sorted(nd.cpus) for nd in hw.numa.nodes}
        self.set_core_bandwidth(hw.memory.core_bandwidth_mbps)

    def set_core_bandwidth(self, core_bw_mbps: float) -> None:
        """Extra seconds per byte a CPU on node i spends on memory of node j."""
        local = 1.0 / (core_bw_mbps * 1e6)
        self.extra_per_byte = [
            [
                local * self.bandwidth_mbps[i][i] / self.bandwidth_mbps[i][j] - local
                for j in range(self.n)
            ]
            for i in range(self.n)
        ]

    def touch_cost_s(self, nbytes: int, core_bw_mbps: float, cpu_node: int, mem_node: int) -> float:
        """Seconds to stream nbytes from mem_node on one core of cpu_node.

        The single-core rate is scaled by the profile's remote/local bandwidth ratio.
        """
        local = self.bandwidth_mbps[cpu_node][cpu_node]
        bw = core_bw_mbps * self.bandwidth_mbps[cpu_node][mem_node] / local
        return nbytes / (bw * 1e6)
