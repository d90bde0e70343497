"""`perfmodel collect`: measure one run of a command on this Linux host as a run record."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from perfmodel.config import DEFAULT_PROFILE, Scenario, load_profile, load_scenario, resolve
from perfmodel.config.loader import validate
from perfmodel.errors import ConfigError, PerfmodelError
from perfmodel.validate.record import FORMAT, PassReport, RunRecord, parse_record, save_record
from perfmodel.validate.snapshot import SnapshotReader

PASS_TAG = "@@PASS"


def lab_usemem() -> Path:
    from perfmodel.validate.compare import repo_root

    return repo_root() / "lab" / "build" / "usemem"


def default_id(release: str, scenario: str, now: datetime) -> str:
    raw = f"collect-{release}-{scenario}-{now.strftime('%Y%m%dT%H%M%SZ')}"
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", raw)


def _drop_none(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _drop_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_drop_none(x) for x in v]
    return v


def scenario_dict(sc: Scenario) -> dict[str, Any]:
    """The scenario as plain data that validates back to the same scenario."""
    data: dict[str, Any] = _drop_none(sc.model_dump(mode="json", by_alias=True))
    for proc in data["workload"]["processes"]:
        if "cpus" in proc:
            proc["cpus"] = ",".join(str(c) for c in proc["cpus"])
    return data


def _parse_pass(line: str, where: str) -> dict[str, Any]:
    payload = line[len(PASS_TAG):].strip()
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as e:
        raise ConfigError(where, None, f"{PASS_TAG}: malformed JSON: {e.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(where, None, f"{PASS_TAG}: expected a JSON object")
    # Validate with the record's own schema so a bad line names its key.
    report = validate(PassReport, data, where)
    return report.model_dump(mode="json", by_alias=True)


def collect(
    scenario: str,
    command: Sequence[str],
    hardware: str | None = None,
    out: str | Path | None = None,
    reader: SnapshotReader | None = None,
    record_id: str | None = None,
    invocation: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> tuple[RunRecord, Path]:
    """Snapshot, run `command`, snapshot again; write and return the record.

    Lines the command prints as `@@PASS {json}` are its pass reports; a snapshot
    is taken as each one arrives, while the workload still holds its memory.
    """
    if not command:
        hint = (
            f" (e.g. -- {lab_usemem()} ...)" if lab_usemem().exists() else ""
        )
        raise PerfmodelError(f"collect: give the workload command after --{hint}")
    sc = load_scenario(scenario)
    hw_name = hardware or DEFAULT_PROFILE
    load_profile(resolve(hw_name, "hardware"))  # refuse a bad profile before running anything
    r = reader or SnapshotReader()

    kernel = r.kernel()
    zswap = r.zswap_parameters()
    sysctl = r.sysctls()
    ram = r.memtotal_bytes()
    cgroup = r.cgroup()
    host = r.host()
    now = datetime.now(UTC)
    rid = record_id or default_id(kernel["release"], sc.name, now)
    out_path = Path(out) if out else Path(f"{rid}.json")

    before = r.snapshot(0.0)
    passes: list[dict[str, Any]] = []
    pass_snaps: list[dict[str, Any]] = []
    errors: list[PerfmodelError] = []
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(command), stdout=subprocess.PIPE, text=True, bufsize=1, errors="replace"
        )
    except OSError as e:
        raise PerfmodelError(f"collect: cannot run {command[0]!r}: {e.strerror or e}") from None
    assert proc.stdout is not None
    with proc:
        for n, line in enumerate(proc.stdout, 1):
            if echo is not None:
                echo(line.rstrip("\n"))
            if not line.startswith(PASS_TAG):
                continue
            t = time.monotonic() - start
            try:
                passes.append(_parse_pass(line, f"<stdout of {command[0]}> line {n}"))
            except PerfmodelError as e:
                errors.append(e)
                continue
            pass_snaps.append(r.snapshot(t))
        rc = proc.wait()
    elapsed = time.monotonic() - start
    after = r.snapshot(elapsed)
    if rc != 0:
        how = f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
        raise PerfmodelError(f"collect: {shlex.join(command)} {how}; no record written")
    if errors:
        raise errors[0]

    data = {
        "format": FORMAT,
        "id": rid,
        "created": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "source": "collect",
        "host": host,
        "kernel": kernel,
        "zswap_parameters": zswap,
        "sysctl": sysctl,
        "memory": {"ram_bytes": ram, "cgroup": cgroup},
        "scenario": scenario_dict(sc),
        "hardware": hw_name,
        "snapshots": {"before": before, "after": after, "passes": pass_snaps},
        "missing": r.missing,
        "workload": {"elapsed_s": elapsed, "passes": passes, "latency_us": None},
        "commands": [c for c in (invocation, shlex.join(command)) if c],
    }
    record = parse_record(data, str(out_path))
    save_record(record, out_path)
    return record, out_path
