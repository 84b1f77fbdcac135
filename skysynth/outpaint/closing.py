"""Close a circular canvas (panorama, tile) by cross-fading two overlapping growth fronts.

Growing tokens round a circle from the input, the two fronts meet opposite it. A single window
that sees both ends must join two independently grown skies in one step; the MaskGIT is trained
on side and corner masks only, so that join is often a hard edge (benchmarks/RESULTS.md, issue 8).
Instead the circle is cut open opposite the input, both fronts grow past the cut by `overlap`
tokens (each from its own side: ordinary outpainting), and the decoded pixels of the two
overlapping ends are cross-faded, as panorama stitchers blend overlapping photos.

Token canvases are (B, H, W); an "opened" axis is `overlap` tokens longer, its first column
(row) being `overlap // 2` tokens before the wrap line.
"""

from __future__ import annotations

import torch


def closing_overlap(known: torch.Tensor, overlap: int, wrap: tuple[bool, bool]) -> tuple[int, int]:
    """Overlap in tokens (even, per axis (y, x)) that fits around the wrap line of each circular
    axis without touching a known line of the (H, W) `known` mask; 0 where the axis is not circular
    or there is no room."""
    result = []
    for axis, circular in enumerate(wrap):
        lines_known = known.any(dim=1 - axis)  # per row (axis 0) or column (axis 1)
        if not circular or overlap < 2 or bool(lines_known.all()):
            result.append(0)
            continue
        length = lines_known.numel()
        after = int(torch.nonzero(lines_known)[0])  # unknown lines from the wrap line onwards
        before = length - 1 - int(torch.nonzero(lines_known)[-1])  # unknown lines before it
        half = min(overlap // 2, after, before)
        result.append(2 * half if half >= 1 else 0)
    return result[0], result[1]


def _cut_open(x: torch.Tensor, dim: int, amount: int, continue_circle: bool) -> torch.Tensor:
    """Shift `x` along `dim` by half of `amount` and append `amount` lines: the circle's own
    continuation (`continue_circle`) or zeros (unknown tokens)."""
    rolled = torch.roll(x, amount // 2, dims=dim)
    head = rolled.narrow(dim, 0, amount)
    return torch.cat([rolled, head if continue_circle else torch.zeros_like(head)], dim=dim)


def open_circle(
    tokens: torch.Tensor, known: torch.Tensor, overlap: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut each axis with a non-zero overlap open at the wrap line: shift the canvas by half the
    overlap and append `overlap` unknown lines, so the fronts can grow past each other."""
    for dim, amount in ((-2, overlap[0]), (-1, overlap[1])):
        if amount:
            tokens = _cut_open(tokens, dim, amount, continue_circle=False)
            known = _cut_open(known, dim, amount, continue_circle=False)
    return tokens, known


def close_circle(images: torch.Tensor, overlap: tuple[int, int], pixels_per_token: int) -> torch.Tensor:
    """Inverse of `open_circle` on decoded (B, C, H, W) images: the two ends of each opened axis
    cover the same stretch of the circle; cross-fade them linearly (each front's weight is 1
    where it continues into its own side) and shift back, so the result is periodic."""
    for dim, amount in ((-2, overlap[0]), (-1, overlap[1])):
        if amount == 0:
            continue
        band = amount * pixels_per_token
        length = images.shape[dim] - band
        start = images.narrow(dim, 0, band)  # the front grown towards the start, its far end
        end = images.narrow(dim, length, band)  # the front grown towards the end, its far end
        shape = [1] * images.dim()
        shape[dim] = band
        weight = ((torch.arange(band, device=images.device, dtype=images.dtype) + 0.5) / band).view(shape)
        blended = weight * start + (1 - weight) * end
        images = torch.cat([blended, images.narrow(dim, band, length - band)], dim=dim)
        images = torch.roll(images, -(band // 2), dims=dim)
    return images


def open_periodic(images: torch.Tensor, band: int, wrap: tuple[bool, bool]) -> torch.Tensor:
    """Cut a periodic (..., H, W) image open like `open_circle`, but the `band` appended lines are
    the image's own continuation round the circle. Work done on the result tile by tile (the
    upscaler) is then closed with `close_circle(result, ..., 1)`: its two copies of the band are
    cross-faded, so detail made independently at the two ends meets without a seam."""
    for dim, circular in ((-2, wrap[0]), (-1, wrap[1])):
        if circular and band > 0:
            images = _cut_open(images, dim, band, continue_circle=True)
    return images
