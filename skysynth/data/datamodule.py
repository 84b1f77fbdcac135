"""The one LightningDataModule: reads the WebDataset shards that `data_prep.shards` writes.

Shards are split by DDP rank and DataLoader worker; training samples shards with replacement
(seeded per rank and worker) so that every rank sees the same number of batches; validation
is a deterministic subset chosen by a hash of each sample's key, identical on every rank.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import kornia
import lightning as L
import numpy as np
import torch
from PIL import Image

from skysynth.common.cloud_types import UNKNOWN, cloud_type_of
from skysynth.common.keys import is_validation
from skysynth.data.stream import ShardStream

GCD_SHARDS = "work_data/gcd_shards"  # what `make prep-gcd` writes; the GCD recipes and the eval read it


def make_hint(path: Path) -> str:
    """The command that makes the shard folder `path`."""
    if path.as_posix().rstrip("/").endswith(GCD_SHARDS):
        return "make prep-gcd (GCD=<folder of the GCD photos>)"
    return f"make prep-data SOURCE=<archive or photo folder> OUT={path}"


def find_shards(path: str | Path) -> list[str]:
    """Shard files of a folder made by data_prep.shards (or a single .tar)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".tar":
        return [str(path)]
    if not path.is_dir():
        raise FileNotFoundError(f"shard folder not found: {path} (make it with `{make_hint(path)}`)")
    shards = sorted(str(p) for p in path.glob("shard-*.tar"))
    if not shards:
        raise FileNotFoundError(f"no shard-*.tar in {path} (make it with `{make_hint(path)}`)")
    return shards


def shard_keys(urls: list[str]) -> list[str]:
    """Sample keys of the shards, read from the tar headers only (no image is decoded)."""
    import tarfile

    keys = set()
    for url in urls:
        try:
            with tarfile.open(url) as tar:
                keys.update(name.split(".", 1)[0] for name in tar.getnames() if not name.startswith("."))
        except (tarfile.TarError, OSError) as error:
            raise ValueError(f"cannot read shard {url}: {error}") from None
    return sorted(keys)


def decode_image(sample: dict) -> dict:
    """Keep the key and an (3, H, W) float tensor in [0, 1]."""
    data = sample.get("jpg") or sample.get("png")
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8)
    tensor = torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 255.0
    meta = json.loads(sample["json"]) if "json" in sample else {}
    # Shards written before labels existed: a photo folder's location is its class folder.
    label = meta.get("label") or cloud_type_of(meta.get("location", ""))
    return {"key": sample["__key__"], "image": tensor, "location": meta.get("location", ""), "label": label}


def collate(items: list[dict]) -> dict:
    return {
        "image": torch.stack([i["image"] for i in items]),
        "key": [i["key"] for i in items],
        "label": [i.get("label", UNKNOWN) for i in items],
    }


class SkipFirst:
    """Iterate a DataLoader, dropping its first `count` batches."""

    def __init__(self, loader, count: int):
        self.loader, self.count = loader, count

    def __iter__(self):
        iterator = iter(self.loader)
        for _ in range(self.count):
            next(iterator, None)
        yield from iterator


class SkyShardDataModule(L.LightningDataModule):
    """Batches of sky crops `{"image": (B, 3, crop, crop)}` for all three models.

    `downscale` shrinks each sample before cropping (antialiased, kornia): the tokenizer and
    MaskGIT work at a reduced scale, the upscaler at full resolution.
    """

    def __init__(
        self,
        shards: str,
        batch_size: int = 32,
        crop_size: int = 128,
        downscale: float = 1.0,
        val_fraction: float = 0.05,
        num_workers: int = 2,
        train_samples_per_epoch: int = 10_000,
        shuffle_buffer: int = 1000,
        hflip: bool = True,
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.shard_urls: list[str] = []

    def setup(self, stage: str | None = None) -> None:
        self.shard_urls = find_shards(self.hparams.shards)
        keys = shard_keys(self.shard_urls)
        fraction = self.hparams.val_fraction
        validation = sum(is_validation(k, fraction) for k in keys)
        where = f"{self.hparams.shards} ({len(keys)} samples)"
        if not keys:
            raise ValueError(f"the shards in {self.hparams.shards} hold no samples: remake them (see manifest.json)")
        if stage in (None, "fit") and validation == len(keys):
            raise ValueError(f"no training samples in {where}: all fall in val_fraction={fraction}")
        if stage in (None, "fit", "validate") and validation == 0:
            raise ValueError(f"no validation samples in {where} at val_fraction={fraction}: use more data")

    def _transform(self, train: bool):
        crop_size, downscale, hflip = self.hparams.crop_size, self.hparams.downscale, self.hparams.hflip

        def apply(sample: dict, generator: torch.Generator | None) -> dict:
            image = sample["image"][None]
            if downscale != 1:
                size = (round(image.shape[-2] / downscale), round(image.shape[-1] / downscale))
                image = kornia.geometry.transform.resize(image, size, interpolation="bilinear", antialias=True)
            height, width = image.shape[-2:]
            if min(height, width) < crop_size:
                raise ValueError(
                    f"sample {sample['key']} is {height}x{width} after downscale, smaller than crop_size={crop_size}"
                )
            if generator is None:  # validation: centre crop, no flip
                top, left = (height - crop_size) // 2, (width - crop_size) // 2
            else:
                top = int(torch.randint(0, height - crop_size + 1, (), generator=generator))
                left = int(torch.randint(0, width - crop_size + 1, (), generator=generator))
                if hflip and bool(torch.rand((), generator=generator) < 0.5):
                    image = kornia.geometry.transform.hflip(image)
            crop = kornia.geometry.transform.crop_by_indices(
                image,
                torch.tensor(
                    [
                        [
                            [left, top],
                            [left + crop_size - 1, top],
                            [left + crop_size - 1, top + crop_size - 1],
                            [left, top + crop_size - 1],
                        ]
                    ],
                    dtype=torch.float32,
                ),
                size=(crop_size, crop_size),
            )
            return {"image": crop[0].clamp(0, 1), "key": sample["key"], "label": sample.get("label", UNKNOWN)}

        return apply

    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _stream(self, train: bool) -> ShardStream:
        fraction = self.hparams.val_fraction
        keep = (lambda key: not is_validation(key, fraction)) if train else (lambda key: is_validation(key, fraction))
        rank, world = self._world()
        workers = max(1, self.hparams.num_workers)
        per_worker = max(1, self.hparams.train_samples_per_epoch // (world * workers))
        return ShardStream(
            self.shard_urls,
            keep,
            decode_image,
            self._transform(train),
            train=train,
            seed=self.hparams.seed,
            rank=rank,
            samples_per_worker=per_worker,
            shuffle_buffer=self.hparams.shuffle_buffer,
        )

    def _loader(self, train: bool) -> torch.utils.data.DataLoader:
        stream = self._stream(train)
        return torch.utils.data.DataLoader(
            stream,
            batch_size=self.hparams.batch_size,
            num_workers=self.hparams.num_workers,
            drop_last=train,
            collate_fn=collate,
        )

    def train_dataloader(self):
        loader = self._loader(train=True)
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return loader
        # The data position follows the optimizer step count, not Lightning's epoch counter
        # (which moves on when a run stops at max_steps): a resumed run replays the same
        # deterministic "data epoch" and drops the batches already used, so it continues exactly.
        batches_done = trainer.global_step * trainer.accumulate_grad_batches
        per_epoch = self.train_batches_per_epoch(trainer.world_size)
        loader.dataset.set_epoch(batches_done // per_epoch)
        skip = batches_done % per_epoch
        return SkipFirst(loader, skip) if skip else loader

    def train_batches_per_epoch(self, world_size: int = 1) -> int:
        """Batches each rank draws per data epoch."""
        # Each DataLoader worker batches its own share and drops its own partial batch.
        workers = max(1, self.hparams.num_workers)
        per_worker = max(1, self.hparams.train_samples_per_epoch // (world_size * workers))
        return max(1, workers * (per_worker // self.hparams.batch_size))

    def val_dataloader(self):
        return self._loader(train=False)
