"""Finishing stages: what the pipeline does to the networks' picture so that it joins the photo.

Each stage is one file with its own small config and a pure function underneath; a stage is a
callable `stage(image, canvas, generator) -> image` on (B, 3, H, W) work canvases. The order is
declared here, once, per phase of the pipeline:

- after decoding (at the upscaler's input): colour, trend, border_fade;
- after upscaling (before the input is pasted back): detail_copy, bands, seam_join.

Why each stage is kept: the finishing-stage ablation in benchmarks/RESULTS.md.

A stage whose config says `enabled: false` is left out. The stages that pull the new sky
towards the input's own look (`MATCHES_INPUT`) are what the `raw` preset turns off, and what
growing a named cloud type leaves out: they would undo it (RESULTS.md, cloud-type control).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import torch

from skysynth.outpaint.canvas import Canvas
from skysynth.outpaint.finish.bands import BandsConfig, MatchBands
from skysynth.outpaint.finish.border_fade import BorderFade, BorderFadeConfig
from skysynth.outpaint.finish.colour import ColourConfig, ColourTransfer
from skysynth.outpaint.finish.detail_copy import DetailCopy, DetailCopyConfig
from skysynth.outpaint.finish.seam_join import SeamJoin, SeamJoinConfig
from skysynth.outpaint.finish.trend import ContinueTrend, TrendConfig


class Stage(Protocol):
    config: Any  # the stage's own config; its `enabled` flag decides whether it runs

    def __call__(self, image: torch.Tensor, canvas: Canvas, generator: torch.Generator | None) -> torch.Tensor: ...


@dataclass
class FinishConfig:
    colour: ColourConfig = field(default_factory=ColourConfig)
    trend: TrendConfig = field(default_factory=TrendConfig)
    border_fade: BorderFadeConfig = field(default_factory=BorderFadeConfig)
    detail_copy: DetailCopyConfig = field(default_factory=DetailCopyConfig)
    bands: BandsConfig = field(default_factory=BandsConfig)
    seam_join: SeamJoinConfig = field(default_factory=SeamJoinConfig)


# Colours, trend, pixel detail and band energy matched to the input's.
MATCHES_INPUT = ("colour", "trend", "detail_copy", "bands")


def without_input_matching(config: FinishConfig) -> FinishConfig:
    """`config` with the `MATCHES_INPUT` stages turned off."""
    return replace(config, **{name: replace(getattr(config, name), enabled=False) for name in MATCHES_INPUT})


@dataclass(frozen=True)
class Phases:
    after_decode: tuple[Stage, ...]
    after_upscale: tuple[Stage, ...]


def build_phases(config: FinishConfig) -> Phases:
    """The enabled stages of `config`, in their declared order."""
    c = config

    def enabled(*stages):
        return tuple(stage for stage in stages if stage.config.enabled)

    return Phases(
        after_decode=enabled(ColourTransfer(c.colour), ContinueTrend(c.trend), BorderFade(c.border_fade)),
        after_upscale=enabled(DetailCopy(c.detail_copy), MatchBands(c.bands), SeamJoin(c.seam_join)),
    )


def run_stages(stages: tuple[Stage, ...], image: torch.Tensor, canvas: Canvas, generator) -> torch.Tensor:
    for stage in stages:
        image = stage(image, canvas, generator)
    return image
