"""What the three LightningModules share: optimiser and LR schedule, step seeds, image grids."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch

from skysynth.common.images import save_grid
from skysynth.data.stream import mix_seed


def to_plain(values):
    """DictConfig/ListConfig -> dict/list, so checkpoints hold only plain types (weights_only loads)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(values, (DictConfig, ListConfig)):
        return OmegaConf.to_container(values, resolve=True)
    return values


class SkyLitModule(L.LightningModule):
    """Base class. Subclasses set `self.net` (a pure nn.Module with `save_pretrained`)."""

    model_type = "base"

    def __init__(self, optim: dict, grid_every_n_steps: int = 500, seed: int = 0):
        super().__init__()
        self.optim = dict(optim)
        self.grid_every_n_steps = grid_every_n_steps
        self.seed = seed

    def step_generator(self, tag: str = "") -> torch.Generator:
        """A generator seeded by (seed, step, rank): exact on resume, different on every rank."""
        generator = torch.Generator(device=self.device)
        generator.manual_seed(mix_seed(self.seed, self.global_step, self.global_rank, tag))
        return generator

    def on_train_batch_start(self, batch, batch_idx):
        # Dropout and other global-RNG users: seeded by step so a resumed run repeats them.
        torch.manual_seed(mix_seed(self.seed, self.global_step, self.global_rank, "global"))

    def configure_optimizers(self):
        o = self.optim
        params = [p for p in self.net.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            params, lr=o["lr"], weight_decay=o.get("weight_decay", 0.0), betas=tuple(o.get("betas", (0.9, 0.999)))
        )
        warmup = max(0, int(o.get("warmup_steps", 0)))
        batch = int(o.get("batch_size_for_decay", 32))
        decay_rate, decay_samples = float(o.get("decay_rate", 1.0)), float(o.get("decay_every_samples", 1e6))

        def factor(step: int) -> float:
            # Exponential decay per number of images seen (the thesis: x0.8 every 1e6 images).
            ramp = min(1.0, (step + 1) / warmup) if warmup else 1.0
            return ramp * math.pow(decay_rate, step * batch / decay_samples)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["skysynth_model_type"] = self.model_type

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        found = checkpoint.get("skysynth_model_type")
        if found is not None and found != self.model_type:
            raise ValueError(f"checkpoint holds a {found} model, not a {self.model_type}")

    def maybe_save_grid(self, rows: list[torch.Tensor], name: str) -> None:
        """Write an image grid PNG into the run folder (rank 0) and hand it to the logger."""
        if not self.trainer.is_global_zero:
            return
        folder = Path(self.trainer.default_root_dir) / "samples"
        path = save_grid(rows, folder / f"{name}_step{self.global_step:07d}.png")
        logger = self.logger
        if logger is not None and hasattr(logger, "log_image"):
            logger.log_image(key=name, images=[str(path)], step=self.global_step)
