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
    """Centre crops of the validation split (key hash): `cfg.n` photos drawn at random (seeded)
    from the whole split, in batches. Shards keep the source folder's order (grouped by cloud
    class), so the first n photos would not represent the split."""
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
    images = [batch["image"] for batch in data.val_dataloader()]
    if not images:
        raise ValueError(f"the validation split of {cfg.data} is empty")
    everything = torch.cat(images)
    pick = torch.randperm(len(everything), generator=torch.Generator().manual_seed(int(cfg.seed)))[: int(cfg.n)]
    chosen = everything[pick.sort().values]
    for start in range(0, len(chosen), int(cfg.batch)):
        yield chosen[start : start + int(cfg.batch)].to(cfg.device)


def markdown_table(header: list[str], rows: list[list]) -> str:
    def cell(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def generator(cfg) -> torch.Generator:
    return torch.Generator(device=cfg.device).manual_seed(int(cfg.seed))
