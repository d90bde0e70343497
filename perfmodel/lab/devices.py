"""Swap devices the lab can give a guest: one virtio disk, optionally throttled.

scenario `swap.device` picks a row. The disk is a sparse raw file on the host;
QEMU's block throttling caps its request rate and bandwidth, which is the only
way to make the guest's swap device slower than the host's page cache.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfmodel.errors import ConfigError


@dataclass(frozen=True)
class LabDevice:
    name: str
    description: str
    iops_total: int | None = None
    bps_total: int | None = None

    def throttling(self) -> list[str]:
        """QEMU -drive options, e.g. ['throttling.iops-total=2000']."""
        out = []
        if self.iops_total is not None:
            out.append(f"throttling.iops-total={self.iops_total}")
        if self.bps_total is not None:
            out.append(f"throttling.bps-total={self.bps_total}")
        return out


DEVICES: dict[str, LabDevice] = {
    d.name: d
    for d in (
        LabDevice("vda", "virtio disk on a host file, unthrottled"),
        LabDevice("vda-ssd", "virtio disk throttled to a SATA SSD", 20000, 400_000_000),
        LabDevice("vda-slow", "virtio disk throttled to a slow SSD or SD card", 2000, 40_000_000),
    )
}

DEFAULT_DEVICE = "vda"


def lookup(name: str | None, scenario_file: str | None = None) -> LabDevice:
    key = name or DEFAULT_DEVICE
    if key not in DEVICES:
        raise ConfigError(
            scenario_file,
            "swap.device",
            f"'{key}' is not a lab device (lab devices: {', '.join(DEVICES)})",
        )
    return DEVICES[key]
