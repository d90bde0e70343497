from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from sizes import SMALL

from perfmodel import api
from perfmodel.results import Result

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.fixture
def lab_profile(tmp_path: Path) -> Path:
    """The laptop profile with one vCPU and the lab's device names."""
    data = yaml.safe_load((ROOT / "hardware" / "laptop-2vcpu-sata.yaml").read_text())
    data["name"] = "lab-test"
    data["cpu"].update(sockets=1, cores_per_socket=1, threads_per_core=1)
    data["numa"]["nodes"][0]["cpus"] = "0"
    dev = next(iter(data["swap_devices"].values()))
    data["swap_devices"] = {"vda": dev, "vda-slow": dev}
    p = tmp_path / "lab-test.yaml"
    p.write_text(yaml.safe_dump(data))
    return p
