"""Errors that reach the user as one line, never as a traceback."""

from __future__ import annotations


class PerfmodelError(Exception):
    """Base class for errors reported to the user with exit status 2."""


class ConfigError(PerfmodelError):
    """Bad input: names the file, the key path inside it and the problem."""

    def __init__(self, file: str | None, key_path: str | None, problem: str) -> None:
        self.file = file
        self.key_path = key_path
        self.problem = problem
        super().__init__(self.line())

    def line(self) -> str:
        where = self.file or "<input>"
        if self.key_path:
            return f"{where}: {self.key_path}: {self.problem}"
        return f"{where}: {self.problem}"


class SimulationError(PerfmodelError):
    """The model reached a state the kernel would also refuse (e.g. out of swap)."""
