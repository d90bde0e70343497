"""Lab errors: one line each, like every perfmodel error."""

from __future__ import annotations

from perfmodel.errors import PerfmodelError


class LabError(PerfmodelError):
    """The guest could not be built, booted or run."""


class LabNotSetUp(LabError):
    """A tool, kernel or workload binary of the lab is missing."""

    def __init__(self, what: str) -> None:
        super().__init__(f"lab not set up: {what}; run lab/setup.sh first")
