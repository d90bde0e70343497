"""Run records (perfmodel-run/1): loading, refusing malformed ones, saving, measured metrics."""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfmodel.errors import ConfigError
from perfmodel.validate import record as record_mod
from perfmodel.validate.record import (
    RunRecord,
    diff_snapshots,
    load_record,
    measured,
    parse_record,
    record_to_dict,
    save_record,
)

DATA = Path(__file__).resolve().parent / "data" / "records"
LAB = DATA / "lab-612-small.json"


@pytest.fixture
def raw() -> dict[str, Any]:
    return json.loads(LAB.read_text())


def write(tmp_path: Path, data: Any, name: str = "rec.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(data, indent=1) if name.endswith(".json") else yaml.safe_dump(data))
    return p


# --- loading --------------------------------------------------------------------


def test_load_synthetic_record() -> None:
    rec = load_record(LAB)
    assert rec.format == "perfmodel-run/1"
    assert rec.id == "lab-612-lz4-p20-seq-small-a"
    assert rec.source == "lab" and rec.host.accel == "kvm"
    assert rec.host.model_extra and rec.host.model_extra["qemu"] == "8.2.2"
    assert rec.kernel.release.startswith("6.12")
    assert rec.zswap_parameters["compressor"] == "lz4"
    assert rec.sysctl["vm.page-cluster"] == "3"
    assert rec.memory.ram_bytes == 57856 * 1024 and rec.memory.cgroup is None
    assert len(rec.snapshots.passes) == 4
    assert [p.pass_ for p in rec.workload.passes] == [0, 1, 2, 3]
    assert rec.workload.passes[0].kind == "fill"
    assert rec.workload.latency_us is not None and rec.workload.latency_us.p99 == 61.3
    assert rec.path == str(LAB)


def test_yaml_record_loads_the_same(tmp_path: Path, raw: dict[str, Any]) -> None:
    p = write(tmp_path, raw, "rec.yaml")
    assert record_to_dict(load_record(p)) == record_to_dict(load_record(LAB))


def test_yaml_unquoted_timestamp_is_accepted(tmp_path: Path, raw: dict[str, Any]) -> None:
    text = yaml.safe_dump(raw).replace("'2025-11-20T14:31:07Z'", "2025-11-20T14:31:07Z")
    assert "created: 2025-11-20T14:31:07Z" in text
    p = tmp_path / "rec.yaml"
    p.write_text(text)
    assert load_record(p).created.startswith("2025-11-20T14:31:07")


def test_host_takes_free_form_facts(tmp_path: Path, raw: dict[str, Any]) -> None:
    raw["host"]["anything"] = {"nested": [1, 2]}
    assert load_record(write(tmp_path, raw)).host.model_extra["anything"] == {"nested": [1, 2]}


def test_cgroup_with_the_kernel_file_names(tmp_path: Path, raw: dict[str, Any]) -> None:
    raw["memory"]["cgroup"] = {"memory.max": "67108864", "memory.high": "max",
                               "memory.zswap.max": "max"}
    rec = load_record(write(tmp_path, raw))
    assert rec.memory.cgroup is not None and rec.memory.cgroup.memory_max == "67108864"
    assert record_to_dict(rec)["memory"]["cgroup"]["memory.max"] == "67108864"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        *parents, last = _split(path)
        node: Any = d
        for k in parents:
            node = node[k]
        node[last] = value

    return mutate


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        *parents, last = _split(path)
        node: Any = d
        for k in parents:
            node = node[k]
        del node[last]

    return mutate


def _split(path: str) -> list[str | int]:
    return [int(k) if k.isdigit() else k for k in path.split("/")]


def _dup_pass(d: dict[str, Any]) -> None:
    d["workload"]["passes"][2]["pass"] = 1


MALFORMED = [
    ("format", _set("format", "perfmodel-run/2"), "format", "unsupported record format"),
    ("format-missing", _del("format"), "format", "required key is missing"),
    ("id-missing", _del("id"), "id", "required key is missing"),
    ("id-empty", _set("id", ""), "id", "at least 1 character"),
    ("created", _set("created", "last tuesday"), "created", "ISO 8601"),
    ("source", _set("source", "qemu"), "source", "'lab' or 'collect'"),
    ("accel", _del("host/accel"), "host.accel", "required key is missing"),
    ("accel-value", _set("host/accel", "xen"), "host.accel", "'kvm', 'tcg' or 'native'"),
    ("release-float", _set("kernel/release", 6.12), "kernel.release", "valid string"),
    ("cmdline-missing", _del("kernel/cmdline"), "kernel.cmdline", "required key is missing"),
    ("param-bool", _set("zswap_parameters/enabled", True), "zswap_parameters.enabled",
     "valid string"),
    ("param-int", _set("zswap_parameters/max_pool_percent", 20),
     "zswap_parameters.max_pool_percent", "valid string"),
    ("sysctl-required", _del("sysctl/vm.swappiness"), "sysctl", "'vm.swappiness' is required"),
    ("ram-string", _set("memory/ram_bytes", "64M"), "memory.ram_bytes", "valid integer"),
    ("ram-zero", _set("memory/ram_bytes", 0), "memory.ram_bytes", "greater than 0"),
    ("cgroup-partial", _set("memory/cgroup", {"memory.max": "max"}),
     "memory.cgroup.memory.high", "required key is missing"),
    ("scenario-list", _set("scenario", ["usemem"]), "scenario", "valid dictionary"),
    ("hardware-missing", _del("hardware"), "hardware", "required key is missing"),
    ("counter-string", _set("snapshots/before/vmstat/zswpout", "12"),
     "snapshots.before.vmstat.zswpout", "valid integer"),
    ("counter-float", _set("snapshots/after/vmstat/pswpin", 1.5),
     "snapshots.after.vmstat.pswpin", "valid integer"),
    ("counter-bool", _set("snapshots/passes/2/debugfs_zswap/stored_pages", True),
     "snapshots.passes[2].debugfs_zswap.stored_pages", "valid integer"),
    ("numastat-flat", _set("snapshots/after/numastat/node0", 5),
     "snapshots.after.numastat.node0", "valid dictionary"),
    ("after-missing", _del("snapshots/after"), "snapshots.after", "required key is missing"),
    ("memory_stat-missing", _del("snapshots/before/memory_stat"),
     "snapshots.before.memory_stat", "required key is missing"),
    ("t-negative", _set("snapshots/passes/0/t_s", -1.0), "snapshots.passes[0].t_s",
     "greater than or equal to 0"),
    ("unknown-top", _set("notes", "x"), "notes", "unknown key"),
    ("unknown-snapshot", _set("snapshots/after/zoneinfo", {}), "snapshots.after.zoneinfo",
     "unknown key"),
    ("unknown-pass", _set("workload/passes/1/throughput", 1.0), "workload.passes[1].throughput",
     "unknown key"),
    ("pass-kind", _set("workload/passes/1/kind", "read"), "workload.passes[1].kind",
     "'fill' or 'access'"),
    ("pass-dup", _dup_pass, "workload.passes", "pass 1 is reported twice"),
    ("latency-missing", _del("workload/latency_us/p99"), "workload.latency_us.p99",
     "required key is missing"),
    ("missing-not-list", _set("missing", "debugfs"), "missing", "valid list"),
    ("commands-missing", _del("commands"), "commands", "required key is missing"),
]


@pytest.mark.parametrize(("case", "mutate", "key", "problem"), MALFORMED,
                         ids=[m[0] for m in MALFORMED])
def test_malformed_record_is_one_line_naming_key(
    tmp_path: Path, raw: dict[str, Any], case: str, mutate: Callable[[dict[str, Any]], None],
    key: str, problem: str,
) -> None:
    mutate(raw)
    p = write(tmp_path, raw)
    with pytest.raises(ConfigError) as ei:
        load_record(p)
    e = ei.value
    assert e.file == str(p)
    assert e.key_path == key, str(e)
    assert problem in e.problem, str(e)
    assert "\n" not in str(e)
    assert str(e).startswith(f"{p}: {key}: ")


def test_same_errors_from_yaml(tmp_path: Path, raw: dict[str, Any]) -> None:
    raw["snapshots"]["before"]["vmstat"]["zswpout"] = "12"
    p = write(tmp_path, raw, "rec.yml")
    with pytest.raises(ConfigError, match=r"snapshots\.before\.vmstat\.zswpout: .*integer"):
        load_record(p)


def test_nan_is_refused(tmp_path: Path) -> None:
    text = LAB.read_text().replace('"p99": 61.3', '"p99": NaN')
    assert "NaN" in text
    p = tmp_path / "rec.json"
    p.write_text(text)
    with pytest.raises(ConfigError, match=r"workload\.latency_us\.p99: .*finite"):
        load_record(p)


@pytest.mark.parametrize(
    ("text", "name", "problem"),
    [
        ('{"format": "perfmodel-run/1",', "rec.json", "malformed JSON: line 1"),
        ("[1, 2]", "rec.json", "top level must be a mapping, got list"),
        ('{"id": "a", "id": "b"}', "rec.json", "id: duplicate key"),
        ("id: a\nid: b\n", "rec.yaml", "id: duplicate key"),
        ("id: [a\n", "rec.yaml", "malformed YAML"),
        ("", "rec.json", "file is empty"),
    ],
)
def test_unreadable_record_files(tmp_path: Path, text: str, name: str, problem: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(ConfigError) as ei:
        load_record(p)
    assert problem in str(ei.value)
    assert str(ei.value).startswith(str(p))


def test_no_such_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_record(tmp_path / "nope.json")
    with pytest.raises(ConfigError, match="is a directory"):
        load_record(tmp_path)


def test_yaml_objects_are_not_constructed(tmp_path: Path) -> None:
    p = tmp_path / "rec.yaml"
    p.write_text("format: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_record(p)


# --- saving ---------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    rec = load_record(LAB)
    out = tmp_path / "sub" / "copy.json"
    save_record(rec, out)
    again = load_record(out)
    assert record_to_dict(again) == record_to_dict(rec)
    assert json.loads(out.read_text())["workload"]["passes"][0]["pass"] == 0
    save_record(rec, tmp_path / "copy.yaml")
    assert record_to_dict(load_record(tmp_path / "copy.yaml")) == record_to_dict(rec)
    assert sorted(f.name for f in out.parent.iterdir()) == ["copy.json"]


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = load_record(LAB)
    out = tmp_path / "rec.json"
    out.write_text("previous contents")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(record_mod.os, "replace", broken_replace)
    with pytest.raises(ConfigError, match="cannot write: No space left on device"):
        save_record(rec, out)
    assert out.read_text() == "previous contents"
    assert [f.name for f in tmp_path.iterdir()] == ["rec.json"]


def test_save_replaces_existing(tmp_path: Path) -> None:
    out = tmp_path / "rec.json"
    out.write_text("old")
    save_record(load_record(LAB), out)
    assert load_record(out).id == "lab-612-lz4-p20-seq-small-a"
    assert os.listdir(tmp_path) == ["rec.json"]


# --- measured metrics -----------------------------------------------------------


def test_measured_counters_are_after_minus_before() -> None:
    m = measured(load_record(LAB))
    assert m["zswpout"] == 42318
    assert m["zswpin"] == 35102
    assert m["pswpout"] == 9874
    assert m["pgmajfault"] == 12689 - 1187
    assert m["swap_ra"] == 58211 and m["swap_ra_hit"] == 55730
    assert m["swpout_zero"] == 2457 and m["swpin_zero"] == 7371
    assert m["zswpwb"] == 0
    assert m["pool_limit_hit"] == 3911
    assert m["reject_compress_fail"] == 1402 and m["reject_compress_poor"] == 0
    assert m["reject_compress"] == 1402
    assert m["written_back_pages"] == 0
    assert m["node0.numa_hit"] == 256511 - 131204
    assert m["node0.other_node"] == 0
    # Only the named counters: not every vmstat line.
    assert "pgfault" not in m and "nr_free_pages" not in m and "reject_kmemcache_fail" not in m


def test_measured_gauges_come_from_the_last_pass() -> None:
    rec = load_record(LAB)
    m = measured(rec)
    # The pool empties when usemem exits: `after` holds 53 pages, the last pass 6890.
    assert rec.snapshots.after.debugfs_zswap["stored_pages"] == 53
    assert m["stored_pages"] == 6890
    assert m["pool_total_size"] == 13127680


def test_measured_workload_figures() -> None:
    m = measured(load_record(LAB))
    assert m["pass0_elapsed_s"] == 0.1342 and m["pass0_throughput_mbps"] == 750.1
    assert m["pass3_elapsed_s"] == 0.2127
    assert m["elapsed_s"] == 0.7893
    assert m["access_p99_latency_us"] == 61.3
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())


def _without(raw: dict[str, Any], section: str, names: tuple[str, ...]) -> dict[str, Any]:
    d = copy.deepcopy(raw)
    for snap in [d["snapshots"]["before"], d["snapshots"]["after"], *d["snapshots"]["passes"]]:
        for n in names:
            snap[section].pop(n, None)
    return d


def test_counters_an_older_kernel_lacks_are_absent(raw: dict[str, Any]) -> None:
    # A 6.6 kernel: no zswpwb, no swp*_zero, no reject_compress_fail.
    d = _without(raw, "vmstat", ("zswpwb", "swpin_zero", "swpout_zero"))
    d = _without(d, "debugfs_zswap", ("reject_compress_fail",))
    m = measured(parse_record(d, "old.json"))
    for name in ("zswpwb", "swpin_zero", "swpout_zero", "reject_compress_fail"):
        assert name not in m
    assert m["reject_compress"] == m["reject_compress_poor"] == 0
    assert m["zswpout"] == 42318


def test_counter_in_one_snapshot_only_is_absent(raw: dict[str, Any]) -> None:
    del raw["snapshots"]["before"]["vmstat"]["zswpin"]
    assert "zswpin" not in measured(parse_record(raw, "r.json"))


def test_no_debugfs_means_no_debugfs_metrics(raw: dict[str, Any]) -> None:
    for snap in [raw["snapshots"]["before"], raw["snapshots"]["after"],
                 *raw["snapshots"]["passes"]]:
        snap["debugfs_zswap"] = {}
    raw["missing"] = ["debugfs: not mounted"]
    m = measured(parse_record(raw, "r.json"))
    for name in ("pool_limit_hit", "stored_pages", "pool_total_size", "reject_compress"):
        assert name not in m
    assert m["zswpout"] == 42318


def test_no_pass_snapshots_no_gauges_and_no_latency(raw: dict[str, Any]) -> None:
    raw["snapshots"]["passes"] = []
    raw["workload"]["latency_us"] = None
    m = measured(parse_record(raw, "r.json"))
    assert "stored_pages" not in m and "pool_total_size" not in m
    assert "access_p99_latency_us" not in m


def test_a_stride_through_sequential_passes_is_not_a_latency_sample(raw: dict[str, Any]) -> None:
    """Older lab runs timed every 64th access. In a sequential pass that stride sits on
    one offset of every readahead window, so the percentiles say where the mapping
    started, not how long accesses take: they are not compared. In random order, or
    with the accesses chosen by a hash, they are."""
    from perfmodel.validate.compare import notes
    from perfmodel.validate.record import phase_locked

    assert raw["workload"]["latency_us"]["sampling"] == "hashed"
    assert "access_p99_latency_us" in measured(parse_record(raw, "r.json"))
    del raw["workload"]["latency_us"]["sampling"]  # a record from before: a stride
    rec = parse_record(raw, "r.json")
    assert rec.workload.latency_us is not None and rec.workload.latency_us.sampling == "stride"
    kind = raw["scenario"]["workload"]["processes"][0]["pattern"]["kind"]
    assert kind == "sequential" and phase_locked(rec)
    assert "access_p99_latency_us" not in measured(rec)
    assert any("access latency not compared" in n for n in notes(rec))
    raw["scenario"]["workload"]["processes"][0]["pattern"]["kind"] = "permutation"
    rec = parse_record(raw, "r.json")
    assert not phase_locked(rec) and "access_p99_latency_us" in measured(rec)


def test_counter_going_down_is_an_error(raw: dict[str, Any]) -> None:
    raw["snapshots"]["before"]["vmstat"]["zswpout"] = 50000
    rec = parse_record(raw, "r.json")
    with pytest.raises(ConfigError, match=r"^r\.json: snapshots\.after\.vmstat\.zswpout: .*down"):
        measured(rec)


def test_diff_snapshots() -> None:
    rec: RunRecord = load_record(LAB)
    s = rec.snapshots
    d = diff_snapshots(s.before, s.after)
    assert d["vmstat.zswpout"] == 42318
    assert d["t_s"] == pytest.approx(0.812)
    assert d["debugfs_zswap.stored_pages"] == 53
    assert d["meminfo.MemFree"] == 46910 - 39280
    assert d["numastat.node0.numa_hit"] == 256511 - 131204
    assert d["nr_zspages.node0"] == 52
    assert diff_snapshots(s.after, s.before)["vmstat.zswpout"] == -42318
    assert all(v == 0 for v in diff_snapshots(s.before, s.before).values())
    # The last pass against the one before it: a pass's own activity.
    p = diff_snapshots(s.passes[2], s.passes[3])
    assert p["vmstat.zswpout"] == 42318 - 33362


def test_diff_snapshots_skips_one_sided_values(raw: dict[str, Any]) -> None:
    raw["snapshots"]["after"]["vmstat"]["brand_new"] = 5
    del raw["snapshots"]["after"]["vmstat"]["pgfault"]
    rec = parse_record(raw, "r.json")
    d = diff_snapshots(rec.snapshots.before, rec.snapshots.after)
    assert "vmstat.brand_new" not in d and "vmstat.pgfault" not in d
