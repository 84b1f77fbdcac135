"""The degradation the upscaler learns to undo; training and evaluation share it."""

from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F


def detail_band(images: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, C, H, W) -> what a `factor` downscale loses: the image minus its antialiased downscale
    upscaled again (bicubic), the band the upscaler has to invent."""
    h, w = images.shape[-2:]
    small = kornia.geometry.transform.resize(
        images, (h // factor, w // factor), interpolation="bilinear", antialias=True
    )
    return images - F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)


def blurry_version(tokenizer, sharp: torch.Tensor, factor: int) -> torch.Tensor:
    """What the pipeline gives the upscaler: downscale, tokenizer round trip, bicubic upscale."""
    h, w = sharp.shape[-2:]
    small = kornia.geometry.transform.resize(
        sharp, (h // factor, w // factor), interpolation="bilinear", antialias=True
    )
    round_trip = tokenizer.decode(tokenizer.encode(small)).clamp(0, 1)
    return F.interpolate(round_trip, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
