"""A small cloud-type classifier whose pooled features stand in for Inception's in KID/FID.

Inception weights cannot be downloaded here, and ImageNet features say little about clouds;
a network trained on the labelled cloud classes measures what matters for skies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from skysynth.models.pretrained import PretrainedMixin


@dataclass
class ClassifierConfig:
    class_names: tuple = ()
    channels: tuple = (16, 32, 64, 128)
    image_size: int = 64  # inputs are resized to this (antialiased) before the network


class CloudClassifier(PretrainedMixin, nn.Module):
    """`features(images) -> (B, channels[-1])`, `forward(images) -> (B, classes)` logits; images in [0, 1]."""

    config_class = ClassifierConfig
    model_type = "cloud_classifier"

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        layers, previous = [], 3
        for width in config.channels:
            layers += [
                nn.Conv2d(previous, width, 3, padding=1),
                nn.GroupNorm(8, width),
                nn.SiLU(),
                nn.Conv2d(width, width, 3, padding=1, stride=2),
                nn.GroupNorm(8, width),
                nn.SiLU(),
            ]
            previous = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(previous, max(1, len(config.class_names)))
        self.register_buffer("mean", torch.tensor([0.5, 0.55, 0.6]).view(1, 3, 1, 1), persistent=False)

    @property
    def num_features(self) -> int:
        return self.config.channels[-1]

    def features(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype == torch.uint8:  # torchmetrics may hand over uint8 images
            images = images.float() / 255.0
        size = self.config.image_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True)
        return self.body(images - self.mean).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


class ClassifierFeatures(nn.Module):
    """The classifier as a torchmetrics feature extractor (KID/FID `feature=`)."""

    def __init__(self, classifier: CloudClassifier):
        super().__init__()
        self.classifier = classifier.eval()
        self.num_features = classifier.num_features

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(images).double()
