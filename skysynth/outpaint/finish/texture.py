"""Exemplar texture: the generated sky redrawn from the input's own patches, laid out by the networks.

An image analogy (Hertzmann et al. 2001) solved by texture optimisation (Kwatra et al. 2005,
Wexler et al. 2007): inside the input's box the networks' rendition of the photo (A) sits beside
the photo itself (A'); outside it the networks' picture (B) is the guide, and the output (B')
is made of the photo's patches whose rendition looks like B there and which agree with their
neighbours. Coarse to fine, so the layout comes from the networks and the texture, colours and
grain from the photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from skysynth.outpaint.canvas import Canvas
from skysynth.outpaint.finish.filters import blur, smooth


def _down(images: torch.Tensor, factor: int) -> torch.Tensor:
    return images if factor == 1 else F.avg_pool2d(images, factor, ceil_mode=True)


def _patch_window(patch: int, channels: int, device, dtype, centre: int = 0) -> torch.Tensor:
    """(C * patch * patch, 1) vote weights: Gaussian (a patch's centre counts more than its
    rim), or with `centre` > 0 only the central `centre` x `centre` pixels (no averaging: with
    patches every `centre` pixels each pixel comes from exactly one patch)."""
    axis = torch.arange(patch, device=device, dtype=dtype)
    if centre > 0:
        start = (patch - centre) // 2
        ramp = ((axis >= start) & (axis < start + centre)).to(dtype)
    else:
        ramp = torch.exp(-0.5 * ((axis - (patch - 1) / 2) / (patch / 4)) ** 2)
    return (ramp[:, None] * ramp[None, :]).flatten().repeat(channels)[:, None]


def _nearest(queries: torch.Tensor, keys: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Index of the nearest row of `keys` (N, D) for each row of `queries` (T, D), squared L2."""
    key_norms = keys.pow(2).sum(1)
    found = []
    for start in range(0, len(queries), chunk):
        part = queries[start : start + chunk]
        found.append(torch.addmm(key_norms[None, :], part, keys.T, alpha=-2.0).argmin(1))
    return torch.cat(found) if found else torch.zeros(0, dtype=torch.long, device=queries.device)


def _grid(size: tuple[int, int], device) -> torch.Tensor:
    """(1, 2, H, W) float: each pixel's own (row, column)."""
    rows = torch.arange(size[0], device=device, dtype=torch.float32)
    cols = torch.arange(size[1], device=device, dtype=torch.float32)
    return torch.stack(torch.meshgrid(rows, cols, indexing="ij"))[None]


def _upsample_sources(sources: torch.Tensor, size: tuple[int, int], inner: tuple[int, int, int, int]) -> torch.Tensor:
    """Where each pixel of the next scale (`size`) copies from: twice the source position of the
    pixel it came from, plus its own offset in the 2 x 2 block (a copied patch stays one patch,
    sharp, instead of a blurred upsampling of it); kept inside `inner` = (top, bottom, left,
    right). (B, 2, h, w) -> (B, 2, H, W) long."""
    up = 2 * F.interpolate(sources.float(), size=size, mode="nearest")
    parity = _grid(size, sources.device) % 2
    up = up + parity
    rows = up[:, 0].clamp(inner[0], inner[1] - 1)
    cols = up[:, 1].clamp(inner[2], inner[3] - 1)
    return torch.stack([rows, cols], 1).long()


def synthesize_texture(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    known_mask: torch.Tensor,
    patch: int = 7,
    levels: int = 3,
    iterations: int = 3,
    guide_weight: float = 1.0,
    guide_sigma: float = 1.0,
    target_stride: int = 2,
    max_candidates: int = 4096,
    guide_decay: float = 0.25,
    keep_low: float = 0.0,
    propagate: bool = False,
) -> torch.Tensor:
    """(B, 3, H, W) `generated` (the networks' canvas, their rendition of the input inside
    `known_mask` (1, 1, H, W)) -> (B, 3, H, W) with the area outside `known_mask` made of the
    input's (`canvas_input`, (1, 3, H, W)) patches; inside it, the input.

    At each of `levels` scales (halving), coarsest first: each `patch` x `patch` patch of the
    output (every `target_stride` pixels) takes the input patch (at most `max_candidates`,
    wholly inside the input) that minimises its distance to the output as it stands plus
    `guide_weight` (times `guide_decay` per finer scale) times the distance between the
    networks' picture there and the networks' rendition of that input patch (both blurred by
    `guide_sigma` pixels); the patches are then averaged (Gaussian weights) and the input pasted
    back, `iterations` times, the last time at the finest scale each pixel copied from one
    patch's centre (an average of patches is a blur). The first estimate is the networks'
    picture at the coarsest scale, then the coarser scale's result upsampled; with `propagate`,
    every scale ends with the centre copy and the next starts from the pixels it copied, at
    twice the resolution. With `keep_low` > 0 what is broader than a blur of `keep_low` pixels is the
    networks' (patches turn a smooth gradient into regions with edges)."""
    rows, cols = torch.nonzero(known_mask[0, 0], as_tuple=True)
    top, bottom, left, right = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    channels = generated.shape[1]
    height, width = generated.shape[-2:]
    estimate = sources = None
    for level in reversed(range(levels)):
        factor = 2**level
        # Patches taken wholly inside the input, shrunk to whole pixels of this scale.
        inner = (math.ceil(top / factor), bottom // factor, math.ceil(left / factor), right // factor)
        if inner[1] - inner[0] < patch or inner[3] - inner[2] < patch:
            continue
        guide = blur(_down(generated, factor), guide_sigma, (False, False))
        photo = _down(canvas_input, factor)
        known = _down(known_mask.to(generated.dtype), factor) > 0.999
        size = tuple(guide.shape[-2:])
        source = (..., slice(inner[0], inner[1]), slice(inner[2], inner[3]))
        positions = (inner[1] - inner[0] - patch + 1) * (inner[3] - inner[2] - patch + 1)
        stride = max(1, math.ceil(math.sqrt(positions / max_candidates)))
        source_photo = F.unfold(photo[source], patch, stride=stride)[0]  # (C*p*p, N)
        source_guide = F.unfold(guide[:1][source], patch, stride=stride)[0]
        source_where = F.unfold(_grid(size, generated.device)[source], patch, stride=stride)[0]  # (2*p*p, N)
        weight = math.sqrt(guide_weight * guide_decay ** (levels - 1 - level))
        keys = torch.cat([source_photo, weight * source_guide]).T  # (N, 2*C*p*p)
        if estimate is None:
            estimate = _down(generated, factor)
        elif sources is None:
            estimate = F.interpolate(estimate, size=size, mode="bilinear", align_corners=False)
        else:
            sources = _upsample_sources(sources, size, inner)
            estimate = torch.stack([photo[0][:, r, c] for r, c in zip(sources[:, 0], sources[:, 1])])
        estimate = torch.where(known, photo, estimate)
        # Pad so that every pixel lies in patches on all sides; the target grid covers the pad.
        margin = patch - 1
        pad_h = (-(size[0] + 2 * margin - patch)) % target_stride
        pad_w = (-(size[1] + 2 * margin - patch)) % target_stride
        pads = (margin, margin + pad_w, margin, margin + pad_h)
        padded_size = (size[0] + 2 * margin + pad_h, size[1] + 2 * margin + pad_w)
        crop = (..., slice(margin, margin + size[0]), slice(margin, margin + size[1]))
        unknown = F.unfold(F.pad((~known).to(generated.dtype), pads), patch, stride=target_stride)[0].amax(0) > 0
        redrawn_patches = unknown[None, :].to(generated.dtype)
        window = _patch_window(patch, channels, generated.device, generated.dtype) * redrawn_patches
        votes = F.fold(window[None], padded_size, patch, stride=target_stride)
        centre = _patch_window(patch, 1, generated.device, generated.dtype, centre=target_stride) * redrawn_patches
        centre_votes = F.fold(centre[None], padded_size, patch, stride=target_stride)
        level_sources = []
        for index in range(generated.shape[0]):
            guide_patches = F.unfold(F.pad(guide[index : index + 1], pads, mode="reflect"), patch, stride=target_stride)
            for iteration in range(iterations):
                current = F.unfold(
                    F.pad(estimate[index : index + 1], pads, mode="reflect"), patch, stride=target_stride
                )
                queries = torch.cat([current[0], weight * guide_patches[0]])[:, unknown].T
                nearest = _nearest(queries, keys)
                chosen = torch.zeros_like(window)
                chosen[:, unknown] = source_photo[:, nearest]
                if iteration < iterations - 1 or not (propagate or level == 0):
                    summed = F.fold((chosen * window)[None], padded_size, patch, stride=target_stride)
                    redrawn = (summed / votes.clamp_min(1e-6))[crop]
                else:  # each pixel from the one patch whose centre it is in
                    centres = centre.repeat(channels, 1)
                    redrawn = F.fold((chosen * centres)[None], padded_size, patch, stride=target_stride)
                    redrawn = (redrawn / centre_votes.clamp_min(1e-6))[crop]
                    where = torch.zeros(2 * patch * patch, chosen.shape[1], device=generated.device)
                    where[:, unknown] = source_where[:, nearest]
                    where = F.fold((where * centre.repeat(2, 1))[None], padded_size, patch, stride=target_stride)
                    where = (where / centre_votes.clamp_min(1e-6))[crop].round().long()
                    own = _grid(size, generated.device).long()
                    level_sources.append(torch.where(known, own, where)[0])
                estimate[index : index + 1] = torch.where(known, photo, redrawn)
        sources = torch.stack(level_sources) if propagate else None
    if estimate is None:
        return generated
    if estimate.shape[-2:] != (height, width):
        estimate = F.interpolate(estimate, size=(height, width), mode="bilinear", align_corners=False)
    if keep_low > 0:
        composite = torch.where(known_mask, canvas_input, estimate)
        networks = torch.where(known_mask, canvas_input, generated)
        estimate = estimate - smooth(composite, keep_low, (False, False)) + smooth(networks, keep_low, (False, False))
    return torch.where(known_mask, canvas_input, estimate.clamp(0, 1))


@dataclass
class TextureConfig:
    enabled: bool = False
    patch: int = 7  # pixels per side at every scale
    levels: int = 3  # scales, halving from the canvas's
    iterations: int = 5  # patch searches and votes per scale
    guide_weight: float = 0.25  # the networks' layout against agreement between neighbouring patches
    guide_sigma: float = 1.0  # pixels of blur on the guide at each scale
    target_stride: int = 2  # output patches every this many pixels
    max_candidates: int = 4096  # input patches searched at each scale
    guide_decay: float = 0.25  # the guide's weight at each finer scale, times this
    keep_low_tokens: float = 1.0  # what is broader than a blur of this width stays as the networks drew it
    propagate: bool = False  # each scale starts from the pixels the coarser one copied


class ExemplarTexture:
    """Stage: `synthesize_texture` over the generated area."""

    def __init__(self, config: TextureConfig):
        self.config = config

    def __call__(self, image: torch.Tensor, canvas: Canvas, generator: torch.Generator | None) -> torch.Tensor:
        c = self.config
        return synthesize_texture(
            image,
            canvas.input,
            canvas.known,
            c.patch,
            c.levels,
            c.iterations,
            c.guide_weight,
            c.guide_sigma,
            c.target_stride,
            c.max_candidates,
            c.guide_decay,
            canvas.pixels(c.keep_low_tokens),
            c.propagate,
        )
