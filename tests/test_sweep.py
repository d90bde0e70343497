"""Sweeps: points, seeds, the durable store, resumption after SIGKILL, executors, the CLI."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sizes import TINY

from perfmodel import api
from perfmodel.errors import ConfigError, PerfmodelError
from perfmodel.sweep.engine import expand, load_sweep, make_record, run_row, run_sweep
from perfmodel.sweep.metrics import run_metrics
from perfmodel.sweep.seeds import replication_seed
from perfmodel.sweep.spec import SweepSpec, build_spec, load_sweep_file, parse_vary
from perfmodel.sweep.store import RunStore, write_atomic
from perfmodel.sweep.summary import mean_ci, summarize

ROOT = Path(__file__).resolve().parents[1]

VARY = ["zswap.max_pool_percent=5,20", "zswap.compressor=lz4,zstd"]
REPS = 2


def small_spec(**kw: object) -> SweepSpec:
    return build_spec(vary=VARY, sets=TINY, replications=REPS, **kw).spec  # type: ignore[arg-type]


def cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "perfmodel.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def cli_args(out: Path, reps: int = REPS) -> list[str]:
    args = ["sweep", "--out", str(out), "-n", str(reps), "-j", "2"]
    for v in VARY:
        args += ["--vary", v]
    for s in TINY:
        args += ["--set", s]
    return args


# --- points and the sweep file -------------------------------------------------------


def test_points_are_the_product_of_profiles_and_values() -> None:
    spec = build_spec(hardware=["xeon-2s-nvme", "laptop-2vcpu-sata"],
                      vary=["zswap.max_pool_percent=5, 10,20", "zswap.compressor=lz4,zstd"]).spec
    pts = spec.points()
    assert len(pts) == 2 * 3 * 2
    assert pts[0].hardware == "xeon-2s-nvme" and pts[-1].hardware == "laptop-2vcpu-sata"
    assert pts[0].overrides == ("zswap.max_pool_percent=5", "zswap.compressor=lz4")
    assert pts[1].overrides == ("zswap.max_pool_percent=5", "zswap.compressor=zstd")
    assert spec.replications == 3 and spec.scenario == "usemem"
    assert spec.short_names() == {"zswap.max_pool_percent": "max_pool_percent",
                                  "zswap.compressor": "compressor"}


def test_vary_list_form_keeps_commas_and_string_types() -> None:
    (axis,) = parse_vary(['workload.processes.0.cpus=["0", "0,1"]'])
    assert axis.values == ('"0"', '"0,1"')
    sc, _ = api.prepare("usemem", None, [f"{axis.key}={axis.values[1]}"])
    assert sc.workload.processes[0].cpus == (0, 1)


@pytest.mark.parametrize("items, message", [
    (["zswap.compressor"], "--vary: 'zswap.compressor': expected KEY.PATH=V1,V2,..."),
    (["=1,2"], "--vary: empty key"),
    (["zswap..x=1"], "--vary: zswap..x: empty key in path"),
    (["zswap.compressor="], "--vary: zswap.compressor: no values"),
    (["zswap.max_pool_percent=5,,10"], "--vary: zswap.max_pool_percent: empty value in '5,,10'"),
    (["zswap.max_pool_percent=5,5"], "--vary: zswap.max_pool_percent: value '5' given twice"),
    (["zswap.compressor=lz4", "zswap.compressor=zstd"], "--vary: zswap.compressor: varied twice"),
    (["zswap.compressor=[lz4"], "--vary: zswap.compressor: '[lz4': not a YAML list"),
])
def test_bad_vary_is_one_line(items: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_vary(items)
    assert str(e.value) == message


@pytest.mark.parametrize("vary, tail", [
    ("zswap.max_pool_percent=5,150",
     "zswap.max_pool_percent: Input should be less than or equal to 100 (got 150)"),
    ("zswap.foo=1,2", "zswap.foo: unknown key"),
    ("zswap.compressor=lz4,lz77", "zswap.compressor: 'lz77' is not offered by profile "
     "xeon-2s-nvme (has: deflate, lz4, lz4hc, lzo, lzo-rle, zstd)"),
])
def test_bad_vary_values_are_config_errors_before_any_run(vary: str, tail: str,
                                                          tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        expand(build_spec(vary=[vary]).spec)
    assert str(e.value).endswith("usemem.yaml: " + tail)
    if "150" not in vary:
        return  # one command-line check is enough
    proc = cli("sweep", "--vary", vary, "--out", tmp_path / "s")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"perfmodel: error: {e.value}"]
    assert not (tmp_path / "s").exists()


def test_set_of_a_varied_key_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^--set: zswap.compressor: is also varied$"):
        build_spec(vary=["zswap.compressor=lz4,zstd"], sets=["zswap.compressor=lzo"])


def test_sweep_file_lists_the_same_things(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("scenario: usemem\nhardware: xeon-2s-nvme\nvary:\n"
                 "  zswap.max_pool_percent: [5, 20]\n  zswap.compressor: [lz4, zstd]\n"
                 "set:\n" + "".join(f"  {s.split('=')[0]}: {s.split('=')[1]}\n" for s in TINY)
                 + f"replications: {REPS}\nout: res\n")
    fs = load_sweep_file(f)
    assert fs.spec.digest() == small_spec().digest()
    assert fs.out == str(tmp_path / "res")
    # the command line adds to the file and wins over it
    merged = build_spec(vary=["zswap.compressor=lzo"], replications=1, file=f).spec
    assert [(a.key, a.values) for a in merged.vary] == [
        ("zswap.max_pool_percent", ("5", "20")), ("zswap.compressor", ("lzo",))]
    assert merged.replications == 1
    first = build_spec(vary=["zswap.max_pool_percent=30"], file=f).spec
    assert [a.key for a in first.vary] == ["zswap.max_pool_percent", "zswap.compressor"]
    with pytest.raises(ConfigError, match=r"^--seed: must be at least 0 \(got -1\)$"):
        build_spec(seed=-1, file=f)
    # scenario paths are relative to the file
    (tmp_path / "sc.yaml").write_text((ROOT / "scenarios" / "usemem.yaml").read_text())
    f.write_text("scenario: sc.yaml\n")
    assert load_sweep_file(f).spec.scenario == str(tmp_path / "sc.yaml")


@pytest.mark.parametrize("text, message", [
    ("varry: {}\n", "varry: unknown key"),
    ("replications: 0\n", "replications: Input should be greater than or equal to 1 (got 0)"),
    ("vary:\n  zswap.compressor: []\n", "zswap.compressor: no values"),
    ("vary: {a: [1]}\nvary: {b: [2]}\n", "vary: duplicate key at line 2 (first at line 1)"),
])
def test_bad_sweep_file_names_file_and_key(text: str, message: str, tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_sweep_file(f)
    assert str(e.value) == f"{f}: {message}"


@pytest.mark.parametrize("path", sorted((ROOT / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_sweep_files_expand(path: Path) -> None:
    plan = expand(load_sweep_file(path).spec)
    assert len(plan.tasks) == len(plan.points) * plan.spec.replications > 0


def test_the_same_configuration_twice_is_refused() -> None:
    spec = build_spec(hardware=["xeon-2s-nvme", str(ROOT / "hardware" / "xeon-2s-nvme.yaml")]).spec
    with pytest.raises(ConfigError, match=r"^--hardware: .*xeon-2s-nvme.yaml: point 2 is the "
                                          r"same configuration as point 1$"):
        expand(spec)


# --- seeds and identity --------------------------------------------------------------


def test_replication_seeds_come_from_seedsequence() -> None:
    seeds = [replication_seed(7, r) for r in range(20)]
    assert len(set(seeds)) == 20 and all(0 <= s < 2**63 for s in seeds)
    ss = np.random.SeedSequence(7, spawn_key=(3,))
    assert seeds[3] == int(ss.generate_state(1, dtype=np.uint64)[0]) >> 1


def test_keys_and_seeds_do_not_depend_on_point_order() -> None:
    a = expand(build_spec(vary=["zswap.max_pool_percent=5,20", "zswap.compressor=lz4,zstd"],
                          sets=TINY).spec)
    b = expand(build_spec(vary=["zswap.compressor=zstd,lz4", "zswap.max_pool_percent=20,5"],
                          sets=TINY).spec)

    def by_config(plan: object) -> dict[tuple[object, ...], tuple[str, int]]:
        pts = {p["index"]: p for p in plan.points}  # type: ignore[attr-defined]
        return {(tuple(sorted(pts[t.point]["values"].items())), t.replication): (t.key, t.seed)
                for t in plan.tasks}  # type: ignore[attr-defined]

    assert by_config(a) == by_config(b)
    assert len({t.key for t in a.tasks}) == len(a.tasks) == 12
    # the seed is per replication (common random numbers), the key per point too
    assert {t.seed for t in a.tasks} == {replication_seed(1, r) for r in range(3)}
    # a changed scenario value is a different run
    c = expand(build_spec(vary=["zswap.max_pool_percent=5,20", "zswap.compressor=lz4,zstd"],
                          sets=[*TINY, "vm.page-cluster=2"]).spec)
    assert not {t.key for t in a.tasks} & {t.key for t in c.tasks}


# --- the store and the statistics ----------------------------------------------------


def test_write_atomic_replaces_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    write_atomic(p, b"old")
    write_atomic(p, b"new")
    assert p.read_bytes() == b"new"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["x.json"]
    with pytest.raises(PerfmodelError, match="cannot write"):
        write_atomic(tmp_path / "missing" / "x.json", b"")


def test_store_cleans_temp_files_and_refuses_bad_records(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s")
    store.create()
    (store.runs / ".tmp-abc.json.123").write_text('{"key": "ab')  # a writer killed mid-way
    assert store.keys() == set()
    assert store.clean_temp() == 1
    assert store.load_run("abc") is None
    (store.runs / "abc.json").write_text('{"key": "ab')
    with pytest.raises(PerfmodelError, match=r"abc.json: not a run record .*delete it"):
        store.load_run("abc")


def test_a_refused_run_is_a_failed_row_not_an_abort() -> None:
    plan = expand(build_spec(sets=TINY, replications=2).spec)
    point, task = plan.points[0], plan.tasks[1]
    rec = make_record(point, task, {"key": task.key, "error": "usemem.yaml: out of memory"})
    row = run_row(point, rec)
    assert row["status"] == "failed" and row["error"] == "usemem.yaml: out of memory"
    assert math.isnan(row["throughput_mbps"]) and rec["result"] is None
    (summary,) = summarize(plan.points, [row])
    assert (summary["runs"], summary["failed"]) == (1, 1)
    assert math.isnan(summary["throughput_mbps_mean"])


def test_mean_ci_is_student_t() -> None:
    vals = [1.0, 2.0, 3.0, 4.5]
    n, mean, lo, hi = mean_ci(vals)
    elo, ehi = stats.t.interval(0.95, 3, loc=np.mean(vals), scale=stats.sem(vals))
    assert n == 4 and mean == pytest.approx(2.625)
    assert (lo, hi) == (pytest.approx(elo), pytest.approx(ehi))
    assert mean_ci([5.0])[1] == 5.0 and math.isnan(mean_ci([5.0])[2])
    assert mean_ci([math.nan, 1.0, 3.0])[:2] == (2, 2.0)
    assert mean_ci([])[0] == 0


def test_metrics_of_a_result() -> None:
    r = api.run("usemem", None, TINY, seed=3)
    m = run_metrics(r.to_dict())
    page = r.config["hardware"]["memory"]["page_size"]
    saved = r.debugfs["stored_pages"] * page - r.debugfs["pool_total_size"]
    assert m["memory_saved_bytes"] == saved == r.memory["memory_saved_bytes"]
    assert saved == (r.meminfo["Zswapped"] - r.meminfo["Zswap"]) * 1024
    assert m["memory_saved_fraction"] == pytest.approx(r.memory["memory_saved_fraction"])
    assert m["p99_fault_latency_us"] == r.metric("fault_p99_latency_us")
    assert m["throughput_mbps"] == r.workload["throughput_mbps"]
    for k in ("zswpout", "pswpout", "zswpwb"):
        assert m[k] == r.vmstat[k]
    assert m["pool_limit_hit"] == r.debugfs["pool_limit_hit"]


# --- running, resuming, executors ----------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted sweep on two local worker processes: 2 x 2 points x 2 replications."""
    out = tmp_path_factory.mktemp("sweep") / "ref"
    res = run_sweep(small_spec(), out, "local", workers=2, stream=io.StringIO())
    assert res.ran == 8 and res.complete
    return out


def test_sweep_writes_runs_tables_and_seeds(reference: Path) -> None:
    data = load_sweep(reference)
    assert len(data.records) == 8 and len(data.rows) == 8 and len(data.summary) == 4
    assert sorted(p.name for p in reference.iterdir()) == [
        ".lock", "runs", "runs.csv", "summary.csv", "sweep.json"]
    for rec in data.records.values():
        assert rec["result"]["seed"] == rec["seed"] == replication_seed(1, rec["replication"])
        assert rec["result"]["format"] == "perfmodel-result/1"
        assert rec["fault_latency_cdf"]["us"] == sorted(rec["fault_latency_cdf"]["us"])
    header = (reference / "runs.csv").read_text().splitlines()[0].split(",")
    for col in ("hardware", "zswap.max_pool_percent", "zswap.compressor", "replication", "seed",
                "throughput_mbps", "elapsed_s", "p50_fault_latency_us", "p99_fault_latency_us",
                "p999_fault_latency_us", "memory_saved_bytes", "memory_saved_fraction",
                "zswpout", "pswpout", "zswpwb", "pool_limit_hit"):
        assert col in header, col
    summary = (reference / "summary.csv").read_text().splitlines()
    assert len(summary) == 5
    assert "p99_fault_latency_us_ci_low" in summary[0]


def test_a_sweep_run_equals_a_plain_run(reference: Path) -> None:
    data = load_sweep(reference)
    p = data.points[3]
    rec = data.point_records(3)[1]
    r = api.run("usemem", None, p["overrides"], seed=rec["seed"])
    assert json.loads(r.to_json()) == rec["result"]


def test_rerun_resumes_without_redoing(reference: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in (reference / "runs").iterdir()}
    csv = (reference / "runs.csv").read_bytes()
    res = run_sweep(small_spec(), reference, "local", workers=2, stream=io.StringIO())
    assert (res.ran, res.reused) == (0, 8)
    assert {p.name: p.stat().st_mtime_ns for p in (reference / "runs").iterdir()} == before
    assert (reference / "runs.csv").read_bytes() == csv


def test_dask_localcluster_gives_identical_results(reference: Path, tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        res = run_sweep(small_spec(), tmp_path / "dask", "dask", scheduler=client,
                        stream=io.StringIO())
    assert res.ran == 8
    for name in ("runs.csv", "summary.csv"):
        assert (tmp_path / "dask" / name).read_bytes() == (reference / name).read_bytes(), name
    for p in (reference / "runs").iterdir():
        assert (tmp_path / "dask" / "runs" / p.name).read_bytes() == p.read_bytes()


def _start(out: Path, reps: int = REPS) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "perfmodel.cli", *cli_args(out, reps)], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )


def _wait_for_runs(out: Path, n: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while len(list((out / "runs").glob("*.json"))) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _live_in_group(pgid: int) -> list[int]:
    """Processes of a process group that are not zombies (Linux /proc)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


def test_sigkill_loses_nothing_and_resume_matches(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    proc = _start(out)
    _wait_for_runs(out, 2, proc)
    os.kill(proc.pid, signal.SIGKILL)  # the sweep process only, mid-run
    proc.communicate(timeout=30)
    if sys.platform.startswith("linux"):  # its workers die with it
        deadline = time.monotonic() + 10
        while _live_in_group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = _live_in_group(proc.pid)
        if left:
            os.killpg(proc.pid, signal.SIGKILL)
        assert not left, "worker processes outlived the killed sweep"
    # every file that has its final name is whole
    done = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    for name in done:
        assert json.loads((out / "runs" / name).read_text())["key"] == name[:-5]
    rows = (out / "runs.csv").read_text().splitlines()
    assert rows[0] == (reference / "runs.csv").read_text().splitlines()[0]
    assert 2 <= len(done) < 8 and len(rows) - 1 <= len(done)
    res = run_sweep(small_spec(), out, "local", workers=2, stream=io.StringIO())
    assert (res.reused, res.ran) == (len(done), 8 - len(done))
    for name, mtime in done.items():  # nothing finished was redone
        assert (out / "runs" / name).stat().st_mtime_ns == mtime
    assert not list(out.rglob(".tmp-*"))
    for name in ("runs.csv", "summary.csv"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.mark.parametrize("sig, group", [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_sigterm_and_sigint_stop_cleanly(sig: signal.Signals, group: bool,
                                         tmp_path: Path) -> None:
    out = tmp_path / "stopped"
    # 80 runs of about 0.3 s: the sweep cannot finish between its first run and the
    # signal, however slow a loaded host makes this test.
    proc = _start(out, reps=20)
    _wait_for_runs(out, 1, proc)
    if group:  # Ctrl-C on a terminal reaches the whole process group
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert [ln for ln in stderr.splitlines() if ln] == ["perfmodel: error: interrupted"]
    assert "run the same command again to resume" in stdout
    for p in (out / "runs").glob("*.json"):
        assert json.loads(p.read_text())["key"] == p.stem


def test_cli_sweep_plain_progress_and_summary(tmp_path: Path) -> None:
    proc = cli("sweep", "--vary", "zswap.compressor=lz4,zstd", "-n", "1", "--out",
               tmp_path / "s", *[a for s in TINY for a in ("--set", s)])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("sweep: usemem: 2 points x 1 replications = 2 runs in ")
    assert "0 already done, 2 to run on " in lines[0] and "local worker processes" in lines[0]
    progress = [ln for ln in lines if ln.startswith("sweep: [")]
    assert len(progress) == 2 and "eta" in progress[-1] and progress[-1].startswith("sweep: [2/2]")
    assert "workload (mean ± 95% CI half-width)" in proc.stdout
    assert "zswap (mean ± 95% CI half-width)" in proc.stdout
    assert "zstd" in proc.stdout and "p99 µs" in proc.stdout
    again = cli("sweep", "--vary", "zswap.compressor=lz4,zstd", "-n", "1", "--out",
                tmp_path / "s", *[a for s in TINY for a in ("--set", s)])
    assert "2 already done, 0 to run" in again.stdout.splitlines()[0]


def test_cli_scheduler_needs_dask(tmp_path: Path) -> None:
    proc = cli("sweep", "--executor", "local", "--scheduler", "tcp://127.0.0.1:1",
               "--out", tmp_path / "s")
    assert proc.returncode == 2
    assert proc.stderr == "perfmodel: error: --scheduler: needs --executor dask\n"
