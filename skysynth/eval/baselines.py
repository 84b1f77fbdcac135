"""What a neural outpainter must beat: simple fills and the patch-based tools a user would pick.

Simple fills: reflect padding, OpenCV Telea / Navier-Stokes inpainting, mean colour. Patch-based
peers (the `eval` extra, from PyPI): the Resynthesizer engine behind GIMP's heal / outpaint
plug-in, and PatchMatch (`pypatchmatch`, InvokeAI's outpainting infill). A peer that is not
installed is reported by `missing()` and skipped by the evaluation, never a crash.
"""

from __future__ import annotations

import importlib.util

import numpy as np

SIMPLE = ("reflect", "telea", "ns", "mean")
PEERS = {"resynthesizer": "resynthesizer", "patchmatch": "patchmatch"}  # name -> module
BASELINES = (*SIMPLE, *PEERS)


def missing(name: str) -> str | None:
    """Why baseline `name` cannot run here (one line), or None when it can."""
    if name not in BASELINES:
        return f"unknown baseline {name!r}: choose from {', '.join(BASELINES)}"
    module = PEERS.get(name) or ("cv2" if name in ("telea", "ns") else None)
    if module and importlib.util.find_spec(module) is None:
        package = {"cv2": "opencv-python-headless", "patchmatch": "pypatchmatch"}.get(module, module)
        return f"{name} skipped: {package} is not installed (pip install -e '.[eval]')"
    return None


def resynthesizer_fill(image: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 canvas, (H, W) bool known pixels -> the unknown ones synthesised by
    Resynthesizer from patches of the known ones. Tiling is off: with it on (the engine's default)
    the texture wraps around the canvas edges."""
    import resynthesizer
    from PIL import Image

    params = resynthesizer.getDefaultParams()
    params.isMakeSeamlesslyTileableHorizontally = 0
    params.isMakeSeamlesslyTileableVertically = 0
    target = Image.fromarray(np.where(known_mask, 0, 255).astype(np.uint8))
    out = np.asarray(resynthesizer.resynthesize(Image.fromarray(image), target, params))
    return np.where(known_mask[..., None], image, out)


def patchmatch_fill(image: np.ndarray, known_mask: np.ndarray, patch_size: int = 3) -> np.ndarray:
    """(H, W, 3) uint8 canvas, (H, W) bool known pixels -> the unknown ones filled by PatchMatch
    (patch radius 3, as the package's examples and InvokeAI use)."""
    from patchmatch import patch_match

    holes = np.where(known_mask, 0, 255).astype(np.uint8)
    out = patch_match.inpaint(np.ascontiguousarray(image), holes, patch_size=patch_size)
    return np.where(known_mask[..., None], image, out)


def fill(name: str, known: np.ndarray, pad: tuple[int, int, int, int]) -> np.ndarray:
    """Extend `known` (H, W, 3) uint8 by `pad` = (left, top, right, bottom) pixels with `name`."""
    reason = missing(name)
    if reason is not None:
        raise ValueError(reason)
    left, top, right, bottom = pad
    widths = ((top, bottom), (left, right), (0, 0))
    if name == "reflect":
        return np.pad(known, widths, mode="reflect")
    mask = np.pad(np.ones(known.shape[:2], bool), widths[:2], constant_values=False)
    if name == "mean":
        canvas = np.pad(known, widths, mode="constant")
        canvas[~mask] = known.reshape(-1, 3).mean(0).round().astype(np.uint8)
        return canvas
    if name in ("telea", "ns"):
        import cv2

        canvas = np.pad(known, widths, mode="edge")
        flag = cv2.INPAINT_TELEA if name == "telea" else cv2.INPAINT_NS
        return cv2.inpaint(canvas, (~mask).astype(np.uint8) * 255, 5, flag)
    canvas = np.pad(known, widths, mode="constant")
    return resynthesizer_fill(canvas, mask) if name == "resynthesizer" else patchmatch_fill(canvas, mask)
