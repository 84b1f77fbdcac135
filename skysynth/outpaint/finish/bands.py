"""Band matching: each band of the generated sky gets the input's energy (after upscaling)."""

from __future__ import annotations

from dataclasses import dataclass

import kornia
import torch

from skysynth.flatness import masked_mean_std
from skysynth.outpaint.canvas import Canvas, box_mask
from skysynth.outpaint.finish.filters import fade_from_box, smooth

# A band's gain is clamped to this: the upper bound must let the finest bands, which the upscaler
# leaves weakest, reach the input's energy (RESULTS.md, finishing).
GAIN_RANGE = (0.2, 3.0)


def match_bands(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    box: tuple[int, int, int, int],
    sigmas: tuple[float, ...],
    gain_range: tuple[float, float] = GAIN_RANGE,
    ramp: float = 8.0,
    wrap: tuple[bool, bool] = (False, False),
) -> torch.Tensor:
    """Give each band of the generated sky the input's energy in that band (a stationary sky).

    A sky's structure at each scale continues beyond the photo at about the same strength: on
    real photos, the RMS of a Gaussian band (between blurs of `sigmas[k]` and `sigmas[k+1]`
    pixels) outside the centre agrees with the RMS inside it to a median ratio of 1.0-1.1 (log
    correlation 0.95; RESULTS.md, issue 10). Decoded tokens do not: on smooth hazy or clear skies
    the generated ring had 2-3 times the truth's energy at 4-32 px (blotches of codebook colours,
    invented cumulus). Each band of the generated area is scaled by the ratio of the input's band
    RMS (luminance) to its own, clamped to `gain_range`; what is finer than `sigmas[0]` and coarser
    than `sigmas[-1]` is kept. The gain fades in over `ramp` pixels from the input's `box` =
    (left, top, right, bottom), whose pixels are `canvas_input`'s in the result."""
    left, top, right, bottom = box
    known_mask = box_mask(generated.shape[-2], generated.shape[-1], box, generated.device)
    composite = torch.where(known_mask, canvas_input, generated)
    crop = canvas_input[..., top:bottom, left:right]
    # Bands wider than half the input cannot be measured on it.
    sigmas = [s for s in sigmas if 2 * s <= min(crop.shape[-2:])]
    if len(sigmas) < 2:
        return composite
    outside = ~known_mask
    weight = 1 - fade_from_box(box, generated.shape[-2:], (0.0, ramp), wrap, generated.device)
    lows = [smooth(composite, s, wrap) for s in sigmas]
    input_lows = [smooth(crop, s, (False, False)) for s in sigmas]
    out = composite
    for k in range(len(sigmas) - 1):
        band = lows[k] - lows[k + 1]
        input_band = input_lows[k] - input_lows[k + 1]
        gen_power, _ = masked_mean_std(kornia.color.rgb_to_grayscale(band).pow(2), outside)
        input_rms = kornia.color.rgb_to_grayscale(input_band).pow(2).mean().sqrt()
        gain = (input_rms / gen_power.sqrt().clamp_min(1e-6)).clamp(*gain_range)  # (B, 1, 1, 1)
        out = out + (gain - 1) * band * weight
    return torch.where(known_mask, canvas_input, out.clamp(0, 1))


@dataclass
class BandsConfig:
    enabled: bool = True
    tokens: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)  # blurs bounding the bands
    gain_range: tuple[float, float] = GAIN_RANGE
    ramp_tokens: float = 1.0  # the gain fades in over this many tokens from the input

    def __post_init__(self):
        gains = tuple(self.gain_range)
        if len(gains) != 2 or not 0 < gains[0] <= gains[1]:
            raise ValueError(f"finish.bands.gain_range must be [low, high] with 0 < low <= high, got {list(gains)}")


class MatchBands:
    """Stage: `match_bands` around the input's box."""

    def __init__(self, config: BandsConfig):
        self.config = config

    def __call__(self, image: torch.Tensor, canvas: Canvas, generator: torch.Generator | None) -> torch.Tensor:
        c = self.config
        return match_bands(
            image,
            canvas.input,
            canvas.input_box,
            tuple(canvas.pixels(t) for t in c.tokens),
            tuple(c.gain_range),
            canvas.pixels(c.ramp_tokens),
            canvas.wrap,
        )
