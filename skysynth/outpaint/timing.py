"""The pipeline's per-stage clock and progress reports."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from tqdm import tqdm


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


class StageProgress:
    """One stage's tqdm bar (when `enabled`) and the caller's events: `report({"stage", "done",
    "total", ...extra})` after each advance. A context manager: the bar closes on exit."""

    def __init__(self, stage: str, unit: str, report: Callable[[dict], None], enabled: bool, total=None):
        self.stage, self.report, self.done, self.total = stage, report, 0, total
        self.bar = tqdm(total=total, desc=stage, unit=unit, disable=not enabled)

    def advance(self, count: int = 1, total: int | None = None, **extra) -> None:
        if total is not None:
            self.total = self.bar.total = total
        self.done += count
        self.bar.update(count)
        self.report({"stage": self.stage, "done": self.done, "total": self.total, **extra})

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()
