"""NUMA memory policy (mm/mempolicy.c) and the per-node numastat counters."""

from __future__ import annotations

from perfmodel.config.scenario import MempolicySpec

NUMASTAT = ("numa_hit", "numa_miss", "numa_foreign", "interleave_hit", "local_node", "other_node")


class Mempolicy:
    """Where a page of a mapping should go: (preferred node, allowed nodes, interleaved)."""

    __slots__ = ("mode", "nodes")

    def __init__(self, spec: MempolicySpec) -> None:
        self.mode = spec.mode
        self.nodes = tuple(spec.nodes or ())

    def target(self, cpu_node: int, index: int) -> tuple[int, tuple[int, ...] | None, bool]:
        """index is the page offset in the VMA: the interleave index (alloc_page_vma)."""
        mode = self.mode
        if mode == "local":
            return cpu_node, None, False
        nodes = self.nodes
        if mode == "preferred":
            return nodes[0], None, False
        if mode == "bind":
            return (cpu_node if cpu_node in nodes else nodes[0]), nodes, False
        return nodes[index % len(nodes)], None, True

    @property
    def interleaved(self) -> bool:
        return self.mode == "interleave"


LOCAL = Mempolicy(MempolicySpec())


class NumaStat:
    """/sys/devices/system/node/node*/numastat, counted as zone_statistics() does."""

    def __init__(self, nr_nodes: int) -> None:
        self.n = nr_nodes
        self.numa_hit = [0] * nr_nodes
        self.numa_miss = [0] * nr_nodes
        self.numa_foreign = [0] * nr_nodes
        self.interleave_hit = [0] * nr_nodes
        self.local_node = [0] * nr_nodes
        self.other_node = [0] * nr_nodes
        # Bytes that crossed the interconnect: CPU on one node, memory on another.
        self.cross_node_bytes = 0

    def account(self, preferred: int, got: int, cpu_node: int, interleave: bool, n: int = 1) -> None:
        if got == preferred:
            self.numa_hit[got] += n
            if interleave:
                self.interleave_hit[got] += n
        else:
            self.numa_miss[got] += n
            self.numa_foreign[preferred] += n
        if got == cpu_node:
            self.local_node[got] += n
        else:
            self.other_node[got] += n

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            f"node{i}": {name: getattr(self, name)[i] for name in NUMASTAT} for i in range(self.n)
        }
