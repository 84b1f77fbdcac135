"""Training throughput of the three LightningModules (samples/s), CPU or GPU.

For each model, the full training step (tokenizer encoding, masks/noise, loss, backward, AdamW)
is timed on random batches of the configured crop size, next to a baseline measured in the same
process: the bare network's forward + backward on the same batch. The ratio shows what the
training step adds on top of the network itself.

`--variants` times the step in each way of running it that the framework offers, as ratios
against the fp32 eager step in the same process: bf16 autocast (`trainer.precision=bf16-mixed`),
channels_last memory format (convolutional models) and `torch.compile` (`compile=true`).

    .venv/bin/python benchmarks/train_throughput.py [--device cuda] [--steps 10] [--variants]

Model sizes come from conf/model/*.yaml with the CPU experiments (conf/experiment/gcd_*.yaml)
applied, i.e. the sizes of the bundled weights.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skysynth.lit.base import build_config  # noqa: E402
from skysynth.models.vqvae import VQVAE, VQVAEConfig  # noqa: E402

EXPERIMENTS = {"vqvae": "gcd_vqvae", "maskgit": "gcd_maskgit", "upscaler": "gcd_upscaler"}


def model_config(name: str):
    cfg = OmegaConf.load(ROOT / f"conf/model/{name}.yaml")
    experiment = ROOT / f"conf/experiment/{EXPERIMENTS[name]}.yaml"
    if experiment.exists():
        cfg = OmegaConf.merge(cfg, OmegaConf.load(experiment))
    return cfg


def build(name: str, tokenizer_dir: str, device: str):
    cfg = model_config(name)
    lit_cfg = OmegaConf.to_container(cfg.model.lit, resolve=False)
    lit_cfg.pop("_target_")
    lit_cfg["seed"] = 0
    lit_cfg["grid_every_n_steps"] = 0
    lit_cfg["optim"]["batch_size_for_decay"] = int(cfg.data.batch_size)
    if name != "vqvae":
        lit_cfg["tokenizer"] = tokenizer_dir
    if name == "maskgit":  # the random tokenizer's codebook (e.g. 512 codes with --vqvae-experiment)
        lit_cfg["net"]["codebook_size"] = int(model_config("vqvae").model.lit.net.codebook_size)
    module_name, class_name = cfg.model.lit._target_.rsplit(".", 1)
    cls = getattr(__import__(module_name, fromlist=[class_name]), class_name)
    return cls(**lit_cfg).to(device), int(cfg.data.batch_size), int(cfg.data.crop_size)


def timed(fn, steps: int, device: str) -> float:
    fn()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


class StepTimer(L.Callback):
    """Wall time of each training batch (forward, backward, optimizer) inside Lightning's loop."""

    def __init__(self, device: str):
        self.device, self.times, self._start = device, [], 0.0

    def on_train_batch_start(self, *args):
        if self.device == "cuda":
            torch.cuda.synchronize()
        self._start = time.perf_counter()

    def on_train_batch_end(self, *args):
        if self.device == "cuda":
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self._start)


def fit_seconds_per_step(
    lit, images: torch.Tensor, steps: int, device: str, precision: str | None = None
) -> float:
    """Median seconds per optimizer step of `Trainer.fit` on one repeated batch (first 2 dropped)."""
    batches = [{"image": images, "key": ["k"] * len(images)}] * (steps + 2)
    timer = StepTimer(device)
    trainer = L.Trainer(
        max_steps=steps + 2,
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
        precision=precision or ("bf16-mixed" if device == "cuda" else "32-true"),
    )
    trainer.fit(lit, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    return float(torch.tensor(timer.times[2:]).median())


def network_only(name: str, lit, images: torch.Tensor):
    """Forward + backward of the bare network on inputs of the training shape."""
    net = lit.net
    if name == "vqvae":
        return lambda: net(images)["reconstruction"].mean().backward()
    if name == "maskgit":
        tokens = torch.randint(0, net.config.codebook_size, images.shape[:1] + (images.shape[-1] // 4,) * 2)
        tokens = tokens.to(images.device)
        return lambda: net(tokens).float().mean().backward()
    rate = torch.full((images.shape[0],), 0.5, device=images.device)
    return lambda: net(images, images, rate).mean().backward()


VARIANTS = {
    "fp32 eager (baseline)": {},
    "bf16 autocast": {"precision": "bf16-mixed"},
    "bf16 + channels_last": {"precision": "bf16-mixed", "channels_last": True},
    "bf16 + torch.compile": {"precision": "bf16-mixed", "compile": True},
}


def variant_rows(name: str, tokenizer_dir: str, device: str, steps: int) -> list[str]:
    """One line per variant: seconds per step and the ratio against fp32 eager."""
    rows, baseline = [], None
    for label, options in VARIANTS.items():
        if options.get("channels_last") and name == "maskgit":
            continue  # a transformer has no image layout to change
        lit, batch, crop = build(name, tokenizer_dir, device)
        images = torch.rand(batch, 3, crop, crop, device=device)
        if options.get("channels_last"):
            lit.net.to(memory_format=torch.channels_last)
            images = images.contiguous(memory_format=torch.channels_last)
        if options.get("compile"):
            try:
                lit.net.compile()
            except Exception as error:  # no compiler toolchain: say so and go on
                rows.append(f"{name:10s} {label:24s} unavailable: {str(error).splitlines()[0][:60]}")
                continue
        try:
            step_s = fit_seconds_per_step(lit, images, steps, device, options.get("precision", "32-true"))
        except Exception as error:
            rows.append(f"{name:10s} {label:24s} failed: {str(error).splitlines()[0][:60]}")
            continue
        baseline = baseline or step_s
        rows.append(f"{name:10s} {label:24s} {step_s:8.3f} {batch / step_s:10.1f} {baseline / step_s:6.2f}x")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--models", nargs="+", default=["vqvae", "maskgit", "upscaler"])
    parser.add_argument("--variants", action="store_true", help="bf16 / channels_last / compile against fp32")
    parser.add_argument("--vqvae-experiment", default=EXPERIMENTS["vqvae"], help="e.g. gcd_vqvae_v2")
    args = parser.parse_args()
    EXPERIMENTS["vqvae"] = args.vqvae_experiment
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    print(f"device={args.device} threads={torch.get_num_threads()} torch={torch.__version__}")
    with tempfile.TemporaryDirectory() as tokenizer_dir:
        # A tokenizer of the bundled size with random weights: speed does not depend on training.
        vq_cfg = model_config("vqvae").model.lit.net
        VQVAE(build_config(VQVAEConfig, vq_cfg)).save_pretrained(tokenizer_dir)
        if args.variants:
            print(f"{'model':10s} {'variant':24s} {'step s':>8s} {'samples/s':>10s} {'vs fp32':>7s}")
            for name in args.models:
                for row in variant_rows(name, tokenizer_dir, args.device, args.steps):
                    print(row, flush=True)
            return
        print(
            f"{'model':10s} {'batch':>5s} {'crop':>5s} {'params':>8s} {'step s':>8s} {'samples/s':>10s} "
            f"{'net-only samples/s':>19s} {'ratio':>6s}"
        )
        for name in args.models:
            lit, batch, crop = build(name, tokenizer_dir, args.device)
            images = torch.rand(batch, 3, crop, crop, device=args.device)
            step_s = fit_seconds_per_step(lit, images, args.steps, args.device)
            net_s = timed(network_only(name, lit, images), args.steps, args.device)
            params = sum(p.numel() for p in lit.net.parameters()) / 1e6
            print(
                f"{name:10s} {batch:5d} {crop:5d} {params:7.2f}M {step_s:8.3f} {batch / step_s:10.1f} "
                f"{batch / net_s:19.1f} {net_s / step_s:6.2f}"
            )


if __name__ == "__main__":
    main()
