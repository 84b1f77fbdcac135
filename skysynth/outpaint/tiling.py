"""Decode tokens in overlapping weighted windows; upscale in overlapping tiles with known pixels."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from skysynth.outpaint.canvas import Canvas
from skysynth.outpaint.closing import close_circle, open_periodic
from skysynth.outpaint.finish.filters import circular_pad
from skysynth.outpaint.growth import window_starts
from skysynth.schedulers.noise import sample_detail


def tent_weights(height: int, width: int, device=None) -> torch.Tensor:
    """(H, W) triangular weights, highest in the middle, > 0 at the border."""
    ys = torch.arange(height, device=device, dtype=torch.float32)
    xs = torch.arange(width, device=device, dtype=torch.float32)
    wy = torch.minimum(ys + 1, height - ys)
    wx = torch.minimum(xs + 1, width - xs)
    return wy[:, None] * wx[None, :]


def wrap_pad(tokens: torch.Tensor, amount: int, wrap: tuple[bool, bool]) -> torch.Tensor:
    """Extend (B, H, W) tokens by `amount` on both ends of each circular axis with the other end."""
    if wrap[1]:
        tokens = torch.cat([tokens[..., -amount:], tokens, tokens[..., :amount]], dim=-1)
    if wrap[0]:
        tokens = torch.cat([tokens[..., -amount:, :], tokens, tokens[..., :amount, :]], dim=-2)
    return tokens


def decode_windows(
    decode: Callable[[torch.Tensor], torch.Tensor],
    tokens: torch.Tensor,
    window: int,
    pixels_per_token: int,
    wrap: tuple[bool, bool] = (False, False),
) -> torch.Tensor:
    """(B, H, W) tokens -> (B, 3, H*p, W*p) images; windows of `window` tokens, half overlapping,
    blended with tent weights so that window borders leave no seams.

    `wrap = (wrap_y, wrap_x)`: circular axes are padded with their other end by half a window and
    cropped back; when the axis length is a multiple of half a window the result is exactly
    periodic, so the wrap is as seamless as any window border."""
    if any(wrap):
        p = pixels_per_token
        height, width = tokens.shape[-2:]
        stride_x, stride_y = max(1, min(window, width) // 2), max(1, min(window, height) // 2)
        if wrap[1]:
            tokens = wrap_pad(tokens, stride_x, (False, True))
        if wrap[0]:
            tokens = wrap_pad(tokens, stride_y, (True, False))
        images = decode_windows(decode, tokens, window, pixels_per_token)
        if wrap[1]:
            images = images[..., stride_x * p : (stride_x + width) * p]
        if wrap[0]:
            images = images[..., stride_y * p : (stride_y + height) * p, :]
        return images
    b, height, width = tokens.shape
    p = pixels_per_token
    out = None
    total = torch.zeros(height * p, width * p, device=tokens.device)
    win_h, win_w = min(window, height), min(window, width)
    weights = tent_weights(win_h * p, win_w * p, tokens.device)
    for top in window_starts(height, win_h, 0):
        for left in window_starts(width, win_w, 0):
            image = decode(tokens[:, top : top + win_h, left : left + win_w]).float()
            if out is None:
                out = torch.zeros(b, image.shape[1], height * p, width * p, device=tokens.device)
            ys, xs = slice(top * p, (top + win_h) * p), slice(left * p, (left + win_w) * p)
            out[:, :, ys, xs] += image * weights
            total[ys, xs] += weights
    return out / total


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride)) + [length - tile]
    return sorted(set(starts))


def upscale_tiles(
    restore: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    blurry: torch.Tensor,
    known_edges: torch.Tensor,
    known_mask: torch.Tensor,
    tile: int,
    overlap: int,
    progress=None,
) -> torch.Tensor:
    """Predict edges tile by tile. `restore(blurry_tile, known_tile, known_mask_tile)` returns
    edges for the tile; pixels already finished by earlier tiles join the known mask, so every
    overlap is generated once and then respected (no seams)."""
    edges = known_edges.clone()
    done = known_mask.clone()
    height, width = blurry.shape[-2:]
    for top in tile_starts(height, tile, overlap):
        for left in tile_starts(width, tile, overlap):
            ys, xs = slice(top, min(top + tile, height)), slice(left, min(left + tile, width))
            mask = done[..., ys, xs]
            if bool(mask.all()):
                if progress is not None:
                    progress(1)
                continue
            result = restore(blurry[..., ys, xs], edges[..., ys, xs], mask)
            edges[..., ys, xs] = torch.where(mask, edges[..., ys, xs], result)
            done[..., ys, xs] = True
            if progress is not None:
                progress(1)
    return edges


def resize_wrapped(images: torch.Tensor, size: tuple[int, int], wrap) -> torch.Tensor:
    """Bicubic resize of (B, C, h, w) to `size` = (H, W); circular axes are padded with their
    other end first, so the wrap stays smooth."""
    if not any(wrap):
        return F.interpolate(images, size=size, mode="bicubic", align_corners=False).clamp(0, 1)
    margin = 4
    pad_x, pad_y = (margin if wrap[1] else 0), (margin if wrap[0] else 0)
    padded = circular_pad(images, pad_x, pad_y)
    fy, fx = size[0] / images.shape[-2], size[1] / images.shape[-1]
    big = F.interpolate(
        padded, size=(round(padded.shape[-2] * fy), round(padded.shape[-1] * fx)), mode="bicubic", align_corners=False
    )
    top, left = round(pad_y * fy), round(pad_x * fx)
    return big[..., top : top + size[0], left : left + size[1]].clamp(0, 1)


def upscale_canvas(net, blurry: torch.Tensor, canvas: Canvas, config, generator, on_tile=None) -> torch.Tensor:
    """The upscaler's detail added to (B, 3, H, W) `blurry`, in tiles of `config.tile` pixels
    (an UpscaleConfig), the input's own detail kept. `on_tile(done, total)` reports progress."""
    m = net.config.multiple
    if any(canvas.wrap):
        # Tiles at the two ends of a circular axis never meet: cut the canvas open with a band
        # repeated at both ends, upscale it, and cross-fade the band's two versions of the detail.
        band = max(m, (2 * config.overlap) // m * m)
        opened = [open_periodic(x, band, canvas.wrap) for x in (blurry, canvas.input, canvas.known)]
        edges = _upscale_edges(net, *opened, config, generator, on_tile)
        edges = close_circle(edges, (band if canvas.wrap[0] else 0, band if canvas.wrap[1] else 0), 1)
    else:
        edges = _upscale_edges(net, blurry, canvas.input, canvas.known, config, generator, on_tile)
    return (blurry + edges / net.config.edge_scale).clamp(0, 1)


def _upscale_edges(net, blurry, canvas_input, known_mask, config, generator, on_tile):
    """The upscaler's detail for `blurry`, tile by tile, keeping the input's own detail."""
    scale, m = net.config.edge_scale, net.config.multiple
    tile = max(m, config.tile // m * m)
    h, w = blurry.shape[-2:]
    pad_h, pad_w = (-h) % m, (-w) % m  # tiles must be multiples of the U-Net's factor
    blurry_p = F.pad(blurry, (0, pad_w, 0, pad_h), mode="replicate")
    known_edges = F.pad((canvas_input - blurry) * scale, (0, pad_w, 0, pad_h))
    mask = F.pad(known_mask, (0, pad_w, 0, pad_h)).expand(blurry.shape[0], 3, -1, -1)
    height, width = blurry_p.shape[-2:]
    tile_h, tile_w = min(tile, height), min(tile, width)

    def restore(blurry_tile, known_tile, mask_tile):
        return sample_detail(net, blurry_tile, config.steps, generator, known_tile, mask_tile, draws=config.draws)

    count = len(tile_starts(height, tile_h, config.overlap)) * len(tile_starts(width, tile_w, config.overlap))
    done = iter(range(1, count + 1))

    def tile_finished(_):
        if on_tile is not None:
            on_tile(next(done, count), count)

    if tile_h == tile_w:
        edges = upscale_tiles(restore, blurry_p, known_edges, mask, tile_h, config.overlap, tile_finished)
    else:  # a canvas thinner than one tile: a single row or column of tiles of the canvas's size
        tile = max(tile_h, tile_w)
        pad = (0, max(0, tile - width), 0, max(0, tile - height))
        padded = F.pad(blurry_p, pad, mode="replicate")
        edges = upscale_tiles(
            restore, padded, F.pad(known_edges, pad), F.pad(mask, pad), tile, config.overlap, tile_finished
        )
        edges = edges[..., :height, :width]
    return edges[..., :h, :w]
