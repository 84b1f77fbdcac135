"""Grow a token canvas window by window, always next to known tokens."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from skysynth.common.images import to_image


def window_starts(length: int, window: int, anchor: int) -> list[int]:
    """Window start positions along one axis: a half-window grid through `anchor`, clamped."""
    if length <= window:
        return [0]
    stride = max(1, window // 2)
    first = anchor % stride
    starts = set(range(first - stride, length, stride))
    return sorted({min(max(s, 0), length - window) for s in starts})


def grid_margin(length: int, window: int, anchor: int, minimum: int) -> int:
    """Lines to add past the end of an axis of `length`, at least `minimum` (0 = none), so that the
    widened axis ends where a window of the half-window grid through `anchor` ends: its last
    window is a whole grid step, not a thin one."""
    if minimum <= 0:
        return 0
    stride = max(1, window // 2)
    return minimum + (anchor % stride + window - length - minimum) % stride


def wrapped_starts(length: int, window: int, anchor: int) -> list[int]:
    """Window starts on a circular axis: the half-window grid through `anchor`, all the way round."""
    if length <= window:
        return [0]
    stride = max(1, window // 2)
    return sorted({(anchor + k * stride) % length for k in range(-(-length // stride))})


def window_index(start: int, size: int, length: int, wrap: bool) -> torch.Tensor:
    """Indices of a window along one axis; on a circular axis they continue past the end at 0."""
    index = torch.arange(start, start + size)
    return index % length if wrap else index


def _closing_starts(known: torch.Tensor, axis: int, window: int) -> list[int]:
    """Starts of windows centred on each circular run of unknown lines that fits inside a window
    with at least one known line on each side."""
    unknown = ~known.all(dim=1 - axis)  # per line along `axis`: does it still hold unknown tokens?
    length = unknown.numel()
    if bool(unknown.all()) or not bool(unknown.any()):
        return []
    first_known = int(torch.nonzero(~unknown)[0])
    starts, run_start, run = [], None, 0
    for step in range(1, length + 1):  # walk the circle from a known line back to it
        i = (first_known + step) % length
        if bool(unknown[i]):
            run_start = i if run == 0 else run_start
            run += 1
        elif run:
            if run <= window - 2:
                starts.append((run_start - (window - run) // 2) % length)
            run = 0
    return starts


def _cover(starts: list[int], size: int, length: int, wrap: bool) -> torch.Tensor:
    """(len(starts), length) float matrix: 1 where the window starting at each start covers a line."""
    cover = torch.zeros(len(starts), length)
    for i, start in enumerate(starts):
        cover[i, window_index(start, size, length, wrap)] = 1.0
    return cover


def growth_plan(
    known: torch.Tensor, window: int, anchor: tuple[int, int], wrap: tuple[bool, bool] = (False, False)
) -> list[tuple[int, int, int, int]]:
    """Order of windows (top, left, height, width) that fills every unknown token of the (H, W)
    `known` mask. Each next window is the one with the largest share of known tokens (the first
    in row-major grid order among equals), so sides come before corners and nothing is generated
    far from known tokens.

    `wrap = (wrap_y, wrap_x)` makes an axis circular (panoramas, tileable textures): windows may
    straddle the end and continue at the start, so the last windows see both ends."""
    known = known.clone().cpu()
    height, width = known.shape
    win_h, win_w = min(window, height), min(window, width)
    wrap_y, wrap_x = wrap[0] and height > win_h, wrap[1] and width > win_w
    tops = wrapped_starts(height, win_h, anchor[0]) if wrap_y else window_starts(height, win_h, anchor[0])
    lefts = wrapped_starts(width, win_w, anchor[1]) if wrap_x else window_starts(width, win_w, anchor[1])
    # Known tokens under every grid window, kept up to date as windows fill: counts = R K C^T with
    # R, C the windows' line covers; exact in float64. A window's count changes only by the tokens it
    # newly gets, so each step costs a small product, not a pass over every window (a 2400-px
    # canvas has thousands of windows).
    cover_rows, cover_cols = _cover(tops, win_h, height, wrap_y).double(), _cover(lefts, win_w, width, wrap_x).double()
    counts = cover_rows @ known.double() @ cover_cols.T
    full = float(win_h * win_w)
    order = []
    while not bool(known.all()):
        best = None
        # Closing a circle: a window centred on a narrow gap sees both of its sides, so it comes
        # first (a grid window would fill the gap from one side and leave a seam on the other).
        closing = [(t, l) for t in tops for l in _closing_starts(known, 1, win_w)] if wrap_x else []
        closing += [(t, l) for t in _closing_starts(known, 0, win_h) for l in lefts] if wrap_y else []
        best_count = -1
        for top, left in closing:
            rows, cols = window_index(top, win_h, height, wrap_y), window_index(left, win_w, width, wrap_x)
            count = int(known[rows[:, None], cols[None, :]].sum())
            if count < full and count > best_count:
                best, best_count = (top, left), count
        if best is None:
            open_counts = torch.where(counts < full, counts, -1.0)
            index = int(torch.argmax(open_counts))  # the first of the largest, row-major
            if open_counts.view(-1)[index] < 0:
                raise RuntimeError("growth plan left unknown tokens uncovered")
            best = (tops[index // len(lefts)], lefts[index % len(lefts)])
        top, left = best
        order.append((top, left, win_h, win_w))
        rows, cols = window_index(top, win_h, height, wrap_y), window_index(left, win_w, width, wrap_x)
        newly = (~known[rows[:, None], cols[None, :]]).double()
        counts += cover_rows[:, rows] @ newly @ cover_cols[:, cols].T
        known[rows[:, None], cols[None, :]] = True
    return order


def growth_waves(plan: list[tuple[int, int, int, int]], shape: tuple[int, int], wrap=(False, False)) -> list[list[int]]:
    """The windows of `plan` (indices) in waves: a window joins the wave after the last earlier
    window it overlaps, so the windows of one wave touch none of each other's tokens and can be
    drawn in one batch with exactly the result of drawing them in plan order."""
    height, width = shape
    owner = torch.full(shape, -1, dtype=torch.long)  # wave of the last window that covered each token
    waves: list[list[int]] = []
    for index, (top, left, win_h, win_w) in enumerate(plan):
        rows = window_index(top, win_h, height, wrap[0] and height > win_h)
        cols = window_index(left, win_w, width, wrap[1] and width > win_w)
        area = (rows[:, None], cols[None, :])
        wave = int(owner[area].max()) + 1
        if wave == len(waves):
            waves.append([])
        waves[wave].append(index)
        owner[area] = wave
    return waves


def grow_tokens(
    tokens: torch.Tensor,
    known: torch.Tensor,
    window: int,
    anchor: tuple[int, int],
    fill: Callable[[torch.Tensor, torch.Tensor, list[torch.Generator]], torch.Tensor],
    generator: torch.Generator | None = None,
    wrap: tuple[bool, bool] = (False, False),
    batch_windows: int = 16,
    on_batch: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
    plan: list[tuple[int, int, int, int]] | None = None,
) -> torch.Tensor:
    """Fill the unknown tokens of `tokens` (B, H, W) by calling `fill(window_tokens, unknown,
    generators)` on the windows of the growth plan, up to `batch_windows` windows of one wave
    per call (growth_waves); known tokens are never changed. Every (window, sample) row draws
    from its own generator, seeded from `generator`, so the tokens do not depend on
    `batch_windows`. `wrap`: see growth_plan. `on_batch(windows, tokens, known)` is called after
    each batch (e.g. a progress bar and a live preview: the tokens so far and what is known).
    `plan`: this call's growth_plan when the caller has already made it."""
    if batch_windows < 1:
        raise ValueError(f"batch_windows must be at least 1, got {batch_windows}")
    tokens = tokens.clone()
    known_now = known.clone()
    samples, (height, width) = tokens.shape[0], known.shape
    order = plan if plan is not None else growth_plan(known, window, anchor, wrap)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    seeds = torch.randint(0, 2**62, (len(order), samples), generator=generator, device=generator.device).tolist()
    device = tokens.device
    areas = []
    for top, left, win_h, win_w in order:
        rows = window_index(top, win_h, height, wrap[0] and height > win_h).to(device)
        cols = window_index(left, win_w, width, wrap[1] and width > win_w).to(device)
        areas.append((rows[:, None], cols[None, :]))
    for wave in growth_waves(order, (height, width), wrap):
        for chunk in (wave[i : i + batch_windows] for i in range(0, len(wave), batch_windows)):
            current = torch.cat([tokens[:, areas[w][0], areas[w][1]] for w in chunk])
            unknown = torch.cat([(~known_now[areas[w]]).expand(samples, -1, -1) for w in chunk])
            generators = [torch.Generator(device).manual_seed(seeds[w][s]) for w in chunk for s in range(samples)]
            filled = torch.where(unknown, fill(current, unknown, generators), current)
            for i, w in enumerate(chunk):
                tokens[:, areas[w][0], areas[w][1]] = filled[i * samples : (i + 1) * samples]
                known_now[areas[w]] = True
            if on_batch is not None:
                on_batch(len(chunk), tokens, known_now)
    return tokens


def initial_tokens(encode: Callable, canvas, scale_factor: int, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The input's whole tokens, encoded at the model's scale (`encode`: (1, 3, h, w) images ->
    (1, h/p, w/p) ids) and placed on the token canvas: (samples, H_t, W_t) ids (0 where unknown)
    and the (H_t, W_t) known mask. Partial border tokens count as unknown: they are generated,
    then covered by the input's pixels."""
    f, p = scale_factor, canvas.token_pixels
    kl, kt, kr, kb = canvas.layout.known_tokens_box
    crop = canvas.input[..., kt * p : kb * p, kl * p : kr * p]
    small = F.interpolate(crop, scale_factor=1 / f, mode="bilinear", antialias=True) if f > 1 else crop
    width_t, height_t = canvas.layout.canvas_tokens
    tokens = torch.zeros(samples, height_t, width_t, dtype=torch.long, device=crop.device)
    tokens[:, kt:kb, kl:kr] = encode(small.clamp(0, 1))
    known = torch.zeros(height_t, width_t, dtype=torch.bool, device=crop.device)
    known[kt:kb, kl:kr] = True
    return tokens, known


@torch.no_grad()
def token_preview(tokenizer, tokens: torch.Tensor, known: torch.Tensor):
    """The (H, W) token canvas decoded at the model's scale, not-yet-generated tokens in grey (a PIL image)."""
    image = tokenizer.decode(tokens[None]).clamp(0, 1)[0]
    p = tokenizer.config.downsample_factor
    shown = known.repeat_interleave(p, 0).repeat_interleave(p, 1)
    return to_image(torch.where(shown, image, torch.full_like(image, 0.5)))
