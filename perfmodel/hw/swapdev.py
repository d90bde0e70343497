"""Swap devices for SimPy: NVMe / SATA SSDs and a rotating disk.

Units: simulation time is seconds. Spec latencies are microseconds, HDD times
milliseconds, bandwidths MB/s with MB = 10**6 bytes (the datasheet and fio convention).

A request passes up to four stages, each FIFO unless said otherwise:

1. Block layer: waits for one of ``queue_depth`` device tags (SATA NCQ: 32). Without
   a queue_depth (NVMe) the device takes everything at once.
2. Controller (when read_iops / write_iops is given): admits requests at least
   1/iops_op apart, admit_k = max(ready_k, admit_{k-1} + 1/iops_op). Reads and writes
   share it; an op without an iops figure bypasses it. At no load it adds nothing;
   under overload throughput is held at iops_op. It counts requests, not pages.
3. Channels: ``parallelism`` identical servers (skipped when queue_depth <= parallelism:
   every tagged request is in service).
4. Service, below.

SSD (kind nvme, sata_ssd)
    A request of n pages, starting while k requests (itself included) are in service:

        S = L * f(k) + (n - 1) * page_size / B

    L is a sample of read_latency_us / write_latency_us, the 4 KiB latency (it already
    covers moving the first page); B is the op's bandwidth. f = 1 except for reads on a
    device with a ``qd_curve``: each point (qd, iops, latency) holds m = iops * latency
    requests in the device (Little's law; qd - m is host time between a completion and
    the next submission), so a read that starts with m in service should take the
    point's latency. lat(k) interpolates latency linearly in m between points, stays at
    the first point's below it and continues the last segment's slope beyond the last
    point; f(k) = lat(k) / E[L], so L gives the spread and the curve the mean. The
    latency is fixed when service starts. Closed-loop at the curve's depths (with that
    host time) the device delivers the curve's IOPS and latency; saturation is
    min(c / lat(c), read_iops) for c servers.

HDD (kind hdd)
    One head; the block-layer queue is ordered by ``hdd.scheduler`` (clook: the nearest
    queued request at or above the head, wrapping to the lowest; look: nearest in the
    current sweep direction, reversing at the end; fifo). The head sits at h bytes, the
    end of the last request served (0 at start). A request at p = slot * page_size for
    n pages costs, with R = transfer_mbps:

        S = n * page_size / R                                  if p == h (sequential)
        S = seek(|p - h|) + U * 60 / rpm + n * page_size / R  otherwise
        seek(d) = min(t2t + (avg - t2t) * sqrt(d / C) / (8/15), full_stroke)

    U ~ uniform[0, 1) (rotational latency), C = capacity, t2t / avg / full_stroke =
    track_to_track_ms / avg_seek_ms / full_stroke_ms. 8/15 = E[sqrt|X - Y|] for X, Y
    iid uniform on [0, 1], so seeks between random positions average avg_seek_ms
    (exactly, unless the full-stroke cap binds). Afterwards h = p + n * page_size.
    The latency distributions, bandwidths, queue_depth and parallelism are not used.

Queues are hand-rolled (a counter and a deque of events) rather than simpy.Resource:
an uncontended request costs one SimPy event (its service timeout) instead of three.

Randomness comes only from the ``rng`` given, drawn in blocks (vectorised, and one
list index per request instead of a NumPy call): same seed and same call sequence
give identical results. Fixed distributions draw nothing.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

import numpy as np
import simpy

from perfmodel.config.base import Dist
from perfmodel.config.hardware import QdPoint, SwapDeviceSpec

# Samples drawn per refill: amortises the NumPy call without holding much memory.
_BLOCK = 1024
# E[sqrt|X - Y|] for X, Y iid uniform on [0, 1].
_SQRT_DIST_MEAN = 8.0 / 15.0
_MB = 1e6
# Free count of a stage that never blocks.
_UNLIMITED = 1 << 62


def _sampler(dist: Dist, rng: np.random.Generator, scale: float) -> Callable[[], float]:
    """A zero-argument callable returning scale * one sample of dist."""
    if dist.dist == "fixed":
        return itertools.repeat(dist.mean_value() * scale).__next__

    def blocks() -> Iterator[float]:
        while True:
            yield from (dist.ppf(rng.random(_BLOCK)) * scale).tolist()

    return blocks().__next__


def _uniform_sampler(rng: np.random.Generator, high: float) -> Callable[[], float]:
    def blocks() -> Iterator[float]:
        while True:
            yield from (rng.random(_BLOCK) * high).tolist()

    return blocks().__next__


def _mean_random_seek(t2t: float, avg: float, full: float) -> float:
    """E[seek] between two uniform random positions, full-stroke cap included.

    With u = |X - Y| (density 2(1 - u) on [0, 1]) and seek = a + k sqrt(u) capped at F:
    below the cap point c, integrate (a + k sqrt u) 2(1 - u); above it, F (1 - c)^2.
    """
    k = (avg - t2t) / _SQRT_DIST_MEAN
    # Cap point in u: seek reaches full_stroke at u = c (c = 1: the cap never binds).
    c = ((full - t2t) / k) ** 2 if t2t + k > full else 1.0
    return (
        t2t * (2 * c - c * c)
        + k * (4.0 / 3.0 * c**1.5 - 4.0 / 5.0 * c**2.5)
        + full * (1.0 - c) ** 2
    )


def curve_latency(curve: Sequence[QdPoint], in_service: float) -> float:
    """Mean read latency in seconds with in_service requests in the device (see module doc)."""
    pts = [(p.in_flight, p.read_latency_us * 1e-6) for p in curve]
    if in_service <= pts[0][0] or len(pts) == 1:
        return pts[0][1]
    for (m0, l0), (m1, l1) in itertools.pairwise(pts):
        if in_service <= m1:
            return l0 + (l1 - l0) * (in_service - m0) / (m1 - m0)
    (m0, l0), (m1, l1) = pts[-2], pts[-1]
    return l1 + (l1 - l0) * (in_service - m1) / (m1 - m0)


class SwapDevice:
    """One swap device. Use ``latency = yield from dev.io("read", slot, n)``."""

    def __init__(
        self,
        env: simpy.Environment,
        spec: SwapDeviceSpec,
        rng: np.random.Generator,
        page_size: int = 4096,
        name: str = "swap",
    ) -> None:
        self.env = env
        self.spec = spec
        self.name = name
        self.page_size = page_size
        self.is_hdd = spec.kind == "hdd"
        self.nslots = spec.capacity // page_size

        # Statistics over completed requests.
        self.reads = 0
        self.writes = 0
        self.read_pages = 0
        self.written_pages = 0
        self.busy_time = 0.0
        self.total_wait = 0.0

        # Controller stage: spacing per op (0.0 = bypass) and when it next admits.
        self._read_gap = 1.0 / spec.read_iops if spec.read_iops else 0.0
        self._write_gap = 1.0 / spec.write_iops if spec.write_iops else 0.0
        self._ctrl_free = 0.0

        # Tags and channels: free count plus FIFO of waiters; a finishing request hands
        # its tag or channel straight to the first waiter.
        qd = spec.queue_depth
        if self.is_hdd:
            # The head is its own queue (_head_busy and the elevator below).
            self.servers = 1
            self._tags_free = _UNLIMITED
            self._chan_free = _UNLIMITED
        else:
            self.servers = spec.parallelism if qd is None else min(qd, spec.parallelism)
            self._tags_free = _UNLIMITED if qd is None else qd
            self._chan_free = (
                spec.parallelism if qd is None or qd > spec.parallelism else _UNLIMITED
            )
        self._tag_wait: deque[simpy.Event] = deque()
        self._chan_wait: deque[simpy.Event] = deque()
        self._nserv = 0

        if self.is_hdd:
            hdd = spec.hdd
            assert hdd is not None  # the spec validator guarantees it
            self._t2t = hdd.track_to_track_ms * 1e-3
            self._full = hdd.full_stroke_ms * 1e-3
            # seek(d) = t2t + seek_k * sqrt(d), d in bytes.
            self._seek_k = (
                (hdd.avg_seek_ms - hdd.track_to_track_ms)
                * 1e-3
                / _SQRT_DIST_MEAN
                / math.sqrt(spec.capacity)
            )
            self._rot_period = 60.0 / hdd.rpm
            self._rot = _uniform_sampler(rng, self._rot_period)
            self._xfer_page = page_size / (hdd.transfer_mbps * _MB)
            self._head = 0
            self._mean_hdd = (
                _mean_random_seek(hdd.track_to_track_ms, hdd.avg_seek_ms, hdd.full_stroke_ms) * 1e-3
                + self._rot_period / 2
                + self._xfer_page
            )
            # Elevator queue: (slot, seq, event) sorted by slot; seq breaks ties FIFO.
            self._sched = hdd.scheduler
            self._sorted: list[tuple[int, int, simpy.Event]] = []
            self._fifo: deque[simpy.Event] = deque()
            self._seq = 0
            self._sweep_up = True
            self._head_busy = False
        else:
            assert spec.read_latency_us is not None and spec.write_latency_us is not None
            self._read_lat = _sampler(spec.read_latency_us, rng, 1e-6)
            self._write_lat = _sampler(spec.write_latency_us, rng, 1e-6)
            self._read_page = page_size / (spec.read_bandwidth_mbps * _MB)
            self._write_page = page_size / (spec.write_bandwidth_mbps * _MB)
            # Mean read latency by requests in service (index 0 unused), and the factor
            # that scales a read sample to it.
            ks = range(self.servers + 1)
            if spec.qd_curve:
                self._read_mean = [curve_latency(spec.qd_curve, max(k, 1)) for k in ks]
            else:
                self._read_mean = [spec.read_latency_us.mean_value() * 1e-6] * len(ks)
            base = spec.read_latency_us.mean_value() * 1e-6
            self._read_scale = [m / base if base > 0 else 0.0 for m in self._read_mean]

    @property
    def in_service(self) -> int:
        """Requests being served now."""
        return self._nserv

    @property
    def in_device(self) -> int:
        """Requests holding a device tag (SSD with queue_depth), or in service otherwise."""
        qd = self.spec.queue_depth
        if self.is_hdd or qd is None:
            return self._nserv
        return qd - self._tags_free

    @property
    def queued(self) -> int:
        """Requests waiting in the block layer for a tag, a channel or the disk head."""
        n = len(self._tag_wait) + len(self._chan_wait)
        if self.is_hdd:
            n += len(self._sorted) + len(self._fifo)
        return n

    def io(
        self, op: str, slot: int, npages: int = 1, dispatch: Callable[[], int] | None = None,
    ) -> Generator[simpy.Event, Any, float]:
        """Queue for, hold and release the device; return wait + service in seconds.

        dispatch: called as the request leaves the queue for the device; returns its
        final page count (a queued write may have grown by back merges)."""
        if op == "read":
            is_read = True
            gap = self._read_gap
        elif op == "write":
            is_read = False
            gap = self._write_gap
        else:
            raise ValueError(f"{self.name}: op must be 'read' or 'write', got {op!r}")
        if npages < 1 or slot < 0 or slot + npages > self.nslots:
            raise ValueError(
                f"{self.name}: request slot {slot} + {npages} pages is outside 0..{self.nslots}"
            )
        if self.is_hdd:
            return (yield from self._hdd_io(is_read, slot, npages, gap, dispatch))
        env = self.env
        arrival = env.now

        if self._tags_free:
            self._tags_free -= 1
        else:
            ev = env.event()
            self._tag_wait.append(ev)
            yield ev
        if gap:
            now = env.now
            admit = self._ctrl_free
            if admit > now:
                self._ctrl_free = admit + gap
                yield env.timeout(admit - now)
            else:
                self._ctrl_free = now + gap
        if self._chan_free:
            self._chan_free -= 1
        else:
            ev = env.event()
            self._chan_wait.append(ev)
            yield ev

        if dispatch is not None:
            npages = dispatch()
        start = env.now
        self._nserv = k = self._nserv + 1
        if is_read:
            service = self._read_lat() * self._read_scale[k] + (npages - 1) * self._read_page
        else:
            service = self._write_lat() + (npages - 1) * self._write_page
        yield env.timeout(service)
        self._nserv -= 1

        if self._chan_wait:
            self._chan_wait.popleft().succeed()
        else:
            self._chan_free += 1
        if self._tag_wait:
            self._tag_wait.popleft().succeed()
        else:
            self._tags_free += 1
        if is_read:
            self.reads += 1
            self.read_pages += npages
        else:
            self.writes += 1
            self.written_pages += npages
        self.busy_time += service
        self.total_wait += start - arrival
        return env.now - arrival

    def _hdd_io(
        self, is_read: bool, slot: int, npages: int, gap: float,
        dispatch: Callable[[], int] | None = None,
    ) -> Generator[simpy.Event, Any, float]:
        env = self.env
        arrival = env.now
        if gap:
            admit = self._ctrl_free
            if admit > arrival:
                self._ctrl_free = admit + gap
                yield env.timeout(admit - arrival)
            else:
                self._ctrl_free = arrival + gap
        if self._head_busy:
            ev = env.event()
            if self._sched == "fifo":
                self._fifo.append(ev)
            else:
                self._seq += 1
                bisect.insort(self._sorted, (slot, self._seq, ev))
            yield ev
        else:
            self._head_busy = True

        if dispatch is not None:
            npages = dispatch()
        start = env.now
        self._nserv = 1
        # Computed at service start: the head position is the previous request's end.
        pos = slot * self.page_size
        d = pos - self._head
        self._head = pos + npages * self.page_size
        service = npages * self._xfer_page
        if d:
            seek = self._t2t + self._seek_k * math.sqrt(d if d > 0 else -d)
            service += (seek if seek < self._full else self._full) + self._rot()
        yield env.timeout(service)
        self._nserv = 0

        nxt = self._next_hdd()
        if nxt is None:
            self._head_busy = False
        else:
            nxt.succeed()
        if is_read:
            self.reads += 1
            self.read_pages += npages
        else:
            self.writes += 1
            self.written_pages += npages
        self.busy_time += service
        self.total_wait += start - arrival
        return env.now - arrival

    def _next_hdd(self) -> simpy.Event | None:
        """The queued request the scheduler serves next, removed from the queue."""
        if self._sched == "fifo":
            return self._fifo.popleft() if self._fifo else None
        q = self._sorted
        if not q:
            return None
        # Slot at the head (the sequential continuation) counts as ahead in both directions.
        h = (self._head // self.page_size,)
        if self._sched == "clook":
            i = bisect.bisect_left(q, h)
            if i == len(q):
                i = 0  # wrap to the lowest slot
        elif self._sweep_up:
            i = bisect.bisect_left(q, h)
            if i == len(q):
                self._sweep_up = False
                i -= 1
        else:
            i = bisect.bisect_left(q, (h[0] + 1,)) - 1
            if i < 0:
                self._sweep_up = True
                i = 0
        return q.pop(i)[2]

    def mean_service_time(self, op: str) -> float:
        """Seconds for one 1-page request at no load (HDD: at a random position)."""
        if op not in ("read", "write"):
            raise ValueError(f"op must be 'read' or 'write', got {op!r}")
        if self.is_hdd:
            return self._mean_hdd
        if op == "read":
            return self._read_mean[1]
        assert self.spec.write_latency_us is not None
        return self.spec.write_latency_us.mean_value() * 1e-6

    def read_latency_at(self, in_service: int) -> float:
        """Mean 1-page read service time with in_service requests in service (SSD)."""
        if self.is_hdd:
            return self._mean_hdd
        return self._read_mean[max(1, min(in_service, self.servers))]

    def max_iops(self, op: str) -> float:
        """Saturation throughput for 1-page requests: servers or the controller, the lower."""
        if op not in ("read", "write"):
            raise ValueError(f"op must be 'read' or 'write', got {op!r}")
        if self.is_hdd:
            iops = 1.0 / self._mean_hdd
        elif op == "read":
            iops = max(k / self._read_mean[k] for k in range(1, self.servers + 1))
        else:
            iops = self.servers / self.mean_service_time(op)
        limit = self.spec.read_iops if op == "read" else self.spec.write_iops
        return min(iops, limit) if limit else iops
