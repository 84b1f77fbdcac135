"""Carry the input's low frequencies a little way into the generated sky.

Tokens are a lossy code: the decoded canvas around the input differs from the input in colour
and brightness by a few percent, and pasting the input back turns that into a visible frame.
Here the low-passed difference (input - decoded) along the input's border is extended outward by
normalised convolution and faded out over a few tokens, so the generated sky starts exactly at
the input's colours and drifts to its own. The input's pixels are not touched.
"""

from __future__ import annotations

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
