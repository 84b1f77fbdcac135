"""The work canvas of one job: the input placed on it, the known mask, the boxes, the wrap flags.

Built once per call (`Canvas.place`) and handed to every stage, so no stage rebuilds masks or
boxes from loose arguments. One box convention everywhere: `Box(left, top, right, bottom)`,
pixels of the work canvas, right and bottom exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from skysynth.outpaint.layout import Layout


class Box(NamedTuple):
    left: int
    top: int
    right: int
    bottom: int

    def mask(self, height: int, width: int, device=None) -> torch.Tensor:
        """(1, 1, height, width) bool, True inside the box."""
        return box_mask(height, width, self, device)


def box_mask(height: int, width: int, box: tuple[int, int, int, int], device=None) -> torch.Tensor:
    """(1, 1, height, width) bool, True inside `box` = (left, top, right, bottom)."""
    left, top, right, bottom = box
    mask = torch.zeros(1, 1, height, width, dtype=torch.bool, device=device)
    mask[..., top:bottom, left:right] = True
    return mask


@dataclass(frozen=True)
class Canvas:
    """Everything a stage needs to know about where the input is.

    `input` (1, 3, H, W) holds the input's pixels inside `input_box` and zeros elsewhere;
    `known` (1, 1, H, W) is True there. `output_box` is the part of the work canvas that the
    caller gets back (the rest is margin to whole tokens). `wrap` = (wrap_y, wrap_x) marks
    circular axes (panoramas, tiles). `token_pixels` converts widths given in tokens to pixels."""

    layout: Layout
    input: torch.Tensor
    known: torch.Tensor
    input_box: Box
    output_box: Box
    wrap: tuple[bool, bool]
    token_pixels: int

    @classmethod
    def place(cls, sharp: torch.Tensor, layout: Layout, wrap: tuple[bool, bool] = (False, False)) -> Canvas:
        """The (1, 3, h, w) input `sharp` placed on the work canvas of `layout`."""
        work_w, work_h = layout.work_size
        input_box = Box(*layout.input_box_work)
        width, height = layout.output_size
        output_box = Box(layout.margin_x, layout.margin_y, layout.margin_x + width, layout.margin_y + height)
        canvas_input = torch.zeros(1, sharp.shape[1], work_h, work_w, dtype=sharp.dtype, device=sharp.device)
        canvas_input[..., input_box.top : input_box.bottom, input_box.left : input_box.right] = sharp
        known = input_box.mask(work_h, work_w, sharp.device)
        return cls(layout, canvas_input, known, input_box, output_box, tuple(wrap), layout.token_pixels)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the work canvas."""
        return tuple(self.known.shape[-2:])

    @property
    def generated_area(self) -> torch.Tensor:
        """(1, 1, H, W) bool: the part of the output the networks draw."""
        return self.output_box.mask(*self.size, self.known.device) & ~self.known

    def pixels(self, tokens: float) -> float:
        """A width given in tokens, in pixels of the work canvas."""
        return tokens * self.token_pixels

    def paste(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) `images` with the input's own pixels put back."""
        return torch.where(self.known, self.input, images)

    def crop(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) work canvas -> (B, 3, H', W') output."""
        box = self.output_box
        return images[..., box.top : box.bottom, box.left : box.right]
