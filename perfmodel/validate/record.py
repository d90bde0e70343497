"""Run records (format perfmodel-run/1): schema, loading, saving, measured metrics.

A run record is one measured kernel run, written by the QEMU lab or by
`perfmodel collect` and read by `perfmodel validate`. The contract is
validation/FORMAT.md; this module is its schema. Every malformed record is
refused with one ConfigError line naming the file and the key path.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, ConfigDict, Field, PrivateAttr, field_validator

from perfmodel.config.base import StrictModel
from perfmodel.config.loader import parse_yaml, validate
from perfmodel.errors import ConfigError

FORMAT = "perfmodel-run/1"

# Counters compared as after - before (FORMAT.md: "monotonic counters").
VMSTAT_COUNTERS = (
    "zswpout",
    "zswpin",
    "zswpwb",
    "pswpout",
    "pswpin",
    "pgmajfault",
    "swap_ra",
    "swap_ra_hit",
    "swpout_zero",
    "swpin_zero",
)
DEBUGFS_COUNTERS = (
    "pool_limit_hit",
    "written_back_pages",
    "reject_compress_poor",
    "reject_compress_fail",
    "reject_reclaim_fail",
    "reject_alloc_fail",
)
# debugfs files that are levels, not counters: taken from the last pass snapshot.
DEBUGFS_GAUGES = ("stored_pages", "pool_total_size", "same_filled_pages",
                  "stored_incompressible_pages")
COMPARED_GAUGES = ("stored_pages", "pool_total_size")
# Counters also compared pass by pass ("pass1.zswpwb"): between a pass snapshot and the
# one before it (snapshots.before for pass 0).
PER_PASS_COUNTERS = ("zswpout", "zswpin", "zswpwb", "pswpout", "pswpin", "pool_limit_hit",
                     "written_back_pages")
# The workload's own sampled access latency (all accesses, not only faults).
ACCESS_P99 = "access_p99_latency_us"
SHRINK_WORKER_RUNS = "shrink_worker_runs"


class _RecordModel(StrictModel):
    """Strict types: a string is not a number, a float is not an int, NaN is refused."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False)


def _iso8601(v: Any) -> Any:
    # An unquoted timestamp in a YAML record arrives as a datetime.
    if isinstance(v, datetime):
        return v.isoformat()
    return v


class Host(_RecordModel):
    """Free-form facts about where the run happened; only accel is fixed."""

    model_config = ConfigDict(extra="allow")

    accel: Literal["kvm", "tcg", "native"]


class KernelInfo(_RecordModel):
    release: str = Field(min_length=1)
    cmdline: str


class CgroupInfo(_RecordModel):
    memory_max: str = Field(alias="memory.max")
    memory_high: str = Field(alias="memory.high")
    memory_zswap_max: str = Field(alias="memory.zswap.max")


class MemoryInfo(_RecordModel):
    ram_bytes: int = Field(gt=0)
    cgroup: CgroupInfo | None


class Snapshot(_RecordModel):
    t_s: float = Field(ge=0)
    debugfs_zswap: dict[str, int]
    vmstat: dict[str, int]
    meminfo: dict[str, int]
    memory_stat: dict[str, int] | None
    numastat: dict[str, dict[str, int]]
    nr_zspages: dict[str, int] | None
    # Free pages on each CPU's per-CPU lists, per node (zoneinfo pagesets); newer runs.
    pcp: dict[str, dict[str, int]] | None = None
    # /proc/stat's cpu line in USER_HZ ticks (user, system, irq, softirq, ...); newer runs.
    cpu_ticks: dict[str, int] | None = None


class Snapshots(_RecordModel):
    before: Snapshot
    after: Snapshot
    passes: list[Snapshot]


class PassReport(_RecordModel):
    pass_: int = Field(alias="pass", ge=0)
    kind: Literal["fill", "access"]
    elapsed_s: float = Field(ge=0)
    throughput_mbps: float = Field(ge=0)
    accesses: int = Field(ge=0)
    # Pages touched on each CPU (usemem's sched_getcpu() samples), from round 7 on.
    cpu_pages: list[Annotated[int, Field(ge=0)]] | None = None


class LatencyReport(_RecordModel):
    # Which accesses were timed: "stride", every K-th of a pass (older lab runs), or
    # "hashed", one in K chosen by a hash of its position. A stride through a
    # sequential pass locks onto the readahead window's phase, so it is no sample of
    # all accesses and its percentiles are not compared (see phase_locked()).
    sampling: Literal["stride", "hashed"] = "stride"
    count: int = Field(ge=0)
    p50: float = Field(ge=0)
    p90: float = Field(ge=0)
    p99: float = Field(ge=0)
    p999: float = Field(ge=0)


class WorkloadReport(_RecordModel):
    elapsed_s: float = Field(ge=0)
    passes: list[PassReport]
    latency_us: LatencyReport | None

    @field_validator("passes")
    @classmethod
    def _unique(cls, v: list[PassReport]) -> list[PassReport]:
        seen: set[int] = set()
        for p in v:
            if p.pass_ in seen:
                raise ValueError(f"pass {p.pass_} is reported twice")
            seen.add(p.pass_)
        return v


class RunRecord(_RecordModel):
    format: Literal["perfmodel-run/1"]
    id: str = Field(min_length=1)
    created: Annotated[str, BeforeValidator(_iso8601)]
    source: Literal["lab", "collect"]
    host: Host
    kernel: KernelInfo
    zswap_parameters: dict[str, str]
    sysctl: dict[str, str]
    memory: MemoryInfo
    scenario: dict[str, Any]
    hardware: str = Field(min_length=1)
    snapshots: Snapshots
    missing: list[str]
    workload: WorkloadReport
    commands: list[str]
    # Optional: the lab's ftrace summary (`perfmodel lab run --trace`); its count of
    # shrink-work runs is compared.
    trace: dict[str, Any] | None = None

    # The file the record was read from, for error messages; not part of the format.
    _path: str | None = PrivateAttr(default=None)

    @field_validator("created")
    @classmethod
    def _created(cls, v: str) -> str:
        try:
            datetime.fromisoformat(v)
        except ValueError:
            raise ValueError(f"not an ISO 8601 time (got {v!r})") from None
        return v

    @field_validator("sysctl")
    @classmethod
    def _sysctl(cls, v: dict[str, str]) -> dict[str, str]:
        for key in ("vm.page-cluster", "vm.swappiness"):
            if key not in v:
                raise ValueError(f"'{key}' is required")
        return v

    @property
    def path(self) -> str:
        """The file this record came from, or a stand-in naming its id."""
        return self._path or f"<record {self.id}>"

    def with_path(self, path: str | Path) -> RunRecord:
        self._path = str(path)
        return self


# --- reading and writing ------------------------------------------------------


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateJsonKey(k)
        out[k] = v
    return out


class _DuplicateJsonKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def parse_record(data: Any, name: str) -> RunRecord:
    """Validate already-parsed data as a run record; errors name `name`."""
    if not isinstance(data, dict):
        raise ConfigError(name, None, f"top level must be a mapping, got {type(data).__name__}")
    fmt = data.get("format")
    if fmt is not None and fmt != FORMAT:
        # Say this plainly rather than as a schema mismatch further down.
        raise ConfigError(name, "format", f"unsupported record format {fmt!r}, expected {FORMAT!r}")
    return validate(RunRecord, data, name).with_path(name)


def load_record(path: str | Path) -> RunRecord:
    """Read a run record from JSON (*.json) or YAML (anything else), safely."""
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise ConfigError(name, None, "no such file")
    if p.is_dir():
        raise ConfigError(name, None, "is a directory, not a run record")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(name, None, f"cannot read: {e}") from None
    if not text.strip():
        raise ConfigError(name, None, "file is empty")
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text, object_pairs_hook=_reject_duplicates)
        except _DuplicateJsonKey as e:
            raise ConfigError(name, e.key, "duplicate key") from None
        except json.JSONDecodeError as e:
            raise ConfigError(
                name, None, f"malformed JSON: line {e.lineno}, column {e.colno}: {e.msg}"
            ) from None
    else:
        data = parse_yaml(text, name)
    return parse_record(data, name)


def record_to_dict(record: RunRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json", by_alias=True)
    if data.get("trace") is None:
        data.pop("trace", None)  # optional: absent rather than null
    snaps = data.get("snapshots") or {}
    for snap in [snaps.get("before"), snaps.get("after"), *(snaps.get("passes") or [])]:
        if isinstance(snap, dict) and snap.get("cpu_ticks") is None:
            snap.pop("cpu_ticks", None)  # recorded by newer runs only
    return data


def save_record(record: RunRecord, path: str | Path) -> None:
    """Write a record atomically: a temporary file in the same directory, then rename.

    JSON unless the name ends in .yaml or .yml.
    """
    p = Path(path)
    data = record_to_dict(record)
    if p.suffix.lower() in (".yaml", ".yml"):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    tmp: str | None = None
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
        tmp = None
    except OSError as e:
        raise ConfigError(str(path), None, f"cannot write: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


# --- measured metrics -------------------------------------------------------------


def _flatten(snap: Snapshot) -> dict[str, float]:
    out: dict[str, float] = {"t_s": snap.t_s}
    for section in ("debugfs_zswap", "vmstat", "meminfo", "memory_stat", "nr_zspages"):
        values: dict[str, int] | None = getattr(snap, section)
        for k, v in (values or {}).items():
            out[f"{section}.{k}"] = float(v)
    for node, stats in snap.numastat.items():
        for k, v in stats.items():
            out[f"numastat.{node}.{k}"] = float(v)
    return out


def diff_snapshots(a: Snapshot, b: Snapshot) -> dict[str, float]:
    """b - a for every value present in both, keyed 'section.name' ('vmstat.zswpout',
    'numastat.node0.numa_hit', 't_s'). For gauges this is the change, not a level."""
    fa, fb = _flatten(a), _flatten(b)
    return {k: fb[k] - fa[k] for k in fb if k in fa}


def phase_locked(record: RunRecord) -> bool:
    """Whether the record's access latencies are a stride through sequential passes.

    Every K-th access (K a multiple of the readahead window) lands on the same
    offset in every window: on the major fault when the mapping starts where the
    windows do, on a readahead hit otherwise. Repeats of one scenario measured
    p50 20 us and 133 us that way. Passes in random order are not affected."""
    lat = record.workload.latency_us
    if lat is None or lat.sampling != "stride":
        return False
    procs = (record.scenario.get("workload") or {}).get("processes") or []
    kinds = {((p.get("pattern") or {}).get("kind")) for p in procs if isinstance(p, dict)}
    return "sequential" in kinds


def measured(record: RunRecord) -> dict[str, float]:
    """The measured metrics of a record, by the names `compare` uses.

    Counters are after - before; stored_pages and pool_total_size come from the
    last pass snapshot; counters the kernel does not have are absent, not zero.
    """
    snaps = record.snapshots
    delta = diff_snapshots(snaps.before, snaps.after)
    out: dict[str, float] = {}

    def counter(section: str, name: str) -> None:
        key = f"{section}.{name}"
        if key not in delta:
            return
        if delta[key] < 0:
            raise ConfigError(
                record.path, f"snapshots.after.{key}",
                f"counter went down during the run ({delta[key]:+g} from before)",
            )
        out[name] = delta[key]

    for name in VMSTAT_COUNTERS:
        counter("vmstat", name)
    for name in DEBUGFS_COUNTERS:
        counter("debugfs_zswap", name)
    rejects = [out[n] for n in ("reject_compress_poor", "reject_compress_fail") if n in out]
    if rejects:
        out["reject_compress"] = sum(rejects)

    if snaps.passes:
        last = snaps.passes[-1].debugfs_zswap
        for name in COMPARED_GAUGES:
            if name in last:
                out[name] = float(last[name])

    for p in sorted(record.workload.passes, key=lambda p: p.pass_):
        out[f"pass{p.pass_}_elapsed_s"] = p.elapsed_s
        out[f"pass{p.pass_}_throughput_mbps"] = p.throughput_mbps
        if p.cpu_pages and len(p.cpu_pages) > 1:
            # Where an unpinned worker ran; on one CPU it is just the access count.
            for j, n in enumerate(p.cpu_pages):
                out[f"pass{p.pass_}.cpu{j}_pages"] = float(n)
    prev = snaps.before
    for i, snap in enumerate(snaps.passes):
        d = diff_snapshots(prev, snap)
        prev = snap
        for name in PER_PASS_COUNTERS:
            section = "debugfs_zswap" if name in DEBUGFS_COUNTERS else "vmstat"
            value = d.get(f"{section}.{name}")
            if value is not None and value >= 0:
                out[f"pass{i}.{name}"] = value
    out["elapsed_s"] = record.workload.elapsed_s
    lat = record.workload.latency_us
    if lat is not None and lat.count > 0 and not phase_locked(record):
        out[ACCESS_P99] = lat.p99

    for key, value in delta.items():
        if key.startswith("numastat."):
            node_key = key[len("numastat."):]
            if value < 0:
                raise ConfigError(
                    record.path, f"snapshots.after.{key}",
                    f"counter went down during the run ({value:+g} from before)",
                )
            out[node_key] = value

    # A traced run (perfmodel lab run --trace) also counts the shrink work's executions.
    runs = ((record.trace or {}).get("shrink_worker") or {}).get("runs")
    if isinstance(runs, (int, float)):
        out[SHRINK_WORKER_RUNS] = float(runs)
    return {k: v for k, v in out.items() if math.isfinite(v)}
