"""Tasks on CPUs: CPU time is accumulated and paid in one timeout before any wait."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from perfmodel.hw.cpu import CPU


class Task:
    """A thread that holds its CPU while running; pending is CPU time not yet paid."""

    __slots__ = ("env", "name", "cpu", "pending", "req", "pid")

    def __init__(self, env: simpy.Environment, name: str, cpu: CPU, pid: int = -1) -> None:
        self.env = env
        self.name = name
        self.cpu = cpu
        self.pending = 0.0
        self.req: simpy.resources.resource.Request | None = None
        self.pid = pid

    @property
    def node(self) -> int:
        return self.cpu.node

    @property
    def now(self) -> float:
        """Simulated time including CPU work done but not yet paid."""
        return self.env.now + self.pending

    def acquire(self) -> Generator[simpy.Event, Any, None]:
        self.req = self.cpu.res.request()
        yield self.req

    def release(self) -> None:
        if self.req is not None:
            self.cpu.res.release(self.req)
            self.req = None

    def flush(self) -> Generator[simpy.Event, Any, None]:
        if self.pending > 0:
            p = self.pending
            self.pending = 0.0
            self.cpu.busy_s += p
            yield self.env.timeout(p)

    def block(self, event: simpy.Event) -> Generator[simpy.Event, Any, Any]:
        """Pay pending CPU time, give up the CPU, wait, and take the CPU back."""
        yield from self.flush()
        self.release()
        value = yield event
        yield from self.acquire()
        return value

    def maybe_yield_cpu(self) -> Generator[simpy.Event, Any, None]:
        """End of a time slice: let waiting tasks (kswapd, kworkers) run."""
        yield from self.flush()
        if self.cpu.res.queue:
            self.release()
            yield from self.acquire()
