"""The measured corpus: its coverage, and the model's error over it (printed, not bounded yet)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from perfmodel.validate.compare import load_records

RUNS = Path(__file__).resolve().parents[1] / "validation" / "runs"
RECORDS = sorted(RUNS.glob("*.json"))

pytestmark = pytest.mark.skipif(not RECORDS, reason="no corpus committed yet")


def _records():
    return load_records(RECORDS)


def test_corpus_covers_what_validation_needs():
    recs = _records()
    assert len(recs) >= 24
    sc = [r.scenario for r in recs]
    zs = [s["zswap"] for s in sc]
    assert {z["enabled"] for z in zs} == {True, False}
    assert {"lzo", "lz4", "zstd"} <= {z["compressor"] for z in zs if z["enabled"]}
    assert {5, 10, 20, 50} <= {z["max_pool_percent"] for z in zs if z["enabled"]}
    kinds = {s["workload"]["processes"][0]["pattern"]["kind"] for s in sc}
    assert {"sequential", "uniform"} <= kinds
    mixes = {tuple(sorted(s["workload"]["processes"][0]["content"].items())) for s in sc}
    assert len(mixes) >= 2
    assert len({s["swap"]["device"] for s in sc}) >= 2
    assert any(r.hardware == "lab-qemu-2node" for r in recs)
    releases = {r.kernel.release.split(".")[0] + "." + r.kernel.release.split(".")[1] for r in recs}
    assert {"6.1", "6.12"} <= releases
    # Three repeats of the reference configuration, for run-to-run spread.
    by_name = {p.stem: r for p, r in zip(RECORDS, recs, strict=True)}
    ref = by_name["612-lz4-p20-seq-a"]
    same = [r for r in recs if r.scenario == ref.scenario and r.hardware == ref.hardware]
    assert len(same) >= 3
    assert all(r.host.accel in ("tcg", "kvm") for r in recs)


def test_validate_whole_corpus(capsys, tmp_path):
    """`perfmodel validate` over the corpus prints its tables; accuracy bounds come later."""
    out = tmp_path / "validate.json"
    res = subprocess.run(
        [sys.executable, "-m", "perfmodel.cli", "validate", str(RUNS), "--json", str(out)],
        capture_output=True, text=True, timeout=3000, env={**os.environ, "COLUMNS": "120"},
    )
    assert res.returncode == 0, res.stderr
    with capsys.disabled():
        print("\n" + res.stdout)
    report = json.loads(out.read_text())
    summary = {s["metric"]: s for s in report["summary"]}
    with capsys.disabled():
        print(f"\nmodel vs {len(RECORDS)} measured runs: median / max |relative error|")
        for name, s in summary.items():
            if s["median_abs_rel_error"] is not None:
                print(f"  {name:28s} {s['median_abs_rel_error']:8.1%} "
                      f"{s['max_abs_rel_error']:8.1%}  ({s['count']} records)")
    for name in ("zswpout", "pswpout", "pgmajfault"):
        assert summary[name]["count"] > 0
