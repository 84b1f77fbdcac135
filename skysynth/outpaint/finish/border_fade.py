"""Border fade: the input's colours fade into the generated sky (after decoding).

Tokens are a lossy code: the decoded canvas around the input differs from the input in colour
and brightness by a few percent, and pasting the input back turns that into a visible frame.
Here the low-passed difference (input - decoded) along the input's border is extended outward by
normalised convolution and faded out over a few tokens, so the generated sky starts exactly at
the input's colours and drifts to its own. The input's pixels are not touched."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from skysynth.outpaint.canvas import Canvas
from skysynth.outpaint.finish.filters import blur


def harmonize_border(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    known_mask: torch.Tensor,
    sigma: float,
    wrap: tuple[bool, bool] = (False, False),
) -> torch.Tensor:
    """`generated` (B, 3, H, W) with the input's low-frequency offset faded in around `known_mask`.

    `canvas_input` (1, 3, H, W) holds the input where `known_mask` (1, 1, H, W) is true; `sigma`
    (pixels) sets both the low-pass and the fade-out distance (about 2 sigma). Inside the mask the
    result equals `generated` (the caller pastes the input there)."""
    if sigma <= 0:
        return generated
    known = known_mask.to(generated.dtype)
    # Low-pass of the difference inside the input only (normalised so the border is not darkened).
    difference = (canvas_input - generated) * known
    weight = blur(known, sigma, wrap)
    offset = blur(difference, sigma, wrap) / weight.clamp_min(1e-6)
    # Fade: ~1 at the border, falling to 0 about 2 sigma away (Gaussian tail of the mask's blur).
    fade = (2 * blur(known, sigma, wrap)).clamp(0, 1)
    offset = offset * (weight > 1e-4)
    return torch.where(known_mask, generated, (generated + fade * offset).clamp(0, 1))


@dataclass
class BorderFadeConfig:
    enabled: bool = True
    tokens: float = 3.0  # width of the colour fade, tokens


class BorderFade:
    """Stage: `harmonize_border` at the configured width (one pass: a second, narrow one drew a
    ramp of lines 2-4 pixels out and did not earn its place, RESULTS.md)."""

    def __init__(self, config: BorderFadeConfig):
        self.config = config

    def __call__(self, image: torch.Tensor, canvas: Canvas, generator: torch.Generator | None) -> torch.Tensor:
        return harmonize_border(image, canvas.input, canvas.known, canvas.pixels(self.config.tokens), canvas.wrap)
