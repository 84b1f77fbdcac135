"""The degradation the upscaler learns to undo; training and evaluation share it."""

from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F


def downscale(images: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H // factor, W // factor), antialiased: as the pipeline shrinks."""
    h, w = images.shape[-2:]
    return kornia.geometry.transform.resize(
        images, (h // factor, w // factor), interpolation="bilinear", antialias=True
    )


def upscale_bicubic(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(images, size=size, mode="bicubic", align_corners=False)


def detail_band(images: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, C, H, W) -> what a `factor` downscale loses: the image minus its antialiased downscale
    upscaled again (bicubic), the band the upscaler has to invent."""
    return images - upscale_bicubic(downscale(images, factor), images.shape[-2:])


def blurry_version(tokenizer, sharp: torch.Tensor, factor: int) -> torch.Tensor:
    """What the pipeline gives the upscaler: downscale, tokenizer round trip, bicubic upscale."""
    small = downscale(sharp, factor)
    round_trip = tokenizer.decode(tokenizer.encode(small)).clamp(0, 1)
    return upscale_bicubic(round_trip, sharp.shape[-2:]).clamp(0, 1)
