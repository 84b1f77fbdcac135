"""Grain: the input's grain as noise beyond the detail copy's reach (after the draw is chosen)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from skysynth.outpaint.canvas import Canvas
from skysynth.outpaint.finish.filters import blur, fade_from_box, finest_band, input_interior, smooth


def _tile_look(guide: torch.Tensor, block: int, stride: int, structure_weight: float, ceil_mode=False):
    """(B, T, 6) per tile: the mean colour and, times `structure_weight`, the colours' spread
    inside the tile (a smooth patch of sky vs a cloud's edge of the same mean colour)."""
    mean = F.avg_pool2d(guide, block, stride=stride, ceil_mode=ceil_mode)
    spread = (F.avg_pool2d(guide.pow(2), block, stride=stride, ceil_mode=ceil_mode) - mean.pow(2)).clamp_min(0).sqrt()
    return torch.cat([mean, structure_weight * spread], 1).flatten(2).transpose(1, 2)


def add_grain(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    known_mask: torch.Tensor,
    strength: float = 1.0,
    block: int = 8,
    neighbours: int = 8,
    noise_sigma: float = 0.7,
    guide_sigma: float = 1.5,
    structure_weight: float = 3.0,
    cap_quantile: float = 0.25,
    max_candidates: int = 16384,
    reach: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
    wrap: tuple[bool, bool] = (False, False),
) -> torch.Tensor:
    """Add the input's grain to generated sky as noise, where it is smoother than the photo.

    Far from the input the generated sky has about a third of a photo's pixel-scale detail
    (RESULTS.md, issue 10), and copying the input's own grain tile by tile there weaves a visible
    pattern. Here each `block` x `block` tile of the generated area gets the finest-band RMS (per
    channel) that the input has at its look: the median over the `neighbours` input tiles whose
    blurred colours (`guide_sigma` pixels) are nearest in mean and, times `structure_weight`, in
    spread inside the tile, times `strength`. (By mean colour alone, smooth sky of a colour
    between the input's sky and cloud matched the input's cloud edges and got their grain: a
    visible speckle on blue sky, RESULTS.md.) The target is capped at the `cap_quantile` of the
    input's tile RMS (per channel): generated sky whose colour drifted from every smooth input
    sky still matched faint cloud and got a mottled grain. What the tile lacks
    of it, sqrt(target^2 - own^2), is added as noise: one Gaussian field for all three channels
    (a photo's grain is mostly in the brightness), blurred by `noise_sigma` pixels so that it reads
    as texture rather than salt, limited to the finest band and scaled to unit RMS. Noise never
    repeats, so it cannot weave a pattern over a panorama. With `reach` = (none, full) (pixels
    from the input's border) the grain fades in (cosine) from nothing at `none` to full at `full`,
    leaving the band next to the input to the tile copy (`transfer_detail`). Circular axes
    (`wrap` = (wrap_y, wrap_x)) stay seamless. Inside `known_mask` the result equals `generated`;
    an input too small for one tile, or `strength` <= 0, leaves `generated` as it is."""
    if strength <= 0:
        return generated
    interior = input_interior(generated, canvas_input, known_mask, block, max_candidates)
    if interior is None:
        return generated
    box, source, inner, stride = interior
    # Per input tile: its mean blurred colour and its finest band's RMS, per channel.
    input_colour = _tile_look(smooth(source, guide_sigma, wrap)[inner], block, stride, structure_weight)[0]
    input_rms = F.avg_pool2d(finest_band(source, wrap)[inner].pow(2), block, stride=stride)[0].flatten(1).T.sqrt()
    k = min(neighbours, len(input_colour))
    cap_rms = torch.quantile(input_rms, cap_quantile, dim=0)  # (3,)

    height, width = generated.shape[-2:]
    fine = finest_band(generated, wrap)
    colour = _tile_look(smooth(generated, guide_sigma, wrap), block, block, structure_weight, ceil_mode=True)
    own_rms = F.avg_pool2d(fine.pow(2), block, ceil_mode=True).sqrt()
    weight = torch.ones(height, width, device=generated.device)
    if reach is not None:
        none, full = reach
        weight = 1 - fade_from_box(box, (height, width), (none, full), wrap, generated.device)
    # Only tiles that the bilinear upsampling below carries to a pixel with weight > 0 need a
    # target (within the copy's reach the noise weight is 0): the search skips the others.
    tile_weight = F.max_pool2d(weight[None, None], block, ceil_mode=True)
    needed = torch.nonzero(F.max_pool2d(tile_weight, 3, stride=1, padding=1).flatten() > 0).flatten()
    device = generator.device if generator is not None else generated.device
    out = []
    for index in range(generated.shape[0]):
        tiles = colour[index][needed]  # (T', 6)
        target = torch.zeros(colour.shape[1], 3, device=generated.device)
        for start in range(0, len(tiles), 2048):  # bounded memory for big canvases
            nearest = torch.cdist(tiles[start : start + 2048], input_colour).topk(k, dim=1, largest=False).indices
            target[needed[start : start + 2048]] = input_rms[nearest].median(dim=1).values
        target = strength * torch.minimum(target, cap_rms).T.reshape(1, 3, *own_rms.shape[-2:])
        lacking = (target.pow(2) - own_rms[index : index + 1].pow(2)).clamp_min(0).sqrt()
        lacking = F.interpolate(lacking, size=(height, width), mode="bilinear", align_corners=False)
        noise = torch.randn(1, 1, height, width, generator=generator, device=device).to(generated.device)
        if noise_sigma > 0:
            noise = blur(noise, noise_sigma, wrap)
        noise = finest_band(noise, wrap)
        noise = noise / noise.pow(2).mean().sqrt().clamp_min(1e-12)
        out.append(generated[index] + weight * lacking[0] * noise[0])
    grained = torch.stack(out)
    return torch.where(known_mask, generated, grained.clamp(0, 1))


@dataclass
class GrainConfig:
    enabled: bool = True
    strength: float = 1.0  # x the input's grain at the same look (0 = off)


class AddGrain:
    """Stage: `add_grain`, fading in where the detail copy (`copy_reach_tokens`, None = no copy) fades out."""

    def __init__(self, config: GrainConfig, copy_reach_tokens: tuple[float, float] | None = None):
        self.config, self.copy_reach_tokens = config, copy_reach_tokens

    def __call__(self, image: torch.Tensor, canvas: Canvas, generator: torch.Generator | None) -> torch.Tensor:
        if self.config.strength <= 0:
            return image
        reach = None if self.copy_reach_tokens is None else tuple(canvas.pixels(t) for t in self.copy_reach_tokens)
        return add_grain(
            image, canvas.input, canvas.known, self.config.strength, reach=reach, generator=generator, wrap=canvas.wrap
        )
