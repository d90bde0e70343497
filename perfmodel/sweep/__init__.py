"""Sweeps and capacity planning: many runs of one scenario, durable, summarised, plotted.

`spec` turns --vary/--hardware (or a sweep file) into points and replications,
`engine` runs them through a local process pool or a Dask cluster into an
atomic on-disk store, `summary` gives Student-t confidence intervals, `plot`
draws them and `plan` picks the configuration that meets the requirements.
"""

from __future__ import annotations

from perfmodel.sweep.engine import SweepOutcome, load_sweep, run_sweep
from perfmodel.sweep.spec import Axis, SweepSpec, load_sweep_file, parse_vary

__all__ = [
    "Axis",
    "SweepOutcome",
    "SweepSpec",
    "load_sweep",
    "load_sweep_file",
    "parse_vary",
    "run_sweep",
]
