"""Every bundled scenario runs on every bundled profile, with consistent counters."""

from __future__ import annotations

import pytest

from perfmodel import api
from perfmodel.config import bundled_dir

SCENARIOS = sorted(p.stem for p in bundled_dir("scenarios").glob("*.yaml"))
PROFILES = sorted(p.stem for p in bundled_dir("hardware").glob("*.yaml"))


def test_bundled_sets():
    assert len(SCENARIOS) >= 3
    assert len(PROFILES) >= 4


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_runs_on_profile(scenario: str, profile: str):
    r = api.run(scenario, profile)
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
    assert r.config["scenario"]["name"] == scenario
    assert r.config["hardware"]["name"] == profile
