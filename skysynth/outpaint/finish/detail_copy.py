"""Detail copy: the input's own pixel-scale texture next to it (after upscaling)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from skysynth.outpaint.canvas import Canvas
from skysynth.outpaint.finish.filters import (
    fade_from_box,
    finest_band,
    input_interior,
    pyramid_low_pass,
    smooth,
)

STRUCTURE_FLOOR = 0.5 / 255  # structure RMS below half a grey level counts as none (no 0 / 0)


def structure_band(images: torch.Tensor, sigmas: tuple[float, float], wrap) -> torch.Tensor:
    """(B, C, H, W) -> (B, 1, H, W): the channel mean's difference of Gaussians at `sigmas`
    (pixels), the scale of cloud edges and texture, coarser than grain."""
    grey = images.mean(1, keepdim=True)
    return smooth(grey, sigmas[0], wrap) - smooth(grey, sigmas[1], wrap)


def transfer_detail(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    known_mask: torch.Tensor,
    block: int = 8,
    guide_sigma: float = 1.5,
    max_candidates: int = 4096,
    choices: int = 1,
    generator: torch.Generator | None = None,
    detail_cap: float = float("inf"),
    reach: tuple[float, float] | None = None,
    wrap: tuple[bool, bool] = (False, False),
    overlap: bool = False,
    structure_sigmas: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Give the generated area the input's own pixel-scale texture (detail transfer).

    The finest Laplacian band of a photo is its grain: sensor noise, compression, the crisp rim
    of a cloud. Generated sky has too little of it and of the wrong kind (RESULTS.md, issue 10).
    The generated area's finest band is replaced, in `block` x `block` tiles, by the finest band
    of the input tile whose blurred colours (`guide_sigma` pixels) look most like the generated
    tile's (nearest neighbour, as in image analogies: Hertzmann et al. 2001), so that a cloud's
    rim gets a rim's grain and open sky gets open sky's. Everything coarser stays as generated.
    With `choices` > 1 each tile takes one of its `choices` nearest input tiles at random
    (`generator`): one best tile copied over a whole cloud repeats like wallpaper. With a finite
    `detail_cap`, a copied tile is scaled down to at most the input's median tile RMS, or
    `detail_cap` times the generated tile's own fine-band RMS if that is more: a rim's grain
    copied onto smooth generated sky reads as a pattern (RESULTS.md). With `reach` = (full, none)
    (pixels from the input's border), the copy is used fully up to `full`, fades out (cosine) by
    `none`, and farther away the generated band is kept: over a wide sky a photo's grain, JPEG
    blocks included, tiled from a few input tiles weaves a visible pattern.
    With `overlap`, tiles are placed every `block // 2` pixels and cross-faded (a Hann window,
    variance-preserving): butted tiles show their edges as a grid of dots.
    With `structure_sigmas` (pixels), grain follows structure: a copied tile is scaled down by
    the generated tile's structure RMS (difference of Gaussians at these sigmas) over its input
    tile's, when less: a cloud rim's grain pasted onto clear generated sky keeps the rim's ratio
    of grain to structure instead of speckling the smooth sky (RESULTS.md, finishing). The input
    tiles' structure is read at half resolution, where the networks draw.
    Input tiles are taken on a grid of at most `max_candidates` positions, away from the input's
    border. Inside `known_mask` the result equals `generated`; an input too small for one tile
    leaves `generated` as it is."""
    interior = input_interior(generated, canvas_input, known_mask, block, max_candidates)
    if interior is None:
        return generated
    box, source, inner, stride = interior
    source_fine = finest_band(source, wrap)[inner]
    source_guide = smooth(source, guide_sigma, wrap)[inner]
    candidates_guide = F.unfold(source_guide, block, stride=stride)[0].T  # (N, 3*block*block)
    candidates_fine = F.unfold(source_fine, block, stride=stride)[0]  # (3*block*block, N)
    candidate_norms = candidates_guide.pow(2).sum(1)
    candidate_rms = candidates_fine.pow(2).mean(0).sqrt()
    typical_rms = candidate_rms.median()
    if structure_sigmas is not None:
        # Read at the networks' resolution (half the canvas's): their edges are softer than the
        # photo's, and a grown cloud should keep the grain of the input cloud it matches.
        source_structure = structure_band(pyramid_low_pass(source, wrap), structure_sigmas, wrap)[inner]
        candidate_structure = F.unfold(source_structure, block, stride=stride)[0].pow(2).mean(0).sqrt()
        structure = structure_band(generated, structure_sigmas, wrap)

    height, width = generated.shape[-2:]
    pad_h, pad_w = (-height) % block, (-width) % block
    # Overlapping tiles start half a tile before the canvas, so every pixel is covered twice.
    step, margin = (block // 2, block // 2) if overlap and block >= 2 else (block, 0)
    pads = (margin, pad_w + margin, margin, pad_h + margin)
    # The generated sky's own band, blind to the decoded input beside it: a band that saw the
    # step at the border would be swapped out with it, leaving a 1-pixel line (RESULTS.md).
    fine = finest_band(generated, wrap, where=~known_mask)
    guide = smooth(generated, guide_sigma, wrap)
    if overlap:
        ramp = torch.sin(math.pi * (torch.arange(block, device=generated.device, dtype=generated.dtype) + 0.5) / block)
        window = (ramp[:, None] * ramp[None, :]).pow(2).flatten().repeat(generated.shape[1])[:, None]
    active = None
    if reach is not None:
        weight = fade_from_box(box, (height, width), reach, wrap, generated.device)
        # Tiles wholly beyond the copy's reach are never seen: they are not searched for.
        active = F.unfold(F.pad(weight[None, None], pads), block, stride=step)[0].amax(0) > 0
    # Tiles wholly inside the input are replaced by it: their nearest input tiles are not looked
    # up either (still drawn for, so that the other tiles' draws stay the same).
    hidden = F.unfold(F.pad(known_mask[:1, :1].to(generated.dtype), pads), block, stride=step)[0].amin(0) > 0
    out = []
    for index in range(generated.shape[0]):
        tiles = F.unfold(F.pad(guide[index : index + 1], pads, mode="replicate"), block, stride=step)
        tiles = tiles[0].T  # (T, 3*block*block)
        searched = tiles if active is None else tiles[active]
        needed = ~hidden if active is None else ~hidden[active]
        found = torch.zeros(len(searched), dtype=torch.long, device=generated.device)
        for start in range(0, len(searched), 2048):  # bounded memory for big canvases
            rows = needed[start : start + 2048]
            chunk = searched[start : start + 2048][rows]
            distance = torch.addmm(candidate_norms[None, :], chunk, candidates_guide.T, alpha=-2.0)  # one pass
            if choices > 1:
                nearest = distance.topk(min(choices, distance.shape[1]), dim=1, largest=False).indices
                device = generator.device if generator is not None else nearest.device
                pick = torch.randint(nearest.shape[1], (len(rows), 1), generator=generator, device=device)
                picked = nearest.gather(1, pick.to(nearest.device)[rows]).squeeze(1)
            else:
                picked = distance.argmin(1)
            found[start : start + 2048][rows] = picked
        if active is None:
            best = found
        else:
            best = torch.zeros(len(tiles), dtype=torch.long, device=generated.device)
            best[active] = found
        size = (height + pad_h + 2 * margin, width + pad_w + 2 * margin)
        copied = candidates_fine[:, best]
        if active is not None:
            copied = copied * active[None, :].to(copied.dtype)
        if math.isfinite(detail_cap):
            own_rms = F.unfold(F.pad(fine[index : index + 1], pads), block, stride=step)[0]
            own_rms = own_rms.pow(2).mean(0).sqrt()
            cap = torch.maximum(detail_cap * own_rms, typical_rms.expand_as(own_rms))
            copied = copied * (cap / candidate_rms[best].clamp_min(1e-6)).clamp(max=1.0)[None, :]
        if structure_sigmas is not None:
            own_structure = F.unfold(F.pad(structure[index : index + 1], pads), block, stride=step)[0]
            own_structure = own_structure.pow(2).mean(0).sqrt()
            ratio = (own_structure + STRUCTURE_FLOOR) / (candidate_structure[best] + STRUCTURE_FLOOR)
            copied = copied * ratio.clamp(max=1.0)[None, :]
        if overlap:
            # Normalised by the root of the summed squared weights, not the weights: a cross-fade
            # of unrelated tiles keeps each one's variance instead of halving it mid-way.
            energy = F.fold(window.pow(2).expand(-1, copied.shape[1])[None], size, block, stride=step)
            copied = copied * window
            new_fine = F.fold(copied[None], size, block, stride=step) / energy.sqrt().clamp_min(1e-6)
        else:
            new_fine = F.fold(copied[None], size, block, stride=step)
        new_fine = new_fine[..., margin : margin + height, margin : margin + width]
        if reach is not None:
            new_fine = weight * new_fine + (1 - weight) * fine[index : index + 1]
        out.append(generated[index] - fine[index] + new_fine[0])
    transferred = torch.stack(out)
    return torch.where(known_mask, generated, transferred.clamp(0, 1))


@dataclass
class DetailCopyConfig:
    enabled: bool = True
    choices: int = 4  # each tile takes one of its this-many nearest input tiles (no wallpaper)
    overlap: bool = True  # tiles every half tile, cross-faded
    cap: float = 1.5  # copied detail at most this x the generated tile's own (or the input's typical)
    reach_tokens: tuple[float, float] = (4.0, 8.0)  # full up to the first, faded out by the second
    max_candidates: int = 4096  # input tiles searched, on a grid over the input's interior
    follow_structure: bool = False  # copied grain scaled down to the generated tile's structure
    structure_sigmas: tuple[float, float] = (1.5, 4.0)  # pixels: the structure band's DoG

    def __post_init__(self):
        if not 0 < self.structure_sigmas[0] < self.structure_sigmas[1]:
            raise ValueError(
                "finish.detail_copy.structure_sigmas must be two increasing positive sigmas, "
                f"got {self.structure_sigmas}"
            )
        if self.max_candidates < 1:
            raise ValueError(f"finish.detail_copy.max_candidates must be at least 1, got {self.max_candidates}")


class DetailCopy:
    """Stage: `transfer_detail` within `reach_tokens` of the input."""

    def __init__(self, config: DetailCopyConfig):
        self.config = config

    def __call__(self, image: torch.Tensor, canvas: Canvas, generator: torch.Generator | None) -> torch.Tensor:
        c = self.config
        return transfer_detail(
            image,
            canvas.input,
            canvas.known,
            max_candidates=c.max_candidates,
            choices=c.choices,
            generator=generator,
            detail_cap=c.cap,
            reach=tuple(canvas.pixels(t) for t in c.reach_tokens),
            wrap=canvas.wrap,
            overlap=c.overlap,
            structure_sigmas=tuple(c.structure_sigmas) if c.follow_structure else None,
        )
