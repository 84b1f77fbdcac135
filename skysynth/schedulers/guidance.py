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
    passes under bf16 autocast and returns fp32 logits, so the draws stay in fp32. `context`:
    (codebook_size,) code shares of the call's input, given to a MaskGIT with `context_codes`
    (ignored by one without)."""

    def __init__(
        self,
        net,
        label: int | None,
        guidance_scale: float = 1.0,
        bf16: bool = False,
        context: torch.Tensor | None = None,
    ):
        if guidance_scale < 0:
            raise ValueError(f"guidance_scale must be at least 0, got {guidance_scale}")
        if label is not None and not net.config.class_names:
            raise ValueError("this MaskGIT has no class condition: cloud types need a conditional model")
        self.net, self.label, self.guidance_scale, self.bf16 = net, label, guidance_scale, bf16
        self.context = context if getattr(net.config, "context_codes", False) else None
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
        b = tokens.shape[0]
        context = None if self.context is None else self.context.to(tokens.device).expand(b, -1)
        if self.label is None:
            return self.net(tokens, None, context)
        labels = torch.full((b,), self.label, dtype=torch.long, device=tokens.device)
        if self.guidance_scale == 1.0:
            return self.net(tokens, labels, context)
        # One pass over both halves: conditional and unconditional logits of the same windows.
        none = torch.full_like(labels, self.config.null_class)
        both = None if context is None else torch.cat([context, context])
        conditional, unconditional = self.net(torch.cat([tokens, tokens]), torch.cat([labels, none]), both).chunk(2)
        return unconditional + self.guidance_scale * (conditional - unconditional)


class _TokenGuidance:
    """What the two token guides share: a wrapped `net(tokens) -> logits`, a guide model reading
    the same codebook, the type's label and a scale (checked here)."""

    guide_name, reads = "token guide", "reads"

    def __init__(self, net, guide, label: int | None, scale: float):
        if scale < 0:
            raise ValueError(f"the {self.guide_name}'s guidance scale must be at least 0, got {scale}")
        if guide.config.codebook_size != net.config.codebook_size:
            raise ValueError(
                f"the {self.guide_name} {self.reads} {guide.config.codebook_size} codes, the MaskGIT draws"
                f" {net.config.codebook_size}"
            )
        self.net, self.label, self.scale = net, label, scale
        self.config = net.config

    def kept_casts(self):
        return self.net.kept_casts()


class TokenClassifierGuidance(_TokenGuidance):
    """Classifier guidance for MaskGIT from a token classifier (skysynth.models.token_classifier):
    the draw of every masked token is tilted by p(cloud type | window)^scale (Dhariwal & Nichol
    2021's guidance, made discrete with a first-order Taylor step as in Nisonoff et al. 2024,
    https://arxiv.org/abs/2406.01572): logits += scale x d log p(label | window) / d q, where q is
    the window as the sampler holds it (known tokens one-hot, masked ones the network's predicted
    distribution). Works with an unconditional MaskGIT; wraps any `net(tokens) -> logits` (e.g. a
    GuidedNet). A classifier trained with region pooling judges the still-masked part of each
    window (in its window's context) instead of the whole window. A scale of 0, or no label,
    returns the wrapped logits unchanged."""

    guide_name, reads = "token classifier", "reads"

    def __init__(self, net, classifier, label: int | None, scale: float):
        super().__init__(net, classifier, label, scale)
        self.classifier = classifier

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, h, w) tokens (masked ones = mask_token_id) -> (B, h, w, codebook_size) fp32 logits."""
        logits = self.net(tokens).float()
        if self.label is None or self.scale == 0:
            return logits
        unknown = tokens == self.config.mask_token_id
        if not unknown.any():
            return logits
        codes = self.config.codebook_size
        with torch.enable_grad(), torch.autocast(tokens.device.type, enabled=False):
            known_rows = torch.nn.functional.one_hot(tokens.clamp(max=codes - 1), codes).float()
            window = torch.where(unknown[..., None], logits.detach().softmax(-1), known_rows).requires_grad_()
            # The type of what is still to be drawn, seen in its window (the input's own type is not asked).
            region = unknown if self.classifier.config.region_pooling else None
            score = self.classifier(window, region).log_softmax(-1)[:, self.label].sum()
            (gradient,) = torch.autograd.grad(score, window)
        return logits + self.scale * gradient * unknown[..., None]


class TokenPriorGuidance(_TokenGuidance):
    """Guidance by a naive-Bayes token prior (skysynth.models.token_prior): every masked draw's
    logits gain scale x log p(code | type) / p(code). The prior's score of a window is a sum over
    its codes, so this is its exact guidance (p(x) p(type | x)^scale per token), not a first-order
    step; it pulls each draw towards the codes the type is made of, whatever its context. Wraps
    any `net(tokens) -> logits`; a scale of 0, or no label, returns the wrapped logits unchanged."""

    guide_name, reads = "token prior", "counts"

    def __init__(self, net, prior, label: int | None, scale: float):
        super().__init__(net, prior, label, scale)
        self.prior = prior

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, h, w) tokens (masked ones = mask_token_id) -> (B, h, w, codebook_size) fp32 logits."""
        logits = self.net(tokens).float()
        if self.label is None or self.scale == 0:
            return logits
        unknown = (tokens == self.config.mask_token_id)[..., None]
        return logits + self.scale * self.prior.log_ratio[self.label].float() * unknown
