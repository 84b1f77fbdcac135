"""Grow a token canvas window by window, always next to known tokens."""

from __future__ import annotations

from collections.abc import Callable

import torch


def window_starts(length: int, window: int, anchor: int) -> list[int]:
    """Window start positions along one axis: a half-window grid through `anchor`, clamped."""
    if length <= window:
        return [0]
    stride = max(1, window // 2)
    first = anchor % stride
    starts = set(range(first - stride, length, stride))
    return sorted({min(max(s, 0), length - window) for s in starts})


def growth_plan(known: torch.Tensor, window: int, anchor: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Order of windows (top, left, height, width) that fills every unknown token of the (H, W)
    `known` mask. Each next window is the one with the largest share of known tokens, so
    sides come before corners and nothing is generated far from known tokens."""
    known = known.clone()
    height, width = known.shape
    win_h, win_w = min(window, height), min(window, width)
    candidates = [
        (t, l) for t in window_starts(height, win_h, anchor[0]) for l in window_starts(width, win_w, anchor[1])
    ]
    order = []
    while not bool(known.all()):
        best, best_share = None, -1.0
        for top, left in candidates:
            patch = known[top : top + win_h, left : left + win_w]
            if bool(patch.all()):
                continue
            share = float(patch.float().mean())
            if share > best_share:
                best, best_share = (top, left), share
        if best is None:
            raise RuntimeError("growth plan left unknown tokens uncovered")
        top, left = best
        order.append((top, left, win_h, win_w))
        known[top : top + win_h, left : left + win_w] = True
    return order


def grow_tokens(
    tokens: torch.Tensor,
    known: torch.Tensor,
    window: int,
    anchor: tuple[int, int],
    fill: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    progress=None,
) -> torch.Tensor:
    """Fill the unknown tokens of `tokens` (B, H, W) by calling `fill(window_tokens, unknown)`
    on each window of the growth plan; known tokens are never changed."""
    tokens = tokens.clone()
    known_now = known.clone()
    steps = growth_plan(known, window, anchor)
    for top, left, win_h, win_w in steps:
        area = (slice(None), slice(top, top + win_h), slice(left, left + win_w))
        unknown = ~known_now[area[1:]]
        filled = fill(tokens[area], unknown.expand(tokens.shape[0], -1, -1))
        tokens[area] = torch.where(unknown, filled, tokens[area])
        known_now[area[1:]] = True
        if progress is not None:
            progress(1)
    return tokens
