"""Access patterns: which page offsets a thread touches next, generated in vectorised chunks."""

from __future__ import annotations

import numpy as np

from perfmodel.config.scenario import PatternSpec


class Pattern:
    def chunk(self, n: int) -> np.ndarray:
        raise NotImplementedError


class Sequential(Pattern):
    """Offsets lo, lo+1, ..., hi-1, then around again."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        self.cur = lo

    def chunk(self, n: int) -> np.ndarray:
        span = self.hi - self.lo
        start = self.cur - self.lo
        out = self.lo + (np.arange(start, start + n, dtype=np.int64) % span)
        self.cur = self.lo + (start + n) % span
        return out


class Uniform(Pattern):
    def __init__(self, npages: int, rng: np.random.Generator) -> None:
        self.n, self.rng = npages, rng

    def chunk(self, n: int) -> np.ndarray:
        return self.rng.integers(0, self.n, size=n, dtype=np.int64)


class Permutation(Pattern):
    """Every offset once per pass, each pass in a fresh random order (a shuffled sweep,
    as the lab's usemem does): unlike Uniform, no page repeats within a pass."""

    def __init__(self, npages: int, rng: np.random.Generator) -> None:
        self.n, self.rng = npages, rng
        self.order = rng.permutation(npages)
        self.pos = 0

    def chunk(self, n: int) -> np.ndarray:
        parts = []
        while n > 0:
            if self.pos == self.n:
                self.order = self.rng.permutation(self.n)
                self.pos = 0
            k = min(n, self.n - self.pos)
            parts.append(self.order[self.pos:self.pos + k])
            self.pos += k
            n -= k
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class Zipf(Pattern):
    """Bounded Zipf: offset k (0-based) has weight (k+1)^-s; low offsets are hottest."""

    def __init__(self, npages: int, s: float, rng: np.random.Generator) -> None:
        w = np.arange(1, npages + 1, dtype=np.float64) ** (-s)
        self.cdf = np.cumsum(w)
        self.cdf /= self.cdf[-1]
        self.rng = rng

    def chunk(self, n: int) -> np.ndarray:
        return np.searchsorted(self.cdf, self.rng.random(n), side="right").astype(np.int64)


class HotCold(Pattern):
    """The first hot_fraction of the pages take hot_access_fraction of the accesses."""

    def __init__(self, npages: int, hot_fraction: float, hot_access: float, rng: np.random.Generator):
        self.nhot = max(1, int(npages * hot_fraction))
        self.n = npages
        self.p_hot = hot_access
        self.rng = rng

    def chunk(self, n: int) -> np.ndarray:
        rng = self.rng
        hot = rng.random(n) < self.p_hot
        out = rng.integers(self.nhot, max(self.nhot + 1, self.n), size=n, dtype=np.int64)
        nh = int(hot.sum())
        out[hot] = rng.integers(0, self.nhot, size=nh, dtype=np.int64)
        np.minimum(out, self.n - 1, out=out)
        return out


def make_pattern(spec: PatternSpec, npages: int, lo: int, hi: int, rng: np.random.Generator) -> Pattern:
    """lo/hi bound a sequential thread's share; random patterns span the whole mapping."""
    match spec.kind:
        case "sequential":
            return Sequential(lo, hi)
        case "uniform":
            return Uniform(npages, rng)
        case "permutation":
            return Permutation(npages, rng)
        case "zipf":
            assert spec.s is not None
            return Zipf(npages, spec.s, rng)
        case _:
            assert spec.hot_fraction is not None and spec.hot_access_fraction is not None
            return HotCold(npages, spec.hot_fraction, spec.hot_access_fraction, rng)
