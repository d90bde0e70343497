"""One run of a sweep, as executed in a worker process (local pool or Dask worker)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from perfmodel import simulation
from perfmodel.config import HardwareProfile, Scenario
from perfmodel.errors import PerfmodelError


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs: the checked configuration travels, not file paths,
    so a remote worker needs no copy of the scenario or profile files."""

    key: str
    point: int
    replication: int
    seed: int
    scenario: Scenario
    hardware: HardwareProfile


def execute_run(task: RunTask) -> dict[str, Any]:
    """Simulate one replication; a run the model refuses (e.g. OOM) is a result too."""
    try:
        result = simulation.simulate(task.scenario, task.hardware, task.seed)
    except PerfmodelError as e:
        return {"key": task.key, "error": str(e)}
    # Through JSON, so that every executor hands back the same plain values.
    return {
        "key": task.key,
        "result": json.loads(result.to_json(indent=None)),
        "fault_latency_cdf": result.latency.get("fault_cdf"),
    }
