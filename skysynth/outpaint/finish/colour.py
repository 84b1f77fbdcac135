"""Colour transfer: the generated area gets the input's colour statistics (after decoding)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from skysynth.flatness import masked_mean_std
from skysynth.outpaint.canvas import Canvas
from skysynth.outpaint.finish.filters import border_bands, smooth

CALIBRATION_STD_FLOOR = 0.02  # ~5 grey levels: below that, an area's contrast is mostly noise


def transfer_colour(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    known_mask: torch.Tensor,
    sigma: float,
    std_range: tuple[float, float] = (0.5, 2.0),
    wrap: tuple[bool, bool] = (False, False),
    band: float = 0.0,
    from_decoded_input: bool = False,
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
    that offset twice and left a lighter or darker frame around the input (RESULTS.md, issue 10).

    With `from_decoded_input`, the generated statistics are those of the decoder's own version of
    the input (inside `known_mask`, in the inner band with `band` > 0) instead of the generated
    area's: the networks' colour error is measured where the truth is known, on the same
    content, and the same correction is applied to the grown sky. Matching the grown sky to the
    input's statistics assumes both hold the same mixture of cloud and sky; a white-cloud input
    next to grown blue sky turned that sky grey (RESULTS.md, finishing)."""
    if sigma <= 0:
        return generated
    low = smooth(generated, sigma, wrap)
    input_low = smooth(canvas_input, sigma, wrap, known_mask)
    generated_area, input_area = border_bands(known_mask, band) if band > 0 else (~known_mask, known_mask)
    target_mean, target_std = masked_mean_std(input_low, input_area)
    if from_decoded_input:
        # Blurred inside the input only, as the input itself is: no grown sky leaks into it.
        gen_mean, gen_std = masked_mean_std(smooth(generated, sigma, wrap, known_mask), input_area)
        # Like for like: a flat input (std ~0 in both versions) has no contrast error to correct.
        scale = ((target_std + CALIBRATION_STD_FLOOR) / (gen_std + CALIBRATION_STD_FLOOR)).clamp(*std_range)
    else:
        gen_mean, gen_std = masked_mean_std(low, generated_area)
        scale = (target_std / gen_std.clamp_min(1e-4)).clamp(*std_range)
    moved = (low - gen_mean) * scale + target_mean + (generated - low)
    return moved.clamp(0, 1)


@dataclass
class ColourConfig:
    enabled: bool = True
    std_range: tuple[float, float] = (0.75, 2.0)  # clamp of the contrast scale
    band_tokens: float = 4.0  # statistics from bands this wide around the input's border (0 = whole areas)
    from_decoded_input: bool = False  # correct by the decoded input's error, not the grown sky's stats


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
            from_decoded_input=c.from_decoded_input,
        )
