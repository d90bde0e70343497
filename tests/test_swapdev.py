"""Swap device models against queueing and disk-mechanics closed forms.

Tolerances are several standard errors wide (checked over many seeds) yet well
below the gap a wrong model would open (e.g. M/M/c wait vs M/M/1-at-c-times-speed
wait, or M/D/1 vs M/M/1: a factor of two).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import simpy

from perfmodel.config import load_profile
from perfmodel.config.hardware import SwapDeviceSpec
from perfmodel.hw.swapdev import SwapDevice, curve_latency

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


# --- queue-depth curve (NVMe) -------------------------------------------------

HARDWARE = Path(__file__).resolve().parents[1] / "hardware"


def curve_devices() -> list[tuple[str, str, SwapDeviceSpec]]:
    out = []
    for path in sorted(HARDWARE.glob("*.yaml")):
        for name, spec in load_profile(path).swap_devices.items():
            if spec.qd_curve:
                out.append((path.stem, name, spec))
    return out


def fio_closed_loop(
    spec: SwapDeviceSpec, qd: int, host_s: float, until: float, seed: int
) -> tuple[float, float, float]:
    """fio-style: qd jobs, each submits a 4 KiB random read, waits for it, spends host_s
    (completion + resubmission) and repeats. Returns IOPS, mean latency and the
    time-average number of requests in the device, over [until/5, until)."""
    env = simpy.Environment()
    dev = SwapDevice(env, spec, np.random.default_rng(seed))
    t0 = until / 5
    lat: list[float] = []
    st = {"n": 0, "last": 0.0, "area": 0.0}

    def change(delta: int) -> None:
        now = env.now
        lo, hi = max(st["last"], t0), min(now, until)
        if hi > lo:
            st["area"] += st["n"] * (hi - lo)
        st["last"] = now
        st["n"] += delta

    def job(k: int) -> Generator[simpy.Event, Any, None]:
        # Stagger the start, as fio's jobs drift apart, so the depth is steady from the start.
        yield env.timeout(k * (host_s + 1e-6) / qd)
        while True:
            change(+1)
            w = yield from dev.io("read", 0)
            change(-1)
            if t0 <= env.now < until:
                lat.append(w)
            yield env.timeout(host_s)

    for k in range(qd):
        env.process(job(k))
    env.run(until=until)
    change(0)
    span = until - t0
    return len(lat) / span, sum(lat) / len(lat), st["area"] / span


@pytest.mark.parametrize(
    ("profile", "device", "spec"), curve_devices(), ids=[f"{p}-{d}" for p, d, _ in curve_devices()]
)
def test_qd_curve_reproduces_profile_points(
    profile: str, device: str, spec: SwapDeviceSpec
) -> None:
    """At each published depth, with the host time the point implies (qd / IOPS - latency),
    the device delivers the point's IOPS and mean latency; Little's law holds inside it."""
    assert spec.qd_curve
    for i, pt in enumerate(spec.qd_curve):
        lat_s = pt.read_latency_us * 1e-6
        host = pt.qd / pt.read_iops - lat_s
        iops, mean, in_dev = fio_closed_loop(spec, pt.qd, host, until=0.5, seed=40 + i)
        print(
            f"{profile}/{device} QD{pt.qd}: {iops / 1e3:.1f}k IOPS (curve {pt.read_iops / 1e3:.1f}k), "
            f"{mean * 1e6:.2f} us (curve {pt.read_latency_us}), in device {in_dev:.3f} "
            f"= IOPS x W {iops * mean:.3f}"
        )
        assert iops == pytest.approx(pt.read_iops, rel=0.02)
        assert mean == pytest.approx(lat_s, rel=0.02)
        assert in_dev == pytest.approx(iops * mean, rel=0.01)


def test_qd_curve_interpolates_and_saturates() -> None:
    spec = load_profile(HARDWARE / "xeon-2s-nvme.yaml").swap_devices["p3700"]
    assert spec.qd_curve is not None
    p1, p16 = spec.qd_curve
    m1, m16 = p1.in_flight, p16.in_flight
    slope = (p16.read_latency_us - p1.read_latency_us) / (m16 - m1) * 1e-6
    # Exact at the points, linear between, flat below the first, the last slope beyond.
    assert curve_latency(spec.qd_curve, m1) == pytest.approx(77.9e-6, rel=1e-12)
    assert curve_latency(spec.qd_curve, m16) == pytest.approx(93.9e-6, rel=1e-12)
    assert curve_latency(spec.qd_curve, 8) == pytest.approx(77.9e-6 + (8 - m1) * slope, rel=1e-12)
    assert curve_latency(spec.qd_curve, 0.5) == pytest.approx(77.9e-6, rel=1e-12)
    assert curve_latency(spec.qd_curve, 20) == pytest.approx(93.9e-6 + (20 - m16) * slope)
    # Saturation: 32 jobs with no host time keep all 16 servers busy: 16 / lat(16).
    dev = SwapDevice(simpy.Environment(), spec, np.random.default_rng(7))
    lat = closed_loop(dev, 32, until=0.3)
    sat = 16 / curve_latency(spec.qd_curve, 16)
    print(f"P3700 saturated: {len(lat) / 0.3:.0f} IOPS, 16 / lat(16) = {sat:.0f}")
    assert dev.max_iops("read") == pytest.approx(sat, rel=1e-12)
    assert len(lat) / 0.3 == pytest.approx(sat, rel=0.02)
    # Little's law for the 32 outstanding: W = 32 / X.
    assert sum(lat) / len(lat) == pytest.approx(32 / sat, rel=0.02)
    # No load: one request in service, a hair above the QD1 point's 0.997 in flight.
    assert dev.mean_service_time("read") == pytest.approx(77.9e-6, rel=1e-3)


def test_qd_curve_rejects_inconsistent_points() -> None:
    base = {
        "kind": "nvme",
        "capacity": 1 << 30,
        "read_latency_us": {"dist": "fixed", "value": 80},
        "write_latency_us": {"dist": "fixed", "value": 20},
        "read_bandwidth_mbps": 3000,
        "write_bandwidth_mbps": 1000,
        "parallelism": 16,
    }
    # 100k IOPS x 80 us = 8 in flight at qd 1 breaks Little's law.
    with pytest.raises(ValueError, match="Little"):
        SwapDeviceSpec(**base, qd_curve=[{"qd": 1, "read_iops": 100_000, "read_latency_us": 80}])
    with pytest.raises(ValueError, match="grow"):
        SwapDeviceSpec(
            **base,
            qd_curve=[
                {"qd": 4, "read_iops": 40_000, "read_latency_us": 100},
                {"qd": 2, "read_iops": 20_000, "read_latency_us": 100},
            ],
        )
    with pytest.raises(ValueError, match="parallelism"):
        SwapDeviceSpec(
            **{**base, "parallelism": 8},
            qd_curve=[{"qd": 16, "read_iops": 160_000, "read_latency_us": 100}],
        )


# --- SATA NCQ -------------------------------------------------------------------


def test_sata_ncq_holds_32_in_the_device() -> None:
    spec = load_profile(HARDWARE / "laptop-2vcpu-sata.yaml").swap_devices["sda"]
    assert spec.queue_depth == 32
    env = simpy.Environment()
    dev = SwapDevice(env, spec, np.random.default_rng(3))
    lat = list(closed_loop(dev, 64, until=0.2))
    # After the run: 32 hold tags, 32 wait in the block layer.
    assert (dev.in_device, dev.queued) == (32, 32)
    seen = []

    def watch() -> Generator[simpy.Event, Any, None]:
        while True:
            seen.append((dev.in_device, dev.queued))
            yield env.timeout(7e-6)

    env.process(watch())
    closed_loop(dev, 0, until=0.3)
    assert max(s[0] for s in seen) == 32 and min(s[1] for s in seen) >= 31
    x = len(lat) / 0.2
    ceiling = spec.read_iops
    assert ceiling is not None
    w = sum(lat) / len(lat)
    print(
        f"SATA QD64: {x:.0f} IOPS (ceiling {ceiling:.0f}), W {w * 1e6:.1f} us, "
        f"64 / X = {64 / x * 1e6:.1f} us"
    )
    assert x == pytest.approx(ceiling, rel=0.02)
    assert w == pytest.approx(64 / ceiling, rel=0.02)
    nvme = load_profile(HARDWARE / "xeon-2s-nvme.yaml").swap_devices["nvme0"]
    nvme_dev = SwapDevice(simpy.Environment(), nvme, np.random.default_rng(0))
    assert dev.max_iops("read") < nvme_dev.max_iops("read") / 3


def test_queue_depth_below_parallelism_binds() -> None:
    # 4 tags, 8 channels, 100 us fixed: the tags allow 4 / 100 us = 40k IOPS.
    spec = SwapDeviceSpec(
        kind="sata_ssd",
        capacity=1 << 30,
        read_latency_us={"dist": "fixed", "value": 100},
        write_latency_us={"dist": "fixed", "value": 100},
        read_bandwidth_mbps=500,
        write_bandwidth_mbps=500,
        parallelism=8,
        queue_depth=4,
    )
    dev = SwapDevice(simpy.Environment(), spec, np.random.default_rng(0))
    lat = closed_loop(dev, 16, until=0.1)
    assert len(lat) / 0.1 == pytest.approx(40_000, rel=0.01)
    assert dev.max_iops("read") == pytest.approx(40_000)
    assert max(lat) == pytest.approx(16 / 40_000, rel=0.01)


# --- HDD elevator -----------------------------------------------------------------


def backlog(spec: SwapDeviceSpec, slots: list[int], seed: int) -> SwapDevice:
    """All requests queued at t = 0; the first finds the head idle."""
    env = simpy.Environment()
    dev = SwapDevice(env, spec, np.random.default_rng(seed))

    def one(s: int) -> Generator[simpy.Event, Any, None]:
        yield from dev.io("read", s)

    for s in slots:
        env.process(one(s))
    env.run()
    return dev


def offline_order(slots: list[int], sched: str) -> list[int]:
    """The service order a scheduler gives a backlog, computed without the simulator."""
    order = [slots[0]]
    rest = sorted(slots[1:])
    up = True
    while rest:
        head = order[-1] + 1  # the head ends after the page just served
        ahead = [s for s in rest if s >= head]
        behind = [s for s in rest if s <= head]
        if sched == "fifo":
            nxt = slots[len(order)]
            rest.remove(nxt)
            order.append(nxt)
            continue
        if sched == "clook":
            nxt = ahead[0] if ahead else rest[0]
        elif up:
            nxt = ahead[0] if ahead else behind[-1]
            up = bool(ahead)
        else:
            nxt = behind[-1] if behind else ahead[0]
            up = not behind
        rest.remove(nxt)
        order.append(nxt)
    return order


def offline_busy(spec: SwapDeviceSpec, order: list[int], seed: int) -> float:
    """Sum of service times for one-page reads in this order, same rotational draws."""
    hdd_spec = spec.hdd
    assert hdd_spec is not None
    period = 60 / hdd_spec.rpm
    rot = (np.random.default_rng(seed).random(1024) * period).tolist()
    k = (hdd_spec.avg_seek_ms - hdd_spec.track_to_track_ms) * 1e-3 / (8 / 15)
    head, total, r = 0, 0.0, 0
    for s in order:
        d = abs(s * PAGE - head) / spec.capacity
        if d:
            total += min(
                hdd_spec.track_to_track_ms * 1e-3 + k * math.sqrt(d), hdd_spec.full_stroke_ms * 1e-3
            )
            total += rot[r]
            r += 1
        total += PAGE / (hdd_spec.transfer_mbps * 1e6)
        head = (s + 1) * PAGE
    return total


def hdd_sched(sched: str) -> SwapDeviceSpec:
    spec = hdd()
    assert spec.hdd is not None
    return spec.model_copy(update={"hdd": spec.hdd.model_copy(update={"scheduler": sched})})


def test_hdd_elevator_beats_fifo_on_a_random_backlog() -> None:
    n = 500
    slots = np.random.default_rng(30).integers(0, (64 << 30) // PAGE, n).tolist()
    means = {}
    for sched in ("fifo", "clook", "look"):
        spec = hdd_sched(sched)
        dev = backlog(spec, slots, 31)
        exact = offline_busy(spec, offline_order(slots, sched), 31)
        means[sched] = dev.busy_time / n
        print(
            f"{sched}: mean service {means[sched] * 1e3:.3f} ms, offline {exact / n * 1e3:.3f} ms"
        )
        assert dev.reads == n
        assert dev.busy_time == pytest.approx(exact, rel=1e-9)
    # Closed forms: FIFO seeks between random points average avg_seek; a sweep over n
    # uniform points moves by spacings ~ Beta(1, n), E[sqrt] = G(3/2) G(n+1) / G(n+3/2).
    rot_xfer = 0.5 * 60 / 7200 + PAGE / 150e6
    k = 7.5e-3 / (8 / 15)
    e_sqrt = math.exp(math.lgamma(1.5) + math.lgamma(n + 1) - math.lgamma(n + 1.5))
    sweep = 1e-3 + k * e_sqrt + rot_xfer
    print(
        f"closed form: fifo {(8.5e-3 + rot_xfer) * 1e3:.3f} ms, sweep {sweep * 1e3:.3f} ms; "
        f"clook/fifo {means['clook'] / means['fifo']:.3f}"
    )
    assert means["fifo"] == pytest.approx(8.5e-3 + rot_xfer, rel=0.05)
    assert means["clook"] == pytest.approx(sweep, rel=0.05)
    assert means["look"] == pytest.approx(sweep, rel=0.05)
    assert means["clook"] < 0.6 * means["fifo"]


def test_hdd_profile_random_swapin_costs_milliseconds() -> None:
    spec = load_profile(HARDWARE / "desktop-2013-hdd.yaml").swap_devices["sda"]
    assert spec.hdd is not None and spec.hdd.scheduler == "clook"
    dev = SwapDevice(simpy.Environment(), spec, np.random.default_rng(14))
    lat = random_reads(dev, 10_000, 1, 15)
    mean = sum(lat) / len(lat)
    print(
        f"desktop HDD random 4K swap-in: {mean * 1e3:.2f} ms, closed form {dev.mean_service_time('read') * 1e3:.2f} ms"
    )
    assert mean == pytest.approx(dev.mean_service_time("read"), rel=0.02)
    assert mean > 5e-3
