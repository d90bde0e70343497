"""Sweep progress: a bar with ETA on a terminal, one plain line per run otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def _hms(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class SweepProgress:
    def __init__(self, total: int, done: int, stream: TextIO | None = None,
                 tty: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.total, self.done, self.start_done = total, done, done
        self.t0 = time.monotonic()
        self._bar: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> SweepProgress:
        if self.tty and self.done < self.total:
            self._bar = Progress(
                TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
                TextColumn("elapsed"), TimeElapsedColumn(),
                TextColumn("eta"), TimeRemainingColumn(),
                TextColumn("{task.description}"),
                console=Console(file=self.stream), transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("", total=self.total, completed=self.done)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, label: str, status: str) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=escape(f"{label} {status}"))
            return
        elapsed = time.monotonic() - self.t0
        ran = self.done - self.start_done
        eta = elapsed / ran * (self.total - self.done)
        self.stream.write(
            f"sweep: [{self.done}/{self.total}] {label}: {status}; "
            f"elapsed {_hms(elapsed)}, eta {_hms(eta)}\n"
        )
        self.stream.flush()
