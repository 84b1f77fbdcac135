"""The evaluation's structured config: its own options and, for task=outpaint, the whole
pipeline config by dotted name (`finish.bands.enabled=false`, `preset=raw`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from skysynth.common.threads import parse_threads
from skysynth.eval.c2st import MIN_STEPS as C2ST_MIN_STEPS
from skysynth.outpaint.config import OutpaintConfig

TASKS = ("vqvae", "maskgit", "upscaler", "outpaint", "cloud_type")


@dataclass
class EvalApp(OutpaintConfig):
    task: str = MISSING  # vqvae | maskgit | upscaler | outpaint | cloud_type
    weights: str | None = None  # the model's folder (config.json + model.safetensors); null = bundled
    tokenizer: str | None = None  # maskgit/upscaler: tokenizer folder; null = bundled
    data: str = "work_data/gcd_shards"  # shard folder (its validation split by key hash) or photo folder
    val_fraction: float = 0.05  # must match the training run's data.val_fraction
    downscale: int | None = None  # null = the model's working scale (2 tokenizer/MaskGIT, 1 upscaler)
    crop: int | None = None  # null = the task's default (vqvae 112, maskgit 64, upscaler 224)
    n: int = 256  # validation images at most
    batch: int = 16
    seed: int = 0
    device: str = "cpu"
    threads: str = "auto"  # CPU threads: auto = one per core that is free (judged per image), or a number
    out: str = "runs/eval/${task}"
    # maskgit: decode with every sampler (collapse rates); false = accuracy and NLL only; or a list of names
    samplers: Any = True
    sampling_temperatures: list[float] = field(default_factory=lambda: [0.7, 0.5])  # maskgit: extra ones to compare
    # upscaler: DDIM step counts, one draw each; and the pipeline's step count averaged over `draws` draws
    steps: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 50])
    draws: list[int] = field(default_factory=lambda: [4])
    seam_tile: int = 96  # upscaler: tile and overlap of the tiled run whose seams are scored
    seam_overlap: int = 16
    # outpaint
    protocol: str = "center"  # center | left | right | top | bottom (the side that grows) | wide | small
    split: str = "validation"  # photo folders: the shards' validation photos by key hash | all
    c2st: bool = True  # two-sample classifier tests (whole images and border crops)
    c2st_steps: int = 300  # its training budget per fold, the same for every method
    c2st_folds: int = 5
    c2st_seam_crop: int = 96  # side of the crops centred on the input's border
    c2st_size: int | None = None  # whole images resized to this side for the test; null = as made
    size: int = 224  # truths are square crops of this size
    baselines: list[str] = field(
        default_factory=lambda: ["reflect", "telea", "ns", "mean", "resynthesizer", "patchmatch"]
    )
    classifier: str | None = None  # cloud-type classifier for KID/FID features; null = bundled
    per_type: int = 8  # cloud_type: validation inputs of each cloud type
    progress: bool = True

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}: choose one of {', '.join(TASKS)}")
        for name, low in (
            ("n", 1),
            ("per_type", 1),
            ("batch", 1),
            ("size", 8),
            ("c2st_steps", C2ST_MIN_STEPS),
            ("c2st_folds", 2),
        ):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be at least {low}, got {getattr(self, name)}")
        if self.c2st_size is not None and self.c2st_size < 16:
            raise ValueError(f"c2st_size must be at least 16 (or null), got {self.c2st_size}")
        parse_threads(self.threads)
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be cpu or cuda (cuda:N), got {self.device!r}")
