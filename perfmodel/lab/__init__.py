"""Kernel lab: run a scenario on a real kernel in a QEMU guest and record it.

The guest is a tiny initramfs (busybox, an init script, the usemem workload,
the needed modules); the console is parsed into a `perfmodel-run/1` record.
See lab/README.md for setting it up.
"""

from __future__ import annotations

from perfmodel.lab.errors import LabError, LabNotSetUp
from perfmodel.lab.run import lab_run

__all__ = ["LabError", "LabNotSetUp", "lab_run"]
