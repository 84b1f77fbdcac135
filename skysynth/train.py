"""Train any of the three models with Lightning, composed by Hydra.

    python -m skysynth.train model=vqvae [data.shards=DIR] [trainer.devices=4] [experiment=...]
    python -m skysynth.train model=vqvae hydra.run.dir=runs/vqvae/<stamp> ckpt_path=last   # resume

Each run writes to its own folder: checkpoints/, samples/, logs, and export/ (fp16 safetensors).
"""

from __future__ import annotations

from skysynth.common.startup import quiet_start, work_starts

with quiet_start(__name__):
    import logging
    import sys
    from pathlib import Path

    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import InstantiationException
    from omegaconf import DictConfig, OmegaConf

    from skysynth.common.hardware import cpu_has_native_bf16
    from skysynth.loggers import build_loggers

log = logging.getLogger(__name__)


def _readable(path: Path) -> bool:
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return True
    except Exception:
        return False


def _checkpoint_path(value, run_dir: Path) -> str | None:
    if value in (None, "", "null"):
        return None
    if value == "last":
        folder = run_dir / "checkpoints"
        last = folder / "last.ckpt"
        if not last.is_file():
            raise FileNotFoundError(
                f"ckpt_path=last but {last} does not exist (resume needs hydra.run.dir=<run folder>)"
            )
        # A run killed while writing last.ckpt resumes from its newest complete step checkpoint.
        for candidate in [last, *sorted(folder.glob("step*.ckpt"), reverse=True)]:
            if _readable(candidate):
                if candidate != last:
                    log.warning("%s is unreadable (interrupted write?): resuming from %s", last, candidate.name)
                return str(candidate)
        raise ValueError(f"no readable checkpoint in {folder}")
    if not Path(value).is_file():
        raise FileNotFoundError(f"checkpoint not found: {value}")
    return str(value)


def trainer_settings(trainer_cfg: DictConfig, native_bf16: bool | None = None) -> dict:
    """The Trainer's arguments; bf16 on a CPU without bf16 hardware becomes fp32 (emulated bf16
    ran ~20x slower than fp32 on an AVX2-only CPU), said in one warning."""
    settings = OmegaConf.to_container(trainer_cfg, resolve=True)
    on_cpu = settings.get("accelerator") == "cpu"
    if on_cpu and "bf16" in str(settings.get("precision", "")):
        if not (cpu_has_native_bf16() if native_bf16 is None else native_bf16):
            log.warning("this CPU has no bf16 hardware (avx512_bf16/amx): training in fp32 instead of bf16")
            settings["precision"] = "32-true"
    return settings


def train(cfg: DictConfig, run_dir: Path) -> Path:
    """Fit the configured model; returns the folder of the exported weights."""
    import lightning as L  # here, not at the top: a bad command line is refused without it
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint

    if "lit" not in (cfg.get("model") or {}):
        raise ValueError("no model chosen: pass model=vqvae|maskgit|upscaler")
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")  # fails early, with one line, on missing shards
    module = hydra.utils.instantiate(cfg.model.lit)
    if cfg.get("init_weights"):
        # Fine-tuning: start the network from exported weights (a resumed checkpoint still wins).
        start = type(module.net).from_pretrained(cfg.init_weights)
        theirs, ours = start.state_dict(), module.net.state_dict()
        deeper = getattr(start.config, "num_layers", 0) < getattr(module.net.config, "num_layers", 0)
        if deeper and hasattr(module.net, "grow_from"):
            module.net.grow_from(start)  # raises with one line when more than the depth differs
            log.info(
                "growing %s from %d to %d blocks: the new blocks start as identities",
                cfg.init_weights,
                start.config.num_layers,
                module.net.config.num_layers,
            )
        elif set(ours) > set(theirs) and hasattr(module.net, "add_conditions_to"):
            added = module.net.add_conditions_to(start)  # raises with one line when more differs
            log.info("adding %s to %s: zero at the start", ", ".join(added), cfg.init_weights)
        else:
            if {k: v.shape for k, v in theirs.items()} != {k: v.shape for k, v in ours.items()}:
                raise ValueError(f"init_weights={cfg.init_weights} has another architecture than model.lit.net")
            module.net.load_state_dict(theirs)
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
        **trainer_settings(cfg.trainer),
        default_root_dir=str(run_dir),
        logger=build_loggers(cfg.logger, run_dir),
        callbacks=[checkpoints, LearningRateMonitor()],
    )
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=_checkpoint_path(cfg.ckpt_path, run_dir))
    except SystemExit:
        # Lightning answers Ctrl+C with a silent exit(1); the command says what there is to resume.
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    # Lightning writes last.ckpt at the end only if no step checkpoint came before, so a run that
    # max_time stops would resume from its last step checkpoint and lose the steps since.
    trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    if cfg.get("save_rank_weights"):
        # Diagnostics for DDP: every rank writes its final weights (tests compare them).
        import torch

        torch.save(module.net.state_dict(), run_dir / f"rank{trainer.global_rank}_weights.pt")
    export_dir = run_dir / "export"
    if trainer.is_global_zero:
        module.net.save_pretrained(export_dir)
    return export_dir


RUN_CONFIG = "run_config.yaml"  # the run's own composed config; Hydra rewrites .hydra/ on every start
CONFIG_GROUPS = ("model", "data", "trainer", "logger", "experiment")


def resume_config(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> DictConfig:
    """A resumed run's config: the one it was started with, plus this command's dotted overrides
    (e.g. a later `trainer.max_steps=`). A resumed run needs only its folder."""
    saved = OmegaConf.load(run_dir / RUN_CONFIG)
    dotted = []
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key in ("ckpt_path",) or key.startswith("hydra."):
            continue
        if key in CONFIG_GROUPS:
            if key == "model" and value != saved.model.get("name"):
                raise ValueError(f"{run_dir} is a {saved.model.get('name')} run; it cannot resume as model={value}")
            continue  # a group chosen again: the saved values already hold it
        dotted.append(f"{key}={value}")
    merged = OmegaConf.merge(saved, OmegaConf.from_dotlist(dotted))
    merged.ckpt_path = cfg.ckpt_path
    return merged


def checkpoint_step(path: str) -> int:
    import torch

    return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("global_step", 0))


def _remove_if_empty(run_dir: Path) -> None:
    """A run that failed before training leaves no folder behind (only what Hydra wrote into it)."""
    import shutil

    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra", "train.log", RUN_CONFIG}:
        shutil.rmtree(run_dir, ignore_errors=True)


def prepare_run(cfg: DictConfig, run_dir: Path) -> DictConfig:
    """The config to train with; saves it in the run folder (a new run) or restores it (a resume)."""
    from skysynth.loggers import keep_metrics_until

    resuming = cfg.get("ckpt_path") == "last"
    if resuming and (run_dir / RUN_CONFIG).is_file():
        cfg = resume_config(cfg, run_dir, list(HydraConfig.get().overrides.task))
    ckpt = _checkpoint_path(cfg.get("ckpt_path"), run_dir)
    if ckpt is not None and resuming:
        # Rows of steps after the checkpoint are logged again by the resumed run.
        keep_metrics_until(run_dir / "csv" / "metrics.csv", checkpoint_step(ckpt))
    if not resuming or not (run_dir / RUN_CONFIG).is_file():
        if "lit" not in (cfg.get("model") or {}):
            raise ValueError("no model chosen: pass model=vqvae|maskgit|upscaler")
        tmp = run_dir / (RUN_CONFIG + ".tmp")
        tmp.write_text(OmegaConf.to_yaml(cfg, resolve=True))
        tmp.replace(run_dir / RUN_CONFIG)
    return cfg


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    work_starts()
    try:
        cfg = prepare_run(cfg, run_dir)
        export_dir = train(cfg, run_dir)
    except InstantiationException as error:
        # A bad model/data setting raised inside a constructor: Hydra wraps it in several lines.
        _remove_if_empty(run_dir)
        print(f"error: {error.__cause__ or error}", file=sys.stderr)
        sys.exit(2)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as error:
        _remove_if_empty(run_dir)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        if any((run_dir / "checkpoints").glob("*.ckpt")):
            print(f"interrupted: resume with hydra.run.dir={run_dir} ckpt_path=last", file=sys.stderr)
        else:
            _remove_if_empty(run_dir)
            print("interrupted before the first checkpoint: there is nothing to resume", file=sys.stderr)
        sys.exit(130)
    print(f"run folder: {run_dir}\nexported weights: {export_dir}")


if __name__ == "__main__":
    main()
