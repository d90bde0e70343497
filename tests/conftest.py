from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sizes import SMALL

from perfmodel import api
from perfmodel.results import Result


@pytest.fixture
def small_run() -> Callable[..., Result]:
    def run(*overrides: str, hardware: str = "xeon-2s-nvme", scenario: str = "usemem",
            seed: int | None = None) -> Result:
        return api.run(scenario, hardware, SMALL + list(overrides), seed)

    return run


@pytest.fixture(scope="session")
def usemem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab's guest workload, built static with musl (skipped without musl-gcc)."""
    cc = shutil.which("musl-gcc")
    if cc is None:
        pytest.skip("musl-gcc not installed")
    src = Path(__file__).resolve().parents[1] / "lab" / "workload" / "usemem.c"
    out = tmp_path_factory.mktemp("usemem") / "usemem"
    subprocess.run(
        [cc, "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out), str(src)],
        check=True,
    )
    return out
