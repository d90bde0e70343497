"""Predict a measured run with the model and compare them metric by metric."""

from __future__ import annotations

import itertools
import json
import math
import re
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from perfmodel.config import (
    HardwareProfile,
    Scenario,
    bundled_dir,
    check_consistency,
    load_profile,
    resolve,
)
from perfmodel.config.loader import validate
from perfmodel.errors import ConfigError
from perfmodel.kernel.era import parse_release
from perfmodel.results import Result
from perfmodel.simulation import simulate
from perfmodel.validate.record import (
    ACCESS_P99,
    COMPARED_GAUGES,
    DEBUGFS_COUNTERS,
    PER_PASS_COUNTERS,
    SHRINK_WORKER_RUNS,
    VMSTAT_COUNTERS,
    RunRecord,
    load_record,
    measured,
    phase_locked,
)


@dataclass(frozen=True)
class Row:
    metric: str
    measured: float
    predicted: float
    # (predicted - measured) / measured; None when measured is 0.
    rel_error: float | None
    # predicted - measured, always given; the figure to read when rel_error is None.
    abs_error: float
    # Where the prediction comes from in the model's result.
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MetricSummary:
    metric: str
    # Records with a relative error for this metric (measured != 0).
    count: int
    # Records where the metric was compared at all.
    records: int
    median_abs_rel_error: float | None
    max_abs_rel_error: float | None
    # The kernel against itself: median |a - b| / |b| over ordered pairs of records
    # that repeat one configuration (repeat_spread()), and how many pairs.
    repeat_median_abs_rel_diff: float | None = None
    repeat_pairs: int = 0
    # The floor (repeat_floor()): over the runs that have repeats, the median error of
    # the mean of a run's other repeats as its prediction, the model's median error on
    # those same runs, and how many runs.
    floor_median_abs_rel_error: float | None = None
    floor_model_median_abs_rel_error: float | None = None
    floor_runs: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_record(record: RunRecord | str | Path) -> RunRecord:
    return record if isinstance(record, RunRecord) else load_record(record)


def _scenario_error(record: RunRecord, e: ConfigError) -> ConfigError:
    key = f"scenario.{e.key_path}" if e.key_path else "scenario"
    return ConfigError(record.path, key, e.problem)


def repo_root() -> Path:
    """Where bundled data lives; record hardware paths are relative to it."""
    return bundled_dir("hardware").parent


def hardware_path(record: RunRecord) -> Path:
    """The record's hardware profile: a bundled name, or a path relative to the repo."""
    hw = record.hardware
    p = Path(hw)
    if not p.is_absolute() and (repo_root() / p).is_file():
        return repo_root() / p
    try:
        return resolve(hw, "hardware")
    except ConfigError as e:
        raise ConfigError(record.path, "hardware", e.problem) from None


def _validate_scenario(record: RunRecord) -> Scenario:
    try:
        return validate(Scenario, record.scenario, record.path)
    except ConfigError as e:
        raise _scenario_error(record, e) from None


def in_use_at_start(record: RunRecord) -> int | None:
    """MemTotal - MemFree in bytes from the record's first snapshot, if it has one."""
    mi = record.snapshots.before.meminfo or {}
    if "MemTotal" not in mi or "MemFree" not in mi:
        return None
    return max(0, int(mi["MemTotal"]) - int(mi["MemFree"])) * 1024


def prepare(record: RunRecord | str | Path) -> tuple[Scenario, HardwareProfile]:
    """The record's scenario (validated) and hardware profile, cross-checked."""
    record = _as_record(record)
    sc = _validate_scenario(record)
    hw_path = hardware_path(record)
    if not hw_path.exists():
        raise ConfigError(record.path, "hardware", f"no such file: {hw_path}")
    hw = load_profile(hw_path)
    used = in_use_at_start(record) if record.source == "lab" else None
    if used is not None:
        # What the lab guest's kernel and initramfs held when the run began. (On a
        # collected host the scenario's memory.reserved says what to assume.)
        sc = sc.model_copy(update={"memory": sc.memory.model_copy(update={"reserved": used})})
    try:
        check_consistency(sc, hw, record.path, str(hw_path))
    except ConfigError as e:
        if e.file == record.path:
            raise _scenario_error(record, e) from None
        raise
    return sc, hw


def predict(record: RunRecord | str | Path, seed: int | None = None) -> Result:
    """Simulate the record's scenario on its hardware profile (seed: workload.seed)."""
    sc, hw = prepare(record)
    return simulate(sc, hw, seed)


def notes(record: RunRecord) -> list[str]:
    """Where the record's scenario disagrees with what the record says was run."""
    out: list[str] = []
    sc = _validate_scenario(record)
    try:
        measured_rel = parse_release(record.kernel.release)
    except ValueError:
        measured_rel = None
    if measured_rel is not None and measured_rel != sc.kernel.era.release:
        out.append(
            f"kernel {record.kernel.release} was measured, the scenario models {sc.kernel.release}"
        )
    zp = record.zswap_parameters
    expect = {
        "enabled": "Y" if sc.zswap.enabled else "N",
        "compressor": sc.zswap.compressor,
        "max_pool_percent": str(sc.zswap.max_pool_percent),
    }
    if sc.zswap.zpool is not None:
        expect["zpool"] = sc.zswap.zpool
    for k, v in expect.items():
        if k in zp and zp[k].strip() != v:
            out.append(f"zswap.{k}: measured {zp[k].strip()!r}, scenario {v!r}")
    for key, v in (("vm.page-cluster", sc.vm.page_cluster), ("vm.swappiness", sc.vm.swappiness)):
        got = record.sysctl.get(key, "").strip()
        if got and got != str(v):
            out.append(f"{key}: measured {got}, scenario {v}")
    if phase_locked(record):
        out.append(
            "access latency not compared: usemem timed every "
            "K-th access of sequential passes, which locks onto the readahead window's "
            "phase (runs made since sample the accesses by a hash)"
        )
    lost = lost_time(record)
    if lost is not None and lost >= LOST_TIME_NOTE:
        out.append(
            f"the guest's /proc/stat accounts for {1 - lost:.0%} of the workload's wall time: "
            f"its vCPU did not run for the rest, so measured times run long"
        )
    return out


# Share of wall time the guest's own CPU accounting may miss before validate says so.
LOST_TIME_NOTE = 0.05


def lost_time(record: RunRecord) -> float | None:
    """Share of the workload's wall time missing from the guest's /proc/stat ticks
    (user + system + idle + iowait + ...), from the first to the last pass snapshot:
    time the vCPU thread was not running on the host. None without cpu_ticks."""
    snaps = record.snapshots
    first, last = snaps.before, (snaps.passes[-1] if snaps.passes else None)
    if last is None or not first.cpu_ticks or not last.cpu_ticks:
        return None
    wall = last.t_s - first.t_s
    if wall <= 0:
        return None
    ticks = sum(last.cpu_ticks.values()) - sum(first.cpu_ticks.values())
    return max(0.0, 1.0 - ticks / 100.0 / wall)


_NODE_METRIC_RE = re.compile(r"^(node\d+)\.(\w+)$")
_PASS_COUNTER_RE = re.compile(r"^pass(\d+)\.(\w+)$")
_CPU_PAGES_RE = re.compile(r"^pass(\d+)\.cpu(\d+)_pages$")


def _pass_lookup(result: Result) -> dict[int, dict[str, Any]]:
    procs = result.workload.get("processes") or []
    if not procs:
        return {}
    return {int(p["pass"]): p for p in procs[0].get("passes", [])}


def _predicted(name: str, result: Result) -> tuple[float, str] | None:
    """The model's value for a measured metric, and where it comes from; None if unmodelled."""
    if name in VMSTAT_COUNTERS:
        return (float(result.vmstat[name]), f"vmstat.{name}") if name in result.vmstat else None
    if name in DEBUGFS_COUNTERS or name in COMPARED_GAUGES:
        return (float(result.debugfs[name]), f"debugfs.{name}") if name in result.debugfs else None
    if name == "reject_compress":
        parts = [n for n in ("reject_compress_poor", "reject_compress_fail") if n in result.debugfs]
        if not parts:
            return None
        return float(sum(result.debugfs[n] for n in parts)), "+".join(f"debugfs.{n}" for n in parts)
    if name == "elapsed_s":
        return float(result.workload["elapsed_s"]), "workload.elapsed_s"
    if name == SHRINK_WORKER_RUNS:
        runs = result.cpus.get(SHRINK_WORKER_RUNS)
        return None if runs is None else (float(runs), f"cpus.{SHRINK_WORKER_RUNS}")
    if name == ACCESS_P99:
        acc = result.latency.get("access", {})
        if "p99_us" not in acc:
            return None
        return float(acc["p99_us"]), "latency.access.p99_us"
    m = _CPU_PAGES_RE.match(name)
    if m:
        idx, cpu = int(m.group(1)), int(m.group(2))
        # Summed over the processes, as usemem's report is.
        got = [p.get("cpu_pages") for proc in result.workload.get("processes") or []
               for p in proc.get("passes", []) if int(p["pass"]) == idx]
        if not got or any(v is None or cpu >= len(v) for v in got):
            return None
        return (float(sum(v[cpu] for v in got)),
                f"workload.processes[*].passes[{idx}].cpu_pages[{cpu}]")
    m = _PASS_COUNTER_RE.match(name)
    if m:
        idx, counter = int(m.group(1)), m.group(2)
        passes = _pass_lookup(result)
        now = (passes.get(idx) or {}).get("counters") or {}
        # Pass 0 counts from the start of the run, as a record's counts from `before`.
        before = ((passes.get(idx - 1) or {}).get("counters") or {}) if idx else {counter: 0}
        if counter not in now or counter not in before:
            return None
        source = f"workload.processes[0].passes[{idx}].counters.{counter}"
        if idx:
            source += f" - passes[{idx - 1}].counters.{counter}"
        return float(now[counter] - before[counter]), source
    m = _NODE_METRIC_RE.match(name)
    if m:
        numa = getattr(result, "numa", None) or {}
        value = (numa.get("numastat") or {}).get(m.group(1), {}).get(m.group(2))
        return None if value is None else (float(value), f"numa.numastat.{name}")
    if name.startswith("pass") and name.endswith(("_elapsed_s", "_throughput_mbps")):
        idx_text, _, field = name[len("pass"):].partition("_")
        if not idx_text.isdigit():
            return None
        p = _pass_lookup(result).get(int(idx_text))
        if p is None:
            return None
        return float(p[field]), f"workload.processes[0].passes[{idx_text}].{field}"
    return None


def compare(record: RunRecord | str | Path, result: Result) -> list[Row]:
    """One row per measured metric the model also produces, in the order measured gives."""
    record = _as_record(record)
    rows = []
    for name, meas in measured(record).items():
        pred = _predicted(name, result)
        if pred is None:
            continue
        value, source = pred
        rel = (value - meas) / meas if meas != 0 else None
        rows.append(Row(name, meas, value, rel, value - meas, source))
    return rows


def unmodelled(record: RunRecord | str | Path, result: Result) -> list[str]:
    """Measured metrics with no counterpart in the model's result."""
    record = _as_record(record)
    return [n for n in measured(record) if _predicted(n, result) is None]


def summarize(rows_by_record: dict[str, list[Row]]) -> dict[str, MetricSummary]:
    """Per metric over all records: median and max |relative error|, and counts."""
    errors: dict[str, list[float]] = {}
    seen: dict[str, int] = {}
    for rows in rows_by_record.values():
        for r in rows:
            seen[r.metric] = seen.get(r.metric, 0) + 1
            errors.setdefault(r.metric, [])
            if r.rel_error is not None and math.isfinite(r.rel_error):
                errors[r.metric].append(abs(r.rel_error))
    out = {}
    for metric, errs in errors.items():
        out[metric] = MetricSummary(
            metric=metric,
            count=len(errs),
            records=seen[metric],
            median_abs_rel_error=statistics.median(errs) if errs else None,
            max_abs_rel_error=max(errs) if errs else None,
        )
    return out


# What makes two lab guests the same machine; the rest of a lab record's host key
# says how the run was made (whether KVM was tried, the QEMU build, timings).
_LAB_GUEST = ("accel", "vcpus", "guest_ram_bytes", "numa_nodes", "swap_device", "swap_bytes",
              "swap_throttling")


def configuration_key(record: RunRecord) -> str:
    """Records with equal keys repeat one run: the same scenario as run, profile, kernel
    release, machine and zswap parameters. The machine of a lab run is the guest
    (_LAB_GUEST); of another run, every host fact but times (keys ending in _s).
    MemTotal, and what follows from it (min_free_kbytes), differs slightly between
    boots, so it is left out. The scenario is compared with its defaults filled in, so
    a record made before a setting existed matches one that echoes its default."""
    facts = record.host.model_dump()
    if record.source == "lab":
        host = {k: facts.get(k) for k in _LAB_GUEST}
    else:
        host = {k: v for k, v in facts.items() if not k.endswith("_s")}
    scenario = _validate_scenario(record).model_dump(mode="json", by_alias=True)
    return json.dumps(
        [scenario, record.hardware, record.kernel.release, host,
         record.zswap_parameters],
        sort_keys=True, default=str,
    )


def repeat_spread(groups: Iterable[list[list[Row]]]) -> dict[str, tuple[float, int]]:
    """How well one measured run predicts a repeat of it, per metric: the median of
    |a - b| / |b| over the ordered pairs (a, b) of measured values within each group of
    repeats (b != 0), and the number of pairs. Each group holds the rows of its records."""
    diffs: dict[str, list[float]] = {}
    for rows_of in groups:
        for metric, rs in _by_metric(rows_of).items():
            for a, b in itertools.permutations([r.measured for r in rs], 2):
                if b:
                    diffs.setdefault(metric, []).append(abs(a - b) / abs(b))
    return {m: (statistics.median(d), len(d)) for m, d in diffs.items()}


def _by_metric(rows_of: list[list[Row]]) -> dict[str, list[Row]]:
    """One group's rows (a list per record) regrouped by metric, records in order."""
    out: dict[str, list[Row]] = {}
    for rows in rows_of:
        for r in rows:
            out.setdefault(r.metric, []).append(r)
    return out


def repeat_floor(
    groups: Iterable[list[list[Row]]],
) -> dict[str, tuple[float, float, int]]:
    """The best any predictor of a configuration can do on its noisy runs, per metric.

    Each run that has repeats (measured != 0) is predicted by the mean of its other
    repeats, which no model of the configuration can beat on average when runs differ
    only by chance. Returns (median |mean_others - x| / |x|, the model's median
    |predicted - x| / |x| on the same runs, how many runs)."""
    floor: dict[str, list[float]] = {}
    model: dict[str, list[float]] = {}
    for rows_of in groups:
        for metric, rs in _by_metric(rows_of).items():
            if len(rs) < 2:
                continue
            for i, r in enumerate(rs):
                if not r.measured:
                    continue
                others = statistics.fmean(o.measured for j, o in enumerate(rs) if j != i)
                floor.setdefault(metric, []).append(abs(others - r.measured) / abs(r.measured))
                model.setdefault(metric, []).append(
                    abs(r.predicted - r.measured) / abs(r.measured))
    return {m: (statistics.median(v), statistics.median(model[m]), len(v))
            for m, v in floor.items()}


def with_repeat_spread(
    summary: dict[str, MetricSummary], comparisons: Iterable[RecordComparison]
) -> dict[str, MetricSummary]:
    """The summary with each metric's repeat spread and floor over the records compared."""
    groups: dict[str, list[list[Row]]] = {}
    for c in comparisons:
        groups.setdefault(configuration_key(c.record), []).append(c.rows)
    repeated = [g for g in groups.values() if len(g) > 1]
    spread = repeat_spread(repeated)
    floor = repeat_floor(repeated)
    out = {}
    for metric, s in summary.items():
        med, pairs = spread.get(metric, (None, 0))
        fl, fm, runs = floor.get(metric, (None, None, 0))
        out[metric] = replace(s, repeat_median_abs_rel_diff=med, repeat_pairs=pairs,
                              floor_median_abs_rel_error=fl,
                              floor_model_median_abs_rel_error=fm, floor_runs=runs)
    return out


# --- running a validation over many records -----------------------------------------

_PASS_METRIC_RE = re.compile(r"^pass\d+_(elapsed_s|throughput_mbps)$")


def is_metric_name(name: str) -> bool:
    """Whether `name` is a metric `measured` can produce (for checking --max-error)."""
    fixed = {*VMSTAT_COUNTERS, *DEBUGFS_COUNTERS, *COMPARED_GAUGES, "reject_compress",
             "elapsed_s", ACCESS_P99, SHRINK_WORKER_RUNS}
    pc = _PASS_COUNTER_RE.match(name)
    return (name in fixed or bool(_PASS_METRIC_RE.match(name) or _NODE_METRIC_RE.match(name))
            or bool(pc and pc.group(2) in PER_PASS_COUNTERS) or bool(_CPU_PAGES_RE.match(name)))


def parse_bounds(items: Iterable[str]) -> dict[str, float]:
    """METRIC=FRACTION items ('zswpout=0.2', 'elapsed_s=15%')."""
    out: dict[str, float] = {}
    for item in items:
        metric, sep, raw = item.partition("=")
        metric, raw = metric.strip(), raw.strip()
        if not sep or not metric or not raw:
            raise ConfigError("--max-error", None, f"{item!r}: expected METRIC=FRACTION")
        if not is_metric_name(metric):
            raise ConfigError(
                "--max-error", None,
                f"{item!r}: unknown metric {metric!r} (e.g. zswpout, pool_total_size, "
                "pass1_elapsed_s, elapsed_s, reject_compress)",
            )
        try:
            value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise ConfigError(
                "--max-error", None, f"{item!r}: the bound must be a fraction >= 0 (or a percent)"
            )
        out[metric] = value
    return out


def expand_paths(args: Iterable[str | Path]) -> list[Path]:
    """Files as given; directories as their *.json files, sorted."""
    out: list[Path] = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            found = sorted(f for f in p.glob("*.json") if f.is_file())
            if not found:
                raise ConfigError(str(a), None, "no *.json run records in this directory")
            out.extend(found)
        else:
            out.append(p)
    return out


@dataclass
class RecordComparison:
    record: RunRecord
    result: Result
    rows: list[Row]
    unmodelled: list[str]
    notes: list[str]
    # Predictions are the mean over this many seeds from result.seed on.
    seeds: int = 1

    def to_dict(self) -> dict[str, Any]:
        rec = self.record
        return {
            "id": rec.id,
            "file": rec.path,
            "source": rec.source,
            "accel": rec.host.accel,
            "kernel": rec.kernel.release,
            "scenario": self.result.scenario,
            "hardware": self.result.hardware,
            "model_kernel": self.result.kernel_release,
            "seed": self.result.seed,
            "seeds": self.seeds,
            "truncated": self.result.truncated,
            "notes": self.notes,
            "unmodelled": self.unmodelled,
            "rows": [r.to_dict() for r in self.rows],
        }


def load_records(paths: Iterable[str | Path]) -> list[RunRecord]:
    """Load every record first, so a bad one stops the run before any simulation."""
    records: list[RunRecord] = []
    seen: dict[str, str] = {}
    for p in expand_paths(paths):
        rec = load_record(p)
        if rec.id in seen:
            raise ConfigError(rec.path, "id", f"{rec.id!r} is also the id of {seen[rec.id]}")
        seen[rec.id] = rec.path
        prepare(rec)  # scenario and hardware problems, before any simulation
        records.append(rec)
    return records


def compare_record(
    record: RunRecord, seed: int | None = None, seeds: int = 1
) -> RecordComparison:
    """The record against the model. With seeds > 1 each metric's prediction is the mean
    over seeds seed, seed + 1, ... (seed: workload.seed): where reclaim and the shrink
    work race, one run of the model varies from seed to seed as the kernel varies from
    run to run, and the mean is the model's expected value. The result shown is the
    first seed's."""
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1 (got {seeds})")
    result = predict(record, seed)
    rows = compare(record, result)
    if seeds > 1:
        first = seed if seed is not None else prepare(record)[0].workload.seed
        sums = {r.metric: r.predicted for r in rows}
        counts = dict.fromkeys(sums, 1)
        for k in range(1, seeds):
            for r in compare(record, predict(record, first + k)):
                if r.metric in sums:
                    sums[r.metric] += r.predicted
                    counts[r.metric] += 1
        rows = [_with_prediction(r, sums[r.metric] / counts[r.metric]) for r in rows]
    return RecordComparison(record, result, rows, unmodelled(record, result), notes(record),
                            seeds)


def _with_prediction(row: Row, value: float) -> Row:
    rel = (value - row.measured) / row.measured if row.measured != 0 else None
    return replace(row, predicted=value, rel_error=rel, abs_error=value - row.measured)


@dataclass(frozen=True)
class BoundCheck:
    metric: str
    bound: float
    median: float | None
    ok: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_bounds(
    summary: dict[str, MetricSummary], bounds: dict[str, float]
) -> list[BoundCheck]:
    out = []
    for metric, bound in bounds.items():
        s = summary.get(metric)
        if s is None:
            out.append(BoundCheck(metric, bound, None, False, "not compared in any record"))
        elif s.median_abs_rel_error is None:
            out.append(BoundCheck(metric, bound, None, False,
                                  "measured 0 in every record: no relative error"))
        elif s.median_abs_rel_error > bound:
            reason = f"median |error| {s.median_abs_rel_error:.1%} is over the bound {bound:.1%}"
            fl, fm = s.floor_median_abs_rel_error, s.floor_model_median_abs_rel_error
            if fl is not None and fm is not None and fl > bound:
                # Say when no model could meet the bound against these runs.
                reason += (f"; the kernel's own floor is {fl:.1%} (the mean of a run's "
                           f"repeats as its prediction; the model gets {fm:.1%} on the same "
                           f"{s.floor_runs} runs)")
            out.append(BoundCheck(metric, bound, s.median_abs_rel_error, False, reason))
        else:
            out.append(BoundCheck(metric, bound, s.median_abs_rel_error, True,
                                  f"median |error| {s.median_abs_rel_error:.1%} within {bound:.1%}"))
    return out
