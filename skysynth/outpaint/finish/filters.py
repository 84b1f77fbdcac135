"""Filters shared by the finishing stages: blurs that respect circular axes, the finest
Laplacian band, distances from the input's box and where the input's own tiles are taken from."""

from __future__ import annotations

import math
from functools import lru_cache

import kornia
import torch
import torch.nn.functional as F

from skysynth.outpaint.canvas import Box

MATRIX_SIDE = 2048  # a blur matrix of this side is 16 MiB in fp32; at most 16 are kept


def circular_pad(images: torch.Tensor, pad_x: int, pad_y: int) -> torch.Tensor:
    """Pad (..., H, W) with the other end of each axis, `pad_x` columns left and right and `pad_y`
    rows above and below; unlike F.pad(mode="circular") any amount works (a pad wider than the
    side wraps round more than once: a small tile canvas under a wide blur)."""
    h, w = images.shape[-2:]
    rows = torch.arange(-pad_y, h + pad_y, device=images.device) % h
    cols = torch.arange(-pad_x, w + pad_x, device=images.device) % w
    return images[..., rows[:, None], cols[None, :]]


@lru_cache(maxsize=16)
def blur_matrix(length: int, sigma: float, radius: int, circular: bool, device, dtype) -> torch.Tensor:
    """(length, length) matrix M with M @ x = x blurred along its first axis (kornia's Gaussian
    kernel of 2 radius + 1 taps, zero beyond the ends, or the other end on a `circular` axis)."""
    kernel = kornia.filters.get_gaussian_kernel1d(2 * radius + 1, sigma)[0].double()
    rows = torch.arange(length)[:, None].expand(-1, 2 * radius + 1)
    cols = rows + torch.arange(-radius, radius + 1)[None, :]
    weights = kernel[None, :].expand(length, -1)
    if circular:
        cols = cols % length  # a kernel wider than the axis wraps round more than once
    else:
        inside = (cols >= 0) & (cols < length)
        rows, cols, weights = rows[inside], cols[inside], weights[inside]
    matrix = torch.zeros(length, length, dtype=torch.float64)
    matrix.index_put_((rows.reshape(-1), cols.reshape(-1)), weights.reshape(-1), accumulate=True)
    return matrix.to(device=device, dtype=dtype)


def blur(images: torch.Tensor, sigma: float, wrap: tuple[bool, bool]) -> torch.Tensor:
    """Gaussian blur of (..., H, W) `images` (kornia's kernel, 3 sigma each side); circular axes
    (wrap_y, wrap_x) continue at their other end, the others are zero beyond the canvas.

    Wide kernels on canvases up to MATRIX_SIDE run as two products with blur matrices (the same
    sums in another order): a long depthwise convolution runs far below the CPU's matrix speed
    (benchmarks/RESULTS.md, outpainting speed)."""
    radius = int(3 * sigma)
    h, w = images.shape[-2:]
    wide = 2 * radius + 1 >= max(16, (h + w) / 64)
    if wide and max(h, w) <= MATRIX_SIDE and images.dtype in (torch.float32, torch.float64):
        return blur_by_matrix(images, sigma, wrap)
    return blur_by_convolution(images, sigma, wrap)


def blur_by_convolution(images: torch.Tensor, sigma: float, wrap: tuple[bool, bool]) -> torch.Tensor:
    """`blur` as kornia's separable convolution."""
    radius = int(3 * sigma)
    pad_x, pad_y = (radius if wrap[1] else 0), (radius if wrap[0] else 0)
    padded = circular_pad(images, pad_x, pad_y) if pad_x or pad_y else images
    kernel = 2 * radius + 1
    blurred = kornia.filters.gaussian_blur2d(padded, (kernel, kernel), (sigma, sigma), border_type="constant")
    return blurred[..., pad_y : pad_y + images.shape[-2], pad_x : pad_x + images.shape[-1]]


def blur_by_matrix(images: torch.Tensor, sigma: float, wrap: tuple[bool, bool]) -> torch.Tensor:
    """`blur` as M_rows @ images @ M_cols^T (blur_matrix)."""
    radius = int(3 * sigma)
    h, w = images.shape[-2:]
    rows = blur_matrix(h, float(sigma), radius, bool(wrap[0]), images.device, images.dtype)
    cols = blur_matrix(w, float(sigma), radius, bool(wrap[1]), images.device, images.dtype)
    return rows @ images @ cols.T


def outside(index: torch.Tensor, low: int, high: int, length: int | None = None) -> torch.Tensor:
    """Distance (pixels) of positions `index` outside [low, high) along one axis: 0 inside, 1 on
    the first line outside. With `length` the axis is circular and the shorter way round counts."""
    distance = torch.clamp(low - index, min=0) + torch.clamp(index - (high - 1), min=0)
    if length is not None:
        around = torch.clamp(index + length - (high - 1), min=0) * (index < low)
        around = around + torch.clamp(low + length - index, min=0) * (index > high - 1)
        distance = torch.where(around > 0, torch.minimum(distance, around), distance)
    return distance


def smooth(images: torch.Tensor, sigma: float, wrap, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Gaussian blur by normalised convolution: borders (and, with `mask`, pixels outside it) do
    not pull the average towards zero."""
    weight = torch.ones_like(images[:1, :1]) if mask is None else mask.to(images.dtype)
    return blur(images * weight, sigma, wrap) / blur(weight, sigma, wrap).clamp_min(1e-6)


def square_max(images: torch.Tensor, radius: int) -> torch.Tensor:
    """Maximum over the (2 radius + 1)^2 square around each pixel of (B, C, H, W) `images`: a
    square dilation, done as a row pass then a column pass (a square max-pool costs the kernel's
    area per pixel, a large kernel in kornia.morphology unfolds the whole canvas per element)."""
    if radius <= 0:
        return images
    k = 2 * radius + 1
    rows = F.max_pool2d(images, (1, k), stride=1, padding=(0, radius))
    return F.max_pool2d(rows, (k, 1), stride=1, padding=(radius, 0))


def border_bands(known_mask: torch.Tensor, width: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The bands `width` pixels wide outside and inside the border of `known_mask` (1, 1, H, W),
    or the whole areas if either band is empty."""
    radius = int(math.ceil(width))
    mask = known_mask.float()
    grown = square_max(mask, radius) > 0.5
    shrunk = square_max(1 - mask, radius) < 0.5
    outer, inner = grown & ~known_mask, known_mask & ~shrunk
    if bool(outer.any()) and bool(inner.any()):
        return outer, inner
    return ~known_mask, known_mask


def pyramid_low_pass(images: torch.Tensor, wrap: tuple[bool, bool] = (False, False)) -> torch.Tensor:
    """(..., H, W) -> the same shape: pyrdown then pyrup (the low pass of a Laplacian pyramid's
    first level, i.e. the picture at half resolution); circular axes are padded with their other
    end first, odd sides interpolated back to the input's size."""
    margin = 4
    pad_x, pad_y = (margin if wrap[1] else 0), (margin if wrap[0] else 0)
    x = circular_pad(images, pad_x, pad_y) if any(wrap) else images
    low = kornia.geometry.transform.pyrup(kornia.geometry.transform.pyrdown(x))
    if low.shape[-2:] != x.shape[-2:]:  # odd sides
        low = F.interpolate(low, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return low[..., pad_y : pad_y + images.shape[-2], pad_x : pad_x + images.shape[-1]]


def finest_band(
    images: torch.Tensor, wrap: tuple[bool, bool] = (False, False), where: torch.Tensor | None = None
) -> torch.Tensor:
    """The first level of a Laplacian pyramid (image minus its `pyramid_low_pass`): the
    pixel-scale detail, (..., H, W) like `images`. Circular axes are padded with their other end
    first. With `where` (1, 1, H, W), the low pass is taken over those pixels only (normalised
    convolution) and the band is zero elsewhere: next to a region with other content (the
    decoded input beside the generated sky) the band does not pick up the step between them."""
    if where is None:
        return images - pyramid_low_pass(images, wrap)
    weight = where.to(images.dtype)
    low = pyramid_low_pass(images * weight, wrap) / pyramid_low_pass(weight, wrap).clamp_min(1e-3)
    return (images - low) * weight


def fade_from_box(box, shape, reach, wrap, device) -> torch.Tensor:
    """(H, W) weights: 1 up to reach[0] pixels (Chebyshev) outside `box` = (left, top, right,
    bottom), cosine down to 0 at reach[1]; circular axes measure the shorter way round."""
    left, top, right, bottom = box
    rows = torch.arange(shape[0], device=device, dtype=torch.float32)
    cols = torch.arange(shape[1], device=device, dtype=torch.float32)
    dy = outside(rows, top, bottom, shape[0] if wrap[0] else None)
    dx = outside(cols, left, right, shape[1] if wrap[1] else None)
    distance = torch.maximum(dy[:, None], dx[None, :])
    full, none = reach
    progress = ((distance - full) / max(none - full, 1e-6)).clamp(0, 1)
    return 0.5 + 0.5 * torch.cos(math.pi * progress)


def input_interior(generated, canvas_input, known_mask, block: int, max_candidates: int):
    """Where the input's own tiles are taken from (transfer_detail): its `Box`, the
    canvas with the input pasted in, the index of its interior (away from its border, where its
    finest band sees the generated sky) and a stride that keeps the tile positions there at most
    `max_candidates`. None if the interior holds no tile."""
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
    return Box(left, top, right, bottom), source, inner, stride
