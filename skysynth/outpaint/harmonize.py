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


def _pad(images: torch.Tensor, amount: int, wrap: tuple[bool, bool]) -> torch.Tensor:
    """Pad both axes by `amount`: circular along wrapped axes, replicate (no flux) elsewhere."""
    x = F.pad(images, (amount, amount, 0, 0), mode="circular" if wrap[1] else "replicate")
    return F.pad(x, (0, 0, amount, amount), mode="circular" if wrap[0] else "replicate")


def _neighbour_mean(images: torch.Tensor, wrap: tuple[bool, bool]) -> torch.Tensor:
    """Mean of the four neighbours of every pixel (the Jacobi step of a Laplace solve)."""
    p = _pad(images, 1, wrap)
    return (p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]) * 0.25


def border_membrane(
    difference: torch.Tensor,
    known_mask: torch.Tensor,
    decay: float,
    wrap: tuple[bool, bool] = (False, False),
    iterations: int = 30,
) -> torch.Tensor:
    """Smooth outward extension of `difference` (B, C, H, W), defined where `known_mask` is true.

    Solves the screened Poisson equation (Laplacian(m) = m / decay^2 outside the mask, m =
    difference inside) coarse to fine, so m equals the difference at the mask's border and decays
    over about `decay` pixels: fine mismatches fade within a pixel or two, broad ones further out
    (a harmonic extension damps each frequency by its own wavelength). Pasting the input over
    `generated + m` then leaves no step at the border, however detailed the input is there.
    """
    known = known_mask.to(difference.dtype).expand(difference.shape[0], 1, -1, -1)
    height, width = difference.shape[-2:]
    levels = 0
    while min(height, width) >> (levels + 1) >= 8 and (2 ** (levels + 1)) <= decay:
        levels += 1
    # Pyramid of (difference, known) by averaging over the known pixels only.
    pyramid = [(difference * known, known)]
    for _ in range(levels):
        values, weight = pyramid[-1]
        values, weight = F.avg_pool2d(values, 2, ceil_mode=True), F.avg_pool2d(weight, 2, ceil_mode=True)
        pyramid.append((values, weight))
    solution = None
    for level in reversed(range(levels + 1)):
        values, weight = pyramid[level]
        inside = weight > 0.5
        target = values / weight.clamp_min(1e-6)
        screen = (2**level / max(decay, 1e-6)) ** 2  # the same physical decay on every level
        m = torch.zeros_like(values) if solution is None else F.interpolate(solution, size=values.shape[-2:])
        m = torch.where(inside, target, m)
        for _ in range(iterations * (2 if level else 1)):
            m = torch.where(inside, target, _neighbour_mean(m, wrap) * (4 / (4 + screen)))
        solution = m
    return torch.where(known_mask, torch.zeros_like(solution), solution)
