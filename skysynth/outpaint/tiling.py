"""Decode tokens in overlapping weighted windows; upscale in overlapping tiles with known pixels."""

from __future__ import annotations

from collections.abc import Callable

import torch

from skysynth.outpaint.growth import window_starts


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
