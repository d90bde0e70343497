"""What a sweep runs: the scenario, the profiles, the varied keys and the replications."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from perfmodel.config import DEFAULT_PROFILE, DEFAULT_SCENARIO
from perfmodel.config.loader import read_yaml, validate
from perfmodel.errors import ConfigError

DEFAULT_REPLICATIONS = 3
VARY = "--vary"


@dataclass(frozen=True)
class Axis:
    """One varied scenario key and its values, each as the text of a YAML scalar."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Point:
    """One configuration: a profile plus one value per axis (replications not included)."""

    index: int
    hardware: str
    values: tuple[tuple[str, str], ...]
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class SweepSpec:
    scenario: str = DEFAULT_SCENARIO
    hardware: tuple[str, ...] = (DEFAULT_PROFILE,)
    vary: tuple[Axis, ...] = ()
    sets: tuple[str, ...] = ()
    replications: int = DEFAULT_REPLICATIONS
    seed: int | None = None  # base seed; None: each point's workload.seed
    keys: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(a.key for a in self.vary))

    def points(self) -> list[Point]:
        """The Cartesian product of the profiles and the axes, profiles outermost."""
        out = []
        combos = itertools.product(self.hardware, *(a.values for a in self.vary))
        for i, (hw, *vals) in enumerate(combos):
            values = tuple(zip(self.keys, vals, strict=True))
            overrides = (*self.sets, *(f"{k}={v}" for k, v in values))
            out.append(Point(i, hw, values, overrides))
        return out

    def short_names(self) -> dict[str, str]:
        return short_names(self.keys)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "hardware": list(self.hardware),
            "vary": {a.key: list(a.values) for a in self.vary},
            "set": list(self.sets),
            "replications": self.replications,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepSpec:
        return cls(
            scenario=d["scenario"],
            hardware=tuple(d["hardware"]),
            vary=tuple(Axis(k, tuple(v)) for k, v in d["vary"].items()),
            sets=tuple(d["set"]),
            replications=int(d["replications"]),
            seed=d["seed"],
        )

    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def short_names(keys: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Last key component (max_pool_percent) unless two keys share it, then the full key."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last, strict=True)}


def value_text(v: Any) -> str:
    """A value as the text of a YAML scalar that reads back as the same value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        try:
            same = yaml.safe_load(v) == v
        except yaml.YAMLError:
            same = False
        return v if same and "," not in v and v.strip() == v and v else json.dumps(v)
    return json.dumps(v)


def _key_ok(key: str, source: str) -> None:
    if not key:
        raise ConfigError(source, None, "empty key")
    if not all(key.split(".")):
        raise ConfigError(source, key, "empty key in path")


def _axis(key: str, raw_values: list[Any], source: str, text: str) -> Axis:
    _key_ok(key, source)
    if not raw_values:
        raise ConfigError(source, key, "no values")
    values: list[str] = []
    for v in raw_values:
        if isinstance(v, str) and not v.strip():
            raise ConfigError(source, key, f"empty value in {text!r}")
        t = value_text(v)
        if t in values:
            raise ConfigError(source, key, f"value {t!r} given twice")
        values.append(t)
    return Axis(key, tuple(values))


def parse_vary(items: list[str] | tuple[str, ...]) -> tuple[Axis, ...]:
    """--vary KEY.PATH=V1,V2,... (or =[V1, "V,2"] for values with commas)."""
    axes: list[Axis] = []
    for item in items:
        if "=" not in item:
            raise ConfigError(VARY, None, f"{item!r}: expected KEY.PATH=V1,V2,...")
        key, raw = (s.strip() for s in item.split("=", 1))
        if raw.startswith("["):
            try:
                parsed = yaml.safe_load(raw)
            except yaml.YAMLError:
                parsed = None
            if not isinstance(parsed, list):
                raise ConfigError(VARY, key or None, f"{raw!r}: not a YAML list")
            vals: list[Any] = parsed
        else:
            vals = [s.strip() for s in raw.split(",")] if raw else []
            # Plain values are YAML scalars, as with --set: 5 is a number, lz4 a string.
            vals = [_scalar(s) for s in vals]
        axes.append(_axis(key, vals, VARY, raw))
    return _no_repeats(axes, VARY)


def _scalar(s: str) -> Any:
    try:
        v = yaml.safe_load(s) if s else s
    except yaml.YAMLError:
        return s
    return v if isinstance(v, str | int | float | bool) or v is None else s


def _no_repeats(axes: list[Axis], source: str) -> tuple[Axis, ...]:
    seen: set[str] = set()
    for a in axes:
        if a.key in seen:
            raise ConfigError(source, a.key, "varied twice")
        seen.add(a.key)
    return tuple(axes)


class SweepFile(BaseModel):
    """A sweep file: the same things as the command line's arguments."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    scenario: str | None = None
    hardware: str | list[str] | None = None
    vary: dict[str, list[Any]] = Field(default_factory=dict)
    sets: dict[str, Any] | list[str] = Field(default_factory=list, alias="set")
    replications: int | None = Field(default=None, ge=1)
    seed: int | None = Field(default=None, ge=0)
    out: str | None = None


def _near(path: str, base: Path) -> str:
    """A relative path in a sweep file is relative to the file; bundled names stay names."""
    p = Path(path)
    if p.is_absolute() or not (base / p).exists():
        return path
    return str(base / p)


@dataclass(frozen=True)
class SweepFileSpec:
    spec: SweepSpec
    out: str | None


def load_sweep_file(path: str | Path) -> SweepFileSpec:
    name = str(path)
    f = validate(SweepFile, read_yaml(path), name)
    base = Path(path).parent
    axes = [_axis(k, v, name, json.dumps(v)) for k, v in f.vary.items()]
    sets = (
        [f"{k}={value_text(v)}" for k, v in f.sets.items()] if isinstance(f.sets, dict)
        else list(f.sets)
    )
    hw = [f.hardware] if isinstance(f.hardware, str) else (f.hardware or [DEFAULT_PROFILE])
    spec = SweepSpec(
        scenario=_near(f.scenario, base) if f.scenario else DEFAULT_SCENARIO,
        hardware=tuple(_near(h, base) for h in hw),
        vary=_no_repeats(axes, name),
        sets=tuple(sets),
        replications=f.replications or DEFAULT_REPLICATIONS,
        seed=f.seed,
    )
    out = str(base / f.out) if f.out and not Path(f.out).is_absolute() else f.out
    return SweepFileSpec(spec, out)


def build_spec(
    scenario: str | None = None,
    hardware: list[str] | tuple[str, ...] = (),
    vary: list[str] | tuple[str, ...] = (),
    sets: list[str] | tuple[str, ...] = (),
    replications: int | None = None,
    seed: int | None = None,
    file: str | Path | None = None,
) -> SweepFileSpec:
    """A spec from command-line arguments, on top of a sweep file when one is given."""
    base = load_sweep_file(file) if file else SweepFileSpec(SweepSpec(), None)
    spec = base.spec
    axes = list(spec.vary)
    for a in parse_vary(vary):  # the command line wins, in the file's place if it has one
        at = next((i for i, b in enumerate(axes) if b.key == a.key), None)
        if at is None:
            axes.append(a)
        else:
            axes[at] = a
    all_sets = (*spec.sets, *sets)
    varied = {a.key for a in axes}
    for s in all_sets:
        key = s.split("=", 1)[0].strip()
        if key in varied:
            raise ConfigError("--set", key, "is also varied")
    hw = tuple(dict.fromkeys(hardware)) if hardware else spec.hardware
    if len(hw) != len(hardware or hw):
        raise ConfigError("--hardware", None, "a profile is given twice")
    if seed is not None and seed < 0:
        raise ConfigError("--seed", None, f"must be at least 0 (got {seed})")
    if replications is not None and replications < 1:
        raise ConfigError("--replications", None, f"must be at least 1 (got {replications})")
    return SweepFileSpec(
        SweepSpec(
            scenario=scenario or spec.scenario,
            hardware=hw,
            vary=tuple(axes),
            sets=tuple(all_sets),
            replications=replications or spec.replications,
            seed=seed if seed is not None else spec.seed,
        ),
        base.out,
    )
