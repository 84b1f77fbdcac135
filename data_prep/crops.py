"""Random windows that lie wholly inside the sky mask."""

from __future__ import annotations

import numpy as np


def valid_window_corners(sky_mask: np.ndarray, size: int) -> np.ndarray:
    """(H, W) bool sky mask -> (H-size+1, W-size+1) bool: True where a size x size window
    with that top-left corner contains only sky. Uses an integral image of non-sky pixels."""
    height, width = sky_mask.shape
    if size > height or size > width:
        return np.zeros((0, 0), dtype=bool)
    not_sky = np.pad((~sky_mask).astype(np.int64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    counts = not_sky[size:, size:] - not_sky[:-size, size:] - not_sky[size:, :-size] + not_sky[:-size, :-size]
    return counts == 0


def sample_windows(sky_mask: np.ndarray, size: int, count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Up to `count` random (top, left) corners of all-sky windows (with replacement if few)."""
    valid = valid_window_corners(sky_mask, size)
    candidates = np.argwhere(valid)
    if len(candidates) == 0:
        return []
    picks = rng.choice(len(candidates), size=count, replace=len(candidates) < count)
    return [tuple(int(v) for v in candidates[i]) for i in np.atleast_1d(picks)]
