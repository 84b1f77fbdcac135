"""Seconds per 512x512 upscaler tile on this machine, for the pipeline's default sampler and others.

The baseline, run in the same process, is the thesis's sampler: 50 DDIM steps, one draw (the
thesis's 18 M-parameter U-Net took ~140 s per tile at 50 steps on a 2-core machine).

    .venv/bin/python benchmarks/upscaler_speed.py [--tile 512] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skysynth.models.upscaler import UNet  # noqa: E402
from skysynth.outpaint.config import UpscaleConfig  # noqa: E402
from skysynth.schedulers.noise import CosineNoiseSchedule  # noqa: E402
from skysynth.weights import bundled_path  # noqa: E402


def seconds_per_tile(net: UNet, blurry: torch.Tensor, steps: int, draws: int, repeats: int) -> float:
    schedule = CosineNoiseSchedule(net.config.min_signal_rate, net.config.max_signal_rate)
    best = float("inf")
    for seed in range(repeats):
        start = time.perf_counter()
        schedule.sample(
            lambda x, rate: net.predict_noise(x, blurry, rate),
            blurry.shape,
            steps,
            torch.Generator().manual_seed(seed),
            draws=draws,
        )
        best = min(best, time.perf_counter() - start)
    return best


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = UNet.from_pretrained(bundled_path("upscaler")).float().eval()
    blurry = torch.rand(1, 3, args.tile, args.tile, generator=torch.Generator().manual_seed(0))
    default = UpscaleConfig()
    seconds_per_tile(net, blurry, 1, 1, 1)  # warm-up
    baseline = seconds_per_tile(net, blurry, 50, 1, 1)
    runs = [
        ("1 step x 4 draws (restoration)", default.steps, 4),
        (
            f"{default.steps} step x {default.draws} draw (outpainting pipeline)",
            default.steps,
            default.draws,
        ),
        ("8 steps, 1 draw", 8, 1),
    ]
    millions = sum(p.numel() for p in net.parameters()) / 1e6
    print(f"{args.tile}x{args.tile} tile, {args.threads} threads, bundled U-Net ({millions:.2f} M parameters)")
    print("| sampler | s/tile | speed-up vs 50 steps (same process) |")
    print("|---|---|---|")
    print(f"| 50 steps, 1 draw (thesis sampler, baseline) | {baseline:.2f} | 1.0x |")
    for name, steps, draws in runs:
        seconds = seconds_per_tile(net, blurry, steps, draws, 3)
        print(f"| {name} | {seconds:.2f} | {baseline / seconds:.1f}x |")


if __name__ == "__main__":
    main()
