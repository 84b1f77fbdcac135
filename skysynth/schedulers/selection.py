"""Best-of-n window draws: draw each window several times and keep the draw a scorer rates best.

Guidance tilts every token's draw a little; selection judges whole draws, so it also helps where
a first-order tilt cannot reach (a window's sky that is only of the wanted type as a whole).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from skysynth.schedulers.masking import row_generators


class BestOfSampler:
    """Wraps a sampler (`sample(net, tokens, unknown, generator)`): every window row is drawn
    `candidates` times, each draw from its own generator seeded from the row's generator, and the
    draw with the highest `score(tokens, unknown) -> (B,)` is kept. One candidate is the wrapped
    sampler itself."""

    def __init__(self, sampler, candidates: int, score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
        if candidates < 1:
            raise ValueError(f"candidates must be at least 1, got {candidates}")
        self.sampler, self.candidates, self.score = sampler, candidates, score

    @torch.no_grad()
    def sample(self, net, tokens: torch.Tensor, unknown: torch.Tensor, generator) -> torch.Tensor:
        """(B, h, w) tokens and unknown mask -> (B, h, w) tokens, the best of `candidates` draws per row."""
        if self.candidates == 1:
            return self.sampler.sample(net, tokens, unknown, generator)
        b, k = tokens.shape[0], self.candidates
        rows = row_generators(generator, b)
        seeds = [torch.randint(0, 2**62, (k,), generator=g, device=g.device).tolist() for g in rows]
        generators = [torch.Generator(tokens.device).manual_seed(s) for row in seeds for s in row]
        many_unknown = unknown.repeat_interleave(k, 0)
        drawn = self.sampler.sample(net, tokens.repeat_interleave(k, 0), many_unknown, generators)
        best = self.score(drawn, many_unknown).view(b, k).argmax(1)
        return drawn.view(b, k, *tokens.shape[1:])[torch.arange(b, device=tokens.device), best]


class TokenTypeScore:
    """How much a filled window reads as one cloud type to a token classifier: log p(label |
    window), the window's codes one-hot; a classifier trained with region pooling judges the
    drawn part (`unknown`) in its window's context."""

    def __init__(self, classifier, label: int):
        self.classifier, self.label = classifier, label

    @torch.no_grad()
    def __call__(self, tokens: torch.Tensor, unknown: torch.Tensor) -> torch.Tensor:
        """(B, h, w) token ids, (B, h, w) bool drawn part -> (B,) log-probabilities of the label."""
        window = F.one_hot(tokens, self.classifier.config.codebook_size).float()
        region = unknown if self.classifier.config.region_pooling else None
        with torch.autocast(tokens.device.type, enabled=False):
            return self.classifier(window, region).log_softmax(-1)[:, self.label]
