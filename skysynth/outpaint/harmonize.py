"""Join the generated sky to the input: colours (harmonize_border) and texture (mirror_feather).

Tokens are a lossy code: the decoded canvas around the input differs from the input in colour
and brightness by a few percent, and pasting the input back turns that into a visible frame.
Here the low-passed difference (input - decoded) along the input's border is extended outward by
normalised convolution and faded out over a few tokens, so the generated sky starts exactly at
the input's colours and drifts to its own. The input's pixels are not touched.
"""

from __future__ import annotations

import math

import kornia
import torch
import torch.nn.functional as F

from skysynth.flatness import masked_mean_std


def _blur(images: torch.Tensor, sigma: float, wrap: tuple[bool, bool]) -> torch.Tensor:
    """Gaussian blur; circular axes (wrap_y, wrap_x) are padded with their other end."""
    radius = int(3 * sigma)
    pad_x, pad_y = (radius if wrap[1] else 0), (radius if wrap[0] else 0)
    padded = F.pad(images, (pad_x, pad_x, pad_y, pad_y), mode="circular") if pad_x or pad_y else images
    kernel = 2 * radius + 1
    blurred = kornia.filters.gaussian_blur2d(padded, (kernel, kernel), (sigma, sigma), border_type="constant")
    return blurred[..., pad_y : pad_y + images.shape[-2], pad_x : pad_x + images.shape[-1]]


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
    weight = _blur(known, sigma, wrap)
    offset = _blur(difference, sigma, wrap) / weight.clamp_min(1e-6)
    # Fade: ~1 at the border, falling to 0 about 2 sigma away (Gaussian tail of the mask's blur).
    fade = (2 * _blur(known, sigma, wrap)).clamp(0, 1)
    offset = offset * (weight > 1e-4)
    return torch.where(known_mask, generated, (generated + fade * offset).clamp(0, 1))


def box_mask(height: int, width: int, box: tuple[int, int, int, int], device=None) -> torch.Tensor:
    """(1, 1, height, width) bool, True inside `box` = (left, top, right, bottom)."""
    left, top, right, bottom = box
    mask = torch.zeros(1, 1, height, width, dtype=torch.bool, device=device)
    mask[..., top:bottom, left:right] = True
    return mask


def _outside(index: torch.Tensor, low: int, high: int, length: int | None = None) -> torch.Tensor:
    """Distance (pixels) of positions `index` outside [low, high) along one axis: 0 inside, 1 on
    the first line outside. With `length` the axis is circular and the shorter way round counts."""
    distance = torch.clamp(low - index, min=0) + torch.clamp(index - (high - 1), min=0)
    if length is not None:
        around = torch.clamp(index + length - (high - 1), min=0) * (index < low)
        around = around + torch.clamp(low + length - index, min=0) * (index > high - 1)
        distance = torch.where(around > 0, torch.minimum(distance, around), distance)
    return distance


def mirror_feather(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    box: tuple[int, int, int, int],
    width: float,
    wrap: tuple[bool, bool] = (False, False),
) -> torch.Tensor:
    """Cross-fade from the input's mirror image to `generated` over `width` pixels around `box`.

    Right next to the input's border the output is the input reflected across that border, so the
    border line looks like any line inside a photo (texture, noise and colour continue); the
    generated sky takes over smoothly (cosine weights) within `width` pixels. `box` = (left, top,
    right, bottom) of the input on the canvas; inside it the result equals `generated`. On circular
    axes (`wrap` = (wrap_y, wrap_x)) the band continues across the canvas's ends.
    """
    band = int(math.ceil(width))
    if band <= 0:
        return generated
    left, top, right, bottom = box
    if any(wrap):
        # Roll the input to the middle of the circular axes, feather, roll back.
        shift_y = (generated.shape[-2] - bottom - top) // 2 if wrap[0] else 0
        shift_x = (generated.shape[-1] - right - left) // 2 if wrap[1] else 0
        rolled = mirror_feather(
            torch.roll(generated, (shift_y, shift_x), dims=(-2, -1)),
            torch.roll(canvas_input, (shift_y, shift_x), dims=(-2, -1)),
            (left + shift_x, top + shift_y, right + shift_x, bottom + shift_y),
            width,
        )
        return torch.roll(rolled, (-shift_y, -shift_x), dims=(-2, -1))
    height_c, width_c = generated.shape[-2:]
    crop = canvas_input[..., top:bottom, left:right]
    # Reflection needs an input wider than the band: a small input gets a narrower band.
    band = min(band, crop.shape[-1] - 1, crop.shape[-2] - 1)
    if band <= 0:
        return generated
    mirrored = F.pad(crop, (band, band, band, band), mode="reflect")
    y0, x0 = top - band, left - band
    ys = slice(max(y0, 0), min(bottom + band, height_c))
    xs = slice(max(x0, 0), min(right + band, width_c))
    mirror = mirrored[..., ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    # Distance (pixels) outside the box, Chebyshev: 1 on the first ring outside.
    rows = torch.arange(ys.start, ys.stop, device=generated.device, dtype=generated.dtype)
    cols = torch.arange(xs.start, xs.stop, device=generated.device, dtype=generated.dtype)
    distance = torch.maximum(_outside(rows, top, bottom)[:, None], _outside(cols, left, right)[None, :])
    # Cosine from ~1 on the first ring outside down to 0 at band + 1; 0 on the box itself.
    weight = 0.5 + 0.5 * torch.cos(math.pi * (distance / (band + 1)).clamp(0, 1))
    weight = weight * (distance > 0)
    out = generated.clone()
    region = out[..., ys, xs]
    out[..., ys, xs] = region + weight * (mirror - region)
    return out


def _smooth(images: torch.Tensor, sigma: float, wrap, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Gaussian blur by normalised convolution: borders (and, with `mask`, pixels outside it) do
    not pull the average towards zero."""
    weight = torch.ones_like(images[:1, :1]) if mask is None else mask.to(images.dtype)
    return _blur(images * weight, sigma, wrap) / _blur(weight, sigma, wrap).clamp_min(1e-6)


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
    low = _smooth(generated, sigma, wrap)
    input_low = _smooth(canvas_input, sigma, wrap, known_mask)
    generated_area, input_area = _border_bands(known_mask, band) if band > 0 else (~known_mask, known_mask)
    gen_mean, gen_std = masked_mean_std(low, generated_area)
    target_mean, target_std = masked_mean_std(input_low, input_area)
    scale = (target_std / gen_std.clamp_min(1e-4)).clamp(*std_range)
    moved = (low - gen_mean) * scale + target_mean + (generated - low)
    return moved.clamp(0, 1)


def _border_bands(known_mask: torch.Tensor, width: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The bands `width` pixels wide outside and inside the border of `known_mask` (1, 1, H, W),
    or the whole areas if either band is empty."""
    # Square dilation/erosion by max-pooling (a large kernel in kornia.morphology unfolds the
    # whole canvas per kernel element).
    radius = int(math.ceil(width))
    mask = known_mask.float()
    grown = F.max_pool2d(mask, 2 * radius + 1, stride=1, padding=radius) > 0.5
    shrunk = F.max_pool2d(1 - mask, 2 * radius + 1, stride=1, padding=radius) < 0.5
    outer, inner = grown & ~known_mask, known_mask & ~shrunk
    if bool(outer.any()) and bool(inner.any()):
        return outer, inner
    return ~known_mask, known_mask


def finest_band(images: torch.Tensor, wrap: tuple[bool, bool] = (False, False)) -> torch.Tensor:
    """The first level of a Laplacian pyramid (image minus its pyrdown-pyrup low pass): the
    pixel-scale detail. Circular axes are padded with their other end first."""
    margin = 4
    pad = (margin if wrap[1] else 0, margin if wrap[1] else 0, margin if wrap[0] else 0, margin if wrap[0] else 0)
    padded = F.pad(images, pad, mode="circular") if any(wrap) else images
    low = kornia.geometry.transform.pyrup(kornia.geometry.transform.pyrdown(padded))
    if low.shape[-2:] != padded.shape[-2:]:  # odd sides
        low = F.interpolate(low, size=padded.shape[-2:], mode="bilinear", align_corners=False)
    band = padded - low
    return band[..., pad[2] : pad[2] + images.shape[-2], pad[0] : pad[0] + images.shape[-1]]


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


def match_bands(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    box: tuple[int, int, int, int],
    sigmas: tuple[float, ...],
    gain_range: tuple[float, float] = (0.2, 1.25),
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
    weight = 1 - _fade_from_box((top, bottom, left, right), generated.shape[-2:], (0.0, ramp), wrap, generated.device)
    lows = [_smooth(composite, s, wrap) for s in sigmas]
    input_lows = [_smooth(crop, s, (False, False)) for s in sigmas]
    out = composite
    for k in range(len(sigmas) - 1):
        band = lows[k] - lows[k + 1]
        input_band = input_lows[k] - input_lows[k + 1]
        gen_power, _ = masked_mean_std(kornia.color.rgb_to_grayscale(band).pow(2), outside)
        input_rms = kornia.color.rgb_to_grayscale(input_band).pow(2).mean().sqrt()
        gain = (input_rms / gen_power.sqrt().clamp_min(1e-6)).clamp(*gain_range)  # (B, 1, 1, 1)
        out = out + (gain - 1) * band * weight
    return torch.where(known_mask, canvas_input, out.clamp(0, 1))


def continue_trend(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    box: tuple[int, int, int, int],
    saturation: float = 2.0,
    wrap: tuple[bool, bool] = (False, False),
) -> torch.Tensor:
    """Continue the input's brightness and colour gradient into the generated area.

    Skies brighten towards the sun and the horizon; a mirror turns such a gradient back and the
    colour transfer (one mean for the whole generated area) flattens it. A plane a + b*x + c*y is
    fitted per channel to the input (x, y in units of the input's half-width and half-height,
    centred on it); every generated pixel gets the plane's increase from the nearest input
    pixel to itself, so nothing changes at the input's border. The distance beyond the border
    saturates (`saturation` half-sizes, tanh), so a far panorama does not run to black or
    white. Circular axes (`wrap` = (wrap_y, wrap_x)) get no gradient along them. Inside `box`
    the result equals `generated`."""
    left, top, right, bottom = box
    crop = canvas_input[..., top:bottom, left:right].float()
    # A coarse copy is enough for a plane (and keeps a 1600x1200 input cheap).
    small = F.interpolate(crop, size=(min(64, crop.shape[-2]), min(64, crop.shape[-1])), mode="area")
    hy, hx = (bottom - top) / 2, (right - left) / 2
    cy, cx = top + hy, left + hx

    def normalised(count: int, start: float, step: float, centre: float, half: float) -> torch.Tensor:
        """Centres of `count` pixels of size `step` from `start`, in half-sizes from `centre`."""
        centres = start + (torch.arange(count, device=generated.device, dtype=torch.float32) + 0.5) * step
        return (centres - centre) / half

    ys = normalised(small.shape[-2], top, (bottom - top) / small.shape[-2], cy, hy)
    xs = normalised(small.shape[-1], left, (right - left) / small.shape[-1], cx, hx)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    features = [torch.ones_like(grid_y)]
    if not wrap[1]:
        features.append(grid_x)
    if not wrap[0]:
        features.append(grid_y)
    if len(features) == 1:
        return generated
    design = torch.stack([f.flatten() for f in features], 1)  # (N, F)
    coef = torch.linalg.lstsq(design, small[0].flatten(1).T).solution  # (F, 3)

    height, width = generated.shape[-2:]
    y = normalised(height, 0, 1, cy, hy)
    x = normalised(width, 0, 1, cx, hx)

    def beyond(u: torch.Tensor) -> torch.Tensor:
        """How far past the border (in half-sizes), saturating; 0 inside."""
        excess = (u.abs() - 1).clamp_min(0)
        return u.sign() * saturation * torch.tanh(excess / saturation)

    increment = torch.zeros(3, height, width, device=generated.device)
    slopes = iter(coef[1:])
    if not wrap[1]:
        increment = increment + next(slopes)[:, None, None] * beyond(x)[None, None, :]
    if not wrap[0]:
        increment = increment + next(slopes)[:, None, None] * beyond(y)[None, :, None]
    known = box_mask(height, width, box, generated.device)
    return torch.where(known, generated, (generated + increment.to(generated.dtype)).clamp(0, 1))


def _fade_from_box(box, shape, reach, wrap, device) -> torch.Tensor:
    """(H, W) weights: 1 up to reach[0] pixels (Chebyshev) outside the box (top, bottom, left,
    right), cosine down to 0 at reach[1]; circular axes measure the shorter way round."""
    top, bottom, left, right = box
    rows = torch.arange(shape[0], device=device, dtype=torch.float32)
    cols = torch.arange(shape[1], device=device, dtype=torch.float32)
    dy = _outside(rows, top, bottom, shape[0] if wrap[0] else None)
    dx = _outside(cols, left, right, shape[1] if wrap[1] else None)
    distance = torch.maximum(dy[:, None], dx[None, :])
    full, none = reach
    progress = ((distance - full) / max(none - full, 1e-6)).clamp(0, 1)
    return 0.5 + 0.5 * torch.cos(math.pi * progress)


def _input_interior(generated, canvas_input, known_mask, block: int, max_candidates: int):
    """Where the input's own tiles are taken from (transfer_detail, add_grain): its box
    (top, bottom, left, right), the canvas with the input pasted in, the index of its interior
    (away from its border, where its finest band sees the generated sky) and a stride that keeps
    the tile positions there at most `max_candidates`. None if the interior holds no tile."""
    rows, cols = torch.nonzero(known_mask[0, 0], as_tuple=True)
    top, bottom = int(rows.min()), int(rows.max()) + 1
    left, right = int(cols.min()), int(cols.max()) + 1
    margin = 4
    inner_h, inner_w = bottom - top - 2 * margin, right - left - 2 * margin
    if inner_h < block or inner_w < block:
        return None
    source = torch.where(known_mask, canvas_input, generated[:1])
    inner = (..., slice(top + margin, bottom - margin), slice(left + margin, right - margin))
    positions = (inner_h - block + 1) * (inner_w - block + 1)
    stride = max(1, math.ceil(math.sqrt(positions / max_candidates)))
    return (top, bottom, left, right), source, inner, stride


def transfer_detail(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    known_mask: torch.Tensor,
    block: int = 8,
    guide_sigma: float = 1.5,
    max_candidates: int = 16384,
    choices: int = 1,
    generator: torch.Generator | None = None,
    detail_cap: float = float("inf"),
    reach: tuple[float, float] | None = None,
    wrap: tuple[bool, bool] = (False, False),
    overlap: bool = False,
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
    Input tiles are taken on a grid of at most `max_candidates` positions, away from the input's
    border. Inside `known_mask` the result equals `generated`; an input too small for one tile
    leaves `generated` as it is."""
    interior = _input_interior(generated, canvas_input, known_mask, block, max_candidates)
    if interior is None:
        return generated
    (top, bottom, left, right), source, inner, stride = interior
    source_fine = finest_band(source, wrap)[inner]
    source_guide = _smooth(source, guide_sigma, wrap)[inner]
    candidates_guide = F.unfold(source_guide, block, stride=stride)[0].T  # (N, 3*block*block)
    candidates_fine = F.unfold(source_fine, block, stride=stride)[0]  # (3*block*block, N)
    candidate_norms = candidates_guide.pow(2).sum(1)
    candidate_rms = candidates_fine.pow(2).mean(0).sqrt()
    typical_rms = candidate_rms.median()

    height, width = generated.shape[-2:]
    pad_h, pad_w = (-height) % block, (-width) % block
    # Overlapping tiles start half a tile before the canvas, so every pixel is covered twice.
    step, margin = (block // 2, block // 2) if overlap and block >= 2 else (block, 0)
    pads = (margin, pad_w + margin, margin, pad_h + margin)
    fine = finest_band(generated, wrap)
    guide = _smooth(generated, guide_sigma, wrap)
    if overlap:
        ramp = torch.sin(math.pi * (torch.arange(block, device=generated.device, dtype=generated.dtype) + 0.5) / block)
        window = (ramp[:, None] * ramp[None, :]).pow(2).flatten().repeat(generated.shape[1])[:, None]
    active = None
    if reach is not None:
        weight = _fade_from_box((top, bottom, left, right), (height, width), reach, wrap, generated.device)
        # Tiles wholly beyond the copy's reach are never seen: they are not searched for.
        active = F.unfold(F.pad(weight[None, None], pads), block, stride=step)[0].amax(0) > 0
    out = []
    for index in range(generated.shape[0]):
        tiles = F.unfold(F.pad(guide[index : index + 1], pads, mode="replicate"), block, stride=step)
        tiles = tiles[0].T  # (T, 3*block*block)
        searched = tiles if active is None else tiles[active]
        found = torch.empty(len(searched), dtype=torch.long, device=generated.device)
        for start in range(0, len(searched), 2048):  # bounded memory for big canvases
            chunk = searched[start : start + 2048]
            distance = candidate_norms[None, :] - 2 * chunk @ candidates_guide.T
            if choices > 1:
                nearest = distance.topk(min(choices, distance.shape[1]), dim=1, largest=False).indices
                device = generator.device if generator is not None else nearest.device
                pick = torch.randint(nearest.shape[1], (len(chunk), 1), generator=generator, device=device)
                picked = nearest.gather(1, pick.to(nearest.device)).squeeze(1)
            else:
                picked = distance.argmin(1)
            found[start : start + 2048] = picked
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
    interior = _input_interior(generated, canvas_input, known_mask, block, max_candidates)
    if interior is None:
        return generated
    (top, bottom, left, right), source, inner, stride = interior
    # Per input tile: its mean blurred colour and its finest band's RMS, per channel.
    input_colour = _tile_look(_smooth(source, guide_sigma, wrap)[inner], block, stride, structure_weight)[0]
    input_rms = F.avg_pool2d(finest_band(source, wrap)[inner].pow(2), block, stride=stride)[0].flatten(1).T.sqrt()
    k = min(neighbours, len(input_colour))
    cap_rms = torch.quantile(input_rms, cap_quantile, dim=0)  # (3,)

    height, width = generated.shape[-2:]
    fine = finest_band(generated, wrap)
    colour = _tile_look(_smooth(generated, guide_sigma, wrap), block, block, structure_weight, ceil_mode=True)
    own_rms = F.avg_pool2d(fine.pow(2), block, ceil_mode=True).sqrt()
    weight = torch.ones(height, width, device=generated.device)
    if reach is not None:
        none, full = reach
        weight = 1 - _fade_from_box((top, bottom, left, right), (height, width), (none, full), wrap, generated.device)
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
            noise = _blur(noise, noise_sigma, wrap)
        noise = finest_band(noise, wrap)
        noise = noise / noise.pow(2).mean().sqrt().clamp_min(1e-12)
        out.append(generated[index] + weight * lacking[0] * noise[0])
    grained = torch.stack(out)
    return torch.where(known_mask, generated, grained.clamp(0, 1))
