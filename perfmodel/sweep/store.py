"""The on-disk sweep: one JSON file per finished run, tables rebuilt from them.

Every file is written to a temporary name, fsynced and renamed over the target,
and the directory is fsynced, so a kill at any instant leaves either the old
file or the new one, never a torn one. The CSV tables are derived data: they
are rewritten whole from the run records, so a kill can at worst leave them
one run behind, and the next start rebuilds them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from perfmodel.errors import PerfmodelError

MANIFEST = "sweep.json"
RUNS_DIR = "runs"
RUNS_CSV = "runs.csv"
SUMMARY_CSV = "summary.csv"
LOCK = ".lock"
TMP_PREFIX = ".tmp-"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory; the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves the old file or the new, whole."""
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise PerfmodelError(f"{path}: cannot write: {e.strerror}") from None
    _fsync_dir(path.parent)


def _cell(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return ""
    return v


def csv_bytes(header: list[str], rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([_cell(row.get(h, "")) for h in header])
    return buf.getvalue().encode()


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class RunStore:
    """DIR/sweep.json (what was swept), DIR/runs/<key>.json (one per run), DIR/*.csv."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.runs = self.root / RUNS_DIR
        self._lock_fd: int | None = None

    def create(self) -> None:
        try:
            self.runs.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PerfmodelError(f"{self.root}: cannot create: {e.strerror}") from None
        if not self.root.is_dir():
            raise PerfmodelError(f"{self.root}: not a directory")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One sweep at a time per directory; the kernel drops the lock if we are killed."""
        import fcntl

        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PerfmodelError(f"{self.root}: another sweep is running in it") from None
            yield
        finally:
            os.close(fd)

    def clean_temp(self) -> int:
        """Remove temporary files left by a killed writer; they never hold a finished run."""
        n = 0
        for d in (self.root, self.runs):
            for p in d.glob(f"{TMP_PREFIX}*"):
                with contextlib.suppress(OSError):
                    p.unlink()
                    n += 1
        return n

    def run_path(self, key: str) -> Path:
        return self.runs / f"{key}.json"

    def load_run(self, key: str) -> dict[str, Any] | None:
        p = self.run_path(key)
        try:
            text = p.read_text()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise PerfmodelError(f"{p}: cannot read: {e.strerror}") from None
        try:
            rec = json.loads(text)
        except json.JSONDecodeError as e:
            raise PerfmodelError(
                f"{p}: not a run record ({e.msg} at line {e.lineno}); delete it to run it again"
            ) from None
        if not isinstance(rec, dict) or rec.get("key") != key:
            raise PerfmodelError(f"{p}: run record of another run; delete it to run it again")
        return rec

    def keys(self) -> set[str]:
        return {p.stem for p in self.runs.glob("*.json")}

    def save_run(self, record: dict[str, Any]) -> None:
        text = json.dumps(record, indent=1, allow_nan=True)
        write_atomic(self.run_path(record["key"]), (text + "\n").encode())

    def save_manifest(self, manifest: dict[str, Any]) -> None:
        text = json.dumps(manifest, indent=2)
        write_atomic(self.root / MANIFEST, (text + "\n").encode())

    def load_manifest(self) -> dict[str, Any]:
        p = self.root / MANIFEST
        if not p.exists():
            raise PerfmodelError(f"{self.root}: not a sweep directory (no {MANIFEST})")
        try:
            d = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise PerfmodelError(f"{p}: unreadable: {e}") from None
        if not isinstance(d, dict) or not str(d.get("format", "")).startswith("perfmodel-sweep/"):
            raise PerfmodelError(f"{p}: not a perfmodel sweep manifest")
        return d

    def save_table(self, name: str, header: list[str], rows: list[dict[str, Any]]) -> None:
        write_atomic(self.root / name, csv_bytes(header, rows))
