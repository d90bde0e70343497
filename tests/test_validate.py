"""Validation against run records: predict, compare, summarize, and the validate/collect CLI."""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from perfmodel.config import load_scenario
from perfmodel.errors import ConfigError, PerfmodelError
from perfmodel.results import Result
from perfmodel.validate.collect import collect, scenario_dict
from perfmodel.validate.compare import (
    Row,
    check_bounds,
    compare,
    compare_record,
    configuration_key,
    expand_paths,
    load_records,
    lost_time,
    notes,
    parse_bounds,
    predict,
    prepare,
    repeat_floor,
    repeat_spread,
    summarize,
    unmodelled,
    with_repeat_spread,
)
from perfmodel.validate.record import load_record, measured, parse_record, save_record
from perfmodel.validate.snapshot import (
    SnapshotReader,
    parse_zoneinfo_pcp,
    parse_zoneinfo_zspages,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "records"
LAB = DATA / "lab-612-small.json"
PREFIX = "perfmodel: error: "


def cli(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perfmodel.cli", *map(str, args)],
        capture_output=True, text=True, timeout=180, cwd=cwd,
    )


def run_main(*args: str | Path, capsys: pytest.CaptureFixture[str]
             ) -> subprocess.CompletedProcess[str]:
    """The CLI in this process (faster than a subprocess), with its exit status and output."""
    from perfmodel import cli as cli_mod

    argv = sys.argv
    sys.argv = ["perfmodel", *map(str, args)]
    capsys.readouterr()
    try:
        cli_mod.main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(PREFIX)
    assert "Traceback" not in proc.stderr
    return lines[0][len(PREFIX):]


@pytest.fixture(scope="module")
def lab_result() -> Result:
    return predict(load_record(LAB))


def raw() -> dict[str, Any]:
    return json.loads(LAB.read_text())


# --- predict -----------------------------------------------------------------------


def test_predict_simulates_the_record_scenario(lab_result: Result) -> None:
    r = lab_result
    assert r.scenario == "usemem-small" and r.hardware == "xeon-2s-nvme"
    assert r.kernel_release == "6.12" and r.seed == 1
    assert not r.truncated
    assert r.memory["footprint_bytes"] == 96 << 20
    assert r.config["scenario"]["zswap"]["compressor"] == "lz4"
    # The small scenario really swaps: the comparison is not against zeros.
    assert r.vmstat["zswpout"] > 10000 and r.debugfs["stored_pages"] > 1000


def test_predict_accepts_a_path_and_a_seed() -> None:
    sc, hw = prepare(LAB)
    assert sc.workload.processes[0].footprint == 96 << 20 and hw.name == "xeon-2s-nvme"


def test_compare_record_averages_predictions_over_seeds() -> None:
    """--seeds 2: each metric's prediction is the mean of seeds 1 and 2, and its errors
    follow from that mean; the record says how many seeds it averages."""
    rec = load_record(LAB)
    one, two = compare_record(rec, 1), compare_record(rec, 2)
    both = compare_record(rec, 1, seeds=2)
    assert both.seeds == 2 and both.to_dict()["seeds"] == 2 and one.seeds == 1
    by_two = {r.metric: r for r in two.rows}
    differ = 0
    for r1, rb in zip(one.rows, both.rows, strict=True):
        assert rb.metric == r1.metric and rb.measured == r1.measured
        mean = (r1.predicted + by_two[r1.metric].predicted) / 2
        assert rb.predicted == pytest.approx(mean)
        assert rb.abs_error == pytest.approx(mean - r1.measured)
        if r1.measured:
            assert rb.rel_error == pytest.approx((mean - r1.measured) / r1.measured)
        differ += r1.predicted != by_two[r1.metric].predicted
    assert differ > 0  # the seeds do give different runs
    with pytest.raises(ValueError, match="seeds must be at least 1"):
        compare_record(rec, 1, seeds=0)


@pytest.mark.parametrize(
    ("key", "value", "where", "problem"),
    [
        ("max_pool_percent", 150, "scenario.zswap.max_pool_percent", "less than or equal to 100"),
        ("compressor", "lz77", "scenario.zswap.compressor", "not offered by profile"),
        ("bogus", 1, "scenario.zswap.bogus", "unknown key"),
    ],
)
def test_bad_scenario_names_record_and_scenario_key(
    tmp_path: Path, key: str, value: Any, where: str, problem: str
) -> None:
    d = raw()
    d["scenario"]["zswap"][key] = value
    p = tmp_path / "rec.json"
    p.write_text(json.dumps(d))
    with pytest.raises(ConfigError) as ei:
        predict(p)
    assert ei.value.file == str(p) and ei.value.key_path == where
    assert problem in ei.value.problem


def test_footprint_over_ram_plus_swap_is_refused(tmp_path: Path) -> None:
    d = raw()
    d["scenario"]["workload"]["processes"][0]["footprint"] = "2GiB"
    p = tmp_path / "rec.json"
    p.write_text(json.dumps(d))
    with pytest.raises(ConfigError, match=r"rec\.json: scenario\.workload\.processes: .*OOM"):
        prepare(p)


def test_hardware_name_path_and_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # paths are relative to the repo, not the working directory
    d = raw()
    d["hardware"] = "hardware/laptop-2vcpu-sata.yaml"
    assert prepare(parse_record(d, "r.json"))[1].name == "laptop-2vcpu-sata"
    d["hardware"] = "no-such-box"
    with pytest.raises(ConfigError) as ei:
        prepare(parse_record(d, "r.json"))
    assert (ei.value.file, ei.value.key_path) == ("r.json", "hardware")
    assert "xeon-2s-nvme" in ei.value.problem  # lists the bundled names


def test_notes_flag_a_scenario_that_is_not_what_ran() -> None:
    assert notes(load_record(LAB)) == []
    d = raw()
    d["kernel"]["release"] = "6.8.0-49-generic"
    d["zswap_parameters"]["compressor"] = "zstd"
    d["sysctl"]["vm.page-cluster"] = "0"
    got = notes(parse_record(d, "r.json"))
    assert any("kernel 6.8.0-49-generic" in n for n in got)
    assert any("zswap.compressor" in n and "zstd" in n for n in got)
    assert any("vm.page-cluster" in n for n in got)


def test_notes_say_when_the_guest_lost_wall_time() -> None:
    """A record whose /proc/stat ticks cover less of the wall time than they should (the
    vCPU thread was not running on the host) gets a note; lost_time measures the share."""
    d = raw()
    snaps = d["snapshots"]
    passes = snaps["passes"]
    snaps["before"]["cpu_ticks"] = {"user": 0, "system": 0, "idle": 0}
    for s in passes:
        s["cpu_ticks"] = {"user": 0, "system": 0, "idle": 0}
    wall = passes[-1]["t_s"]
    passes[-1]["cpu_ticks"] = {"user": 0, "system": round(wall * 100 * 0.8), "idle": 0}
    rec = parse_record(d, "r.json")
    assert lost_time(rec) == pytest.approx(0.2, abs=0.01)
    assert any("accounts for 80%" in n for n in notes(rec))
    passes[-1]["cpu_ticks"]["system"] = round(wall * 100)
    assert lost_time(parse_record(d, "r.json")) == pytest.approx(0.0, abs=0.01)
    assert notes(parse_record(d, "r.json")) == []
    assert lost_time(load_record(LAB)) is None


# --- compare ---------------------------------------------------------------------


def test_compare_maps_each_metric_to_the_model(lab_result: Result) -> None:
    rec = load_record(LAB)
    rows = {r.metric: r for r in compare(rec, lab_result)}
    res = lab_result
    assert rows["zswpout"].measured == 42318
    assert rows["zswpout"].predicted == res.vmstat["zswpout"]
    assert rows["pool_limit_hit"].predicted == res.debugfs["pool_limit_hit"]
    assert rows["stored_pages"].measured == 6890
    assert rows["stored_pages"].predicted == res.debugfs["stored_pages"]
    assert rows["reject_compress"].predicted == (
        res.debugfs["reject_compress_poor"] + res.debugfs["reject_compress_fail"]
    )
    passes = res.workload["processes"][0]["passes"]
    assert passes[0]["kind"] == "fill"
    for i in range(4):
        assert rows[f"pass{i}_elapsed_s"].predicted == passes[i]["elapsed_s"]
        assert rows[f"pass{i}_throughput_mbps"].predicted == passes[i]["throughput_mbps"]
    assert rows["elapsed_s"].predicted == res.workload["elapsed_s"]
    p99 = rows["access_p99_latency_us"]
    assert p99.measured == 61.3 and p99.predicted == res.latency["access"]["p99_us"]
    assert p99.source == "latency.access.p99_us"
    for r in rows.values():
        assert r.abs_error == pytest.approx(r.predicted - r.measured)
        if r.measured:
            assert r.rel_error == pytest.approx((r.predicted - r.measured) / r.measured)
        else:
            assert r.rel_error is None
    assert rows["written_back_pages"].rel_error is None
    # Counters pass by pass: the snapshot after each pass less the one before it.
    snaps = [raw()["snapshots"]["before"], *raw()["snapshots"]["passes"]]
    for i in range(4):
        for name, section in (("zswpout", "vmstat"), ("pool_limit_hit", "debugfs_zswap")):
            row = rows[f"pass{i}.{name}"]
            assert row.measured == snaps[i + 1][section][name] - snaps[i][section][name]
            before = passes[i - 1]["counters"][name] if i else 0
            assert row.predicted == passes[i]["counters"][name] - before
    assert sum(rows[f"pass{i}.zswpout"].measured for i in range(4)) == rows["zswpout"].measured
    # Per-node NUMA statistics against the model's numastat.
    hit = rows["node0.numa_hit"]
    assert hit.measured == 256511 - 131204
    assert hit.predicted == res.numa["numastat"]["node0"]["numa_hit"]
    assert set(rows) | set(unmodelled(rec, lab_result)) == set(measured(rec))


def _fake_result(base: Result, **over: Any) -> Result:
    """`base` with known counters and timings, so the arithmetic can be checked exactly."""
    d: dict[str, Any] = dict(
        debugfs={"pool_limit_hit": 0, "stored_pages": 5512, "pool_total_size": 6563840,
                 "reject_compress_poor": 0, "reject_compress_fail": 1000},
        vmstat={"zswpout": 50000, "pswpin": 30121},
        meminfo={}, latency={"access": {"count": 1, "p99_us": 100.0}}, memory={},
        workload={"elapsed_s": 0.6, "processes": [
            {"passes": [{"pass": 0, "kind": "fill", "elapsed_s": 0.2684,
                         "throughput_mbps": 375.05, "accesses": 1},
                        {"pass": 1, "kind": "access", "elapsed_s": 0.2105,
                         "throughput_mbps": 478.2, "accesses": 1}]}]},
        numa={},
    )
    d.update(over)
    return dataclasses.replace(base, **d)


def test_compare_arithmetic_on_a_known_result(lab_result: Result) -> None:
    rows = {r.metric: r for r in compare(load_record(LAB), _fake_result(lab_result))}
    assert rows["zswpout"].rel_error == pytest.approx((50000 - 42318) / 42318)
    assert rows["pswpin"].rel_error == 0.0
    assert rows["stored_pages"].rel_error == pytest.approx(-0.2)
    assert rows["pool_total_size"].rel_error == pytest.approx(6563840 / 13127680 - 1)
    assert rows["pass0_elapsed_s"].rel_error == pytest.approx(1.0)
    assert rows["pass0_throughput_mbps"].rel_error == pytest.approx(-0.5)
    assert rows["pass1_elapsed_s"].rel_error == 0.0
    assert rows["reject_compress"].predicted == 1000
    assert rows["pool_limit_hit"].rel_error == pytest.approx(-1.0)
    assert rows["access_p99_latency_us"].predicted == 100.0
    # Metrics the result lacks are not compared: zswpin, pass2, the NUMA statistics.
    assert "zswpin" not in rows and "pass2_elapsed_s" not in rows
    assert "pass0.zswpout" not in rows  # the fake passes carry no counters
    assert "node0.numa_hit" not in rows
    assert "reject_alloc_fail" not in rows


def test_cpu_pages_per_pass(lab_result: Result) -> None:
    """usemem's cpu_pages of a multi-CPU guest is compared CPU by CPU and pass by pass,
    the model's summed over its processes; a one-CPU report is not compared."""
    data = json.loads(LAB.read_text())
    data["workload"]["passes"][0]["cpu_pages"] = [300, 100]
    data["workload"]["passes"][1]["cpu_pages"] = [400]
    rec = parse_record(data, "cpu.json")
    m = measured(rec)
    assert m["pass0.cpu0_pages"] == 300 and m["pass0.cpu1_pages"] == 100
    assert not any(k.startswith("pass1.cpu") for k in m)
    res = _fake_result(lab_result)
    for proc, split in zip(res.workload["processes"], ([150, 50],), strict=True):
        proc["passes"][0]["cpu_pages"] = split
    res.workload["processes"].append(
        {"passes": [{"pass": 0, "kind": "fill", "elapsed_s": 0.1, "throughput_mbps": 1.0,
                     "accesses": 1, "cpu_pages": [50, 150]}]})
    rows = {r.metric: r for r in compare(rec, res)}
    assert (rows["pass0.cpu0_pages"].predicted, rows["pass0.cpu1_pages"].predicted) == (200, 200)
    assert rows["pass0.cpu1_pages"].rel_error == pytest.approx(1.0)
    assert parse_bounds(["pass0.cpu1_pages=0.2"]) == {"pass0.cpu1_pages": 0.2}


def test_measured_zero_gives_absolute_difference(lab_result: Result) -> None:
    res = _fake_result(lab_result, debugfs={"written_back_pages": 7, "reject_alloc_fail": 0})
    rows = {r.metric: r for r in compare(load_record(LAB), res)}
    assert rows["written_back_pages"].rel_error is None
    assert rows["written_back_pages"].abs_error == 7
    assert rows["reject_alloc_fail"].abs_error == 0


# --- summarize and bounds ------------------------------------------------------------


def _row(metric: str, meas: float, pred: float) -> Row:
    return Row(metric, meas, pred, (pred - meas) / meas if meas else None, pred - meas, "x")


def test_summarize_median_max_count() -> None:
    by_record = {
        "a": [_row("zswpout", 100, 110), _row("wb", 0, 5)],
        "b": [_row("zswpout", 100, 70), _row("wb", 10, 10)],
        "c": [_row("zswpout", 100, 100), _row("wb", 0, 0), _row("only_c", 4, 5)],
    }
    s = summarize(by_record)
    assert s["zswpout"].count == 3 and s["zswpout"].records == 3
    assert s["zswpout"].median_abs_rel_error == pytest.approx(0.1)
    assert s["zswpout"].max_abs_rel_error == pytest.approx(0.3)
    assert s["wb"].count == 1 and s["wb"].records == 3
    assert s["wb"].median_abs_rel_error == 0.0
    assert s["only_c"].median_abs_rel_error == pytest.approx(0.25)
    assert summarize({"z": [_row("wb", 0, 3)]})["wb"].median_abs_rel_error is None


def test_bounds_parse_and_check() -> None:
    assert parse_bounds(["zswpout=0.2", "pass1_elapsed_s=15%", "node1.numa_miss=1"]) == {
        "zswpout": 0.2, "pass1_elapsed_s": pytest.approx(0.15), "node1.numa_miss": 1.0}
    assert parse_bounds(["pass0.pool_limit_hit=0.1"]) == {"pass0.pool_limit_hit": 0.1}
    for bad, msg in [("zswpout", "METRIC=FRACTION"), ("zswpot=0.1", "unknown metric"),
                     ("pass0.pgfault=0.1", "unknown metric"),
                     ("zswpout=-1", ">= 0"), ("zswpout=lots", ">= 0"), ("=0.1", "METRIC")]:
        with pytest.raises(ConfigError, match=msg):
            parse_bounds([bad])
    s = summarize({"a": [_row("zswpout", 100, 110), _row("zswpwb", 0, 1)],
                   "b": [_row("zswpout", 100, 130)]})
    checks = {c.metric: c for c in check_bounds(
        s, {"zswpout": 0.25, "pswpin": 0.1, "zswpwb": 0.5})}
    assert checks["zswpout"].ok and checks["zswpout"].median == pytest.approx(0.2)
    assert not check_bounds(s, {"zswpout": 0.15})[0].ok
    assert not checks["pswpin"].ok and "not compared" in checks["pswpin"].reason
    assert not checks["zswpwb"].ok and "measured 0" in checks["zswpwb"].reason
    assert "floor" not in check_bounds(s, {"zswpout": 0.15})[0].reason
    # A bound below the kernel's own floor says so.
    floored = {"zswpout": dataclasses.replace(
        s["zswpout"], floor_median_abs_rel_error=0.3, floor_model_median_abs_rel_error=0.25,
        floor_runs=17)}
    assert check_bounds(floored, {"zswpout": 0.15})[0].reason == (
        "median |error| 20.0% is over the bound 15.0%; the kernel's own floor is 30.0% (the "
        "mean of a run's repeats as its prediction; the model gets 25.0% on the same 17 runs)")
    # A floor under the bound: the model has room to meet it, and the reason is the plain one.
    low = {"zswpout": dataclasses.replace(floored["zswpout"], floor_median_abs_rel_error=0.1)}
    assert "floor" not in check_bounds(low, {"zswpout": 0.15})[0].reason


def test_directories_expand_to_sorted_json(tmp_path: Path) -> None:
    for name in ("b.json", "a.json", "notes.txt"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in expand_paths([tmp_path])] == ["a.json", "b.json"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"empty: no \*\.json run records"):
        expand_paths([tmp_path / "empty"])


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(LAB.read_text())
    (tmp_path / "b.json").write_text(LAB.read_text())
    with pytest.raises(ConfigError, match=r"b\.json: id: .*also the id of .*a\.json"):
        load_records([tmp_path])


# --- the validate command ----------------------------------------------------------


def test_validate_cli_two_records_json_and_bounds(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "a.json").write_text(LAB.read_text())
    d = raw()
    d["id"] = "lab-612-lz4-p20-seq-small-b"
    for snap in [d["snapshots"]["after"], *d["snapshots"]["passes"]]:
        snap["vmstat"]["zswpout"] = int(snap["vmstat"]["zswpout"] * 1.1)
    (runs / "b.json").write_text(json.dumps(d))
    out = tmp_path / "v.json"
    proc = cli("validate", runs, "--json", out, "--max-error", "zswpout=0.5",
               "--max-error", "pool_total_size=0.0001")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [
        line for line in proc.stderr.splitlines() if line.startswith("perfmodel: validate: ")]
    assert "pool_total_size" in proc.stderr and "over the bound" in proc.stderr
    assert "zswpout" not in proc.stderr
    for text in ("lab-612-lz4-p20-seq-small-a", "lab-612-lz4-p20-seq-small-b", "summary",
                 "zswpout", "pass1_elapsed_s", "access_p99_latency_us", "FAIL"):
        assert text in proc.stdout, text
    doc = json.loads(out.read_text())
    assert [r["id"] for r in doc["records"]] == [
        "lab-612-lz4-p20-seq-small-a", "lab-612-lz4-p20-seq-small-b"]
    assert doc["ok"] is False
    summary = {s["metric"]: s for s in doc["summary"]}
    assert summary["zswpout"]["count"] == 2
    a, b = (next(r for r in rec["rows"] if r["metric"] == "zswpout") for rec in doc["records"])
    assert a["predicted"] == b["predicted"]  # same scenario, same seed
    assert b["measured"] == int(42318 * 1.1)
    errs = sorted(abs(x["rel_error"]) for x in (a, b))
    assert summary["zswpout"]["median_abs_rel_error"] == pytest.approx(sum(errs) / 2)
    assert summary["zswpout"]["max_abs_rel_error"] == pytest.approx(errs[1])
    bounds = {x["metric"]: x for x in doc["bounds"]}
    assert bounds["zswpout"]["ok"] and not bounds["pool_total_size"]["ok"]


def test_validate_cli_passes_within_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    proc = run_main("validate", LAB, "--json", "-", "--seed", "1", "--max-error", "zswpout=50%",
                    capsys=capsys)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and doc["records"][0]["seed"] == 1
    assert doc["records"][0]["seeds"] == 1


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--max-error", "zswpot=0.1"], "unknown metric 'zswpot'"),
        (["--max-error", "zswpout"], "expected METRIC=FRACTION"),
        (["--seed", "x"], "'x' is not a valid integer"),
        (["--seeds", "0"], "0 is not in the range x>=1"),
    ],
)
def test_validate_cli_bad_options(
    args: list[str], expect: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert expect in one_error_line(run_main("validate", LAB, *args, capsys=capsys))


def test_validate_cli_bad_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return run_main(*args, capsys=capsys)

    d = raw()
    d["snapshots"]["after"]["vmstat"]["zswpout"] = "many"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d))
    line = one_error_line(cli("validate", LAB, bad))
    assert line.startswith(f"{bad}: snapshots.after.vmstat.zswpout: ")
    (tmp_path / "empty").mkdir()
    assert "no *.json run records" in one_error_line(cli("validate", tmp_path / "empty"))
    assert "no such file" in one_error_line(cli("validate", tmp_path / "nope.json"))
    assert "Missing argument" in one_error_line(cli("validate"))


# --- collect ---------------------------------------------------------------------------

VMSTAT = {"nr_free_pages": 120000, "nr_zspages": 12, "pswpin": 10, "pswpout": 20,
          "pgmajfault": 300, "swap_ra": 4, "swap_ra_hit": 3, "zswpin": 100, "zswpout": 200,
          "zswpwb": 0, "swpin_zero": 1, "swpout_zero": 2}
ZONEINFO = """Node 0, zone      DMA
  per-node stats
      nr_inactive_anon 100
  pages free     3840
        nr_zspages   0
Node 0, zone   Normal
  pages free     100000
        nr_zspages   40
Node 1, zone   Normal
  pages free     100000
        nr_zspages   2
"""
DEBUGFS = {"pool_limit_hit": 5, "reject_reclaim_fail": 0, "reject_alloc_fail": 0,
           "reject_kmemcache_fail": 0, "reject_compress_poor": 1, "reject_compress_fail": 2,
           "written_back_pages": 3, "pool_total_size": 0, "stored_pages": 0}


def _vmstat_text(v: dict[str, int]) -> str:
    return "".join(f"{k} {n}\n" for k, n in v.items())


def fake_tree(root: Path, debugfs: bool = False, cgroup: bool = True) -> tuple[Path, Path]:
    proc, sysfs = root / "proc", root / "sys"
    files = {
        proc / "vmstat": _vmstat_text(VMSTAT),
        proc / "meminfo": "MemTotal:        1004288 kB\nMemFree:          480000 kB\n"
                          "Zswap:                 0 kB\nZswapped:              0 kB\n"
                          "HugePages_Total:       0\n",
        proc / "sys/vm/page-cluster": "3\n",
        proc / "sys/vm/swappiness": "100\n",
        proc / "sys/vm/watermark_scale_factor": "10\n",
        proc / "sys/kernel/osrelease": "6.12.57+deb13-amd64\n",
        proc / "cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/vda1 zswap.enabled=1\n",
        proc / "zoneinfo": ZONEINFO,
        proc / "cpuinfo": "processor\t: 0\nmodel name\t: Test CPU\n\nprocessor\t: 1\n"
                          "model name\t: Test CPU\n",
        proc / "self/cgroup": "0::/user.slice/app.scope\n" if cgroup else "0::/\n",
        sysfs / "module/zswap/parameters/enabled": "Y\n",
        sysfs / "module/zswap/parameters/compressor": "lz4\n",
        sysfs / "module/zswap/parameters/max_pool_percent": "20\n",
        sysfs / "module/zswap/parameters/shrinker_enabled": "N\n",
        sysfs / "devices/system/node/node0/numastat": "numa_hit 1000\nnuma_miss 0\n"
                                                      "local_node 1000\nother_node 0\n",
        sysfs / "devices/system/node/node1/numastat": "numa_hit 50\nnuma_miss 5\n"
                                                      "local_node 45\nother_node 5\n",
        sysfs / "devices/system/node/possible": "0-1\n",
        sysfs / "fs/cgroup/user.slice/memory.max": "536870912\n",
        sysfs / "fs/cgroup/user.slice/memory.high": "max\n",
        sysfs / "fs/cgroup/user.slice/memory.stat": "anon 1000\nzswap 0\nzswapped 0\n",
        sysfs / "fs/cgroup/user.slice/app.scope/memory.max": "max\n",
        sysfs / "fs/cgroup/user.slice/app.scope/memory.high": "max\n",
    }
    if debugfs:
        for k, v in DEBUGFS.items():
            files[sysfs / "kernel/debug/zswap" / k] = f"{v}\n"
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (sysfs / "kernel/debug").mkdir(parents=True, exist_ok=True)
    return proc, sysfs


# As 6.12 prints a zone's per-CPU lists (trimmed).
ZONEINFO_PCP = """Node 0, zone      DMA
  pages free     3840
  pagesets
    cpu: 0
              count: 3
              high:  0
              batch: 1
  vm stats threshold: 4
    cpu: 1
              count: 0
              high:  0
              batch: 1
  vm stats threshold: 4
  node_unreclaimable:  0
Node 0, zone    DMA32
  pages free     512
  pagesets
    cpu: 0
              count: 61
              high:  422
              batch: 31
  vm stats threshold: 24
    cpu: 1
              count: 386
              high:  422
              batch: 31
  vm stats threshold: 24
  node_unreclaimable:  0
  start_pfn:           4096
Node 1, zone    DMA32
  pages free     480
  pagesets
    cpu: 0
              count: 262
              high:  407
              batch: 31
  vm stats threshold: 24
    cpu: 1
              count: 67
              high:  407
              batch: 31
"""


def test_zoneinfo_parsing() -> None:
    assert parse_zoneinfo_zspages(ZONEINFO) == {"node0": 40, "node1": 2}
    assert parse_zoneinfo_zspages("Node 0, zone DMA\n  pages free 1\n") is None
    # Per-CPU list counts, summed over a node's zones; start_pfn and the thresholds
    # are not counts.
    assert parse_zoneinfo_pcp(ZONEINFO_PCP) == {
        "node0": {"cpu0": 64, "cpu1": 386}, "node1": {"cpu0": 262, "cpu1": 67}}
    assert parse_zoneinfo_pcp(ZONEINFO) is None


def test_collect_true_on_a_fake_host(tmp_path: Path) -> None:
    proc_root, sys_root = fake_tree(tmp_path)
    out = tmp_path / "out" / "r.json"
    res = cli("collect", "--scenario", "usemem", "--out", out, "--procfs", proc_root,
              "--sysfs", sys_root, "--", "true")
    assert res.returncode == 0, res.stderr
    assert f"wrote {out}" in res.stderr
    rec = load_record(out)
    assert rec.source == "collect" and rec.host.accel == "native"
    assert rec.host.model_extra["cpu_model"] == "Test CPU" and rec.host.model_extra["cpus"] == 2
    assert rec.kernel.release == "6.12.57+deb13-amd64"
    assert rec.kernel.cmdline.startswith("BOOT_IMAGE=/vmlinuz")
    assert rec.zswap_parameters == {"compressor": "lz4", "enabled": "Y",
                                    "max_pool_percent": "20", "shrinker_enabled": "N"}
    assert rec.sysctl == {"vm.page-cluster": "3", "vm.swappiness": "100",
                          "vm.watermark_scale_factor": "10"}
    assert rec.memory.ram_bytes == 1004288 * 1024
    # The limit is on the parent slice: the nearest cgroup with a limit is recorded.
    cg = rec.memory.cgroup
    assert cg is not None and cg.memory_max == "536870912" and cg.memory_high == "max"
    assert cg.memory_zswap_max == "max"
    before = rec.snapshots.before
    assert before.t_s == 0 and rec.snapshots.after.t_s >= 0
    assert before.vmstat == VMSTAT
    assert before.meminfo["MemTotal"] == 1004288 and before.meminfo["HugePages_Total"] == 0
    assert before.memory_stat == {"anon": 1000, "zswap": 0, "zswapped": 0}
    assert before.numastat["node1"] == {"numa_hit": 50, "numa_miss": 5, "local_node": 45,
                                        "other_node": 5}
    assert before.nr_zspages == {"node0": 40, "node1": 2}
    assert before.pcp is None  # this zoneinfo lists no pagesets
    assert before.debugfs_zswap == {}
    assert rec.snapshots.passes == [] and rec.workload.passes == []
    assert rec.workload.latency_us is None
    assert any(m.startswith("debugfs: not mounted") for m in rec.missing)
    assert any("vm.min_free_kbytes" in m for m in rec.missing)
    assert any("memory.zswap.max" in m for m in rec.missing)
    assert rec.commands[-1] == "true"
    assert rec.commands[0].startswith("perfmodel collect --scenario usemem")
    assert rec.hardware == "xeon-2s-nvme"
    sc = load_scenario("usemem")
    assert rec.scenario == scenario_dict(sc)
    assert prepare(rec)[0] == sc  # the record predicts the scenario it was given


def test_collect_passes_and_counter_deltas(tmp_path: Path) -> None:
    proc_root, sys_root = fake_tree(tmp_path, debugfs=True, cgroup=False)
    zdir = sys_root / "kernel/debug/zswap"
    after = dict(VMSTAT, zswpout=VMSTAT["zswpout"] + 4321, pswpin=VMSTAT["pswpin"] + 7)
    pass0 = {"pass": 0, "kind": "fill", "elapsed_s": 0.5, "throughput_mbps": 800.0,
             "accesses": 1000}
    pass1 = dict(pass0, **{"pass": 1, "kind": "access", "elapsed_s": 0.25})
    script = "; ".join([
        f"echo 777 > {shlex.quote(str(zdir / 'stored_pages'))}",
        "echo starting",
        f"echo {shlex.quote('@@PASS ' + json.dumps(pass0))}",
        f"echo {shlex.quote('@@PASS ' + json.dumps(pass1))}",
        "sleep 1",
        f"echo 0 > {shlex.quote(str(zdir / 'stored_pages'))}",
        f"printf %s {shlex.quote(_vmstat_text(after))} > {shlex.quote(str(proc_root / 'vmstat'))}",
    ])
    lines: list[str] = []
    rec, path = collect("usemem", ["sh", "-c", script], hardware="laptop-2vcpu-sata",
                        out=tmp_path / "r.json", reader=SnapshotReader(proc_root, sys_root),
                        record_id="t-1", echo=lines.append)
    assert path == tmp_path / "r.json" and load_record(path).id == "t-1"
    assert lines[0] == "starting" and lines[1].startswith("@@PASS ")
    assert [p.model_dump(by_alias=True, exclude_none=True)
            for p in rec.workload.passes] == [pass0, pass1]
    assert len(rec.snapshots.passes) == 2
    assert rec.snapshots.passes[1].debugfs_zswap["stored_pages"] == 777
    assert rec.snapshots.after.debugfs_zswap["stored_pages"] == 0
    assert rec.snapshots.passes[0].t_s <= rec.snapshots.passes[1].t_s <= rec.snapshots.after.t_s
    assert rec.workload.elapsed_s >= 1.0
    assert rec.memory.cgroup is None and rec.snapshots.before.memory_stat is None
    assert not any(m.startswith("debugfs") for m in rec.missing)
    assert rec.hardware == "laptop-2vcpu-sata"
    m = measured(rec)
    assert m["zswpout"] == 4321 and m["pswpin"] == 7 and m["zswpin"] == 0
    assert m["stored_pages"] == 777
    assert m["pool_limit_hit"] == 0 and m["reject_compress"] == 0
    assert m["pass1_elapsed_s"] == 0.25
    assert m["node0.numa_hit"] == 0


def test_collect_pass_line_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proc_root, sys_root = fake_tree(tmp_path)
    line = '@@PASS {"pass": 0, "kind": "fill", "elapsed_s": 1.5, "throughput_mbps": 64.0, ' \
           '"accesses": 24576}'
    out = tmp_path / "r.json"
    res = run_main("collect", "-s", "usemem", "-o", out, "--procfs", proc_root,
                   "--sysfs", sys_root, "--", "sh", "-c", f"echo '{line}'", capsys=capsys)
    assert res.returncode == 0, res.stderr
    assert line in res.stdout
    rec = load_record(out)
    assert rec.workload.passes[0].throughput_mbps == 64.0
    assert len(rec.snapshots.passes) == 1


@pytest.mark.parametrize(
    ("command", "expect"),
    [
        ([], "give the workload command after --"),
        (["false"], "exited with status 1; no record written"),
        (["sh", "-c", "kill -9 $$"], "killed by signal 9"),
        (["no-such-program-here"], "cannot run 'no-such-program-here'"),
        (["sh", "-c", "echo '@@PASS {\"pass\": 0, \"kind\": \"fill\"}'"],
         "<stdout of sh> line 1: elapsed_s: required key is missing"),
        (["sh", "-c", "echo '@@PASS {\"pass\": 0,'"], "@@PASS: malformed JSON"),
    ],
)
def test_collect_failures_write_nothing(tmp_path: Path, command: list[str], expect: str) -> None:
    proc_root, sys_root = fake_tree(tmp_path)
    out = tmp_path / "r.json"
    with pytest.raises(PerfmodelError) as ei:
        collect("usemem", command, out=out, reader=SnapshotReader(proc_root, sys_root))
    assert expect in str(ei.value)
    assert not out.exists()


def test_collect_needs_a_linux_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proc_root, sys_root = fake_tree(tmp_path)
    (proc_root / "vmstat").unlink()
    line = one_error_line(run_main("collect", "--scenario", "usemem", "--out", tmp_path / "r.json",
                              "--procfs", proc_root, "--sysfs", sys_root, "--", "true",
                              capsys=capsys))
    assert line == f"{proc_root / 'vmstat'}: cannot read: not present; collect needs a Linux host"
    assert not (tmp_path / "r.json").exists()


def test_collect_cli_bad_scenario_and_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return run_main(*args, capsys=capsys)

    proc_root, sys_root = fake_tree(tmp_path)
    base = ["collect", "--procfs", proc_root, "--sysfs", sys_root, "--out", tmp_path / "r.json"]
    assert "no bundled scenarios named so" in one_error_line(
        cli(*base, "--scenario", "nope", "--", "true"))
    assert "no bundled hardware named so" in one_error_line(
        cli(*base, "--scenario", "usemem", "--hardware", "nope", "--", "true"))
    assert "Missing option '--scenario'" in one_error_line(cli(*base, "--", "true"))
    assert not (tmp_path / "r.json").exists()


def test_collected_record_round_trips(tmp_path: Path) -> None:
    proc_root, sys_root = fake_tree(tmp_path, debugfs=True)
    rec, path = collect("usemem", ["true"], out=tmp_path / "a.json",
                        reader=SnapshotReader(proc_root, sys_root))
    save_record(rec, tmp_path / "b.yaml")
    assert load_record(tmp_path / "b.yaml").model_dump() == load_record(path).model_dump()


def _measured_row(metric: str, value: float) -> Row:
    return Row(metric, value, value, 0.0, 0.0, "test")


def test_repeat_spread_is_the_median_over_ordered_pairs_of_repeats() -> None:
    """Two groups of repeats: (100, 125) gives |100-125|/125 = 0.2 and 25/100 = 0.25;
    (50, 40) gives 0.25 and 0.2; median 0.225 over 4 pairs. A pair whose second value
    is 0 has no relative difference; a metric with only zeros has none at all."""
    groups = [
        [[_measured_row("zswpwb", 100), _measured_row("zero", 0)], [_measured_row("zswpwb", 125), _measured_row("zero", 0)]],
        [[_measured_row("zswpwb", 50), _measured_row("zero", 3)], [_measured_row("zswpwb", 40), _measured_row("zero", 0)]],
    ]
    spread = repeat_spread(groups)
    assert spread["zswpwb"] == (pytest.approx(0.225), 4)
    assert spread["zero"] == (pytest.approx(1.0), 1)  # |0 - 3| / 3 only


def test_repeat_floor_predicts_each_run_by_its_other_repeats() -> None:
    """(100, 125, 150), model 120 for each: the others' means 137.5, 125 and 112.5 miss by
    0.375, 0 and 0.25; the model by 0.2, 0.04 and 0.2. (50, 0), model 45: 50 is predicted
    by 0 (miss 1.0), the model misses by 0.1; the run measuring 0 has no relative error.
    A group of one has no floor. Medians over 4 runs: 0.3125 and 0.15."""
    groups = [
        [[_row("wb", 100, 120)], [_row("wb", 125, 120)], [_row("wb", 150, 120)]],
        [[_row("wb", 50, 45)], [_row("wb", 0, 45)]],
        [[_row("wb", 10, 99), _row("alone", 5, 5)]],
    ]
    floor, model, runs = repeat_floor(groups)["wb"]
    assert (floor, model, runs) == (pytest.approx(0.3125), pytest.approx(0.15), 4)
    assert "alone" not in repeat_floor(groups)


def test_configuration_key_groups_repeats_of_a_run() -> None:
    """The reference run's repeats share a key (MemTotal differs between boots); a run
    with another pool size or another guest does not."""
    runs = ROOT / "validation" / "runs"
    a, b, h2 = (load_record(runs / f"612-lz4-p20-seq-{s}.json") for s in ("a", "b", "h2"))
    assert configuration_key(a) == configuration_key(b) == configuration_key(h2)
    assert a.memory.ram_bytes != h2.memory.ram_bytes
    for other in ("612-lz4-p5-seq", "612-lz4-p20-seq-numa", "61-lz4-p20-seq"):
        assert configuration_key(load_record(runs / f"{other}.json")) != configuration_key(a)
    # A run made before kernel.workqueue_default_affinity_scope existed repeats one that
    # echoes its default.
    old = load_record(runs / "612-lz4-p20-seq-numa-cpu0.json")
    new = load_record(ROOT / "validation" / "repeats" / "612-lz4-p20-seq-numa-cpu0-b.json")
    assert "workqueue_default_affinity_scope" not in old.scenario["kernel"]
    assert new.scenario["kernel"]["workqueue_default_affinity_scope"] == "cache"
    assert configuration_key(old) == configuration_key(new)


def test_summary_carries_the_repeat_spread() -> None:
    recs = [load_record(ROOT / "validation" / "runs" / f"612-lz4-p20-seq-{s}.json")
            for s in ("a", "b")]
    fake = [dataclasses.make_dataclass("C", ["record", "rows"])(
        r, [_measured_row("written_back_pages", measured(r)["written_back_pages"])]) for r in recs]
    summary = with_repeat_spread(summarize({"a": fake[0].rows, "b": fake[1].rows}), fake)
    wb = [measured(r)["written_back_pages"] for r in recs]
    expect = sorted([abs(wb[0] - wb[1]) / wb[1], abs(wb[1] - wb[0]) / wb[0]])
    s = summary["written_back_pages"]
    assert s.repeat_pairs == 2
    assert s.repeat_median_abs_rel_diff == pytest.approx(sum(expect) / 2)
    # Two repeats: each predicts the other, so the floor is the same median.
    assert s.floor_runs == 2
    assert s.floor_median_abs_rel_error == pytest.approx(sum(expect) / 2)
