"""Where the input sits on the output canvas, and how that canvas maps onto the token grid."""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_OUTPUT_PIXELS = 64_000_000  # memory guard: ~64 MP output
MAX_GROW = 64.0


@dataclass(frozen=True)
class Layout:
    """Geometry of one job, in output pixels unless named `_tokens`.

    The work canvas is the output canvas plus a margin on the left/top (`margin_x`, `margin_y`)
    and right/bottom so that the input's top-left corner falls on a token boundary and every
    side is a whole number of tokens.
    """

    input_size: tuple[int, int]  # (w, h)
    output_size: tuple[int, int]  # (W, H)
    offset: tuple[int, int]  # input's top-left corner on the output canvas
    token_pixels: int  # output pixels per token side (tokenizer factor x upscale factor)
    margin_x: int
    margin_y: int
    work_size: tuple[int, int]

    @property
    def canvas_tokens(self) -> tuple[int, int]:
        """(width, height) of the token canvas."""
        return self.work_size[0] // self.token_pixels, self.work_size[1] // self.token_pixels

    @property
    def input_box_work(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of the input on the work canvas, in pixels."""
        left, top = self.offset[0] + self.margin_x, self.offset[1] + self.margin_y
        return left, top, left + self.input_size[0], top + self.input_size[1]

    @property
    def known_tokens_box(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in tokens of the tokens lying wholly inside the input."""
        left, top, right, bottom = self.input_box_work
        p = self.token_pixels
        return left // p, top // p, right // p, bottom // p


def plan(
    input_size: tuple[int, int],
    token_pixels: int,
    size: tuple[int, int] | None = None,
    grow: float | None = None,
    pad: tuple[int, int, int, int] | None = None,
) -> Layout:
    """Layout for exactly one of: `size` (W, H) with the input centred, `grow` (factor per
    side length, centred) or `pad` (left, top, right, bottom pixels). Raises ValueError."""
    w, h = input_size
    chosen = [name for name, value in (("size", size), ("grow", grow), ("pad", pad)) if value is not None]
    if len(chosen) != 1:
        raise ValueError("give exactly one of size=[W,H], grow=F or pad=[L,T,R,B]")
    if pad is not None:
        if len(pad) != 4 or any(int(v) < 0 for v in pad):
            raise ValueError(f"pad must be four non-negative numbers [L,T,R,B], got {list(pad)}")
        left, top, right, bottom = (int(v) for v in pad)
        out_w, out_h = w + left + right, h + top + bottom
    else:
        if grow is not None:
            if not 1.0 <= float(grow) <= MAX_GROW:
                raise ValueError(f"grow must be between 1 and {MAX_GROW}, got {grow}")
            out_w, out_h = round(w * float(grow)), round(h * float(grow))
        else:
            if len(size) != 2:
                raise ValueError(f"size must be [W,H], got {list(size)}")
            out_w, out_h = (int(v) for v in size)
        if out_w < w or out_h < h:
            raise ValueError(f"target {out_w}x{out_h} is smaller than the input {w}x{h}")
        left, top = (out_w - w) // 2, (out_h - h) // 2
    if out_w * out_h > MAX_OUTPUT_PIXELS:
        raise ValueError(f"target {out_w}x{out_h} exceeds the memory guard of {MAX_OUTPUT_PIXELS // 1_000_000} MP")
    if min(w, h) < token_pixels:
        raise ValueError(f"input {w}x{h} is too small: each side needs at least {token_pixels} pixels")
    p = token_pixels
    margin_x, margin_y = (-left) % p, (-top) % p
    work_w = math.ceil((out_w + margin_x) / p) * p
    work_h = math.ceil((out_h + margin_y) / p) * p
    return Layout((w, h), (out_w, out_h), (left, top), p, margin_x, margin_y, (work_w, work_h))


def plan_wrapped(
    input_size: tuple[int, int],
    token_pixels: int,
    size: tuple[int, int],
    wrap: tuple[bool, bool],
    unit: int,
) -> Layout:
    """Layout on a canvas that is circular along `wrap = (wrap_y, wrap_x)`.

    A circular side is the whole circle: it is rounded up to a multiple of `unit` pixels and
    has no margin, and the input sits on a token boundary along it. Other sides are as in `plan`."""
    w, h = input_size
    out_w, out_h = (int(v) for v in size)
    if out_w < w or out_h < h:
        raise ValueError(f"target {out_w}x{out_h} is smaller than the input {w}x{h}")
    if min(w, h) < token_pixels:
        raise ValueError(f"input {w}x{h} is too small: each side needs at least {token_pixels} pixels")
    p = token_pixels
    if wrap[1]:
        out_w = math.ceil(max(out_w, w + p) / unit) * unit  # at least one generated token column
    if wrap[0]:
        out_h = math.ceil(max(out_h, h + p) / unit) * unit
    if out_w * out_h > MAX_OUTPUT_PIXELS:
        raise ValueError(f"target {out_w}x{out_h} exceeds the memory guard of {MAX_OUTPUT_PIXELS // 1_000_000} MP")
    left = (out_w - w) // 2 // p * p if wrap[1] else (out_w - w) // 2
    top = (out_h - h) // 2 // p * p if wrap[0] else (out_h - h) // 2
    margin_x = 0 if wrap[1] else (-left) % p
    margin_y = 0 if wrap[0] else (-top) % p
    work_w = out_w if wrap[1] else math.ceil((out_w + margin_x) / p) * p
    work_h = out_h if wrap[0] else math.ceil((out_h + margin_y) / p) * p
    return Layout((w, h), (out_w, out_h), (left, top), p, margin_x, margin_y, (work_w, work_h))
