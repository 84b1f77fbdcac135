"""The per-stage clock of the pipeline."""

from __future__ import annotations

import time

import torch


class StageClock:
    """Wall time per pipeline stage (synchronising CUDA so the split is honest)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
        self._last = now
