"""Is an image (region) flat? Shared by the MaskGIT collapse guard and the collapse metric."""

from __future__ import annotations

import kornia
import torch


def masked_mean_std(values: torch.Tensor, region: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image and channel: (mean, std) of `values` (B, C, H, W) over `region` ((B or 1, 1, H, W)
    bool, True = counted), each shaped (B, C, 1, 1). An empty region gives mean 0, std 0."""
    weight = region.to(values.dtype).expand(values.shape[0], 1, -1, -1)
    count = weight.sum(dim=(2, 3), keepdim=True).clamp_min(1)
    mean = (values * weight).sum(dim=(2, 3), keepdim=True) / count
    var = ((values - mean) ** 2 * weight).sum(dim=(2, 3), keepdim=True) / count
    return mean, var.sqrt()


def luminance_std(images: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) standard deviation of a lightly blurred luminance inside `region`: how much
    structure there is, with JPEG-like noise blurred away. `region`: (B, 1, H, W) or
    (1, 1, H, W) bool, True = measured."""
    gray = kornia.color.rgb_to_grayscale(images.float().clamp(0, 1))
    gray = kornia.filters.gaussian_blur2d(gray, (5, 5), (1.0, 1.0))
    if region is None:
        region = torch.ones_like(gray[:1], dtype=torch.bool)
    return masked_mean_std(gray, region)[1].flatten()


def near_uniform(images: torch.Tensor, region: torch.Tensor | None = None, std_threshold: float = 0.02) -> torch.Tensor:
    """(B,) bool: the (region of the) image is almost flat (`luminance_std` below the threshold)."""
    return luminance_std(images, region) < std_threshold
