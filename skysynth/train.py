"""Train any of the three models with Lightning, composed by Hydra.

    python -m skysynth.train model=vqvae [data.shards=DIR] [trainer.devices=4] [experiment=...]
    python -m skysynth.train model=vqvae hydra.run.dir=runs/vqvae/<stamp> ckpt_path=last   # resume

Each run writes to its own folder: checkpoints/, samples/, logs, and export/ (fp16 safetensors).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from skysynth.loggers import build_loggers

log = logging.getLogger(__name__)


def _checkpoint_path(value, run_dir: Path) -> str | None:
    if value in (None, "", "null"):
        return None
    if value == "last":
        last = run_dir / "checkpoints" / "last.ckpt"
        if not last.is_file():
            raise FileNotFoundError(
                f"ckpt_path=last but {last} does not exist (resume needs hydra.run.dir=<run folder>)"
            )
        return str(last)
    if not Path(value).is_file():
        raise FileNotFoundError(f"checkpoint not found: {value}")
    return str(value)


def train(cfg: DictConfig, run_dir: Path) -> Path:
    """Fit the configured model; returns the folder of the exported weights."""
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint

    if "lit" not in cfg.model:
        raise ValueError("no model chosen: pass model=vqvae|maskgit|upscaler")
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")  # fails early, with one line, on missing shards
    module = hydra.utils.instantiate(cfg.model.lit)
    if cfg.get("init_weights"):
        # Fine-tuning: start the network from exported weights (a resumed checkpoint still wins).
        start = type(module.net).from_pretrained(cfg.init_weights)
        theirs, ours = start.state_dict(), module.net.state_dict()
        if {k: v.shape for k, v in theirs.items()} != {k: v.shape for k, v in ours.items()}:
            raise ValueError(f"init_weights={cfg.init_weights} has another architecture than model.lit.net")
        # Settings that leave the weights' shapes alone (e.g. the codebook update rule) may change
        # on purpose when fine-tuning; the run's own settings win, and the change is said.
        changed = {
            field: (value, getattr(module.net.config, field))
            for field, value in vars(start.config).items()
            if getattr(module.net.config, field, value) != value
        }
        if changed:
            said = ", ".join(f"{field} {old} -> {new}" for field, (old, new) in changed.items())
            log.info("fine-tuning %s with changed settings: %s", cfg.init_weights, said)
        module.net.load_state_dict(theirs)
    if cfg.get("compile"):
        # In place (nn.Module.compile): parameter names, checkpoints and exports stay unchanged.
        module.net.compile()
    checkpoints = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        # No "=" in file names: Hydra reads ckpt=.../epoch=0-step=500.ckpt as a broken override.
        filename="step{step:07d}",
        auto_insert_metric_name=False,
        save_last=True,
        save_top_k=-1,
        every_n_train_steps=cfg.checkpoint_every_n_steps,
    )
    trainer = L.Trainer(
        **OmegaConf.to_container(cfg.trainer, resolve=True),
        default_root_dir=str(run_dir),
        logger=build_loggers(cfg.logger, run_dir),
        callbacks=[checkpoints, LearningRateMonitor()],
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=_checkpoint_path(cfg.ckpt_path, run_dir))
    if cfg.get("save_rank_weights"):
        # Diagnostics for DDP: every rank writes its final weights (tests compare them).
        import torch

        torch.save(module.net.state_dict(), run_dir / f"rank{trainer.global_rank}_weights.pt")
    export_dir = run_dir / "export"
    if trainer.is_global_zero:
        module.net.save_pretrained(export_dir)
    return export_dir


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        export_dir = train(cfg, run_dir)
    except InstantiationException as error:
        # A bad model/data setting raised inside a constructor: Hydra wraps it in several lines.
        print(f"error: {error.__cause__ or error}", file=sys.stderr)
        sys.exit(2)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"run folder: {run_dir}\nexported weights: {export_dir}")


if __name__ == "__main__":
    main()
