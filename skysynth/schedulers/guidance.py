"""Classifier-free guidance for MaskGIT (Ho & Salimans 2022, https://arxiv.org/abs/2207.12598).

Wraps a class-conditional network so that the samplers, which call `net(tokens)`, draw towards
one cloud type: logits = unconditional + scale x (conditional - unconditional). A scale of 1 is
the conditional model alone; no label is the unconditional model, unchanged.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


class GuidedNet:
    """`net(tokens)` with one cloud type for every window of the call; `bf16` runs the network's
    passes under bf16 autocast and returns fp32 logits, so the draws stay in fp32."""

    def __init__(self, net, label: int | None, guidance_scale: float = 1.0, bf16: bool = False):
        if guidance_scale < 0:
            raise ValueError(f"guidance_scale must be at least 0, got {guidance_scale}")
        if label is not None and not net.config.class_names:
            raise ValueError("this MaskGIT has no class condition: cloud types need a conditional model")
        self.net, self.label, self.guidance_scale, self.bf16 = net, label, guidance_scale, bf16
        self.config = net.config

    @contextmanager
    def kept_casts(self):
        """A region over many passes (a whole growth) in which bf16 autocast casts each weight once:
        every pass of its own re-casts all weights (~10% of a MaskGIT pass on a CPU). Inside it,
        everything but the passes runs without autocast, as outside it; the logits are the same."""
        device_type = next(self.net.parameters()).device.type
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=self.bf16):
            # Autocast clears its cast cache only when the outermost region ends.
            with torch.autocast(device_type, enabled=False):
                yield

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        with torch.autocast(tokens.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self._logits(tokens).float()

    def _logits(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.label is None:
            return self.net(tokens)
        b = tokens.shape[0]
        labels = torch.full((b,), self.label, dtype=torch.long, device=tokens.device)
        if self.guidance_scale == 1.0:
            return self.net(tokens, labels)
        # One pass over both halves: conditional and unconditional logits of the same windows.
        none = torch.full_like(labels, self.config.null_class)
        conditional, unconditional = self.net(torch.cat([tokens, tokens]), torch.cat([labels, none])).chunk(2)
        return unconditional + self.guidance_scale * (conditional - unconditional)
