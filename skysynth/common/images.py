"""Images in and out: every common mode read as 8-bit RGB, oriented, sized before decoding; grids.

Shared by the command lines, the web server, the data preparation and the evaluation, so that a
photo reads the same everywhere. Errors are `ImageInputError` with a one-line message.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


class ImageInputError(ValueError):
    """An image that cannot be used, said in one line."""


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _high_depth_to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer or float greyscale ("I;16", "I", "F") -> "L", scaled, not clipped.

    Pillow's own convert clips these to 255, which turns a 16-bit photo white."""
    values = np.asarray(image).astype(np.float64)
    peak = float(values.max()) if values.size else 0.0
    if image.mode == "F":
        scale = 255.0 if peak <= 1.0 else 255.0 / max(peak, 1e-12)
    elif image.mode.startswith("I;16") or peak > 255:
        scale = 255.0 / 65535.0 if peak <= 65535 else 255.0 / peak
    else:
        scale = 1.0
    return Image.fromarray(np.clip(np.rint(values * scale), 0, 255).astype(np.uint8), "L")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow image -> 8-bit RGB, turned upright by its EXIF orientation.

    Alpha is dropped (the colours under it are kept), palettes expanded, CMYK converted."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        image = _high_depth_to_8bit(image)
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    return image.convert("RGB")


def open_image(source: str | Path | bytes, max_pixels: int | None = None) -> Image.Image:
    """Open a file path or bytes as 8-bit RGB. `max_pixels` is checked from the header, before
    any pixel is decoded; Pillow's decompression-bomb limit is kept and answered in one line."""
    name = "the image" if isinstance(source, bytes) else f"image {source}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
                width, height = image.size
                if max_pixels is not None and width * height > max_pixels:
                    raise ImageInputError(
                        f"{name} is {width}x{height} ({width * height / 1e6:.1f} MP); the limit is "
                        f"{max_pixels / 1e6:.1f} MP"
                    )
                image.load()
                return to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageInputError(f"{name} is too large to decode safely (over {Image.MAX_IMAGE_PIXELS} pixels)") from None
    except FileNotFoundError:
        raise ImageInputError(f"input not found: {source}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as error:
        if isinstance(error, ImageInputError):
            raise
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImageInputError(f"cannot read {name}: {reason}") from None


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
        image = to_rgb(image)
        if image.size != target:
            image = image.resize(target, Image.Resampling.BOX)
        return np.asarray(image)


def grid_array(rows: list[torch.Tensor], pad: int = 2) -> np.ndarray:
    """Stack rows (each (B, 3, H, W), same B) into one (H', W', 3) uint8 array, white gaps."""
    height = max(r.shape[-2] for r in rows)
    width = max(r.shape[-1] for r in rows)
    tiles = []
    for row in rows:
        row = row.detach().float().cpu().clamp(0, 1)
        row = F.pad(row, (0, width - row.shape[-1], 0, height - row.shape[-2]), value=1.0)
        row = F.pad(row, (pad, pad, pad, pad), value=1.0)
        tiles.append(torch.cat(list(row), dim=-1))
    grid = torch.cat(tiles, dim=-2)
    return (grid.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def save_grid(rows: list[torch.Tensor], path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(grid_array(rows)).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image -> (1, 3, H, W) float in [0, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()


def to_image(tensor: torch.Tensor) -> Image.Image:
    """(3, H, W) float in [0, 1] -> PIL image."""
    array = (tensor.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(array)
