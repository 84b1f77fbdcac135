"""Crop filters of the thesis: night frames are dropped, monochrome ones mostly dropped."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FilterConfig:
    night_mean: float = 0.2  # crops darker than this on average are night sky: dropped
    monochrome_std: float = 0.05  # crops flatter than this are "monochrome"...
    monochrome_keep: float = 0.1  # ...of which this share is kept at random


def classify(crop: np.ndarray, config: FilterConfig, rng: np.random.Generator) -> str:
    """Return "kept", "night" or "monochrome" for an (H, W, 3) uint8 crop.

    The random draw happens for every crop so that the decision for one crop does not depend
    on which filter rejected earlier crops (keeps shards identical for a seed).
    """
    pixels = crop.astype(np.float32) / 255.0
    draw = rng.random()
    if pixels.mean() < config.night_mean:
        return "night"
    if pixels.std() < config.monochrome_std and draw >= config.monochrome_keep:
        return "monochrome"
    return "kept"
