"""Image decoding, with JPEG DCT-domain downscaling for speed."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header only."""
    with Image.open(path) as image:
        return image.size


def load_rgb(path: Path, downscale: int = 1) -> np.ndarray:
    """Decode to (H, W, 3) uint8, reduced `downscale` times.

    JPEG decoding at 1/2, 1/4 or 1/8 scale happens inside libjpeg (PIL's draft mode), which is
    several times faster than decoding at full size and resizing; what remains is an area resize.
    """
    with Image.open(path) as image:
        width, height = image.size
        target = (max(1, width // downscale), max(1, height // downscale))
        if downscale > 1 and image.format == "JPEG":
            image.draft("RGB", target)
        image = image.convert("RGB")
        if image.size != target:
            image = image.resize(target, Image.Resampling.BOX)
        return np.asarray(image)


def encode_jpeg(pixels: np.ndarray, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def encode_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
