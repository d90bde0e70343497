from __future__ import annotations

from collections.abc import Callable

import pytest

from perfmodel import api
from perfmodel.results import Result

# A small usemem: 96 MiB over 64 MiB of RAM, so a run takes about a second.
SMALL = [
    "memory.ram=64MiB",
    "memory.reserved=8MiB",
    "swap.size=512MiB",
    "workload.processes.0.footprint=96MiB",
]


@pytest.fixture
def small_run() -> Callable[..., Result]:
    def run(*overrides: str, hardware: str = "xeon-2s-nvme", scenario: str = "usemem",
            seed: int | None = None) -> Result:
        return api.run(scenario, hardware, SMALL + list(overrides), seed)

    return run
