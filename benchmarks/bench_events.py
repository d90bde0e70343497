"""Speed of the model as a ratio to bare SimPy, on the default scenario.

Prints simulated swap events (zswap stores + loads + swap device I/Os) per
wall second, beside a bare SimPy loop of env.timeout events measured in the
same process, and their ratio. Ratios move less than raw rates from machine
to machine.

The default run's counters must equal benchmarks/expected_counts.json, so a
speed-up cannot silently change what the model does; --update rewrites it
after an intended change of behaviour.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import simpy

from perfmodel import api

EXPECTED = Path(__file__).with_name("expected_counts.json")


def bare_simpy(n: int) -> float:
    """env.timeout events per wall second for one process yielding n timeouts."""
    env = simpy.Environment()

    def proc(env: simpy.Environment):
        for _ in range(n):
            yield env.timeout(1e-6)

    env.process(proc(env))
    t0 = time.perf_counter()
    env.run()
    return n / (time.perf_counter() - t0)


def model_run() -> tuple[float, dict[str, int]]:
    t0 = time.perf_counter()
    r = api.run()
    wall = time.perf_counter() - t0
    dev = next(iter(r.devices.values()))
    counts = {
        "zswap_stores": int(r.latency["store"]["count"]),
        "zswap_loads": int(r.vmstat["zswpin"]),
        "device_reads": int(dev["reads"]),
        "device_writes": int(dev["writes"]),
        "pgmajfault": r.vmstat["pgmajfault"],
        "pswpout": r.vmstat["pswpout"],
        "pswpin": r.vmstat["pswpin"],
        "zswpout": r.vmstat["zswpout"],
        "stored_pages": r.debugfs["stored_pages"],
        "pool_total_size": r.debugfs["pool_total_size"],
    }
    return wall, counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    ap.add_argument("--update", action="store_true", help="rewrite expected_counts.json")
    args = ap.parse_args()

    walls = []
    counts: dict[str, int] = {}
    for _ in range(args.repeat):
        wall, counts = model_run()
        walls.append(wall)
    wall = min(walls)
    events = (
        counts["zswap_stores"] + counts["zswap_loads"] + counts["device_reads"]
        + counts["device_writes"]
    )
    bare = max(bare_simpy(1_000_000) for _ in range(args.repeat))
    rate = events / wall
    print(f"default scenario: {events:,} swap events (stores {counts['zswap_stores']:,}, "
          f"loads {counts['zswap_loads']:,}, device I/Os "
          f"{counts['device_reads'] + counts['device_writes']:,}) in {wall:.2f} s wall "
          f"(best of {args.repeat})")
    print(f"model:      {rate:,.0f} swap events per wall second")
    print(f"bare SimPy: {bare:,.0f} env.timeout events per wall second")
    print(f"ratio:      {rate / bare:.4f} (model swap events per bare SimPy event)")

    if args.update or not EXPECTED.exists():
        EXPECTED.write_text(json.dumps(counts, indent=2) + "\n")
        print(f"wrote {EXPECTED.name}")
        return 0
    expected = json.loads(EXPECTED.read_text())
    diff = {k: (expected.get(k), v) for k, v in counts.items() if expected.get(k) != v}
    if diff:
        print("event counts changed (expected, got): "
              + ", ".join(f"{k} {a}->{b}" for k, (a, b) in diff.items()))
        return 1
    print("event counts match expected_counts.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
