"""Mirror feather: next to the input, its mirror image fading to the generated sky (after upscaling)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from skysynth.outpaint.canvas import Canvas
from skysynth.outpaint.finish.filters import outside


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
    distance = torch.maximum(outside(rows, top, bottom)[:, None], outside(cols, left, right)[None, :])
    # Cosine from ~1 on the first ring outside down to 0 at band + 1; 0 on the box itself.
    weight = 0.5 + 0.5 * torch.cos(math.pi * (distance / (band + 1)).clamp(0, 1))
    weight = weight * (distance > 0)
    out = generated.clone()
    region = out[..., ys, xs]
    out[..., ys, xs] = region + weight * (mirror - region)
    return out


@dataclass
class FeatherConfig:
    enabled: bool = True
    tokens: float = 2.0  # width of the cross-fade, tokens


class MirrorFeather:
    """Stage: `mirror_feather` around the input's box."""

    def __init__(self, config: FeatherConfig):
        self.config = config

    def __call__(self, image: torch.Tensor, canvas: Canvas, generator: torch.Generator | None) -> torch.Tensor:
        if self.config.tokens <= 0:
            return image
        return mirror_feather(image, canvas.input, canvas.input_box, canvas.pixels(self.config.tokens), canvas.wrap)
