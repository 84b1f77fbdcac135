"""Image I/O of the data preparation; decoding is skysynth.common.images (one reader everywhere)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def read_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header only."""
    with Image.open(path) as image:
        return image.size


def encode_jpeg(pixels: np.ndarray, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def encode_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
