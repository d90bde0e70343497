"""Running a sweep into a directory, resuming it, and reading it back."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from perfmodel import api
from perfmodel.errors import ConfigError, PerfmodelError
from perfmodel.sweep import executors
from perfmodel.sweep.metrics import NAMES, run_metrics
from perfmodel.sweep.progress import SweepProgress
from perfmodel.sweep.seeds import replication_seed
from perfmodel.sweep.spec import SweepSpec, build_spec
from perfmodel.sweep.store import MANIFEST, RUNS_CSV, SUMMARY_CSV, RunStore
from perfmodel.sweep.summary import summarize, summary_header
from perfmodel.sweep.worker import RunTask

DEFAULT_ROOT = Path("out")
MANIFEST_FORMAT = "perfmodel-sweep/1"
RUN_FORMAT = "perfmodel-sweep-run/1"


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Plan:
    """The expanded sweep: the manifest's points and one task per run."""

    spec: SweepSpec
    scenario: str
    points: list[dict[str, Any]]
    tasks: list[RunTask]

    def manifest(self) -> dict[str, Any]:
        names = self.spec.short_names()
        return {
            "format": MANIFEST_FORMAT,
            "spec": self.spec.to_dict(),
            "scenario": self.scenario,
            "axes": [{"key": a.key, "name": names[a.key], "values": list(a.values)}
                     for a in self.spec.vary],
            "metrics": list(NAMES),
            "points": self.points,
        }


def expand(spec: SweepSpec) -> Plan:
    """Load and check every point before running any, so bad input fails at once.

    A run's key hashes the effective scenario and profile (files plus overrides,
    every default filled in), the overrides, the replication and its seed: an
    unchanged command finds its finished runs, and a changed file or value does not.
    """
    points: list[dict[str, Any]] = []
    tasks: list[RunTask] = []
    names = spec.short_names()
    scenario = ""
    for p in spec.points():
        sc, hw = api.prepare(spec.scenario, p.hardware, list(p.overrides))
        scenario = scenario or sc.name
        point_hash = _digest({
            "scenario": sc.model_dump(mode="json", by_alias=True),
            "hardware": hw.model_dump(mode="json", by_alias=True),
            "overrides": sorted(p.overrides),
        })
        twin = next((q for q in points if q["hash"] == point_hash), None)
        if twin is not None:  # e.g. one profile given by name and by path
            raise ConfigError("--hardware", p.hardware, f"point {p.index + 1} is the same "
                              f"configuration as point {twin['index'] + 1}")
        base = spec.seed if spec.seed is not None else sc.workload.seed
        runs = []
        for r in range(spec.replications):
            seed = replication_seed(base, r)
            key = _digest({"format": RUN_FORMAT, "point": point_hash, "replication": r,
                           "seed": seed})[:24]
            runs.append({"replication": r, "seed": seed, "key": key})
            tasks.append(RunTask(key, p.index, r, seed, sc, hw))
        values = dict(p.values)
        label = " ".join([hw.name, *(f"{names[k]}={v}" for k, v in p.values)])
        points.append({
            "index": p.index, "id": point_hash[:12], "hash": point_hash, "hardware": hw.name,
            "hardware_arg": p.hardware, "values": values, "overrides": list(p.overrides),
            "label": label, "base_seed": base, "runs": runs,
        })
    return Plan(spec, scenario, points, tasks)


def _plain(v: float) -> float | None:
    return None if math.isnan(v) else v


def make_record(point: dict[str, Any], task: RunTask, out: dict[str, Any]) -> dict[str, Any]:
    result = out.get("result")
    metrics = run_metrics(result) if result else dict.fromkeys(NAMES, math.nan)
    return {
        "format": RUN_FORMAT,
        "key": task.key,
        "point_id": point["id"],
        "hardware": point["hardware"],
        "values": point["values"],
        "overrides": point["overrides"],
        "replication": task.replication,
        "base_seed": point["base_seed"],
        "seed": task.seed,
        "error": out.get("error"),
        "metrics": {k: _plain(v) for k, v in metrics.items()},
        "fault_latency_cdf": out.get("fault_latency_cdf"),
        "result": result,
    }


def run_row(point: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    """A runs-table row; written in point order, so the table is the same however it ran."""
    status = "failed" if rec.get("error") else (
        "truncated" if rec["result"].get("truncated") else "ok")
    row: dict[str, Any] = {
        "point": point["index"] + 1,
        "point_id": point["id"],
        "hardware": point["hardware"],
        **point["values"],
        "replication": rec["replication"],
        "seed": rec["seed"],
        "status": status,
    }
    for k in NAMES:
        v = rec["metrics"].get(k)
        row[k] = math.nan if v is None else float(v)
    row["error"] = rec.get("error") or ""
    row["key"] = rec["key"]
    return row


def runs_header(keys: list[str]) -> list[str]:
    return ["point", "point_id", "hardware", *keys, "replication", "seed", "status", *NAMES,
            "error", "key"]


@dataclass
class SweepOutcome:
    root: Path
    spec: SweepSpec
    manifest: dict[str, Any]
    rows: list[dict[str, Any]]  # runs table, point order
    summary: list[dict[str, Any]]
    ran: int
    reused: int
    wall_s: float

    @property
    def complete(self) -> bool:
        return len(self.rows) == len(self.manifest["points"]) * self.spec.replications


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a sweep like Ctrl-C: workers are stopped, finished runs are kept."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _ordered(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows.values(), key=lambda r: (r["point"], r["replication"]))


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    executor: str = "local",
    workers: int | None = None,
    scheduler: Any = None,
    stream: TextIO | None = None,
    tty: bool | None = None,
) -> SweepOutcome:
    """Run every unfinished run of `spec` into `out` and return the tables.

    Finished runs already in `out` are reused, so the same call after a kill resumes.
    """
    if executor not in executors.EXECUTORS:
        raise PerfmodelError(f"--executor: unknown executor {executor!r} (known: local, dask)")
    out_stream = stream or sys.stdout

    def log(text: str) -> None:
        print(text, file=out_stream, flush=True)

    t0 = time.monotonic()
    plan = expand(spec)
    manifest = plan.manifest()
    keys = list(spec.keys)
    points = {p["index"]: p for p in plan.points}
    store = RunStore(out)
    store.create()
    with store.locked():
        store.clean_temp()
        store.save_manifest(manifest)
        rows: dict[str, dict[str, Any]] = {}
        pending: list[RunTask] = []
        for t in plan.tasks:
            rec = store.load_run(t.key)
            if rec is None:
                pending.append(t)
            else:
                rows[t.key] = run_row(points[t.point], rec)
        reused = len(rows)

        def write_tables() -> None:
            ordered = _ordered(rows)
            store.save_table(RUNS_CSV, runs_header(keys), ordered)
            store.save_table(SUMMARY_CSV, summary_header(keys), summarize(plan.points, ordered))

        write_tables()  # a kill during the last run may have left the tables one run behind
        n_workers = workers or executors.default_workers()
        if executor == "local":
            where = f"{n_workers} local worker processes"
        elif isinstance(scheduler, str):
            where = f"the Dask cluster at {scheduler}"
        elif scheduler is not None:
            where = "the given Dask client"
        else:
            where = f"a Dask LocalCluster of {n_workers} workers"
        log(f"sweep: {plan.scenario}: {len(plan.points)} points x {spec.replications} "
            f"replications = {len(plan.tasks)} runs in {out}; {reused} already done, "
            f"{len(pending)} to run" + (f" on {where}" if pending else ""))
        by_key = {t.key: t for t in pending}

        with SweepProgress(len(plan.tasks), reused, out_stream, tty) as prog:
            def on_done(res: dict[str, Any]) -> None:
                task = by_key[res["key"]]
                point = points[task.point]
                rec = make_record(point, task, res)
                store.save_run(rec)
                rows[task.key] = run_row(point, rec)
                write_tables()
                status = rows[task.key]["status"]
                if rec["error"]:
                    status += f" ({rec['error']})"
                prog.advance(f"{point['label']} rep {task.replication}", status)

            try:
                with _sigterm_as_interrupt():
                    if executor == "local":
                        executors.run_local(pending, n_workers, on_done)
                    else:
                        executors.run_dask(pending, on_done, scheduler, workers)
            except KeyboardInterrupt:
                log(f"sweep: interrupted; {len(rows)} of {len(plan.tasks)} runs are in {out}; "
                    "run the same command again to resume")
                raise
        ordered = _ordered(rows)
    wall = time.monotonic() - t0
    log(f"sweep: {len(rows) - reused} runs in {wall:.1f} s; tables in {Path(out) / RUNS_CSV} "
        f"and {Path(out) / SUMMARY_CSV}")
    return SweepOutcome(Path(out), spec, manifest, ordered, summarize(plan.points, ordered),
                        len(rows) - reused, reused, wall)


@dataclass
class SweepData:
    """A sweep directory read back: the manifest and the run records, for plots and plans."""

    root: Path
    manifest: dict[str, Any]
    records: dict[str, dict[str, Any]]  # key -> run record (finished runs only)
    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]

    @property
    def keys(self) -> list[str]:
        return [a["key"] for a in self.manifest["axes"]]

    @property
    def names(self) -> dict[str, str]:
        return {a["key"]: a["name"] for a in self.manifest["axes"]}

    @property
    def points(self) -> list[dict[str, Any]]:
        return self.manifest["points"]

    def point_records(self, index: int) -> list[dict[str, Any]]:
        p = self.points[index]
        return [self.records[r["key"]] for r in p["runs"] if r["key"] in self.records]


def load_sweep(root: str | Path) -> SweepData:
    store = RunStore(root)
    manifest = store.load_manifest()
    records: dict[str, dict[str, Any]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for p in manifest["points"]:
        for r in p["runs"]:
            rec = store.load_run(r["key"])
            if rec is not None:
                records[r["key"]] = rec
                rows[r["key"]] = run_row(p, rec)
    ordered = _ordered(rows)
    return SweepData(Path(root), manifest, records, ordered,
                     summarize(manifest["points"], ordered))


def sweep_spec_for(
    scenario: str | None = None,
    hardware: tuple[str, ...] | list[str] = (),
    vary: tuple[str, ...] | list[str] = (),
    sets: tuple[str, ...] | list[str] = (),
    replications: int | None = None,
    seed: int | None = None,
    file: str | None = None,
    out: str | None = None,
    reuse: bool = False,
) -> tuple[SweepSpec, Path]:
    """The spec and directory of a command line. With `reuse` and nothing but an
    existing sweep directory given, that directory's own spec."""
    given = any((scenario, hardware, vary, sets, file)) or replications is not None or (
        seed is not None)
    if reuse and not given and out and (Path(out) / MANIFEST).exists():
        return SweepSpec.from_dict(RunStore(out).load_manifest()["spec"]), Path(out)
    fs = build_spec(scenario, hardware, vary, sets, replications, seed, file)
    return fs.spec, Path(out or fs.out or DEFAULT_ROOT / f"sweep-{fs.spec.digest()}")
