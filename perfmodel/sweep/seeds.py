"""Per-replication seeds: independent streams that do not depend on the order of points."""

from __future__ import annotations

import numpy as np

SEED_BITS = 63  # fits a signed 64-bit column in any CSV or dataframe reader


def replication_seed(base_seed: int, replication: int) -> int:
    """The seed of replication `replication`: SeedSequence(base_seed) spawned by index.

    Every point uses the same seed for the same replication index (common random
    numbers), so a difference between two points is not noise from different streams.
    """
    ss = np.random.SeedSequence(base_seed, spawn_key=(replication,))
    return int(ss.generate_state(1, dtype=np.uint64)[0]) >> (64 - SEED_BITS)
