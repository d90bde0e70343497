"""Shared schema pieces: strict models, sizes, distributions."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator
from scipy.special import ndtri

from perfmodel.config.units import parse_cpulist, parse_size

# z for the 99th percentile of a standard normal.
_Z99 = float(ndtri(0.99))


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo must never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _size(v: Any) -> int:
    return parse_size(v)


def _cpus(v: Any) -> tuple[int, ...]:
    # A list of CPU numbers (as a record dumps it) reads the same as a cpulist string.
    if isinstance(v, list | tuple) and all(isinstance(x, int) and not isinstance(x, bool)
                                           for x in v):
        v = ",".join(str(x) for x in v)
    return tuple(parse_cpulist(v))


def _kernel_bool(v: Any) -> bool:
    # /sys/module/*/parameters take Y/N/1/0; YAML may also give true/false.
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().upper() in ("Y", "N", "1", "0", "YES", "NO"):
        return v.strip().upper() in ("Y", "1", "YES")
    raise ValueError(f"expected Y or N, got {v!r}")


Size = Annotated[int, BeforeValidator(_size)]
CpuList = Annotated[tuple[int, ...], BeforeValidator(_cpus)]
KBool = Annotated[bool, BeforeValidator(_kernel_bool)]


class Dist(StrictModel):
    """A non-negative random quantity.

    fixed: value; exponential: mean; lognormal: median with sigma or p99;
    normal: mean, sd (truncated at 0); uniform: low, high.
    """

    dist: Literal["fixed", "exponential", "lognormal", "normal", "uniform"]
    value: float | None = None
    mean: float | None = None
    median: float | None = None
    sigma: float | None = None
    p99: float | None = None
    sd: float | None = None
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _check(self) -> Dist:
        need: dict[str, tuple[str, ...]] = {
            "fixed": ("value",),
            "exponential": ("mean",),
            "lognormal": ("median",),
            "normal": ("mean", "sd"),
            "uniform": ("low", "high"),
        }
        allowed = set(need[self.dist]) | ({"sigma", "p99"} if self.dist == "lognormal" else set())
        for name in ("value", "mean", "median", "sigma", "p99", "sd", "low", "high"):
            v = getattr(self, name)
            if v is None:
                continue
            if name not in allowed:
                raise ValueError(f"'{name}' does not apply to dist {self.dist}")
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"'{name}' must be a finite number >= 0, got {v}")
        for name in need[self.dist]:
            if getattr(self, name) is None:
                raise ValueError(f"dist {self.dist} needs '{name}'")
        if self.dist == "lognormal":
            if (self.sigma is None) == (self.p99 is None):
                raise ValueError("dist lognormal needs exactly one of 'sigma' or 'p99'")
            if self.median is not None and self.median <= 0:
                raise ValueError("'median' must be > 0")
            if self.p99 is not None and self.median is not None and self.p99 < self.median:
                raise ValueError(f"'p99' ({self.p99}) is below 'median' ({self.median})")
        if (
            self.dist == "uniform"
            and self.high is not None
            and self.low is not None
            and self.high < self.low
        ):
            raise ValueError(f"'high' ({self.high}) is below 'low' ({self.low})")
        return self

    @property
    def shape(self) -> float:
        if self.sigma is not None:
            return self.sigma
        assert self.p99 is not None and self.median is not None
        return math.log(self.p99 / self.median) / _Z99

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Quantile function: maps uniforms in (0,1) to values, vectorised."""
        u = np.asarray(u, dtype=np.float64)
        match self.dist:
            case "fixed":
                return np.full(u.shape, float(self.value or 0.0))
            case "exponential":
                return -float(self.mean or 0.0) * np.log1p(-u)
            case "lognormal":
                return float(self.median or 0.0) * np.exp(self.shape * ndtri(u))
            case "normal":
                return np.maximum(0.0, float(self.mean or 0.0) + float(self.sd or 0.0) * ndtri(u))
            case _:
                lo, hi = float(self.low or 0.0), float(self.high or 0.0)
                return lo + (hi - lo) * u

    def mean_value(self) -> float:
        match self.dist:
            case "fixed":
                return float(self.value or 0.0)
            case "exponential":
                return float(self.mean or 0.0)
            case "lognormal":
                return float(self.median or 0.0) * math.exp(self.shape**2 / 2)
            case "normal":
                # Truncation at zero is negligible for the sd we use; the mean is nominal.
                return float(self.mean or 0.0)
            case _:
                return (float(self.low or 0.0) + float(self.high or 0.0)) / 2

    def sample(self, rng: np.random.Generator, n: int | None = None) -> Any:
        if n is None:
            return float(self.ppf(np.array([rng.random()]))[0])
        return self.ppf(rng.random(n))
