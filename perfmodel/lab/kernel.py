"""The unpacked Debian kernels: image, modules in load order, Kconfig."""

from __future__ import annotations

import lzma
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from perfmodel.lab.errors import LabError, LabNotSetUp
from perfmodel.lab.paths import kernel_root

# Kernel series the lab has, by (major, minor) of scenario kernel.release.
SERIES = {(6, 12): "6.12", (6, 1): "6.1"}


@dataclass(frozen=True)
class KernelTree:
    series: str
    root: Path
    release: str  # uname -r

    @property
    def vmlinuz(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.release}"

    @property
    def config_file(self) -> Path:
        return self.root / "boot" / f"config-{self.release}"

    def config(self, name: str) -> str | None:
        """A CONFIG_ value as written in the config file, None when unset."""
        prefix = f"CONFIG_{name}="
        for line in self.config_file.read_text().splitlines():
            if line.startswith(prefix):
                return line[len(prefix) :]
        return None


def find_kernel(series: str) -> KernelTree:
    root = kernel_root(series)
    mods = root / "lib" / "modules"
    if not mods.is_dir():
        raise LabNotSetUp(f"kernel {series} is not unpacked")
    releases = sorted(p.name for p in mods.iterdir() if p.is_dir())
    if len(releases) != 1:
        raise LabError(f"{mods}: expected one kernel release, found {releases}")
    tree = KernelTree(series, root, releases[0])
    if not tree.vmlinuz.exists():
        raise LabNotSetUp(f"kernel image {tree.vmlinuz.name} missing")
    return tree


def module_chain(tree: KernelTree, names: list[str]) -> list[Path]:
    """Module files to insmod, dependencies first; built-in modules need none.

    Raises LabError naming the module the kernel does not have.
    """
    if shutil.which("modprobe") is None:
        raise LabNotSetUp("modprobe (kmod) missing")
    out: list[Path] = []
    for name in names:
        proc = subprocess.run(
            ["modprobe", "-d", str(tree.root), "-S", tree.release, "--show-depends", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise LabError(f"kernel {tree.release} has no module or built-in '{name}'")
        for line in proc.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "insmod":
                p = Path(parts[1])
                if p not in out:
                    out.append(p)
    return out


def module_name(path: Path) -> str:
    """virtio_blk.ko.xz -> virtio_blk.ko"""
    name = path.name
    for ext in (".xz", ".zst", ".gz"):
        name = name.removesuffix(ext)
    return name


def read_module(path: Path) -> bytes:
    """A module's ELF bytes; busybox insmod cannot read compressed modules."""
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".zst":
        proc = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=False)
        if proc.returncode != 0:
            raise LabError(f"cannot decompress {path.name}: zstd failed")
        return proc.stdout
    if path.suffix == ".gz":
        import gzip

        return gzip.decompress(data)
    return data
