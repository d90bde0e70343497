"""Where the lab keeps its kernels, workload binary and run files."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def lab_dir() -> Path:
    """The lab directory (PERFMODEL_LAB overrides, e.g. for an installed package)."""
    env = os.environ.get("PERFMODEL_LAB")
    return Path(env) if env else repo_root() / "lab"


def cache_dir() -> Path:
    return lab_dir() / "cache"


def build_dir() -> Path:
    return lab_dir() / "build"


def kernel_root(series: str) -> Path:
    """Unpacked kernel package of a series; setup.sh makes this link."""
    return cache_dir() / f"linux-{series}"
