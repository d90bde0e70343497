"""Scenario overrides that shrink the bundled usemem for tests (importable as `sizes`)."""

# 96 MiB over 64 MiB of RAM: a run takes about a second.
SMALL = [
    "memory.ram=64MiB",
    "memory.reserved=8MiB",
    "swap.size=512MiB",
    "workload.processes.0.footprint=96MiB",
]

# Smaller still, for sweeps of many runs: one pass over 48 MiB, about 0.3 s a run.
TINY = [
    "memory.ram=32MiB",
    "memory.reserved=8MiB",
    "swap.size=512MiB",
    "workload.processes.0.footprint=48MiB",
    "workload.processes.0.passes=1",
]
