"""A compression engine: per-page cost and compressed length by content class."""

from __future__ import annotations

import numpy as np

from perfmodel.config.hardware import CompressorSpec

# Content class indices, shared by the workload's page content array.
ZERO, SAME_FILLED, TEXT, BINARY, INCOMPRESSIBLE = range(5)
CLASS_NAMES = ("zero", "same_filled", "text", "binary", "incompressible")


class Compressor:
    """CPU compressors run on the calling CPU; offload engines queue.

    Offload engines are served FIFO and the caller waits synchronously
    (crypto_wait_req), so each engine is a single-server queue solved by the
    Lindley recursion on its next-free time instead of SimPy events.
    """

    def __init__(self, name: str, spec: CompressorSpec) -> None:
        self.name = name
        self.spec = spec
        # Index 0 (zero pages) never reaches a compressor; give it the same_filled cost.
        names = ("same_filled",) + CLASS_NAMES[1:]
        self.compress_s = [spec.compress_ns[c] * 1e-9 for c in names]
        self.decompress_s = [spec.decompress_ns[c] * 1e-9 for c in names]
        self.offload = spec.engine == "offload"
        self._engine_free_at = [0.0] * spec.engines
        self.busy_s = 0.0

    def compressed_sizes(self, content: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Compressed length of each page from its class and a per-page uniform draw.

        The draw is fixed per page, so a page compresses to the same length every time.
        """
        out = np.zeros(content.shape, dtype=np.int32)
        for idx, cname in enumerate(CLASS_NAMES):
            if idx == ZERO:
                continue
            mask = content == idx
            if mask.any():
                vals = self.spec.size_bytes[cname].ppf(u[mask])
                out[mask] = np.maximum(1, np.rint(vals)).astype(np.int32)
        return out

    def _engine(self, now: float, service: float) -> float:
        """Seconds the caller spends: queueing at the engine plus service."""
        free = self._engine_free_at
        k = min(range(len(free)), key=free.__getitem__)
        start = free[k] if free[k] > now else now
        free[k] = start + service
        return free[k] - now

    def compress(self, cls: int, now: float) -> float:
        s = self.compress_s[cls]
        self.busy_s += s
        return self._engine(now, s) if self.offload else s

    def decompress(self, cls: int, now: float) -> float:
        s = self.decompress_s[cls]
        self.busy_s += s
        return self._engine(now, s) if self.offload else s
