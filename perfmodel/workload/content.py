"""Page content: which class each page belongs to, and its compressed length."""

from __future__ import annotations

import numpy as np

from perfmodel.config.scenario import ContentSpec
from perfmodel.hw.compressor import CLASS_NAMES, Compressor


def fill_content(
    spec: ContentSpec, compressor: Compressor, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(class index per page, compressed bytes per page), drawn i.i.d. per page."""
    frac = spec.as_dict()
    p = np.array([frac[c] for c in CLASS_NAMES], dtype=np.float64)
    p /= p.sum()
    classes = rng.choice(len(CLASS_NAMES), size=n, p=p).astype(np.int8)
    u = rng.random(n)
    return classes, compressor.compressed_sizes(classes, u)
