"""Seam join: a gradient-domain join of the generated sky to the input (the last stage).

Whatever the stages before did, the generated pixels next to the input still differ from the
input's own edge pixels (the decoder's copy of the input is not the input, the upscaler and
detail copy add their own detail), and pasting the input back turns that difference into a thin
outline of the input's box. Here a correction field `c` is added to the generated sky, outside
the input: at each pair of neighbours across the border it makes the step from the input's edge
pixel to the sky the mean of the two sides' own steps there, and elsewhere it solves the screened Poisson equation
(laplacian(c) = c / decay^2). So the generated sky keeps its own gradients (its texture), fine
differences along the border die out within a few pixels and coarse ones over about `decay`
pixels. Conjugate gradients, started from the same problem at half the resolution, in a window
around the input (the field is below exp(-6) of the border's difference beyond it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from skysynth.outpaint.canvas import Canvas


def neighbour_differences(field: torch.Tensor, wrap: tuple[bool, bool]) -> torch.Tensor:
    """sum over the 4 neighbours n of (field - field[n]), (N, 1, H, W) -> (N, 1, H, W).

    A neighbour beyond a non-circular edge counts as the pixel itself (no flux through the edge)."""
    y = F.pad(field, (0, 0, 1, 1), mode="circular" if wrap[0] else "replicate")
    x = F.pad(field, (1, 1, 0, 0), mode="circular" if wrap[1] else "replicate")
    return 4 * field - y[..., :-2, :] - y[..., 2:, :] - x[..., :, :-2] - x[..., :, 2:]


def shifted(field: torch.Tensor, dy: int, dx: int, wrap: tuple[bool, bool]) -> torch.Tensor:
    """field[y + dy, x + dx] for every (y, x), (..., H, W); zeros beyond a non-circular edge."""
    height, width = field.shape[-2:]
    out = field
    if dy:
        out = torch.roll(out, -dy, dims=-2)
        if not wrap[0]:
            rows = torch.arange(height, device=field.device) + dy
            out = out * ((rows >= 0) & (rows < height)).to(field.dtype)[:, None]
    if dx:
        out = torch.roll(out, -dx, dims=-1)
        if not wrap[1]:
            columns = torch.arange(width, device=field.device) + dx
            out = out * ((columns >= 0) & (columns < width)).to(field.dtype)
    return out


def border_targets(
    generated: torch.Tensor, canvas_input: torch.Tensor, known: torch.Tensor, wrap: tuple[bool, bool]
) -> torch.Tensor:
    """Sum, over each outside pixel p's neighbours n on the input, of the correction that p needs,
    (N, C, H, W): input[n] + step - generated[p], where `step`, what the picture should change by
    from n to p, is the mean of the input's last step towards the border and the generated sky's
    first step away from it, each where it exists (a flat join would make the border smoother
    than a photo's)."""
    unknown = 1 - known
    inside = canvas_input * known
    total = torch.zeros_like(generated)
    for dy, dx in ((0, -1), (0, 1), (-1, 0), (1, 0)):  # n = p + (dy, dx)
        pairs = unknown * shifted(known, dy, dx, wrap)
        inner_ok = shifted(known, 2 * dy, 2 * dx, wrap)
        outer_ok = shifted(unknown, -dy, -dx, wrap)  # zero beyond a non-circular edge
        inner_step = (shifted(inside, dy, dx, wrap) - shifted(inside, 2 * dy, 2 * dx, wrap)) * inner_ok
        outer_step = (shifted(generated, -dy, -dx, wrap) - generated) * outer_ok
        step = (inner_step + outer_step) / (inner_ok + outer_ok).clamp_min(1)
        total = total + pairs * (shifted(inside, dy, dx, wrap) + step - generated)
    return total


def join_correction(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    known_mask: torch.Tensor,
    decay: float,
    wrap: tuple[bool, bool] = (False, False),
    tolerance: float = 1e-3,
    max_iterations: int = 1000,
    start: torch.Tensor | None = None,
) -> torch.Tensor:
    """The screened-Poisson correction field c, (N, C, H, W), zero on the input.

    Outside `known_mask` (1, 1, H, W) the joined picture `generated + c` keeps the gradients of
    `generated` (N, C, H, W), except across the input's border, where it must meet the input's
    edge pixels (`canvas_input`, (1, C, H, W)) without a step; c is screened with `decay` pixels
    (> 0): `sum_n (c - c[n]) + c / decay^2 = 0` away from the border. Conjugate gradients, every
    channel at once, from `start` (N, C, H, W) or zero, until each channel's residual is below
    `tolerance` times its residual at the start (the right-hand side when starting from zero), or
    `max_iterations`."""
    if decay <= 0:
        raise ValueError(f"decay must be positive, got {decay}")
    n, channels, height, width = generated.shape
    known = known_mask.to(generated.dtype)
    unknown = 1 - known
    screen = 1.0 / decay**2
    b = border_targets(generated, canvas_input, known, wrap).reshape(n * channels, 1, height, width)

    def apply(x):  # x is zero on the input: sum over neighbours of (x - x[n]), + screen, outside only
        return (neighbour_differences(x, wrap) + screen * x) * unknown

    dot = lambda a, c: (a * c).sum(dim=(1, 2, 3), keepdim=True)  # noqa: E731
    x = torch.zeros_like(b) if start is None else start.reshape(b.shape) * unknown
    r = b - apply(x) if start is not None else b.clone()
    p = r.clone()
    rr = dot(r, r)
    limit = (tolerance**2) * rr.clamp_min(1e-30)
    for iteration in range(max_iterations):
        ap = apply(p)
        alpha = rr / dot(p, ap).clamp_min(1e-30)
        x = x + alpha * p
        r = r - alpha * ap
        rr_next = dot(r, r)
        if iteration % 8 == 7 and bool((rr_next <= limit).all()):
            break
        p = r + (rr_next / rr.clamp_min(1e-30)) * p
        rr = rr_next
    return (x * unknown).reshape(n, channels, height, width)


def cascaded_correction(
    generated: torch.Tensor,
    canvas_input: torch.Tensor,
    known_mask: torch.Tensor,
    decay: float,
    wrap: tuple[bool, bool] = (False, False),
    tolerance: float = 1e-3,
    smallest: int = 24,
) -> torch.Tensor:
    """`join_correction`, started from the same problem solved at half the resolution (and so on
    down to `smallest` pixels or a decay of 2 px): conjugate gradients then only have the fine
    part left. (N, C, H, W) as `join_correction`."""
    height, width = generated.shape[-2:]
    start = None
    if decay >= 4 and min(height, width) >= 2 * smallest:
        pad = (0, width % 2, 0, height % 2)  # even sides: one replicated row or column at most
        even = lambda t: F.pad(t, pad, mode="replicate") if any(pad) else t  # noqa: E731
        known = even(known_mask.to(generated.dtype))
        half_known = F.avg_pool2d(known, 2)
        half_input = F.avg_pool2d(even(canvas_input) * known, 2) / half_known.clamp_min(1e-6)
        coarse = cascaded_correction(
            F.avg_pool2d(even(generated), 2), half_input, half_known > 0.5, decay / 2, wrap, tolerance, smallest
        )
        start = F.interpolate(coarse, scale_factor=2, mode="bilinear", align_corners=False)[..., :height, :width]
    return join_correction(generated, canvas_input, known_mask, decay, wrap, tolerance, start=start)


def join_window(canvas: Canvas, reach: int) -> tuple[slice, slice]:
    """(rows, columns) of the work canvas within `reach` pixels of the input's box; a circular
    axis is kept whole (the window could cross its seam)."""
    height, width = canvas.size
    box = canvas.input_box
    rows = slice(0, height) if canvas.wrap[0] else slice(max(0, box.top - reach), min(height, box.bottom + reach))
    columns = slice(0, width) if canvas.wrap[1] else slice(max(0, box.left - reach), min(width, box.right + reach))
    return rows, columns


def seam_join(generated: torch.Tensor, canvas: Canvas, decay: float, tolerance: float = 1e-3) -> torch.Tensor:
    """`generated` (B, 3, H, W) joined to `canvas.input` without a step: the screened-Poisson
    correction (`join_correction`, `decay` pixels) added outside the input, the input's pixels
    put in place. Only a window of 6 * decay pixels around the input is solved."""
    rows, columns = join_window(canvas, int(6 * decay) + 1)
    known = canvas.known[..., rows, columns]
    part = generated[..., rows, columns]
    canvas_input = canvas.input[..., rows, columns].float()
    correction = cascaded_correction(part.float(), canvas_input, known, decay, canvas.wrap, tolerance)
    correction = correction.to(generated.dtype)
    out = generated.clone()
    out[..., rows, columns] = (part + correction).clamp(0, 1)
    return canvas.paste(out)


@dataclass
class SeamJoinConfig:
    enabled: bool = True
    decay_tokens: float = 2.0  # how far a coarse difference at the border reaches into the sky
    tolerance: float = 1e-3  # conjugate gradients stop at this residual, relative to their start's

    def __post_init__(self):
        if not self.decay_tokens > 0:
            raise ValueError(f"finish.seam_join.decay_tokens must be positive, got {self.decay_tokens}")
        if not 0 < self.tolerance < 1:
            raise ValueError(f"finish.seam_join.tolerance must be between 0 and 1, got {self.tolerance}")


class SeamJoin:
    """Stage: `seam_join` with the decay given in tokens."""

    def __init__(self, config: SeamJoinConfig):
        self.config = config

    def __call__(self, image: torch.Tensor, canvas: Canvas, generator: torch.Generator | None) -> torch.Tensor:
        c = self.config
        return seam_join(image, canvas, canvas.pixels(c.decay_tokens), c.tolerance)
