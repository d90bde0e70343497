"""Every bundled scenario runs on every bundled profile, with consistent counters.

Scenarios under scenarios/numa/ place work on given NUMA nodes and CPUs; they run on
every profile that has those nodes and CPUs, and elsewhere must stop with the
one-line error that names the missing node or CPU.
"""

from __future__ import annotations

import pytest

from perfmodel import api
from perfmodel.config import bundled_dir, load_profile, load_scenario
from perfmodel.errors import ConfigError
from perfmodel.results import Result

SCENARIOS = sorted(p.stem for p in bundled_dir("scenarios").glob("*.yaml"))
NUMA_SCENARIOS = sorted(f"numa/{p.stem}" for p in bundled_dir("scenarios").glob("numa/*.yaml"))
PROFILES = sorted(p.stem for p in bundled_dir("hardware").glob("*.yaml"))


def test_bundled_sets():
    assert len(SCENARIOS) >= 3
    assert len(PROFILES) >= 4
    assert NUMA_SCENARIOS


def _check(r: Result, scenario: str, profile: str) -> None:
    assert not r.truncated
    assert r.workload["throughput_mbps"] > 0
    assert r.vmstat["zswpout"] > 0
    d, v = r.debugfs, r.vmstat
    assert d["stored_pages"] <= v["zswpout"] - v["zswpin"] - v["zswpwb"]
    assert v["pswpout"] >= v["zswpwb"]
    for name in ("fault", "store", "load"):
        s = r.latency[name]
        assert s["count"] > 0
        assert s["p50_us"] <= s["p90_us"] <= s["p99_us"] <= s["p999_us"]
    assert r.config["scenario"]["name"] == scenario.rsplit("/", 1)[-1]
    assert r.config["hardware"]["name"] == profile


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_runs_on_profile(scenario: str, profile: str):
    _check(api.run(scenario, profile), scenario, profile)


def _needs(scenario: str) -> tuple[int, int]:
    """(NUMA nodes, CPUs) the scenario's processes name."""
    sc = load_scenario(bundled_dir("scenarios") / f"{scenario}.yaml")
    nodes = [n for p in sc.workload.processes for n in (p.mempolicy.nodes or ())]
    cpus = [c for p in sc.workload.processes for c in (p.cpus or ())]
    return max(nodes, default=0) + 1, max(cpus, default=0) + 1


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("scenario", NUMA_SCENARIOS)
def test_numa_scenario_on_profile(scenario: str, profile: str):
    path = bundled_dir("scenarios") / f"{scenario}.yaml"
    hw = load_profile(profile)
    nodes, cpus = _needs(scenario)
    if len(hw.numa.nodes) >= nodes and hw.cpu.n_cpus >= cpus:
        _check(api.run(path, profile), scenario, profile)
        return
    with pytest.raises(ConfigError) as e:
        api.run(path, profile)
    msg = str(e.value)
    assert "\n" not in msg and f"(profile {profile} has " in msg
    assert "does not exist" in msg
