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


def cloudiness(images: torch.Tensor, threshold: float = 0.75, softness: float = 0.08) -> torch.Tensor:
    """(B, 1, H, W) in [0, 1]: how cloudy each pixel of (B, 3, H, W) `images` looks, from its
    red/blue ratio (clear sky scatters blue, R/B well below 1; cloud is grey to white, R/B near 1:
    the ratio all-sky imagers threshold, Long et al. 2006), soft around `threshold`."""
    ratio = images[:, 0:1] / images[:, 2:3].clamp_min(1e-3)
    return torch.sigmoid((ratio - threshold) / softness)


def transfer_colour_by_cloudiness(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    known_mask: torch.Tensor,
    sigma: float,
    wrap: tuple[bool, bool] = (False, False),
    band: float = 0.0,
    min_share: float = 0.05,
) -> torch.Tensor:
    """Give the generated sky the input's sky colour and the generated cloud the input's cloud colour.

    `transfer_colour` moves the mean of everything: where the generated ring holds less cloud than
    the input's border, it lifts the blue sky towards white (and `harmonize_border` then pulls the
    ring next to the input back, drawing a frame). Here the low band (Gaussian blur of `sigma`
    pixels) is split by `cloudiness` into sky and cloud, each class's mean is matched separately
    (over the bands of width `band` on either side of the border, or the whole areas), and each
    pixel moves by the two shifts weighted by its cloudiness. A class that covers less than
    `min_share` of either area takes the other class's shift (none if both are missing). Inside
    `known_mask` too the canvas moves (the caller pastes the input back)."""
    if sigma <= 0:
        return generated
    low = smooth(generated, sigma, wrap)
    input_low = smooth(canvas_input, sigma, wrap, known_mask)
    generated_area, input_area = border_bands(known_mask, band) if band > 0 else (~known_mask, known_mask)
    generated_cloud, input_cloud = cloudiness(low), cloudiness(input_low)

    def class_mean(values, weights, area):
        weights = weights * area.to(values.dtype)
        total = weights.sum(dim=(2, 3), keepdim=True)
        share = total / area.to(values.dtype).sum(dim=(2, 3), keepdim=True).clamp_min(1)
        return (values * weights).sum(dim=(2, 3), keepdim=True) / total.clamp_min(1e-6), share

    shifts, valid = [], []
    for generated_w, input_w in ((1 - generated_cloud, 1 - input_cloud), (generated_cloud, input_cloud)):
        generated_mean, generated_share = class_mean(low, generated_w, generated_area)
        input_mean, input_share = class_mean(input_low, input_w, input_area)
        shifts.append(input_mean - generated_mean)
        valid.append((generated_share >= min_share) & (input_share >= min_share))
    sky_shift = torch.where(valid[0], shifts[0], torch.where(valid[1], shifts[1], 0.0))
    cloud_shift = torch.where(valid[1], shifts[1], sky_shift)
    sky_shift = torch.where(valid[0], sky_shift, cloud_shift)
    moved = generated + (1 - generated_cloud) * sky_shift + generated_cloud * cloud_shift
    return moved.clamp(0, 1)


@dataclass
class ColourConfig:
    enabled: bool = True
    # "global": every channel's mean and contrast moved (Reinhard); "sky_and_cloud": the means of
    # the sky and of the cloud moved separately, so a ring with less cloud keeps its blue
    method: str = "global"
    std_range: tuple[float, float] = (0.75, 2.0)  # clamp of the contrast scale (global)
    band_tokens: float = 4.0  # statistics from bands this wide around the input's border (0 = whole areas)

    def __post_init__(self):
        if self.method not in ("global", "sky_and_cloud"):
            raise ValueError(f"finish.colour.method must be global or sky_and_cloud, not {self.method!r}")


class ColourTransfer:
    """Stage: `transfer_colour` with a one-token low band."""

    def __init__(self, config: ColourConfig):
        self.config = config

    def __call__(self, image: torch.Tensor, canvas: Canvas, generator: torch.Generator | None) -> torch.Tensor:
        c = self.config
        if c.method == "sky_and_cloud":
            return transfer_colour_by_cloudiness(
                image, canvas.input, canvas.known, canvas.token_pixels, canvas.wrap, band=canvas.pixels(c.band_tokens)
            )
        return transfer_colour(
            image,
            canvas.input,
            canvas.known,
            canvas.token_pixels,
            tuple(c.std_range),
            canvas.wrap,
            band=canvas.pixels(c.band_tokens),
        )
