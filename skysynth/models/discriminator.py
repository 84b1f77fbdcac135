"""Patch discriminator for the tokenizer's adversarial loss (PatchGAN, Isola et al. 2017,
https://arxiv.org/abs/1611.07004, as VQGAN uses it: Esser et al. 2021, https://arxiv.org/abs/2012.09841).

Scores overlapping patches of an image as real or reconstructed, so the tokenizer is pushed
towards texture that looks real where MSE alone settles for a blur.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from skysynth.models.layers import group_norm


@dataclass
class PatchDiscriminatorConfig:
    base_channels: int = 32
    layers: int = 3  # stride-2 convolutions: each output scores a ~(2^layers * 8)-px patch


class PatchDiscriminator(nn.Module):
    """(B, 3, H, W) in [0, 1] -> (B, 1, H / 2^layers, W / 2^layers) logits (real > 0)."""

    def __init__(self, config: PatchDiscriminatorConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = [nn.Conv2d(3, config.base_channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        channels = config.base_channels
        for _ in range(config.layers - 1):
            layers += [nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), group_norm(2 * channels)]
            layers.append(nn.LeakyReLU(0.2))
            channels *= 2
        layers += [nn.Conv2d(channels, channels, 3, padding=1), group_norm(channels), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(channels, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images * 2.0 - 1.0)


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's hinge loss (Lim & Ye 2017): real above +1, reconstructions below -1."""
    return 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())


def hinge_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The tokenizer's side: raise the discriminator's score of its reconstructions."""
    return -fake_logits.mean()
