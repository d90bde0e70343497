"""CPUs as contended SimPy resources, one per logical CPU."""

from __future__ import annotations

import simpy


class CPU:
    __slots__ = ("id", "node", "res", "busy_s", "env", "_queued")

    def __init__(self, env: simpy.Environment, cpu_id: int, node: int) -> None:
        self.id = cpu_id
        self.node = node
        self.env = env
        # Non-preemptive: a task runs until it blocks or ends its slice.
        self.res = simpy.Resource(env, capacity=1)
        self.busy_s = 0.0
        self._queued: simpy.Event | None = None

    def queued_event(self) -> simpy.Event:
        """Fires when the next task queues for this CPU (a wakeup onto a busy CPU)."""
        if self._queued is None:
            self._queued = self.env.event()
        return self._queued

    def note_queued(self) -> None:
        ev = self._queued
        if ev is not None:
            self._queued = None
            ev.succeed()

    @property
    def waiting(self) -> int:
        return len(self.res.queue)


def least_loaded(cpus: list[CPU]) -> CPU:
    """The scheduler's choice for an unbound or node-bound kernel thread."""
    return min(cpus, key=lambda c: (len(c.res.queue) + len(c.res.users), c.id))
