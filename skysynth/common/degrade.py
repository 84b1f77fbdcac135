"""The degradation the upscaler learns to undo; training and evaluation share it."""

from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F


def blurry_version(tokenizer, sharp: torch.Tensor, factor: int) -> torch.Tensor:
    """What the pipeline gives the upscaler: downscale, tokenizer round trip, bicubic upscale."""
    h, w = sharp.shape[-2:]
    small = kornia.geometry.transform.resize(
        sharp, (h // factor, w // factor), interpolation="bilinear", antialias=True
    )
    round_trip = tokenizer.decode(tokenizer.encode(small)).clamp(0, 1)
    return F.interpolate(round_trip, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
