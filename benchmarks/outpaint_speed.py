"""Outpainting speed with the bundled weights, split per stage.

Jobs: the thesis's default (a 128x128 input grown sideways to 1024 wide x 512 high, one sample)
and 112x112 -> 224x224. Each job runs with skysynth's defaults and, as the in-process baseline,
with the thesis's sampler settings (50 upscaler steps); the ratio is baseline / ours. For context:
the thesis's TensorFlow implementation takes 446 s for the default job on a 2-core CPU.

    .venv/bin/python benchmarks/outpaint_speed.py [--device cpu] [--repeats 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skysynth.outpaint.config import OutpaintConfig, with_overrides  # noqa: E402
from skysynth.outpaint.pipeline import Outpainter  # noqa: E402

JOBS = {"128 -> 1024x512": (128, (1024, 512)), "112 -> 224x224": (112, (224, 224))}


def run_job(op: Outpainter, side: int, size, repeats: int) -> tuple[float, dict]:
    image = Image.open(ROOT / "examples" / "sky.jpg").convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
    best, stages = float("inf"), {}
    for repeat in range(repeats):
        start = time.perf_counter()
        result = op(image, size=size, generator=torch.Generator(device=op.device).manual_seed(repeat))
        elapsed = time.perf_counter() - start
        if elapsed < best:
            best, stages = elapsed, dict(result.timings)
    return best, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ours = OutpaintConfig()
    thesis = with_overrides(ours, {"upscale.steps": 50})
    print(f"device={args.device} threads={torch.get_num_threads()} torch={torch.__version__}")
    print(f"defaults: {ours}")
    print(f"{'job':18s} {'settings':9s} {'total s':>8s}  stages")
    for job, (side, size) in JOBS.items():
        totals = {}
        for name, config in (("skysynth", ours), ("thesis", thesis)):
            op = Outpainter.from_pretrained(config=config, device=args.device)
            total, stages = run_job(op, side, size, args.repeats)
            totals[name] = total
            split = ", ".join(f"{k} {v:.2f}" for k, v in stages.items())
            print(f"{job:18s} {name:9s} {total:8.2f}  {split}")
        print(f"{job:18s} speed-up vs thesis settings: {totals['thesis'] / totals['skysynth']:.2f}x")


if __name__ == "__main__":
    main()
