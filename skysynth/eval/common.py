"""Validation batches and weights loading shared by the evaluation tasks."""

from __future__ import annotations

from pathlib import Path

import torch

from skysynth.common.cloud_types import UNKNOWN
from skysynth.data.datamodule import SkyShardDataModule
from skysynth.weights import bundled_path


def weights_dir(path: str | None, bundled_name: str) -> Path:
    directory = Path(path) if path else bundled_path(bundled_name)
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"no weights in {directory} (need config.json and model.safetensors)")
    return directory


def validation_split(data: str, crop: int, downscale: float, val_fraction: float, seed: int, batch: int = 32):
    """The whole validation split (key hash) of a shard folder as centre crops: (N, 3, crop, crop)
    images and their N cloud-type labels."""
    module = SkyShardDataModule(
        shards=data,
        batch_size=batch,
        crop_size=crop,
        downscale=downscale,
        val_fraction=val_fraction,
        num_workers=0,
        seed=seed,
    )
    module.setup("validate")
    images, labels = [], []
    for part in module.val_dataloader():
        images.append(part["image"])
        labels += list(part.get("label") or [UNKNOWN] * len(part["image"]))
    if not images:
        raise ValueError(f"the validation split of {data} is empty")
    return torch.cat(images), labels


def validation_batches(cfg, downscale: float, crop: int):
    """Centre crops of the validation split (key hash): `cfg.n` photos drawn at random (seeded)
    from the whole split, in batches. Shards keep the source folder's order (grouped by cloud
    class), so the first n photos would not represent the split."""
    everything, _ = validation_split(cfg.data, crop, downscale, cfg.val_fraction, int(cfg.seed), int(cfg.batch))
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
