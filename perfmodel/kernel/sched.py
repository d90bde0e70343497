"""Tasks on CPUs: CPU time is accumulated and paid in one timeout before any wait.

A task may run on a set of CPUs (its cpumask, `allowed`). Such a task moves
the way CFS moves it:

- on waking, it keeps its previous CPU when that is free, else takes an idle
  CPU of the same node (select_idle_sibling() searches the LLC, which does not
  span nodes); it does not cross nodes on a wakeup, since the waker of a
  swap-in (the I/O completion) runs on its own CPU;
- at the end of a slice with another task waiting for its CPU (a kswapd or a
  kworker, which cannot move), an idle allowed CPU pulls it, on any node
  (idle balancing, load_balance() of the NUMA domain).

Pinned tasks (one allowed CPU, or none given) and node-bound kernel threads
stay where they are put.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import simpy

from perfmodel.hw.cpu import CPU

# A task's time slice before it lets waiting tasks onto its CPU (EEVDF's base slice is
# 0.75 ms on one CPU; the tick that enforces it comes every 1-4 ms).
SLICE_S = 1e-3
# sysctl_sched_base_slice (0.75 ms) and the tick of a HZ=250 kernel (Debian's).
BASE_SLICE_S = 0.75e-3
TICK_S = 4e-3


def is_idle(cpu: CPU) -> bool:
    return not cpu.res.users and not cpu.res.queue


def idle_cpu(cpus: Sequence[CPU], node: int, same_node_only: bool = False) -> CPU | None:
    """An idle CPU of cpus: one on `node` first, else (unless same_node_only) any."""
    other: CPU | None = None
    for c in cpus:
        if not is_idle(c):
            continue
        if c.node == node:
            return c
        if other is None:
            other = c
    return None if same_node_only else other


class Task:
    """A thread that holds its CPU while running; pending is CPU time not yet paid."""

    __slots__ = ("env", "name", "cpu", "pending", "req", "pid", "allowed", "migrations",
                 "picked_at")

    def __init__(
        self, env: simpy.Environment, name: str, cpu: CPU, pid: int = -1,
        allowed: Sequence[CPU] | None = None,
    ) -> None:
        self.env = env
        self.name = name
        self.cpu = cpu
        self.pending = 0.0
        self.req: simpy.resources.resource.Request | None = None
        self.pid = pid
        # The cpumask when it has more than one CPU; None pins the task to cpu.
        self.allowed: tuple[CPU, ...] | None = (
            tuple(allowed) if allowed is not None and len(allowed) > 1 else None
        )
        # Moves to another CPU, and of those to another node (as in /proc/PID/sched).
        self.migrations = [0, 0]
        self.picked_at = 0.0  # when it last got its CPU

    @property
    def node(self) -> int:
        return self.cpu.node

    @property
    def now(self) -> float:
        """Simulated time including CPU work done but not yet paid."""
        return self.env.now + self.pending

    def _move(self, cpu: CPU | None) -> None:
        if cpu is not None and cpu is not self.cpu:
            self.migrations[0] += 1
            if cpu.node != self.cpu.node:
                self.migrations[1] += 1
            self.cpu = cpu

    def acquire(self) -> Generator[simpy.Event, Any, None]:
        """Run again: the previous CPU if free, else an idle one of the same node."""
        if self.allowed is not None and not is_idle(self.cpu):
            self._move(idle_cpu(self.allowed, self.cpu.node, same_node_only=True))
        self.req = self.cpu.res.request()
        if not self.req.triggered:
            self.cpu.note_queued()
        yield self.req
        self.picked_at = self.env.now

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

    def _preempt_at(self, t: float) -> float:
        """When a task that queued at time t gets this kernel thread's CPU (EEVDF with
        RUN_TO_PARITY): a wakeup preempts once the running task has used its base
        slice since it was picked; before that nothing does, and the first tick after
        the slice ends it."""
        slice_end = self.picked_at + BASE_SLICE_S
        if t >= slice_end:
            return t
        return (slice_end // TICK_S + 1) * TICK_S

    def run_kthread(self, resched_s: float) -> Generator[simpy.Event, Any, None]:
        """Pay pending CPU time as a kernel thread that reaches cond_resched() every
        resched_s (one folio's work in shrink_folio_list()): a task that queues for
        this CPU gets it at the first cond_resched() after _preempt_at(), and this
        thread goes to the back of the queue."""
        env = self.env
        cpu = self.cpu
        while self.pending > 1e-12:
            if cpu.res.queue:
                t_pre = self._preempt_at(env.now)
            else:
                p = self.pending
                t0 = env.now
                yield env.timeout(p) | cpu.queued_event()
                ran = min(p, env.now - t0)
                self.pending -= ran
                cpu.busy_s += ran
                if self.pending <= 1e-12 or not cpu.res.queue:
                    continue
                t_pre = self._preempt_at(env.now)
            step = min(self.pending, max(0.0, t_pre - env.now) + resched_s)
            self.pending -= step
            cpu.busy_s += step
            yield env.timeout(step)
            if self.pending > 1e-12 or cpu.res.queue:
                self.release()
                yield from self.acquire()
        self.pending = 0.0

    def maybe_yield_cpu(self, slice_s: float = SLICE_S) -> Generator[simpy.Event, Any, None]:
        """End of a time slice: let waiting tasks (kswapd, kworkers) run. An idle
        allowed CPU, on any node, pulls this task rather than leave it queued.

        CPU time owed for a batch of work done in one step (a run of first touches)
        is paid a slice at a time, with the waiting tasks going in between, as the
        tick would share the CPU if the work had been done page by page."""
        while self.pending > slice_s and self.cpu.res.queue:
            self.pending -= slice_s
            self.cpu.busy_s += slice_s
            yield self.env.timeout(slice_s)
            self.release()
            if self.allowed is not None:
                self._move(idle_cpu(self.allowed, self.cpu.node))
            yield from self.acquire()
        yield from self.flush()
        if self.cpu.res.queue:
            self.release()
            if self.allowed is not None:
                self._move(idle_cpu(self.allowed, self.cpu.node))
            yield from self.acquire()
