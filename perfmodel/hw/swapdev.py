"""Swap devices as SimPy resources: NVMe / SATA SSDs and a rotating disk.

Units: simulation time is seconds. Spec latencies are microseconds, HDD times
milliseconds, bandwidths MB/s with MB = 10**6 bytes (the datasheet and fio convention).

SSD (kind nvme, sata_ssd)
    ``parallelism`` identical channels, FIFO (one ``simpy.Resource``). A request of
    n pages holds one channel for

        S = L + (n - 1) * page_size / B

    L is a sample of read_latency_us / write_latency_us, the 4 KiB latency (it already
    covers moving the first page); B is the op's bandwidth. B limits how fast one
    request streams; c requests in flight can stream at up to c * B together.

HDD (kind hdd)
    One head, FIFO (capacity-1 resource; ``parallelism`` is not used). The head sits
    at h bytes, the end of the last request served (0 at start). A request at
    p = slot * page_size for n pages costs, with R = transfer_mbps:

        S = n * page_size / R                                  if p == h (sequential)
        S = seek(|p - h|) + U * 60 / rpm + n * page_size / R  otherwise
        seek(d) = min(t2t + (avg - t2t) * sqrt(d / C) / (8/15), full_stroke)

    U ~ uniform[0, 1) (rotational latency), C = capacity, t2t / avg / full_stroke =
    track_to_track_ms / avg_seek_ms / full_stroke_ms. 8/15 = E[sqrt|X - Y|] for X, Y
    iid uniform on [0, 1], so seeks between random positions average avg_seek_ms
    (exactly, unless the full-stroke cap binds). Afterwards h = p + n * page_size.
    The latency distributions, bandwidths and ``parallelism`` of the spec are not used.

IOPS ceiling (any kind, when read_iops / write_iops is given)
    Before the channels, one controller admits requests in arrival order, at least
    1/iops_op apart: admit_k = max(arrival_k, admit_{k-1} + 1/iops_op). Reads and
    writes share it (one controller); an op without an iops figure bypasses it. At
    no load it adds nothing; under overload throughput is held at iops_op. It counts
    requests, not pages: large requests are limited by the bandwidth term instead.

Randomness comes only from the ``rng`` given, drawn in blocks (vectorised, and one
list index per request instead of a NumPy call): same seed and same call sequence
give identical results. Fixed distributions draw nothing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Generator, Iterator
from typing import Any

import numpy as np
import simpy

from perfmodel.config.base import Dist
from perfmodel.config.hardware import SwapDeviceSpec

# Samples drawn per refill: amortises the NumPy call without holding much memory.
_BLOCK = 1024
# E[sqrt|X - Y|] for X, Y iid uniform on [0, 1].
_SQRT_DIST_MEAN = 8.0 / 15.0
_MB = 1e6


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
        self.channels = simpy.Resource(env, capacity=1 if self.is_hdd else spec.parallelism)

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
        else:
            assert spec.read_latency_us is not None and spec.write_latency_us is not None
            self._read_lat = _sampler(spec.read_latency_us, rng, 1e-6)
            self._write_lat = _sampler(spec.write_latency_us, rng, 1e-6)
            self._read_page = page_size / (spec.read_bandwidth_mbps * _MB)
            self._write_page = page_size / (spec.write_bandwidth_mbps * _MB)

    def io(self, op: str, slot: int, npages: int = 1) -> Generator[simpy.Event, Any, float]:
        """Queue for, hold and release the device; return wait + service in seconds."""
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
        env = self.env
        arrival = env.now

        if gap:
            admit = self._ctrl_free
            if admit > arrival:
                self._ctrl_free = admit + gap
                yield env.timeout(admit - arrival)
            else:
                self._ctrl_free = arrival + gap

        with self.channels.request() as req:
            yield req
            start = env.now
            if self.is_hdd:
                # Computed at service start: the head position is the previous request's end.
                pos = slot * self.page_size
                d = pos - self._head
                self._head = pos + npages * self.page_size
                service = npages * self._xfer_page
                if d:
                    seek = self._t2t + self._seek_k * math.sqrt(d if d > 0 else -d)
                    service += (seek if seek < self._full else self._full) + self._rot()
            elif is_read:
                service = self._read_lat() + (npages - 1) * self._read_page
            else:
                service = self._write_lat() + (npages - 1) * self._write_page
            yield env.timeout(service)

        if is_read:
            self.reads += 1
            self.read_pages += npages
        else:
            self.writes += 1
            self.written_pages += npages
        self.busy_time += service
        self.total_wait += start - arrival
        return env.now - arrival

    def mean_service_time(self, op: str) -> float:
        """Seconds for one 1-page request at no load (HDD: at a random position)."""
        if op not in ("read", "write"):
            raise ValueError(f"op must be 'read' or 'write', got {op!r}")
        if self.is_hdd:
            return self._mean_hdd
        dist = self.spec.read_latency_us if op == "read" else self.spec.write_latency_us
        assert dist is not None
        return dist.mean_value() * 1e-6

    def max_iops(self, op: str) -> float:
        """Saturation throughput for 1-page requests: channels or the controller, the lower."""
        servers = 1 if self.is_hdd else self.spec.parallelism
        iops = servers / self.mean_service_time(op)
        limit = self.spec.read_iops if op == "read" else self.spec.write_iops
        return min(iops, limit) if limit else iops
