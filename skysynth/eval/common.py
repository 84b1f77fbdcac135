"""Validation batches and weights loading shared by the evaluation tasks."""

from __future__ import annotations

from pathlib import Path

import torch

from skysynth.data.datamodule import SkyShardDataModule
from skysynth.weights import bundled_path


def weights_dir(path: str | None, bundled_name: str) -> Path:
    directory = Path(path) if path else bundled_path(bundled_name)
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"no weights in {directory} (need config.json and model.safetensors)")
    return directory


def validation_batches(cfg, downscale: float, crop: int):
    """Centre crops of the validation split (key hash), at most `cfg.n` images, in batches."""
    data = SkyShardDataModule(
        shards=cfg.data,
        batch_size=cfg.batch,
        crop_size=crop,
        downscale=downscale,
        val_fraction=cfg.val_fraction,
        num_workers=0,
        seed=cfg.seed,
    )
    data.setup("validate")
    seen = 0
    for batch in data.val_dataloader():
        images = batch["image"][: cfg.n - seen].to(cfg.device)
        seen += images.shape[0]
        yield images
        if seen >= cfg.n:
            return
    if seen == 0:
        raise ValueError(f"the validation split of {cfg.data} is empty")


def markdown_table(header: list[str], rows: list[list]) -> str:
    def cell(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def generator(cfg) -> torch.Generator:
    return torch.Generator(device=cfg.device).manual_seed(int(cfg.seed))
