"""CPUs as contended SimPy resources, one per logical CPU."""

from __future__ import annotations

import simpy


class CPU:
    __slots__ = ("id", "node", "res", "busy_s")

    def __init__(self, env: simpy.Environment, cpu_id: int, node: int) -> None:
        self.id = cpu_id
        self.node = node
        # Non-preemptive: a task runs until it blocks or ends its slice.
        self.res = simpy.Resource(env, capacity=1)
        self.busy_s = 0.0

    @property
    def waiting(self) -> int:
        return len(self.res.queue)


def least_loaded(cpus: list[CPU]) -> CPU:
    """The scheduler's choice for an unbound or node-bound kernel thread."""
    return min(cpus, key=lambda c: (len(c.res.queue) + len(c.res.users), c.id))
