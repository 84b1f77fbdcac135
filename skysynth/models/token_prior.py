"""How much more often each code occurs in skies of each cloud type: a naive-Bayes token prior,
one of the two guides of cloud-type control (skysynth.schedulers.guidance.TokenPriorGuidance).

A naive-Bayes classifier of token windows scores a window's type by the sum over its codes of
log p(code | type) / p(code). That score is linear in the codes, so its guidance is exact, not a
first-order step: every masked draw's logits gain scale x log p(code | type) / p(code), whatever
the context. It knows nothing of shapes, only which codes each type is made of: enough to turn a
cloudy ring clear or overcast, where a context-aware classifier's gradient does not reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from skysynth.models.pretrained import PretrainedMixin


@dataclass
class TokenPriorConfig:
    codebook_size: int = 128  # the tokenizer's codes it counts
    class_names: tuple = ()
    smoothing: float = 1.0  # added to every code's count (Laplace), so no code is ruled out


class TokenTypePrior(PretrainedMixin, nn.Module):
    """`log_ratio` (classes, codebook_size): log p(code | type) - log p(code), where p(code) is the
    mean of the types' distributions (every type weighs the same, whatever its share of photos)."""

    config_class = TokenPriorConfig
    model_type = "token_type_prior"

    def __init__(self, config: TokenPriorConfig):
        super().__init__()
        if len(config.class_names) < 2:
            raise ValueError("a token prior needs at least two class names")
        if config.smoothing <= 0:
            raise ValueError(f"smoothing must be above 0, got {config.smoothing}")
        self.config = config
        self.register_buffer("log_ratio", torch.zeros(len(config.class_names), config.codebook_size))

    @torch.no_grad()
    def fit(self, counts: torch.Tensor) -> TokenTypePrior:
        """Set `log_ratio` from (classes, codebook_size) code counts; returns self."""
        expected = (len(self.config.class_names), self.config.codebook_size)
        if tuple(counts.shape) != expected:
            raise ValueError(f"expected counts of shape {expected}, got {tuple(counts.shape)}")
        smoothed = counts.double() + self.config.smoothing
        per_type = smoothed / smoothed.sum(1, keepdim=True)
        self.log_ratio.copy_((per_type / per_type.mean(0, keepdim=True)).log().to(self.log_ratio.dtype))
        return self

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, h, w) code ids -> (B, classes) naive-Bayes scores (sum of the codes' log ratios)."""
        return self.log_ratio[:, tokens.flatten(1)].sum(-1).T
