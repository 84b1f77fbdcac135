"""A cloud-type classifier that reads token windows, soft ones included: the guide of cloud-type
control (skysynth.schedulers.guidance.TokenClassifierGuidance).

It sees what the MaskGIT sampler sees mid-draw: known tokens as one-hot rows, still-masked ones
as the MaskGIT's predicted distributions. Because its input is a distribution per position, its
gradient says, for every masked position and every code, how much drawing that code would move
the window towards a cloud type.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from skysynth.models.pretrained import PretrainedMixin


@dataclass
class TokenClassifierConfig:
    codebook_size: int = 128  # the tokenizer's codes it reads
    class_names: tuple = ()
    embed_dim: int = 48
    channels: tuple = (64, 96, 128)  # conv stages; every stage after the first halves the grid
    # Trained to name the type of a region of its window (the masked part), not the whole window.
    region_pooling: bool = False


class TokenCloudClassifier(PretrainedMixin, nn.Module):
    """`forward(probabilities) -> (B, classes)` logits for (B, h, w, codebook_size) code
    distributions (one-hot rows for known tokens)."""

    config_class = TokenClassifierConfig
    model_type = "token_cloud_classifier"

    def __init__(self, config: TokenClassifierConfig):
        super().__init__()
        if len(config.class_names) < 2:
            raise ValueError("a token classifier needs at least two class names")
        self.config = config
        # A linear map of the distribution = its expected code embedding: soft rows stay meaningful.
        self.embed = nn.Linear(config.codebook_size, config.embed_dim, bias=False)
        layers, previous = [], config.embed_dim
        for i, width in enumerate(config.channels):
            layers += [nn.Conv2d(previous, width, 3, stride=1 if i == 0 else 2, padding=1), nn.GroupNorm(8, width)]
            layers.append(nn.GELU())
            previous = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(previous, len(config.class_names))

    def forward(self, probabilities: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
        """(B, h, w, codebook_size) distributions, optional (B, h, w) bool `region` -> (B, classes)
        logits of the type of `region` seen in its window (features pooled over it; None = all)."""
        if probabilities.shape[-1] != self.config.codebook_size:
            raise ValueError(
                f"expected (B, h, w, {self.config.codebook_size}) code distributions, got {tuple(probabilities.shape)}"
            )
        features = self.body(self.embed(probabilities).permute(0, 3, 1, 2))
        if region is None:
            return self.head(features.mean(dim=(2, 3)))
        weights = F.adaptive_avg_pool2d(region[:, None].float(), features.shape[-2:])
        pooled = (features * weights).sum(dim=(2, 3)) / weights.sum(dim=(2, 3)).clamp_min(1e-6)
        return self.head(pooled)
