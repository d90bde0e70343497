"""Bad input gets one clear line naming the file, the key path and the problem.

Each case builds a broken file in tmp_path from a bundled one, runs the real CLI
as a subprocess and checks: exit status 2, exactly one line on stderr of the form
``perfmodel: error: <file>: <key.path>: <problem>``, and no traceback.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfmodel import api
from perfmodel.config import load_profile, load_scenario
from perfmodel.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
USEMEM = ROOT / "scenarios" / "usemem.yaml"
LAPTOP = ROOT / "hardware" / "laptop-2vcpu-sata.yaml"
XEON = ROOT / "hardware" / "xeon-2s-nvme.yaml"
# A small profile keeps any run that wrongly gets past validation short.
HW = "laptop-2vcpu-sata"
PREFIX = "perfmodel: error: "

Mutation = Callable[[dict[str, Any]], None]


# --- helpers ----------------------------------------------------------------


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perfmodel.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def mutated(src: Path, dst: Path, mutate: Mutation) -> Path:
    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    mutate(data)
    return write_yaml(dst, data)


def bad_scenario(tmp_path: Path, mutate: Mutation) -> Path:
    return mutated(USEMEM, tmp_path / "scenario.yaml", mutate)


def bad_profile(tmp_path: Path, mutate: Mutation, src: Path = LAPTOP) -> Path:
    return mutated(src, tmp_path / "profile.yaml", mutate)


def run_scenario(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("run", path, "--hardware", HW, "-q", *extra)


def run_profile(path: Path) -> subprocess.CompletedProcess[str]:
    """A bad profile given to `run --hardware`; the scenario itself is fine."""
    return cli("run", "usemem", "--hardware", path, "-q")


def assert_one_line(
    proc: subprocess.CompletedProcess[str],
    file: str | Path,
    key_path: str | None,
    *words: str,
) -> str:
    """Exit 2, one stderr line naming file, key path and problem; returns the line."""
    err = proc.stderr
    assert "Traceback" not in err, err
    assert proc.returncode == 2, f"exit {proc.returncode}, stderr: {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {err!r}"
    line = lines[0]
    assert line.startswith(PREFIX), line
    assert line.startswith(f"{PREFIX}{file}: "), f"{file} not named first in: {line}"
    # What follows the file: "<key.path>: <problem>" or just "<problem>".
    rest = line[len(f"{PREFIX}{file}: ") :]
    if key_path is not None:
        assert rest.startswith(f"{key_path}: "), f"key path {key_path!r} not named in: {line}"
        rest = rest[len(key_path) + 2 :]
    assert rest.strip(), f"no problem stated in: {line}"
    for w in words:
        assert w.lower() in rest.lower(), f"{w!r} not in the problem: {line}"
    return line


def proc0(d: dict[str, Any]) -> dict[str, Any]:
    return d["workload"]["processes"][0]


def sda(d: dict[str, Any]) -> dict[str, Any]:
    return d["swap_devices"]["sda"]


# --- files that cannot be read as YAML mappings ------------------------------


def test_missing_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert_one_line(run_scenario(path), path, None, "no such file")


def test_missing_bundled_scenario_name() -> None:
    proc = cli("run", "no-such-scenario", "--hardware", HW, "-q")
    assert_one_line(proc, "no-such-scenario", None, "no such file", "usemem")


def test_missing_profile_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert_one_line(run_profile(path), path, None, "no such file")
    assert_one_line(cli("show-profile", path), path, None, "no such file")


def test_missing_bundled_profile_name() -> None:
    proc = cli("run", "usemem", "--hardware", "no-such-box", "-q")
    assert_one_line(proc, "no-such-box", None, "no such file", "laptop-2vcpu-sata")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    d = tmp_path / "dir.yaml"
    d.mkdir()
    assert_one_line(run_scenario(d), d, None, "directory")


def test_malformed_yaml_unclosed_bracket(tmp_path: Path) -> None:
    lines = USEMEM.read_text(encoding="utf-8").splitlines()
    n = next(i for i, ln in enumerate(lines) if "pattern: {kind: sequential}" in ln)
    lines[n] = lines[n].replace("{kind: sequential}", "{kind: sequential")
    path = tmp_path / "scenario.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    line = assert_one_line(run_scenario(path), path, None, "malformed YAML")
    m = re.search(r"line (\d+)", line)
    assert m, line
    # The parser notices at the unclosed line or the next one.
    assert n + 1 <= int(m.group(1)) <= n + 2, line


def test_malformed_yaml_bad_indentation(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text("name: x\nzswap:\n  enabled: Y\n compressor: lz4\n", encoding="utf-8")
    line = assert_one_line(run_scenario(path), path, None, "malformed YAML")
    assert re.search(r"line \d+", line), line


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text("# nothing but a comment\n", encoding="utf-8")
    assert_one_line(run_scenario(path), path, None, "empty")


def test_empty_profile(tmp_path: Path) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text("", encoding="utf-8")
    assert_one_line(cli("show-profile", path), path, None, "empty")


def test_top_level_list(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "scenario.yaml", [yaml.safe_load(USEMEM.read_text())])
    assert_one_line(run_scenario(path), path, None, "top level", "mapping", "list")


def test_top_level_scalar(tmp_path: Path) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text("just a string\n", encoding="utf-8")
    assert_one_line(cli("show-profile", path), path, None, "top level", "mapping", "str")


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(USEMEM.read_text() + "zswap:\n  enabled: N\n", encoding="utf-8")
    line = assert_one_line(run_scenario(path), path, "zswap", "duplicate key")
    assert re.search(r"line \d+", line), line


def test_duplicate_nested_key(tmp_path: Path) -> None:
    text = USEMEM.read_text().replace(
        "  max_pool_percent: 20\n", "  max_pool_percent: 20\n  max_pool_percent: 30\n"
    )
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    line = assert_one_line(run_scenario(path), path, "zswap.max_pool_percent", "duplicate key")
    assert re.search(r"line \d+", line), line


def test_duplicate_key_in_list_item(tmp_path: Path) -> None:
    text = USEMEM.read_text().replace("      passes: 3\n", "      passes: 3\n      passes: 4\n")
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    assert_one_line(run_scenario(path), path, "workload.processes[0].passes", "duplicate key")


def test_python_tag_is_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = USEMEM.read_text().replace(
        "name: usemem\n", f'name: !!python/object/apply:os.system ["touch {marker}"]\n'
    )
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    proc = run_scenario(path)
    assert_one_line(proc, path, None, "malformed YAML", "python/object")
    assert not marker.exists(), "a python tag was executed"


def test_python_tag_in_profile(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "profile.yaml"
    path.write_text(
        LAPTOP.read_text() + f'extra: !!python/object/apply:os.system ["touch {marker}"]\n',
        encoding="utf-8",
    )
    assert_one_line(cli("show-profile", path), path, None, "malformed YAML")
    assert not marker.exists(), "a python tag was executed"


# --- scenario schema ----------------------------------------------------------


SCENARIO_CASES: list[tuple[str, Mutation, str, tuple[str, ...]]] = [
    (
        "wrong-type-int",
        lambda d: d["zswap"].__setitem__("max_pool_percent", "lots"),
        "zswap.max_pool_percent",
        ("integer", "lots"),
    ),
    (
        "wrong-type-section",
        lambda d: d.__setitem__("zswap", 5),
        "zswap",
        ("dictionary",),
    ),
    (
        "wrong-type-kbool",
        lambda d: d["zswap"].__setitem__("enabled", "maybe"),
        "zswap.enabled",
        ("expected Y or N", "maybe"),
    ),
    (
        "unknown-key",
        lambda d: d["zswap"].__setitem__("max_pool_pct", 10),
        "zswap.max_pool_pct",
        ("unknown key",),
    ),
    (
        "unknown-top-level-key",
        lambda d: d.__setitem__("zswapp", {"enabled": "Y"}),
        "zswapp",
        ("unknown key",),
    ),
    (
        "unknown-nested-key",
        lambda d: proc0(d)["pattern"].__setitem__("stride", 2),
        "workload.processes[0].pattern.stride",
        ("unknown key",),
    ),
    (
        "missing-required-key",
        lambda d: d.pop("workload"),
        "workload",
        ("required", "missing"),
    ),
    (
        "max-pool-percent-150",
        lambda d: d["zswap"].__setitem__("max_pool_percent", 150),
        "zswap.max_pool_percent",
        ("less than or equal to 100", "150"),
    ),
    (
        "accept-threshold-negative",
        lambda d: d["zswap"].__setitem__("accept_threshold_percent", -1),
        "zswap.accept_threshold_percent",
        ("greater than or equal to 0",),
    ),
    (
        "negative-footprint",
        lambda d: proc0(d).__setitem__("footprint", "-5MiB"),
        "workload.processes[0].footprint",
        ("negative", "-5MiB"),
    ),
    (
        "zero-footprint",
        lambda d: proc0(d).__setitem__("footprint", 0),
        "workload.processes[0].footprint",
        ("> 0",),
    ),
    (
        "negative-ram",
        lambda d: d["memory"].__setitem__("ram", -1),
        "memory.ram",
        ("negative", "-1"),
    ),
    (
        "negative-swap-size",
        lambda d: d["swap"].__setitem__("size", "-2GiB"),
        "swap.size",
        ("negative",),
    ),
    (
        "bad-size-string",
        lambda d: d["memory"].__setitem__("ram", "lots of MiB"),
        "memory.ram",
        ("cannot read size", "lots of MiB"),
    ),
    (
        "bad-size-unit",
        lambda d: d["swap"].__setitem__("size", "2GB/s"),
        "swap.size",
        ("cannot read size",),
    ),
    (
        "content-not-summing-to-1",
        lambda d: proc0(d).__setitem__("content", {"zero": 0.1, "text": 0.5}),
        "workload.processes[0].content",
        ("sum to 1", "0.6"),
    ),
    (
        "zipf-without-s",
        lambda d: proc0(d).__setitem__("pattern", {"kind": "zipf"}),
        "workload.processes[0].pattern",
        ("zipf", "'s'"),
    ),
    (
        "param-not-for-pattern",
        lambda d: proc0(d).__setitem__("pattern", {"kind": "sequential", "s": 1.0}),
        "workload.processes[0].pattern",
        ("does not apply",),
    ),
    (
        "unknown-pattern-kind",
        lambda d: proc0(d).__setitem__("pattern", {"kind": "random"}),
        "workload.processes[0].pattern.kind",
        ("random",),
    ),
    (
        "passes-and-duration",
        lambda d: proc0(d).__setitem__("duration_s", 1.0),
        "workload.processes[0]",
        ("exactly one", "passes", "duration_s"),
    ),
    (
        "neither-passes-nor-duration",
        lambda d: proc0(d).pop("passes"),
        "workload.processes[0]",
        ("exactly one",),
    ),
    (
        "bad-cpulist",
        lambda d: proc0(d).__setitem__("cpus", "3-1"),
        "workload.processes[0].cpus",
        ("backwards",),
    ),
    (
        "empty-process-list",
        lambda d: d["workload"].__setitem__("processes", []),
        "workload.processes",
        ("at least 1",),
    ),
    (
        "release-out-of-range",
        lambda d: d["kernel"].__setitem__("release", "2.6"),
        "kernel.release",
        ("outside the modelled range", "2.6"),
    ),
    (
        "release-unreadable",
        lambda d: d["kernel"].__setitem__("release", "latest"),
        "kernel.release",
        ("cannot read kernel release",),
    ),
    (
        "release-as-float",
        lambda d: d["kernel"].__setitem__("release", 6.12),
        "kernel.release",
        ("as a string", "6.12"),
    ),
    (
        "param-absent-in-release",
        lambda d: d["kernel"].__setitem__("release", "6.1"),  # usemem sets shrinker_enabled
        "zswap.shrinker_enabled",
        ("6.1", "no such parameter"),
    ),
    (
        "zpool-not-in-release",
        lambda d: (
            d["kernel"].__setitem__("release", "6.18"),
            d["zswap"].__setitem__("zpool", "z3fold"),
        ),
        "zswap.zpool",
        ("z3fold", "not available", "6.18"),
    ),
    (
        "unknown-zpool",
        lambda d: d["zswap"].__setitem__("zpool", "zfoo"),
        "zswap.zpool",
        ("unknown zpool", "zfoo"),
    ),
]


@pytest.mark.parametrize(
    ("mutate", "key_path", "words"),
    [pytest.param(m, k, w, id=i) for i, m, k, w in SCENARIO_CASES],
)
def test_bad_scenario(
    tmp_path: Path, mutate: Mutation, key_path: str, words: tuple[str, ...]
) -> None:
    path = bad_scenario(tmp_path, mutate)
    assert_one_line(run_scenario(path), path, key_path, *words)


# --- scenario against profile -------------------------------------------------


CONSISTENCY_CASES: list[tuple[str, Mutation, str, tuple[str, ...]]] = [
    (
        "unknown-compressor",
        lambda d: d["zswap"].__setitem__("compressor", "lz77"),
        "zswap.compressor",
        ("lz77", "not offered", "laptop-2vcpu-sata"),
    ),
    (
        "compressor-not-in-profile",
        lambda d: d["zswap"].__setitem__("compressor", "842"),
        "zswap.compressor",
        ("'842'", "not offered"),
    ),
    (
        "swap-device-not-in-profile",
        lambda d: d["swap"].__setitem__("device", "nvme9"),
        "swap.device",
        ("nvme9", "not in profile"),
    ),
    (
        "swap-larger-than-device",
        lambda d: d["swap"].__setitem__("size", "2TiB"),
        "swap.size",
        ("exceeds the device capacity",),
    ),
    (
        "ram-larger-than-profile",
        lambda d: d["memory"].__setitem__("ram", "64GiB"),
        "memory.ram",
        ("exceeds the profile",),
    ),
    (
        "footprint-exceeds-ram-plus-swap",
        lambda d: proc0(d).__setitem__("footprint", "3GiB"),
        "workload.processes",
        ("exceeds memory", "plus swap", "OOM"),
    ),
    (
        "process-cpu-not-in-profile",
        lambda d: proc0(d).__setitem__("cpus", "0,5"),
        "workload.processes[0].cpus",
        ("CPU 5", "does not exist", "2 CPUs"),
    ),
]


@pytest.mark.parametrize(
    ("mutate", "key_path", "words"),
    [pytest.param(m, k, w, id=i) for i, m, k, w in CONSISTENCY_CASES],
)
def test_scenario_inconsistent_with_profile(
    tmp_path: Path, mutate: Mutation, key_path: str, words: tuple[str, ...]
) -> None:
    path = bad_scenario(tmp_path, mutate)
    assert_one_line(run_scenario(path), path, key_path, *words)


# --- hardware profile ---------------------------------------------------------


def _add_second_node(d: dict[str, Any], cpus: str) -> None:
    d["numa"]["nodes"].append({"id": 1, "memory": "4GiB", "cpus": cpus})
    d["numa"]["distances"] = [[10, 20], [20, 10]]
    d["numa"]["latency_ns"] = [[80.0, 130.0], [130.0, 80.0]]
    d["numa"]["bandwidth_mbps"] = [[20480, 10000], [10000, 20480]]


def _rename_compressor(d: dict[str, Any], old: str, new: str) -> None:
    d["compressors"][new] = d["compressors"].pop(old)


PROFILE_CASES: list[tuple[str, Mutation, str, tuple[str, ...]]] = [
    (
        "cpu-in-two-nodes",
        lambda d: _add_second_node(d, "1"),  # node 0 has "0-1"
        "numa.nodes",
        ("CPU 1", "node 0", "node 1"),
    ),
    (
        "distances-wrong-shape",
        lambda d: d["numa"].__setitem__("distances", [[10, 20]]),
        "numa.distances",
        ("1x1", "1x2"),
    ),
    (
        "latency-wrong-shape",
        lambda d: d["numa"].__setitem__("latency_ns", [[80.0], [80.0]]),
        "numa.latency_ns",
        ("1x1",),
    ),
    (
        "distances-diagonal-not-10",
        lambda d: d["numa"].__setitem__("distances", [[12]]),
        "numa.distances[0][0]",
        ("must be 10", "12"),
    ),
    (
        "node-ids-not-0-to-n",
        lambda d: d["numa"]["nodes"][0].__setitem__("id", 3),
        "numa.nodes",
        ("node ids",),
    ),
    (
        "cpus-missing-from-nodes",
        lambda d: d["numa"]["nodes"][0].__setitem__("cpus", "0"),
        "numa.nodes",
        ("[1]", "in no node"),
    ),
    (
        "node-cpu-does-not-exist",
        lambda d: d["numa"]["nodes"][0].__setitem__("cpus", "0-2"),
        "numa.nodes",
        ("[2]", "do not exist"),
    ),
    (
        "negative-node-memory",
        lambda d: d["numa"]["nodes"][0].__setitem__("memory", "-4GiB"),
        "numa.nodes[0].memory",
        ("negative",),
    ),
    (
        "hdd-without-hdd-section",
        lambda d: sda(d).__setitem__("kind", "hdd"),
        "swap_devices.sda",
        ("kind hdd", "'hdd' section"),
    ),
    (
        "unknown-device-kind",
        lambda d: sda(d).__setitem__("kind", "tape"),
        "swap_devices.sda.kind",
        ("tape",),
    ),
    (
        "unknown-compressor-name",
        lambda d: _rename_compressor(d, "lzo", "lzx"),
        "compressors.lzx",
        ("unknown compressor", "lzx"),
    ),
    (
        "missing-content-class",
        lambda d: d["compressors"]["lz4"]["compress_ns"].pop("binary"),
        "compressors.lz4.compress_ns",
        ("missing content class", "binary"),
    ),
    (
        "lognormal-without-sigma-or-p99",
        lambda d: sda(d)["read_latency_us"].pop("p99"),
        "swap_devices.sda.read_latency_us",
        ("lognormal", "sigma", "p99"),
    ),
    (
        "lognormal-with-sigma-and-p99",
        lambda d: sda(d)["write_latency_us"].__setitem__("sigma", 0.3),
        "swap_devices.sda.write_latency_us",
        ("exactly one",),
    ),
    (
        "unknown-dist",
        lambda d: sda(d)["read_latency_us"].__setitem__("dist", "pareto"),
        "swap_devices.sda.read_latency_us.dist",
        ("pareto",),
    ),
    (
        "negative-capacity",
        lambda d: sda(d).__setitem__("capacity", -1),
        "swap_devices.sda.capacity",
        ("negative",),
    ),
    (
        "wrong-type-float",
        lambda d: d["cpu"].__setitem__("clock_ghz", "fast"),
        "cpu.clock_ghz",
        ("number", "fast"),
    ),
    (
        "unknown-key",
        lambda d: d["cpu"].__setitem__("cores", 2),
        "cpu.cores",
        ("unknown key",),
    ),
    (
        "page-size-not-power-of-two",
        lambda d: d["memory"].__setitem__("page_size", 5000),
        "memory.page_size",
        ("power of two",),
    ),
]


@pytest.mark.parametrize(
    ("mutate", "key_path", "words"),
    [pytest.param(m, k, w, id=i) for i, m, k, w in PROFILE_CASES],
)
def test_bad_profile(
    tmp_path: Path, mutate: Mutation, key_path: str, words: tuple[str, ...]
) -> None:
    path = bad_profile(tmp_path, mutate)
    assert_one_line(cli("show-profile", path), path, key_path, *words)


def test_bad_profile_via_run(tmp_path: Path) -> None:
    path = bad_profile(tmp_path, lambda d: d["numa"]["nodes"][0].__setitem__("cpus", "0"))
    assert_one_line(run_profile(path), path, "numa.nodes", "in no node")


def test_cpu_in_two_nodes_two_socket_profile(tmp_path: Path) -> None:
    path = bad_profile(
        tmp_path, lambda d: d["numa"]["nodes"][1].__setitem__("cpus", "17-35,54-71"), src=XEON
    )
    assert_one_line(cli("show-profile", path), path, "numa.nodes", "CPU 17", "node 0", "node 1")


# --- --set overrides ----------------------------------------------------------


def test_set_without_equals() -> None:
    proc = cli("run", "usemem", "--hardware", HW, "-q", "--set", "zswap.enabled")
    assert_one_line(proc, USEMEM, None, "--set", "zswap.enabled", "key.path=value")


def test_set_unknown_key() -> None:
    proc = cli("run", "usemem", "--hardware", HW, "-q", "--set", "zswap.max_pool_pct=10")
    assert_one_line(proc, USEMEM, "zswap.max_pool_pct", "unknown key")


def test_set_out_of_range() -> None:
    proc = cli("run", "usemem", "--hardware", HW, "-q", "--set", "zswap.max_pool_percent=150")
    assert_one_line(proc, USEMEM, "zswap.max_pool_percent", "less than or equal to 100")


def test_set_no_such_list_item() -> None:
    proc = cli(
        "run", "usemem", "--hardware", HW, "-q", "--set", "workload.processes.3.footprint=1MiB"
    )
    assert_one_line(proc, USEMEM, "workload.processes.3", "no list item 3")


def test_set_into_a_scalar() -> None:
    proc = cli("run", "usemem", "--hardware", HW, "-q", "--set", "zswap.compressor.level=3")
    assert_one_line(proc, USEMEM, "zswap.compressor", "not a section")


# --- the Python API raises ConfigError with file and key path -----------------


def test_api_wrong_type(tmp_path: Path) -> None:
    path = bad_scenario(tmp_path, lambda d: d["zswap"].__setitem__("max_pool_percent", "lots"))
    with pytest.raises(ConfigError) as ei:
        load_scenario(path)
    assert ei.value.file == str(path)
    assert ei.value.key_path == "zswap.max_pool_percent"
    assert "integer" in ei.value.problem


def test_api_model_level_error_has_key_path(tmp_path: Path) -> None:
    path = bad_scenario(tmp_path, lambda d: d["kernel"].__setitem__("release", "6.1"))
    with pytest.raises(ConfigError) as ei:
        load_scenario(path)
    assert ei.value.file == str(path)
    assert ei.value.key_path == "zswap.shrinker_enabled"
    assert "no such parameter" in ei.value.problem


def test_api_profile_cpus_missing(tmp_path: Path) -> None:
    path = bad_profile(tmp_path, lambda d: d["numa"]["nodes"][0].__setitem__("cpus", "0"))
    with pytest.raises(ConfigError) as ei:
        load_profile(path)
    assert ei.value.file == str(path)
    assert ei.value.key_path == "numa.nodes"
    assert "in no node" in ei.value.problem


def test_api_duplicate_key(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(
        USEMEM.read_text().replace("  zpool: zsmalloc\n", "  zpool: zsmalloc\n  zpool: zbud\n"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as ei:
        load_scenario(path)
    assert ei.value.file == str(path)
    assert ei.value.key_path == "zswap.zpool"
    assert "duplicate key" in ei.value.problem


def test_api_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as ei:
        load_profile(path)
    assert ei.value.file == str(path)
    assert ei.value.key_path is None
    assert "no such file" in ei.value.problem


def test_api_consistency(tmp_path: Path) -> None:
    path = bad_scenario(tmp_path, lambda d: d["zswap"].__setitem__("compressor", "lz77"))
    with pytest.raises(ConfigError) as ei:
        api.prepare(path, HW)
    assert ei.value.file == str(path)
    assert ei.value.key_path == "zswap.compressor"


def test_api_set_override_error() -> None:
    with pytest.raises(ConfigError) as ei:
        load_scenario("usemem", ["swap.size=-1"])
    assert ei.value.file == str(USEMEM)
    assert ei.value.key_path == "swap.size"
    assert "negative" in ei.value.problem
