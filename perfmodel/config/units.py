"""Parsing of sizes ("4GiB", "512M", 4096) the way kernel tools write them."""

from __future__ import annotations

import re

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(i?B?)?\s*$", re.IGNORECASE)
_MULT = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def parse_size(value: object) -> int:
    """Bytes from an int or a string such as '4GiB', '512M', '1.5G'.

    Binary multiples throughout, as in mem= and memory.max.
    """
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512MiB, got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"size must not be negative, got {value}")
        return value
    if isinstance(value, float):
        if value < 0:
            raise ValueError(f"size must not be negative, got {value}")
        return int(value)
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if not m and _SIZE_RE.match(value.strip().removeprefix("-")):
            raise ValueError(f"size must not be negative, got {value!r}")
        if not m:
            raise ValueError(f"cannot read size {value!r}; write e.g. 512MiB or 4GiB")
        num = float(m.group(1))
        return int(num * _MULT[m.group(2).upper()])
    raise ValueError(f"expected a size such as 512MiB, got {type(value).__name__}")


def format_size(nbytes: float) -> str:
    for unit, mult in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(nbytes) >= mult:
            return f"{nbytes / mult:.2f} {unit}"
    return f"{int(nbytes)} B"


def parse_cpulist(text: str | int) -> list[int]:
    """CPU list in the kernel's cpulist format: '0-3,8,10-11'."""
    if isinstance(text, bool):
        raise ValueError("expected a CPU list such as 0-3,8")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"CPU number must not be negative, got {text}")
        return [text]
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"empty item in CPU list {text!r}")
        if "-" in part:
            lo_s, hi_s = part.split("-", 1)
            if not (lo_s.strip().isdigit() and hi_s.strip().isdigit()):
                raise ValueError(f"cannot read CPU range {part!r} in {text!r}")
            lo, hi = int(lo_s), int(hi_s)
            if hi < lo:
                raise ValueError(f"CPU range {part!r} runs backwards")
            out.extend(range(lo, hi + 1))
        else:
            if not part.isdigit():
                raise ValueError(f"cannot read CPU {part!r} in {text!r}")
            out.append(int(part))
    if len(set(out)) != len(out):
        raise ValueError(f"CPU list {text!r} names a CPU twice")
    return out
