"""Export a Lightning checkpoint as fp16 safetensors + config.json for `from_pretrained`.

    python -m skysynth.export ckpt=runs/vqvae/<stamp>/checkpoints/last.ckpt out=my_weights/tokenizer
    python -m skysynth.export 'ckpt=[a.ckpt,b.ckpt,c.ckpt]' out=DIR     # average their weights

Averaging the last few step checkpoints of a run (as stochastic weight averaging does) smooths
the step-to-step wobble of a run that has not converged (RESULTS.md, upscaler, session 5).

The written folder loads without Lightning or Hydra: `VQVAE.from_pretrained(out)` (or MaskGIT, UNet).
"""

from __future__ import annotations

from skysynth.common.startup import quiet_start, work_starts

with quiet_start(__name__):
    import sys
    from pathlib import Path

    import hydra
    import torch
    from omegaconf import DictConfig

    from skysynth.models.maskgit import MaskGIT, MaskGITConfig
    from skysynth.models.pretrained import build_config
    from skysynth.models.upscaler import UNet, UpscalerConfig
    from skysynth.models.vqvae import VQVAE, VQVAEConfig

NETWORKS = {
    "vqvae": (VQVAE, VQVAEConfig),
    "maskgit": (MaskGIT, MaskGITConfig),
    "upscaler": (UNet, UpscalerConfig),
}


def _load_network(ckpt: str | Path):
    ckpt = Path(ckpt)
    if not ckpt.is_file():
        raise FileNotFoundError(f"checkpoint not found: {ckpt}")
    try:
        checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: say so in one line
        raise ValueError(f"{ckpt} is not a readable checkpoint ({type(error).__name__})") from None
    model_type = checkpoint.get("skysynth_model_type") if isinstance(checkpoint, dict) else None
    if model_type not in NETWORKS:
        raise ValueError(f"{ckpt} is not a skysynth checkpoint (model type {model_type!r})")
    network_class, config_class = NETWORKS[model_type]
    network = network_class(build_config(config_class, checkpoint["hyper_parameters"]["net"]))
    prefix = "net."
    state = {k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
    network.load_state_dict(state)
    return network


def export_checkpoint(ckpt, out: str | Path, dtype: torch.dtype = torch.float16) -> Path:
    """Rebuild the network stored in a skysynth Lightning checkpoint and save it with
    `save_pretrained`. `ckpt` may be a list of checkpoints of one architecture: their floating
    point weights are averaged (integer buffers, e.g. counters, come from the last one)."""
    paths = [ckpt] if isinstance(ckpt, (str, Path)) else list(ckpt)
    if not paths:
        raise ValueError("ckpt is an empty list")
    networks = [_load_network(path) for path in paths]
    network = networks[-1]
    if len(networks) > 1:
        # One config, one set of weight shapes: the config alone decides the architecture.
        if any(n.config != network.config for n in networks):
            raise ValueError("the checkpoints to average hold different architectures")
        states = [n.state_dict() for n in networks]
        averaged = {
            k: torch.stack([state[k].float() for state in states]).mean(0).to(v.dtype) if v.is_floating_point() else v
            for k, v in states[-1].items()
        }
        network.load_state_dict(averaged)
    return network.save_pretrained(out, dtype=dtype)


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    work_starts()
    try:
        ckpt = cfg.ckpt if isinstance(cfg.ckpt, str) else [str(path) for path in cfg.ckpt]
        out = export_checkpoint(ckpt, cfg.out, torch.float16 if cfg.fp16 else torch.float32)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: the weights are written whole or not at all", file=sys.stderr)
        sys.exit(130)
    print(f"exported: {out}")


if __name__ == "__main__":
    main()
