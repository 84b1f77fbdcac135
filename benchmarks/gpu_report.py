"""What `benchmarks/gpu_train.sh` made: samples/s, MFU and validation per model, and the weights.

    python benchmarks/gpu_report.py --runs WORK/runs --out OUT

For each of the run folders tokenizer/, maskgit/, upscaler/ under --runs: steps and batch from the
run's own config and CSV log, wall seconds from the `wall_s` file the script wrote (the whole
command: start-up, validation and export included, so samples/s is a lower bound), FLOPs per
sample counted by torch's FlopCounterMode on the exported network (forward, times 3 for forward
and backward), MFU against the GPU's dense bf16 peak where it is known. Writes OUT/report.md and
copies each export to OUT/<model>/ (model.safetensors, config.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skysynth.models.maskgit import MaskGIT  # noqa: E402
from skysynth.models.upscaler import UNet  # noqa: E402
from skysynth.models.vqvae import VQVAE  # noqa: E402

MODELS = ("tokenizer", "maskgit", "upscaler")
# Dense bf16 tensor-core peaks (FLOP/s) of the lent kinds (NVIDIA's datasheets, SXM).
PEAKS = {"H100": 989.4e12, "H200": 989.4e12}


def peak_flops() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in PEAKS.items() if key in name), None)


def flops_per_sample(export: Path, crop: int) -> float:
    """Training FLOPs per sample: the network's forward on one `crop` x `crop` sample, x 3."""
    kind = json.loads((export / "config.json").read_text())["model_type"]
    batch = 2
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        if kind == "vqvae":
            VQVAE.from_pretrained(export)(torch.rand(batch, 3, crop, crop))
        elif kind == "maskgit":
            net = MaskGIT.from_pretrained(export)
            side = net.config.tokens_per_side
            net(torch.randint(net.config.codebook_size, (batch, side, side)))
        else:
            net = UNet.from_pretrained(export)
            tile = torch.rand(batch, 3, crop, crop)
            net(tile, tile, torch.rand(batch))
    return 3 * counter.get_total_flops() / batch


MASKS = ("top_left", "top_right", "bottom_left", "bottom_right", "right", "left", "top", "bottom")


def last_values(metrics: Path) -> tuple[int, dict[str, float]]:
    """Steps taken (the run logs every step) and the last value of every validation column,
    per-mask columns (val/nll_right, ...) averaged into one (val/nll)."""
    steps, values = 0, {}
    with metrics.open() as f:
        for row in csv.DictReader(f):
            if row.get("step"):
                steps = max(steps, int(float(row["step"])) + 1)
            values.update({k: float(v) for k, v in row.items() if k.startswith("val") and v})
    grouped: dict[str, list[float]] = {}
    for key, value in values.items():
        mask = next((m for m in MASKS if key.endswith("_" + m)), None)
        grouped.setdefault(key[: -len(mask) - 1] if mask else key, []).append(value)
    return steps, {key: sum(v) / len(v) for key, v in grouped.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    runs, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    peak = peak_flops()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    rows = []
    for name in MODELS:
        run = runs / name
        export = run / "export"
        if not (export / "model.safetensors").is_file():
            rows.append(f"| {name} | no export (see train.log) | | | | | | |")
            continue
        config = OmegaConf.load(run / "run_config.yaml")
        batch = int(config.data.batch_size)
        crop = int(config.model.lit.get("train_crop") or config.data.crop_size)
        steps, validation = last_values(next(run.rglob("metrics.csv")))
        wall = float((run / "wall_s").read_text())
        samples_per_s = steps * batch / max(wall, 1e-9)
        flops = flops_per_sample(export, crop)
        mfu = f"{samples_per_s * flops / peak:.2%}" if peak else "-"
        shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(validation.items())) or "-"
        rows.append(
            f"| {name} | {steps} | {batch} | {wall:.0f} | {samples_per_s:.1f} | {flops / 1e9:.4g} | {mfu} | {shown} |"
        )
        (out / name).mkdir(exist_ok=True)
        for file in ("model.safetensors", "config.json"):
            shutil.copyfile(export / file, out / name / file)
    report = "\n".join(
        [
            f"# gpu_train.sh on {device}",
            "",
            "| model | steps | batch | wall s | samples/s (whole run) | GFLOP/sample (train) | MFU | last validation |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    (out / "report.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
