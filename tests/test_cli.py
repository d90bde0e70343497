"""The command line end to end, as a subprocess: list, show-profile, run --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MiB = 1 << 20


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perfmodel.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def bundled(kind: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / kind).glob("*.yaml"))


def test_list_names_bundled_files() -> None:
    proc = cli("list")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    hw = next(ln for ln in lines if ln.startswith("hardware:"))
    sc = next(ln for ln in lines if ln.startswith("scenarios:"))
    for name in bundled("hardware"):
        assert name in hw, (name, hw)
    for name in bundled("scenarios"):
        assert name in sc, (name, sc)
    assert "laptop-2vcpu-sata" in hw
    assert "usemem" in sc
    assert any(ln.startswith("defaults:") for ln in lines)


def test_show_profile_prints_compressor_table() -> None:
    proc = cli("show-profile", "laptop-2vcpu-sata")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "laptop-2vcpu-sata" in out
    assert "compressors" in out
    for name in ("lzo", "lz4", "zstd"):
        assert name in out, name
    for column in ("engine", "ratio"):
        assert column in out, column
    assert "swap devices" in out and "sda" in out


def test_show_profile_by_path() -> None:
    path = ROOT / "hardware" / "laptop-2vcpu-sata.yaml"
    proc = cli("show-profile", path, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["name"] == "laptop-2vcpu-sata"


def test_show_profile_json() -> None:
    proc = cli("show-profile", "laptop-2vcpu-sata", "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    for key in ("cpus", "compressors", "swap_devices"):
        assert key in d, key
    assert d["cpus"] == 2
    assert {"lzo", "lz4", "zstd"} <= set(d["compressors"])
    assert set(d["swap_devices"]) == {"sda"}
    lz4 = d["compressors"]["lz4"]["text"]
    assert lz4["ratio"] > 1 and lz4["compress_us"] > 0 and lz4["decompress_us"] > 0


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("run") / "result.json"
    proc = cli(
        "run",
        "usemem",
        "--set",
        "workload.processes.0.footprint=96MiB",
        "--set",
        "memory.ram=64MiB",
        "--set",
        "memory.reserved=8MiB",
        "--set",
        "swap.size=256MiB",
        "-q",
        "--json",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == "", "-q with --json FILE prints nothing"
    return json.loads(out.read_text())


def test_run_json_counters(small_run: dict) -> None:
    d = small_run
    assert d["scenario"] == "usemem"
    assert isinstance(d["debugfs"]["stored_pages"], int) and d["debugfs"]["stored_pages"] >= 0
    # 96 MiB in 56 MiB usable memory: pages must have gone to zswap.
    assert d["vmstat"]["zswpout"] > 0
    fault = d["latency"]["fault"]
    if fault["count"] > 0:
        assert fault["p99_us"] > 0
        assert fault["p99_us"] >= fault["p50_us"]


def test_run_json_workload_passes(small_run: dict) -> None:
    proc0 = small_run["workload"]["processes"][0]
    assert proc0["name"] == "usemem"
    passes = proc0["passes"]
    assert isinstance(passes, list) and passes
    assert passes[0]["kind"] == "fill"
    # usemem: one fill then three passes.
    assert len(passes) == 4


def test_run_json_echoes_overrides(small_run: dict) -> None:
    sc = small_run["config"]["scenario"]
    assert sc["workload"]["processes"][0]["footprint"] == 96 * MiB == 100663296
    assert sc["memory"]["ram"] == 64 * MiB
    assert sc["memory"]["reserved"] == 8 * MiB
    assert sc["swap"]["size"] == 256 * MiB


def test_run_json_to_stdout() -> None:
    proc = cli(
        "run",
        "usemem",
        "--hardware",
        "laptop-2vcpu-sata",
        "--set",
        "workload.processes.0.footprint=8MiB",
        "--set",
        "workload.processes.0.passes=1",
        "--set",
        "memory.ram=16MiB",
        "--set",
        "memory.reserved=4MiB",
        "--set",
        "swap.size=64MiB",
        "--seed",
        "7",
        "--json",
        "-",
    )
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["seed"] == 7
    assert d["hardware"] == "laptop-2vcpu-sata"


def test_json_to_unwritable_path(tmp_path: Path) -> None:
    out = tmp_path / "no-such-dir" / "result.json"
    proc = cli(
        "run",
        "usemem",
        "--hardware",
        "laptop-2vcpu-sata",
        "--set",
        "workload.processes.0.footprint=8MiB",
        "--set",
        "workload.processes.0.passes=1",
        "--set",
        "memory.ram=16MiB",
        "--set",
        "memory.reserved=4MiB",
        "--set",
        "swap.size=64MiB",
        "-q",
        "--json",
        out,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("perfmodel: error: ")
    assert str(out) in lines[0] and "cannot write" in lines[0]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("run", "--seed", "abc"), id="bad-option-value"),
        pytest.param(("run", "--no-such-option"), id="unknown-option"),
        pytest.param(("no-such-command",), id="unknown-command"),
    ],
)
def test_usage_errors_are_one_line(args: tuple[str, ...]) -> None:
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("perfmodel: error: "), proc.stderr


def test_help() -> None:
    proc = cli("--help")
    assert proc.returncode == 0, proc.stderr
    for cmd in ("run", "show-profile", "list"):
        assert cmd in proc.stdout


def test_compare_puts_two_runs_side_by_side():
    seed = Path(__file__).resolve().parents[1] / "scenarios" / "numa" / "writeback-remote.yaml"
    res = cli("compare", seed, "-H", "xeon-2s-nvme", "--vary", "zswap.writeback_alloc=task,vma",
              "--set", "workload.processes.0.duration_s=0.1")
    assert res.returncode == 0, res.stderr
    assert "vma - task" in res.stdout and "node1 other_node" in res.stdout


def test_compare_needs_two_values():
    res = cli("compare", "usemem", "--vary", "zswap.compressor=lz4")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "--vary" in res.stderr
