"""Collapse guards: windows or whole outputs whose generated sky came out flat are drawn again.

A MaskGIT draw sometimes collapses to one flat token field ("monochrome collapse") next to a
textured input. Two guards, one config:

- `window`: each grown window is judged as it is drawn (GuardedSampler: token share and, with
  `pixels`, decoded flatness) and redrawn up to `retries` times;
- `output`: a finished output whose generated area is flatter than `flat_std`, and flatter than
  `input_share` of the input's own detail, is drawn again whole, up to `retries` times; the most
  detailed draw is kept. (A clear sky continued as clear as it is, is not a collapse.)

Whether the input itself is flat (`flat_input_std`) is judged once per call, for both guards: a
flat input may be continued flat, and its windows are not redrawn for being as flat as it is.
The window guard's redraws are bounded per call (`redraw_budget`), so no sky costs more than
about 1 + budget times a draw without redraws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from skysynth.flatness import luminance_std
from skysynth.outpaint.canvas import Canvas
from skysynth.schedulers.masking import GuardedSampler, MaskGITSampler


@dataclass
class WindowGuardConfig:
    enabled: bool = True
    retries: int = 3
    pixels: bool = True  # also judge decoded pixels, not only the token ids
    known_flat_std: float = 0.01  # a known part flatter than this exempts its window (a clear sky may stay clear)
    redraw_budget: float = 0.5  # window redraws per call, as a share of the windows grown
    retry_temperature_step: float = 0.0  # each redraw's softmax temperature rises by this much
    retry_order: str | None = None  # unmasking order of redraws (None = the first draw's)
    retry_order_after: int = 0  # ...from the redraw after this many on

    def __post_init__(self):
        if self.retries < 0:
            raise ValueError(f"guard.window.retries must be at least 0, got {self.retries}")
        if self.redraw_budget < 0:
            raise ValueError(f"guard.window.redraw_budget must be at least 0, got {self.redraw_budget}")
        if self.retry_order not in (None, "confidence", "halton"):
            raise ValueError(f"guard.window.retry_order must be null, confidence or halton, got {self.retry_order!r}")


@dataclass
class OutputGuardConfig:
    retries: int = 2  # 0 = off
    flat_std: float = 0.02  # the evaluation's collapse criterion (luminance std of the generated area)
    input_share: float = 0.5  # ...and less than this share of the input's own luminance std

    def __post_init__(self):
        if self.retries < 0:
            raise ValueError(f"guard.output.retries must be at least 0, got {self.retries}")
        if self.input_share < 0:
            raise ValueError(f"guard.output.input_share must be at least 0, got {self.input_share}")


@dataclass
class GuardConfig:
    window: WindowGuardConfig = field(default_factory=WindowGuardConfig)
    output: OutputGuardConfig = field(default_factory=OutputGuardConfig)
    flat_input_std: float = 0.005  # an input flatter than this may stay flat: neither guard runs


def input_detail(canvas: Canvas) -> float:
    """The luminance std of the input on `canvas` (judged once per call, for both guards)."""
    box = canvas.input_box
    return float(luminance_std(canvas.input[..., box.top : box.bottom, box.left : box.right])[0])


def flat_input(config: GuardConfig, detail: float) -> bool:
    """Is an input of luminance std `detail` (input_detail) flat enough to be continued flat?"""
    return detail < config.flat_input_std


def guarded_sampler(config: GuardConfig, sampler: MaskGITSampler, windows: int, decode=None, flat: bool = False):
    """`sampler` wrapped in the window guard for a call that grows `windows` window rows, or as
    it is when the guard is off or the input is `flat`; `decode` (tokens -> images in [0, 1])
    lets it judge pixels."""
    window = config.window
    if not window.enabled or flat:
        return sampler
    return GuardedSampler(
        sampler,
        retries=window.retries,
        decode=decode if window.pixels else None,
        known_flat_std=window.known_flat_std,
        retry_temperature_step=window.retry_temperature_step,
        retry_order=window.retry_order,
        retry_order_after=window.retry_order_after,
        redraw_budget=math.ceil(window.redraw_budget * windows),
    )


def redraw_flat_outputs(
    config: OutputGuardConfig, result: torch.Tensor, canvas: Canvas, draw, flat: bool = False, detail_in=math.inf
) -> torch.Tensor:
    """(B, 3, H, W) `result` with outputs whose generated area is flat (below `flat_std` and below
    `input_share` x the input's detail `detail_in`) redrawn by `draw(n)` (n new draws,
    (n, 3, H, W)) unless the input is `flat`; each keeps its most detailed draw."""
    if config.retries <= 0 or flat:
        return result
    generated_area = canvas.generated_area
    threshold = min(config.flat_std, config.input_share * detail_in)
    detail = luminance_std(result, generated_area)
    collapsed = detail < threshold
    for _ in range(config.retries):
        if not bool(collapsed.any()):
            break
        redrawn = torch.nonzero(collapsed).flatten()
        again = draw(len(redrawn))
        again_detail = luminance_std(again, generated_area)
        better = again_detail > detail[redrawn]
        result[redrawn[better]] = again[better]
        detail[redrawn[better]] = again_detail[better]
        collapsed[redrawn] = detail[redrawn] < threshold
    return result
