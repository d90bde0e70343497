"""The bundled hardware profiles: they validate, and every number says where it came from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from perfmodel.config import load_profile
from perfmodel.config.hardware import CONTENT_CLASSES
from perfmodel.errors import ConfigError

HARDWARE_DIR = Path(__file__).resolve().parents[1] / "hardware"
PROFILES = sorted(HARDWARE_DIR.glob("*.yaml"))
REQUIRED_COMPRESSORS = ("lzo", "lz4", "zstd")
# Top-level keys whose lines are free text, exempt from the comment rule.
_FREE_TEXT = re.compile(r"^(name|description)\s*:")


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_at_least_four_profiles() -> None:
    assert len(PROFILES) >= 4, f"expected >= 4 profiles in {HARDWARE_DIR}, found {_ids(PROFILES)}"


@pytest.mark.parametrize("path", PROFILES, ids=_ids(PROFILES))
def test_profile_validates(path: Path) -> None:
    try:
        load_profile(path)
    except ConfigError as e:
        pytest.fail(str(e))


@pytest.mark.parametrize("path", PROFILES, ids=_ids(PROFILES))
def test_name_is_file_stem(path: Path) -> None:
    assert load_profile(path).name == path.stem


@pytest.mark.parametrize("path", PROFILES, ids=_ids(PROFILES))
def test_has_required_compressors(path: Path) -> None:
    hw = load_profile(path)
    missing = [c for c in REQUIRED_COMPRESSORS if c not in hw.compressors]
    assert not missing, f"{path.name}: missing compressor(s) {missing}"


@pytest.mark.parametrize("path", PROFILES, ids=_ids(PROFILES))
def test_every_number_is_commented(path: Path) -> None:
    """Any line holding a digit (outside name/description) must carry a '#' comment."""
    bare = [
        f"{i}: {line.rstrip()}"
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"\d", line) and "#" not in line and not _FREE_TEXT.match(line)
    ]
    assert not bare, f"{path.name}: numbers without a source comment:\n" + "\n".join(bare)


@pytest.mark.parametrize("path", PROFILES, ids=_ids(PROFILES))
def test_sizes_are_plausible(path: Path) -> None:
    """Compressible classes fit well inside a page; incompressible pages do not fit."""
    hw = load_profile(path)
    page = hw.memory.page_size
    for name, comp in hw.compressors.items():
        assert set(comp.size_bytes) == set(CONTENT_CLASSES)
        for cls in ("same_filled", "text", "binary"):
            mean = comp.size_bytes[cls].mean_value()
            assert 0 < mean < page / 1.5, f"{name}.{cls}: mean size {mean:.0f} B"
        if comp.engine == "cpu":
            assert comp.size_bytes["incompressible"].mean_value() > page, name
