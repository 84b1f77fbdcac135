"""Trend continuation: the input's brightness and colour gradient goes on (after decoding)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from skysynth.outpaint.canvas import Canvas, box_mask


def continue_trend(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    box: tuple[int, int, int, int],
    saturation: float = 2.0,
    wrap: tuple[bool, bool] = (False, False),
) -> torch.Tensor:
    """Continue the input's brightness and colour gradient into the generated area.

    Skies brighten towards the sun and the horizon; a mirror turns such a gradient back and the
    colour transfer (one mean for the whole generated area) flattens it. A plane a + b*x + c*y is
    fitted per channel to the input (x, y in units of the input's half-width and half-height,
    centred on it); every generated pixel gets the plane's increase from the nearest input
    pixel to itself, so nothing changes at the input's border. The distance beyond the border
    saturates (`saturation` half-sizes, tanh), so a far panorama does not run to black or
    white. Circular axes (`wrap` = (wrap_y, wrap_x)) get no gradient along them. Inside `box`
    the result equals `generated`."""
    left, top, right, bottom = box
    crop = canvas_input[..., top:bottom, left:right].float()
    # A coarse copy is enough for a plane (and keeps a 1600x1200 input cheap).
    small = F.interpolate(crop, size=(min(64, crop.shape[-2]), min(64, crop.shape[-1])), mode="area")
    hy, hx = (bottom - top) / 2, (right - left) / 2
    cy, cx = top + hy, left + hx

    def normalised(count: int, start: float, step: float, centre: float, half: float) -> torch.Tensor:
        """Centres of `count` pixels of size `step` from `start`, in half-sizes from `centre`."""
        centres = start + (torch.arange(count, device=generated.device, dtype=torch.float32) + 0.5) * step
        return (centres - centre) / half

    ys = normalised(small.shape[-2], top, (bottom - top) / small.shape[-2], cy, hy)
    xs = normalised(small.shape[-1], left, (right - left) / small.shape[-1], cx, hx)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    features = [torch.ones_like(grid_y)]
    if not wrap[1]:
        features.append(grid_x)
    if not wrap[0]:
        features.append(grid_y)
    if len(features) == 1:
        return generated
    # Least squares by the normal equations in float64: LAPACK's lstsq on float32 can differ in
    # the last bit from call to call (it depends on memory alignment), and the upscaler amplifies that.
    design = torch.stack([f.flatten() for f in features], 1).double()  # (N, F)
    values = small[0].flatten(1).T.double()  # (N, 3)
    gram = (design[:, :, None] * design[:, None, :]).sum(0)  # (F, F)
    coef = torch.linalg.solve(gram, (design[:, :, None] * values[:, None, :]).sum(0)).float()  # (F, 3)

    height, width = generated.shape[-2:]
    y = normalised(height, 0, 1, cy, hy)
    x = normalised(width, 0, 1, cx, hx)

    def beyond(u: torch.Tensor) -> torch.Tensor:
        """How far past the border (in half-sizes), saturating; 0 inside."""
        excess = (u.abs() - 1).clamp_min(0)
        return u.sign() * saturation * torch.tanh(excess / saturation)

    increment = torch.zeros(3, height, width, device=generated.device)
    slopes = iter(coef[1:])
    if not wrap[1]:
        increment = increment + next(slopes)[:, None, None] * beyond(x)[None, None, :]
    if not wrap[0]:
        increment = increment + next(slopes)[:, None, None] * beyond(y)[None, :, None]
    known = box_mask(height, width, box, generated.device)
    return torch.where(known, generated, (generated + increment.to(generated.dtype)).clamp(0, 1))


@dataclass
class TrendConfig:
    enabled: bool = True
    saturation: float = 2.0  # input half-sizes over which the extrapolated gradient saturates


class ContinueTrend:
    """Stage: `continue_trend` from the input's box."""

    def __init__(self, config: TrendConfig):
        self.config = config

    def __call__(self, image: torch.Tensor, canvas: Canvas, generator: torch.Generator | None) -> torch.Tensor:
        if self.config.saturation <= 0:
            return image
        return continue_trend(image, canvas.input, canvas.input_box, self.config.saturation, canvas.wrap)
