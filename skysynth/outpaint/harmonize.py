"""Join the generated sky to the input: colours (harmonize_border) and texture (mirror_feather).

Tokens are a lossy code: the decoded canvas around the input differs from the input in colour
and brightness by a few percent, and pasting the input back turns that into a visible frame.
Here the low-passed difference (input - decoded) along the input's border is extended outward by
normalised convolution and faded out over a few tokens, so the generated sky starts exactly at
the input's colours and drifts to its own. The input's pixels are not touched.
"""

from __future__ import annotations

import math

import kornia
import torch
import torch.nn.functional as F


def _blur(images: torch.Tensor, sigma: float, wrap: tuple[bool, bool]) -> torch.Tensor:
    """Gaussian blur; circular axes (wrap_y, wrap_x) are padded with their other end."""
    radius = int(3 * sigma)
    pad_x, pad_y = (radius if wrap[1] else 0), (radius if wrap[0] else 0)
    padded = F.pad(images, (pad_x, pad_x, pad_y, pad_y), mode="circular") if pad_x or pad_y else images
    kernel = 2 * radius + 1
    blurred = kornia.filters.gaussian_blur2d(padded, (kernel, kernel), (sigma, sigma), border_type="constant")
    return blurred[..., pad_y : pad_y + images.shape[-2], pad_x : pad_x + images.shape[-1]]


def harmonize_border(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    known_mask: torch.Tensor,
    sigma: float,
    wrap: tuple[bool, bool] = (False, False),
) -> torch.Tensor:
    """`generated` (B, 3, H, W) with the input's low-frequency offset faded in around `known_mask`.

    `canvas_input` (1, 3, H, W) holds the input where `known_mask` (1, 1, H, W) is true; `sigma`
    (pixels) sets both the low-pass and the fade-out distance (about 2 sigma). Inside the mask the
    result equals `generated` (the caller pastes the input there)."""
    if sigma <= 0:
        return generated
    known = known_mask.to(generated.dtype)
    # Low-pass of the difference inside the input only (normalised so the border is not darkened).
    difference = (canvas_input - generated) * known
    weight = _blur(known, sigma, wrap)
    offset = _blur(difference, sigma, wrap) / weight.clamp_min(1e-6)
    # Fade: ~1 at the border, falling to 0 about 2 sigma away (Gaussian tail of the mask's blur).
    fade = (2 * _blur(known, sigma, wrap)).clamp(0, 1)
    offset = offset * (weight > 1e-4)
    return torch.where(known_mask, generated, (generated + fade * offset).clamp(0, 1))


def mirror_feather(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    box: tuple[int, int, int, int],
    width: float,
    wrap: tuple[bool, bool] = (False, False),
) -> torch.Tensor:
    """Cross-fade from the input's mirror image to `generated` over `width` pixels around `box`.

    Right next to the input's border the output is the input reflected across that border, so the
    border line looks like any line inside a photo (texture, noise and colour continue); the
    generated sky takes over smoothly (cosine weights) within `width` pixels. `box` = (left, top,
    right, bottom) of the input on the canvas; inside it the result equals `generated`. On circular
    axes (`wrap` = (wrap_y, wrap_x)) the band continues across the canvas's ends.
    """
    band = int(math.ceil(width))
    if band <= 0:
        return generated
    left, top, right, bottom = box
    if any(wrap):
        # Roll the input to the middle of the circular axes, feather, roll back.
        shift_y = (generated.shape[-2] - bottom - top) // 2 if wrap[0] else 0
        shift_x = (generated.shape[-1] - right - left) // 2 if wrap[1] else 0
        rolled = mirror_feather(
            torch.roll(generated, (shift_y, shift_x), dims=(-2, -1)),
            torch.roll(canvas_input, (shift_y, shift_x), dims=(-2, -1)),
            (left + shift_x, top + shift_y, right + shift_x, bottom + shift_y),
            width,
        )
        return torch.roll(rolled, (-shift_y, -shift_x), dims=(-2, -1))
    height_c, width_c = generated.shape[-2:]
    crop = canvas_input[..., top:bottom, left:right]
    # Reflection needs an input wider than the band: a small input gets a narrower band.
    band = min(band, crop.shape[-1] - 1, crop.shape[-2] - 1)
    if band <= 0:
        return generated
    mirrored = F.pad(crop, (band, band, band, band), mode="reflect")
    y0, x0 = top - band, left - band
    ys = slice(max(y0, 0), min(bottom + band, height_c))
    xs = slice(max(x0, 0), min(right + band, width_c))
    mirror = mirrored[..., ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    # Distance (pixels) outside the box, Chebyshev: 1 on the first ring outside.
    rows = torch.arange(ys.start, ys.stop, device=generated.device, dtype=generated.dtype)
    cols = torch.arange(xs.start, xs.stop, device=generated.device, dtype=generated.dtype)
    dy = torch.clamp(top - rows, min=0) + torch.clamp(rows - (bottom - 1), min=0)
    dx = torch.clamp(left - cols, min=0) + torch.clamp(cols - (right - 1), min=0)
    distance = torch.maximum(dy[:, None], dx[None, :])
    # Cosine from ~1 on the first ring outside down to 0 at band + 1; 0 on the box itself.
    weight = 0.5 + 0.5 * torch.cos(math.pi * (distance / (band + 1)).clamp(0, 1))
    weight = weight * (distance > 0)
    out = generated.clone()
    region = out[..., ys, xs]
    out[..., ys, xs] = region + weight * (mirror - region)
    return out
