"""Swap device models against queueing and disk-mechanics closed forms.

Tolerances are several standard errors wide (checked over many seeds) yet well
below the gap a wrong model would open (e.g. M/M/c wait vs M/M/1-at-c-times-speed
wait, or M/D/1 vs M/M/1: a factor of two).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
import simpy

from perfmodel.config.hardware import SwapDeviceSpec
from perfmodel.hw.swapdev import SwapDevice

PAGE = 4096


def ssd(
    latency: dict[str, Any],
    parallelism: int,
    read_iops: float | None = None,
    write_latency: dict[str, Any] | None = None,
) -> SwapDeviceSpec:
    return SwapDeviceSpec(
        kind="nvme",
        capacity=1 << 30,
        read_latency_us=latency,
        write_latency_us=write_latency or latency,
        read_bandwidth_mbps=3000,
        write_bandwidth_mbps=2000,
        read_iops=read_iops,
        parallelism=parallelism,
    )


def hdd(full_stroke_ms: float = 16.0) -> SwapDeviceSpec:
    return SwapDeviceSpec(
        kind="hdd",
        capacity=64 << 30,
        read_bandwidth_mbps=150,
        write_bandwidth_mbps=150,
        parallelism=1,
        hdd={
            "rpm": 7200,
            "track_to_track_ms": 1.0,
            "avg_seek_ms": 8.5,
            "full_stroke_ms": full_stroke_ms,
            "transfer_mbps": 150,
        },
    )


def open_loop(
    spec: SwapDeviceSpec, rate: float, n: int, seed: int, op: str = "read"
) -> tuple[SwapDevice, list[float], float]:
    """Poisson arrivals of n one-page requests; returns device, latencies, end time."""
    env = simpy.Environment()
    dev = SwapDevice(env, spec, np.random.default_rng(seed))
    gaps = np.random.default_rng(seed + 1000).exponential(1.0 / rate, n).tolist()
    lat: list[float] = []

    def job() -> Generator[simpy.Event, Any, None]:
        lat.append((yield from dev.io(op, 0)))

    def source() -> Generator[simpy.Event, Any, None]:
        for g in gaps:
            yield env.timeout(g)
            env.process(job())

    env.process(source())
    env.run()
    return dev, lat, env.now


def closed_loop(dev: SwapDevice, workers: int, until: float, op: str = "read") -> list[float]:
    """workers back-to-back requesters (fio iodepth style); returns latencies."""
    env = dev.env
    lat: list[float] = []

    def worker() -> Generator[simpy.Event, Any, None]:
        while True:
            lat.append((yield from dev.io(op, 0)))

    for _ in range(workers):
        env.process(worker())
    env.run(until=until)
    return lat


def erlang_c_wait(lam: float, mu: float, c: int) -> float:
    """Mean wait in queue of M/M/c (Erlang C)."""
    a = lam / mu
    top = a**c / math.factorial(c) * c / (c - a)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


def test_mmc_wait_matches_erlang_c() -> None:
    c, mean_us, rho = 4, 80.0, 0.7
    mu = 1e6 / mean_us
    lam = rho * c * mu
    theory = erlang_c_wait(lam, mu, c)
    dev, lat, _ = open_loop(ssd({"dist": "exponential", "mean": mean_us}, c), lam, 400_000, 1)
    wq = dev.total_wait / dev.reads
    print(f"M/M/4 rho=0.7: Wq sim {wq * 1e6:.2f} us, Erlang C {theory * 1e6:.2f} us")
    assert dev.reads == len(lat) == 400_000
    assert wq == pytest.approx(theory, rel=0.06)
    # Latency is wait + service, request by request.
    assert sum(lat) == pytest.approx(dev.total_wait + dev.busy_time, rel=1e-9)
    assert dev.busy_time / dev.reads == pytest.approx(mean_us * 1e-6, rel=0.01)


def test_md1_wait_matches_pollaczek_khinchine() -> None:
    s_us = 100.0
    mu = 1e6 / s_us
    for rho in (0.5, 0.8):
        lam = rho * mu
        theory = rho / (2 * mu * (1 - rho))
        dev, _, _ = open_loop(ssd({"dist": "fixed", "value": s_us}, 1), lam, 100_000, 2)
        wq = dev.total_wait / dev.reads
        print(f"M/D/1 rho={rho}: Wq sim {wq * 1e6:.2f} us, P-K {theory * 1e6:.2f} us")
        assert wq == pytest.approx(theory, rel=0.05)
        assert dev.busy_time == pytest.approx(dev.reads * s_us * 1e-6, rel=1e-9)


def test_littles_law() -> None:
    # Lognormal service, 3 channels, mixed reads and writes, IOPS controller active.
    spec = SwapDeviceSpec(
        kind="sata_ssd",
        capacity=1 << 30,
        read_latency_us={"dist": "lognormal", "median": 100, "sigma": 0.8},
        write_latency_us={"dist": "exponential", "mean": 150},
        read_bandwidth_mbps=500,
        write_bandwidth_mbps=450,
        read_iops=25_000,
        parallelism=3,
    )
    env = simpy.Environment()
    dev = SwapDevice(env, spec, np.random.default_rng(3))
    arr = np.random.default_rng(4)
    n, rate = 60_000, 16_000.0
    gaps = arr.exponential(1.0 / rate, n).tolist()
    ops = ["read" if u < 0.7 else "write" for u in arr.random(n)]
    sizes = arr.integers(1, 9, n).tolist()
    t0, t1 = 0.5, 3.5  # window inside the run: requests in flight at both ends
    state = {"n": 0, "last": 0.0, "area": 0.0}
    done: list[float] = []

    def change(delta: int) -> None:
        # Integrate the number in system over the window.
        now = env.now
        lo, hi = max(state["last"], t0), min(now, t1)
        if hi > lo:
            state["area"] += state["n"] * (hi - lo)
        state["last"] = now
        state["n"] += delta

    def job(op: str, npages: int) -> Generator[simpy.Event, Any, None]:
        change(+1)
        lat = yield from dev.io(op, 100, npages)
        change(-1)
        if t0 <= env.now < t1:
            done.append(lat)

    def source() -> Generator[simpy.Event, Any, None]:
        for g, op, k in zip(gaps, ops, sizes, strict=True):
            yield env.timeout(g)
            env.process(job(op, k))

    env.process(source())
    env.run()
    assert env.now > t1
    big_l = state["area"] / (t1 - t0)
    throughput = len(done) / (t1 - t0)
    w = sum(done) / len(done)
    print(
        f"Little: L {big_l:.4f}, lambda*W {throughput * w:.4f} ({throughput:.0f}/s x {w * 1e6:.1f} us)"
    )
    assert big_l == pytest.approx(throughput * w, rel=0.02)
    assert throughput == pytest.approx(rate, rel=0.02)


def test_iops_ceiling() -> None:
    # Channels alone could do 8 / 80 us = 100k IOPS; the controller caps at 50k.
    spec = ssd({"dist": "exponential", "mean": 80}, 8, read_iops=50_000)
    dev = SwapDevice(simpy.Environment(), spec, np.random.default_rng(5))
    lat = closed_loop(dev, 32, until=1.0)
    print(f"IOPS ceiling: achieved {len(lat)} IOPS, spec 50000, max_iops {dev.max_iops('read')}")
    assert len(lat) == pytest.approx(50_000, rel=0.02)
    assert dev.max_iops("read") == 50_000
    # Writes have no iops figure: they bypass the controller and reach c / E[S].
    dev_w = SwapDevice(simpy.Environment(), spec, np.random.default_rng(6))
    lat_w = closed_loop(dev_w, 64, until=0.5, op="write")
    print(f"no ceiling: {len(lat_w) / 0.5:.0f} IOPS, c/E[S] {dev_w.max_iops('write'):.0f}")
    assert len(lat_w) / 0.5 == pytest.approx(dev_w.max_iops("write"), rel=0.02)
    # An idle controller adds nothing: a lone request costs its service time only.
    idle = SwapDevice(
        simpy.Environment(),
        ssd({"dist": "fixed", "value": 80}, 8, 50_000),
        np.random.default_rng(0),
    )
    assert closed_loop(idle, 1, until=100e-6)[0] == pytest.approx(80e-6, rel=1e-12)


def random_reads(dev: SwapDevice, n: int, npages: int, seed: int) -> list[float]:
    """One requester at a time (no queueing): reads at uniform random slots."""
    env = dev.env
    slots = np.random.default_rng(seed).integers(0, dev.nslots - npages + 1, n).tolist()
    lat: list[float] = []

    def run() -> Generator[simpy.Event, Any, None]:
        for s in slots:
            lat.append((yield from dev.io("read", s, npages)))

    env.process(run())
    env.run()
    return lat


def test_hdd_random_reads() -> None:
    xfer = PAGE / 150e6
    theory = 8.5e-3 + 0.5 * 60 / 7200 + xfer
    dev = SwapDevice(simpy.Environment(), hdd(), np.random.default_rng(8))
    lat = random_reads(dev, 20_000, 1, 9)
    mean = sum(lat) / len(lat)
    print(f"HDD random 4K read: {mean * 1e3:.3f} ms, theory {theory * 1e3:.3f} ms")
    assert mean == pytest.approx(theory, rel=0.01)
    assert dev.mean_service_time("read") == pytest.approx(theory, rel=1e-12)
    assert dev.max_iops("read") == pytest.approx(1 / theory)
    # Full-stroke cap binding: mean falls below avg_seek, as mean_service_time says.
    capped = SwapDevice(simpy.Environment(), hdd(full_stroke_ms=10.0), np.random.default_rng(8))
    lat_c = random_reads(capped, 20_000, 1, 9)
    mean_c = sum(lat_c) / len(lat_c)
    print(
        f"HDD capped: {mean_c * 1e3:.3f} ms, closed form {capped.mean_service_time('read') * 1e3:.3f} ms"
    )
    assert mean_c == pytest.approx(capped.mean_service_time("read"), rel=0.01)
    assert mean_c < theory - 0.4e-3
    # Multi-page random requests: transfer grows per page on top of seek + rotation.
    dev32 = SwapDevice(simpy.Environment(), hdd(), np.random.default_rng(10))
    lat32 = random_reads(dev32, 20_000, 32, 11)
    mean32 = sum(lat32) / len(lat32)
    theory32 = theory + 31 * xfer
    print(f"HDD random 128K read: {mean32 * 1e3:.3f} ms, theory {theory32 * 1e3:.3f} ms")
    assert mean32 == pytest.approx(theory32, rel=0.01)


def test_hdd_seek_grows_with_sqrt_distance() -> None:
    # Ping-pong between two slots d bytes apart: seek(d) + half a rotation on average.
    spec = hdd()
    for d in (1 << 20, 1 << 30, 16 << 30):
        dev = SwapDevice(simpy.Environment(), spec, np.random.default_rng(12))
        far = d // PAGE
        lat: list[float] = []

        def run(dev: SwapDevice = dev, far: int = far, lat: list[float] = lat) -> Any:
            for i in range(10_000):
                lat.append((yield from dev.io("read", far if i % 2 == 0 else 0)))

        dev.env.process(run())
        dev.env.run()
        seek = 1e-3 + 7.5e-3 * math.sqrt((d - PAGE) / spec.capacity) / (8 / 15)
        theory = seek + 0.5 * 60 / 7200 + PAGE / 150e6
        mean = sum(lat) / len(lat)
        print(f"HDD seek {d >> 20} MiB: {mean * 1e3:.3f} ms, theory {theory * 1e3:.3f} ms")
        assert mean == pytest.approx(theory, rel=0.02)


def test_hdd_sequential_writes_stream_at_transfer_rate() -> None:
    dev = SwapDevice(simpy.Environment(), hdd(), np.random.default_rng(13))
    env = dev.env
    n = 50_000

    def run() -> Generator[simpy.Event, Any, None]:
        for s in range(n):
            yield from dev.io("write", s)

    env.process(run())
    env.run()
    mbps = n * PAGE / env.now / 1e6
    print(f"HDD sequential 4K writes: {mbps:.2f} MB/s, transfer 150 MB/s")
    assert mbps == pytest.approx(150, rel=0.01)
    assert dev.writes == n and dev.written_pages == n
    # One sequential multi-page request: transfer per page, nothing else.
    lat = []

    def one() -> Generator[simpy.Event, Any, None]:
        lat.append((yield from dev.io("write", n, 64)))

    env.process(one())
    env.run()
    assert lat[0] == pytest.approx(64 * PAGE / 150e6, rel=1e-12)


def test_ssd_multipage_adds_bandwidth_time() -> None:
    dev = SwapDevice(
        simpy.Environment(), ssd({"dist": "fixed", "value": 80}, 4), np.random.default_rng(0)
    )
    lat: list[float] = []

    def run() -> Generator[simpy.Event, Any, None]:
        lat.append((yield from dev.io("read", 0, 8)))
        lat.append((yield from dev.io("write", 8, 8)))

    dev.env.process(run())
    dev.env.run()
    assert lat[0] == pytest.approx(80e-6 + 7 * PAGE / 3000e6, rel=1e-12)
    assert lat[1] == pytest.approx(80e-6 + 7 * PAGE / 2000e6, rel=1e-12)
    assert (dev.read_pages, dev.written_pages) == (8, 8)


def mixed_run(seed: int) -> list[float]:
    """Mixed ops on an SSD with random service and an HDD at random slots."""
    out: list[float] = []
    spec = ssd(
        {"dist": "lognormal", "median": 60, "p99": 400},
        4,
        read_iops=30_000,
        write_latency={"dist": "uniform", "low": 20, "high": 200},
    )
    for s in (spec, hdd()):
        env = simpy.Environment()
        dev = SwapDevice(env, s, np.random.default_rng(seed))
        arr = np.random.default_rng(seed + 1)
        rate = 20_000.0 if s.kind == "nvme" else 50.0
        gaps = arr.exponential(1 / rate, 3000).tolist()
        slots = arr.integers(0, dev.nslots - 8, 3000).tolist()

        def job(i: int, dev: SwapDevice = dev, slots: list[int] = slots) -> Any:
            op = "read" if i % 3 else "write"
            out.append((yield from dev.io(op, slots[i], 1 + i % 4)))

        def source(env: simpy.Environment = env, gaps: list[float] = gaps) -> Any:
            for i, g in enumerate(gaps):
                yield env.timeout(g)
                env.process(job(i))

        env.process(source())
        env.run()
    return out


def test_same_seed_same_latencies() -> None:
    a, b, c = mixed_run(21), mixed_run(21), mixed_run(22)
    assert len(a) == 6000
    assert a == b
    assert a != c


def test_bad_requests_rejected() -> None:
    dev = SwapDevice(
        simpy.Environment(), ssd({"dist": "fixed", "value": 1}, 1), np.random.default_rng(0)
    )
    for args in (("trim", 0, 1), ("read", -1, 1), ("read", dev.nslots, 1), ("read", 0, 0)):
        with pytest.raises(ValueError):
            next(dev.io(*args))
