"""A newc cpio initramfs, written directly so that it is reproducible."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from perfmodel.lab.errors import LabNotSetUp

BUSYBOX = Path("/bin/busybox")


@dataclass(frozen=True)
class Entry:
    path: str  # inside the archive, no leading slash
    mode: int  # with the file type bits
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def _header(ino: int, e: Entry) -> bytes:
    name = e.path.encode() + b"\0"
    fields = [
        ino, e.mode, 0, 0, 1, 0, len(e.data), 0, 0, e.rdev[0], e.rdev[1], len(name), 0,
    ]
    return b"070701" + b"".join(f"{v:08x}".encode() for v in fields) + name


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def write_newc(entries: list[Entry], out: Path) -> None:
    buf = bytearray()
    for ino, e in enumerate([*entries, Entry("TRAILER!!!", 0)], start=1):
        buf += _header(ino, e)
        buf += _pad(len(buf))
        buf += e.data
        buf += _pad(len(buf))
    buf += _pad(len(buf))
    out.write_bytes(bytes(buf))


DIR = 0o040755
FILE = 0o100644
EXE = 0o100755
LINK = 0o120777
CHR = 0o020600


def busybox_applets() -> list[str]:
    if not BUSYBOX.exists() or shutil.which("busybox") is None:
        raise LabNotSetUp("busybox-static missing")
    out = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True)
    return [a for a in out.stdout.split() if a and "/" not in a]


def guest_entries(init: str, usemem: bytes, modules: dict[str, bytes]) -> list[Entry]:
    """The guest's whole file system: busybox, /init, usemem and modules."""
    ents = [Entry(d, DIR) for d in ("bin", "dev", "proc", "sys", "tmp", "lib", "lib/modules")]
    # The kernel opens /dev/console for init before devtmpfs is mounted.
    ents.append(Entry("dev/console", CHR, rdev=(5, 1)))
    busybox = BUSYBOX.read_bytes()
    # A dynamic busybox names its loader near the start; the guest has no libc.
    if b"ld-linux" in busybox[:4096]:
        raise LabNotSetUp(f"{BUSYBOX} is not static (install busybox-static)")
    ents.append(Entry("bin/busybox", EXE, busybox))
    ents += [Entry(f"bin/{a}", LINK, b"busybox") for a in busybox_applets() if a != "busybox"]
    ents.append(Entry("bin/usemem", EXE, usemem))
    ents += [Entry(f"lib/modules/{name}", FILE, data) for name, data in modules.items()]
    ents.append(Entry("init", EXE, init.encode()))
    return ents
