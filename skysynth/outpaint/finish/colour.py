"""Colour transfer: the generated area gets the input's colour statistics (after decoding)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from skysynth.flatness import masked_mean_std
from skysynth.outpaint.canvas import Canvas
from skysynth.outpaint.finish.filters import border_bands, smooth


def transfer_colour(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    known_mask: torch.Tensor,
    sigma: float,
    std_range: tuple[float, float] = (0.5, 2.0),
    wrap: tuple[bool, bool] = (False, False),
    band: float = 0.0,
) -> torch.Tensor:
    """Give the generated area the input's colour statistics (Reinhard et al. 2001, per channel).

    Tokens drift: far from the input the generated sky turns greyer, darker or more contrasted
    than the photo it continues. The low band (Gaussian blur of `sigma` pixels) of the area
    outside `known_mask` is shifted to the input's mean and scaled to its standard deviation
    (the scale clamped to `std_range`, so a flat input cannot flatten a cloudy sky entirely, nor
    the reverse); the fine detail above that band is kept as it is. Inside the mask the result
    equals `generated`.

    With `band` > 0 (pixels) the statistics come from the two bands of that width on either
    side of the input's border instead of the whole areas: an input half white cloud, half deep
    blue sky, next to a generated ring of mostly blue sky would otherwise turn that sky pale.

    The whole canvas is moved, the decoder's own version of the input included (the caller
    pastes the input back): the generated sky stays continuous with it, and `harmonize_border`
    then fades in only what still separates it from the input. Moving the outside alone applied
    that offset twice and left a lighter or darker frame around the input (RESULTS.md, issue 10)."""
    if sigma <= 0:
        return generated
    low = smooth(generated, sigma, wrap)
    input_low = smooth(canvas_input, sigma, wrap, known_mask)
    generated_area, input_area = border_bands(known_mask, band) if band > 0 else (~known_mask, known_mask)
    gen_mean, gen_std = masked_mean_std(low, generated_area)
    target_mean, target_std = masked_mean_std(input_low, input_area)
    scale = (target_std / gen_std.clamp_min(1e-4)).clamp(*std_range)
    moved = (low - gen_mean) * scale + target_mean + (generated - low)
    return moved.clamp(0, 1)


@dataclass
class ColourConfig:
    enabled: bool = True
    std_range: tuple[float, float] = (0.75, 2.0)  # clamp of the contrast scale
    band_tokens: float = 4.0  # statistics from bands this wide around the input's border (0 = whole areas)


class ColourTransfer:
    """Stage: `transfer_colour` with a one-token low band."""

    def __init__(self, config: ColourConfig):
        self.config = config

    def __call__(self, image: torch.Tensor, canvas: Canvas, generator: torch.Generator | None) -> torch.Tensor:
        c = self.config
        return transfer_colour(
            image,
            canvas.input,
            canvas.known,
            canvas.token_pixels,
            tuple(c.std_range),
            canvas.wrap,
            band=canvas.pixels(c.band_tokens),
        )
