"""Simple fills that a neural outpainter must beat: reflect padding, OpenCV inpainting, mean colour."""

from __future__ import annotations

import numpy as np

BASELINES = ("reflect", "telea", "ns", "mean")


def fill(name: str, known: np.ndarray, pad: tuple[int, int, int, int]) -> np.ndarray:
    """Extend `known` (H, W, 3) uint8 by `pad` = (left, top, right, bottom) pixels with a simple method."""
    left, top, right, bottom = pad
    widths = ((top, bottom), (left, right), (0, 0))
    if name == "reflect":
        return np.pad(known, widths, mode="reflect")
    if name == "mean":
        canvas = np.pad(known, widths, mode="constant")
        mean = known.reshape(-1, 3).mean(0).round().astype(np.uint8)
        mask = np.pad(np.zeros(known.shape[:2], bool), widths[:2], constant_values=True)
        canvas[mask] = mean
        return canvas
    if name in ("telea", "ns"):
        import cv2

        canvas = np.pad(known, widths, mode="edge")
        mask = np.pad(np.zeros(known.shape[:2], np.uint8), widths[:2], constant_values=255)
        flag = cv2.INPAINT_TELEA if name == "telea" else cv2.INPAINT_NS
        return cv2.inpaint(canvas, mask, 5, flag)
    raise ValueError(f"unknown baseline {name!r}: choose from {', '.join(BASELINES)}")
