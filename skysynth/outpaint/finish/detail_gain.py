"""Detail gain: the generated area's finest band raised to the input's energy (after upscaling)."""

from __future__ import annotations

from dataclasses import dataclass

import kornia
import torch

from skysynth.outpaint.canvas import Canvas
from skysynth.outpaint.finish.filters import finest_band


def match_detail(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    known_mask: torch.Tensor,
    max_gain: float,
    wrap: tuple[bool, bool] = (False, False),
) -> torch.Tensor:
    """Raise the generated area's finest detail to the input's energy (grain matching).

    The tokenizer and upscaler leave generated sky smoother at the pixel scale than the photo
    it continues (about a third of its finest-band energy: RESULTS.md), which reads as a pasted,
    painted area. The finest Laplacian band of the generated area is amplified by the ratio of
    the band's RMS inside the input to its RMS outside, at most `max_gain` and never below 1 (an
    input smoother than the generated sky leaves the sky alone). Inside the mask the result
    equals `generated`."""
    if max_gain <= 1:
        return generated
    fine = finest_band(generated, wrap)
    # The input's band, away from its border (where the band would see the generated sky).
    input_fine = finest_band(torch.where(known_mask, canvas_input, generated[:1]), wrap)
    outside = (~known_mask).to(generated.dtype)
    interior = 1 - kornia.morphology.dilation(outside, torch.ones(9, 9, device=generated.device))
    gen_energy = (fine.pow(2).mean(1, keepdim=True) * outside).sum(dim=(1, 2, 3)) / outside.sum().clamp_min(1)
    input_energy = (input_fine.pow(2).mean(1, keepdim=True) * interior).sum() / interior.sum().clamp_min(1)
    gain = (input_energy / gen_energy.clamp_min(1e-12)).sqrt().clamp(1.0, max_gain)
    boosted = generated + (gain[:, None, None, None] - 1) * fine
    return torch.where(known_mask, generated, boosted.clamp(0, 1))


@dataclass
class DetailGainConfig:
    enabled: bool = True
    max_gain: float = 2.0  # 1 = off


class DetailGain:
    """Stage: `match_detail`."""

    def __init__(self, config: DetailGainConfig):
        self.config = config

    def __call__(self, image: torch.Tensor, canvas: Canvas, generator: torch.Generator | None) -> torch.Tensor:
        return match_detail(image, canvas.input, canvas.known, self.config.max_gain, wrap=canvas.wrap)
