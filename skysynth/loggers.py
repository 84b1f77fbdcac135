"""Loggers from the `logger` config group: wandb (offline unless told otherwise), CSV, TensorBoard."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig


def build_loggers(cfg: DictConfig, run_dir: Path) -> list:
    from lightning.pytorch.loggers import CSVLogger

    loggers = [CSVLogger(save_dir=str(run_dir), name="csv", version="")]
    kind = cfg.get("kind", "csv")
    if kind == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        mode = cfg.get("mode", "offline")
        # No network is assumed: offline runs can be uploaded later with `wandb sync`.
        os.environ.setdefault("WANDB_MODE", mode)
        loggers.append(
            WandbLogger(
                project=cfg.get("project", "skysynth"),
                save_dir=str(run_dir),
                offline=mode != "online",
                name=cfg.get("name"),
            )
        )
    elif kind == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=str(run_dir), name="tb", version=""))
    elif kind != "csv":
        raise ValueError(f"unknown logger kind {kind!r} (wandb, tensorboard or csv)")
    return loggers
