"""Image-quality measures shared by the evaluation tasks (pure tensor functions, kornia filters)."""

from __future__ import annotations

import kornia
import torch

from skysynth.flatness import luminance_std


def high_frequency_energy(images: torch.Tensor) -> torch.Tensor:
    """Mean squared Laplacian response per image: how much fine detail there is. (B,) tensor."""
    response = kornia.filters.laplacian(images.float(), kernel_size=3)
    return response.pow(2).mean(dim=(1, 2, 3))


def high_frequency_ratio(output: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Detail energy of the output over that of the truth (1.0 = as much detail as the truth)."""
    return high_frequency_energy(output).sum() / high_frequency_energy(truth).sum().clamp_min(1e-12)


def collapsed_by_std(generated_std: torch.Tensor, truth_std: torch.Tensor, std_threshold: float = 0.02) -> torch.Tensor:
    """(B,) bool from the (B,) luminance stds (`skysynth.flatness.luminance_std`) of the generated
    region and the truth's: near-uniform where the truth is not."""
    return (generated_std < std_threshold) & ~(truth_std < std_threshold)


def collapsed(
    generated: torch.Tensor, truth: torch.Tensor, region: torch.Tensor | None = None, std_threshold: float = 0.02
) -> torch.Tensor:
    """(B,) bool: the generated region is near-uniform while the truth's is not.
    generated, truth: (B, 3, H, W) in [0, 1]; region: (B or 1, 1, H, W) bool, True = measured."""
    return collapsed_by_std(luminance_std(generated, region), luminance_std(truth, region), std_threshold)


def collapse_rate(
    generated: torch.Tensor, truth: torch.Tensor, region: torch.Tensor | None = None, std_threshold: float = 0.02
) -> float:
    """Share of images whose generated region is near-uniform while the truth's is not."""
    return float(collapsed(generated, truth, region, std_threshold).float().mean())


def gradient_across(images: torch.Tensor, positions: list[int], axis: str) -> torch.Tensor:
    """Mean |difference| between pixel columns (axis='x') or rows (axis='y') p-1 and p. (B,) tensor."""
    images = images.float()
    if axis == "x":
        diffs = [(images[..., :, p] - images[..., :, p - 1]).abs().mean(dim=(1, 2)) for p in positions]
    else:
        diffs = [(images[..., p, :] - images[..., p - 1, :]).abs().mean(dim=(1, 2)) for p in positions]
    return torch.stack(diffs).mean(0)


def interior_gradient(images: torch.Tensor, axis: str) -> torch.Tensor:
    """Mean |difference| between all neighbouring columns/rows: what an invisible seam looks like. (B,)"""
    images = images.float()
    if axis == "x":
        return (images[..., :, 1:] - images[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    return (images[..., 1:, :] - images[..., :-1, :]).abs().mean(dim=(1, 2, 3))


def lines_beside(positions: list[int], beside: int, length: int) -> list[int]:
    """The `beside` lines either side of each position (not the position itself), inside 1..length-1."""
    offsets = [o for o in range(-beside, beside + 1) if o != 0]
    return [p + o for p in positions for o in offsets if 0 < p + o < length]


def seam_score(
    images: torch.Tensor,
    positions: list[int],
    axis: str,
    reference: torch.Tensor | None = None,
    beside: int = 0,
) -> float:
    """Gradient across given lines over the gradient elsewhere (1.0 = the lines are invisible).

    `images`, `reference`: (B, C, H, W). `reference`: images whose gradient across the same lines
    is the yardstick (the truth, for outpainting); by default the images' own mean
    neighbouring-pixel gradient. `beside` > 0: the reference's gradient is taken on the `beside`
    lines either side of each position instead of on it (a JPEG photo's 8-pixel blocks meet on
    multiples of 8, where its own step is larger than the sky's).
    """
    across = gradient_across(images, positions, axis)
    if reference is not None:
        lines = positions
        if beside > 0:
            length = reference.shape[-1] if axis == "x" else reference.shape[-2]
            lines = lines_beside(positions, beside, length) or positions
        baseline = gradient_across(reference, lines, axis)
    else:
        baseline = interior_gradient(images, axis)
    return float(across.sum() / baseline.sum().clamp_min(1e-12))
