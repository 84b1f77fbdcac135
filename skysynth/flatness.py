"""Is an image (region) flat? Shared by the MaskGIT collapse guard and the collapse metric."""

from __future__ import annotations

import kornia
import torch


def luminance_std(images: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) standard deviation of a lightly blurred luminance inside `region`: how much
    structure there is, with JPEG-like noise blurred away. `region`: (B, 1, H, W) or
    (1, 1, H, W) bool, True = measured."""
    gray = kornia.color.rgb_to_grayscale(images.float().clamp(0, 1))
    gray = kornia.filters.gaussian_blur2d(gray, (5, 5), (1.0, 1.0))
    if region is None:
        region = torch.ones_like(gray, dtype=torch.bool)
    region = region.expand_as(gray).float()
    count = region.sum(dim=(1, 2, 3)).clamp_min(1)
    mean = (gray * region).sum(dim=(1, 2, 3)) / count
    var = ((gray - mean[:, None, None, None]) ** 2 * region).sum(dim=(1, 2, 3)) / count
    return var.sqrt()


def near_uniform(images: torch.Tensor, region: torch.Tensor | None = None, std_threshold: float = 0.02) -> torch.Tensor:
    """(B,) bool: the (region of the) image is almost flat (`luminance_std` below the threshold)."""
    return luminance_std(images, region) < std_threshold
