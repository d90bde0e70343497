"""The measured corpus: its coverage, and the model's error over it, bounded by
validation/bounds.yaml so that accuracy can only go up."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from perfmodel.validate.compare import load_records

RUNS = Path(__file__).resolve().parents[1] / "validation" / "runs"
BOUNDS = RUNS.parent / "bounds.yaml"
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
    assert {"sequential", "permutation"} <= kinds
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


def _bounds() -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    doc = yaml.safe_load(BOUNDS.read_text())
    return doc["median_abs_rel_error"], doc["p99_fault_latency_factor"]


def test_bounds_file_is_consistent():
    """Every enforced bound is at or above its target only while the target is unmet, and
    never looser than it was: the README's table says which is which."""
    medians, p99 = _bounds()
    for name, b in medians.items():
        assert set(b) == {"target", "enforced"}, name
        assert 0 < b["target"] <= 1 and b["enforced"] > 0, name
    assert set(p99) == {"target", "enforced"} and 1 < p99["target"] <= p99["enforced"]


def test_validate_whole_corpus(capsys, tmp_path):
    """`perfmodel validate` over the corpus, with --max-error for every bounded metric:
    the model may not get worse than validation/bounds.yaml allows."""
    medians, p99 = _bounds()
    out = tmp_path / "validate.json"
    args = [f"--max-error={m}={b['enforced']}" for m, b in medians.items()]
    res = subprocess.run(
        [sys.executable, "-m", "perfmodel.cli", "validate", str(RUNS), "--json", str(out),
         *args],
        capture_output=True, text=True, timeout=3000, env={**os.environ, "COLUMNS": "120"},
    )
    with capsys.disabled():
        print("\n" + res.stdout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr
    report = json.loads(out.read_text())
    summary = {s["metric"]: s for s in report["summary"]}
    with capsys.disabled():
        print(f"\nmodel vs {len(RECORDS)} measured runs: median / max |relative error|")
        for name, s in summary.items():
            if s["median_abs_rel_error"] is not None:
                mark = ""
                if name in medians:
                    t = medians[name]["target"]
                    mark = "  target met" if s["median_abs_rel_error"] <= t else f"  target {t:.0%}"
                print(f"  {name:28s} {s['median_abs_rel_error']:8.1%} "
                      f"{s['max_abs_rel_error']:8.1%}  ({s['count']} records){mark}")
    for name in ("zswpout", "pswpout", "pgmajfault"):
        assert summary[name]["count"] > 0
    # p99 fault latency: within a factor, as the median over records of
    # max(predicted/measured, measured/predicted).
    factors = []
    for rec in report["records"]:
        for row in rec["rows"]:
            if row["metric"] == "access_p99_latency_us" and row["measured"] > 0 < row["predicted"]:
                factors.append(math.exp(abs(math.log(row["predicted"] / row["measured"]))))
    assert factors
    med = statistics.median(factors)
    with capsys.disabled():
        print(f"  p99 fault latency: median factor {med:.2f} (target {p99['target']})")
    assert med <= p99["enforced"], f"p99 fault latency median factor {med:.2f}"
