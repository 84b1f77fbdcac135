"""torchmetrics Metrics of our own: codebook usage and perplexity, synchronised across ranks."""

from __future__ import annotations

import torch
from torchmetrics import Metric


class CodebookUsage(Metric):
    """Share of codebook entries used and the perplexity of the token histogram."""

    full_state_update = False

    def __init__(self, codebook_size: int):
        super().__init__()
        self.codebook_size = codebook_size
        self.add_state("counts", default=torch.zeros(codebook_size, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, tokens: torch.Tensor) -> None:
        self.counts += torch.bincount(tokens.flatten(), minlength=self.codebook_size).to(self.counts)

    def compute(self) -> dict[str, torch.Tensor]:
        probabilities = self.counts / self.counts.sum().clamp_min(1)
        entropy = -(probabilities * probabilities.clamp_min(1e-12).log()).sum()
        return {"usage": (self.counts > 0).double().mean(), "perplexity": entropy.exp()}
