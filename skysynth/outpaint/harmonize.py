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

from skysynth.flatness import masked_mean_std


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


def _smooth(images: torch.Tensor, sigma: float, wrap, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Gaussian blur by normalised convolution: borders (and, with `mask`, pixels outside it) do
    not pull the average towards zero."""
    weight = torch.ones_like(images[:1, :1]) if mask is None else mask.to(images.dtype)
    return _blur(images * weight, sigma, wrap) / _blur(weight, sigma, wrap).clamp_min(1e-6)


def transfer_colour(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    known_mask: torch.Tensor,
    sigma: float,
    std_range: tuple[float, float] = (0.5, 2.0),
    wrap: tuple[bool, bool] = (False, False),
) -> torch.Tensor:
    """Give the generated area the input's colour statistics (Reinhard et al. 2001, per channel).

    Tokens drift: far from the input the generated sky turns greyer, darker or more contrasted
    than the photo it continues. The low band (Gaussian blur of `sigma` pixels) of the area
    outside `known_mask` is shifted to the input's mean and scaled to its standard deviation
    (the scale clamped to `std_range`, so a flat input cannot flatten a cloudy sky entirely, nor
    the reverse); the fine detail above that band is kept as it is. Inside the mask the result
    equals `generated`."""
    if sigma <= 0:
        return generated
    low = _smooth(generated, sigma, wrap)
    gen_mean, gen_std = masked_mean_std(low, ~known_mask)
    target_mean, target_std = masked_mean_std(_smooth(canvas_input, sigma, wrap, known_mask), known_mask)
    scale = (target_std / gen_std.clamp_min(1e-4)).clamp(*std_range)
    moved = (low - gen_mean) * scale + target_mean + (generated - low)
    return torch.where(known_mask, generated, moved.clamp(0, 1))


def finest_band(images: torch.Tensor, wrap: tuple[bool, bool] = (False, False)) -> torch.Tensor:
    """The first level of a Laplacian pyramid (image minus its pyrdown-pyrup low pass): the
    pixel-scale detail. Circular axes are padded with their other end first."""
    margin = 4
    pad = (margin if wrap[1] else 0, margin if wrap[1] else 0, margin if wrap[0] else 0, margin if wrap[0] else 0)
    padded = F.pad(images, pad, mode="circular") if any(wrap) else images
    low = kornia.geometry.transform.pyrup(kornia.geometry.transform.pyrdown(padded))
    if low.shape[-2:] != padded.shape[-2:]:  # odd sides
        low = F.interpolate(low, size=padded.shape[-2:], mode="bilinear", align_corners=False)
    band = padded - low
    return band[..., pad[2] : pad[2] + images.shape[-2], pad[0] : pad[0] + images.shape[-1]]


def match_detail(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    known_mask: torch.Tensor,
    max_gain: float,
    wrap: tuple[bool, bool] = (False, False),
) -> torch.Tensor:
    """Raise the generated area's finest detail to the input's energy (grain matching).

    The tokenizer and upscaler leave generated sky smoother at the pixel scale than the photo
    it continues (about a third of its finest-band energy: RESULTS.md), which reads as a pasted,
    painted area. The finest Laplacian band of the generated area is amplified by the ratio of
    the band's RMS inside the input to its RMS outside, at most `max_gain` and never below 1 (an
    input smoother than the generated sky leaves the sky alone). Inside the mask the result
    equals `generated`."""
    if max_gain <= 1:
        return generated
    fine = finest_band(generated, wrap)
    # The input's band, away from its border (where the band would see the generated sky).
    input_fine = finest_band(torch.where(known_mask, canvas_input, generated[:1]), wrap)
    outside = (~known_mask).to(generated.dtype)
    interior = 1 - kornia.morphology.dilation(outside, torch.ones(9, 9, device=generated.device))
    gen_energy = (fine.pow(2).mean(1, keepdim=True) * outside).sum(dim=(1, 2, 3)) / outside.sum().clamp_min(1)
    input_energy = (input_fine.pow(2).mean(1, keepdim=True) * interior).sum() / interior.sum().clamp_min(1)
    gain = (input_energy / gen_energy.clamp_min(1e-12)).sqrt().clamp(1.0, max_gain)
    boosted = generated + (gain[:, None, None, None] - 1) * fine
    return torch.where(known_mask, generated, boosted.clamp(0, 1))
