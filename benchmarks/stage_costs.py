"""What single pieces of an outpainting cost, each beside its other forms in the same process.

- One MaskGIT pass (bundled weights, a batch of one 16x16-token window): fp32; bf16 autocast
  around the pass (each pass casts every weight again); bf16 autocast inside
  `GuidedNet.kept_casts` (the pipeline's: weights cast once per growth); torch.compile (fp32).
- Gaussian blur of an RGB canvas (224x224 and 1024x512) at 1-32 px: kornia's separable
  convolution against two products with blur matrices (`filters.blur_by_matrix`).
- The finishing stages of one 112 -> 224 job on a validation photo (examples/sky.jpg where
  ../shared is missing), milliseconds per stage.

    .venv/bin/python benchmarks/stage_costs.py [--threads 1] [--repeats 20]
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

from skysynth.models.maskgit import MaskGIT  # noqa: E402
from skysynth.outpaint import pipeline  # noqa: E402
from skysynth.outpaint.finish.filters import blur_by_convolution, blur_by_matrix  # noqa: E402
from skysynth.outpaint.pipeline import Outpainter  # noqa: E402
from skysynth.schedulers.guidance import GuidedNet  # noqa: E402
from skysynth.weights import bundled_path  # noqa: E402

GCD = ROOT.parent / "shared" / "data" / "gcd" / "train"


def seconds_per_call(fn, repeats: int, *args) -> float:
    for _ in range(3):
        fn(*args)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(*args)
    return (time.perf_counter() - start) / repeats


def maskgit_passes(repeats: int) -> None:
    net = MaskGIT.from_pretrained(bundled_path("maskgit")).eval()
    tokens = torch.randint(0, net.config.codebook_size, (1, 16, 16), generator=torch.Generator().manual_seed(0))
    per_pass = GuidedNet(net, None, bf16=True)
    rows = {"fp32": lambda: net(tokens), "bf16 autocast per pass": lambda: per_pass(tokens)}
    with torch.inference_mode():
        times = {label: seconds_per_call(fn, repeats) for label, fn in rows.items()}
        with per_pass.kept_casts():
            times["bf16 autocast, weights cast once (pipeline)"] = seconds_per_call(lambda: per_pass(tokens), repeats)
        try:
            compiled = torch.compile(net)
            times["torch.compile, fp32"] = seconds_per_call(lambda: compiled(tokens), repeats)
        except Exception as error:  # no compiler on this machine: say so, measure the rest
            print(f"torch.compile unavailable: {str(error).splitlines()[0]}")
    print("\nMaskGIT pass (1 window of 16x16 tokens)")
    print(f"{'form':46s} {'ms':>7s} {'vs fp32':>8s}")
    for label, value in times.items():
        print(f"{label:46s} {value * 1e3:7.2f} {times['fp32'] / value:7.2f}x")


def blurs(repeats: int) -> None:
    print("\nGaussian blur of an RGB canvas")
    header = f"{'sigma px':>8s} {'convolution ms':>15s} {'matrices ms':>12s} {'speed-up':>9s} {'max diff':>9s}"
    print(f"{'canvas':10s} {header}")
    wrap, count = (False, False), max(3, repeats // 4)
    for height, width in ((224, 224), (512, 1024)):
        images = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
        for sigma in (1.0, 2.0, 4.0, 8.0, 16.0, 32.0):
            conv = seconds_per_call(blur_by_convolution, count, images, sigma, wrap)
            matrix = seconds_per_call(blur_by_matrix, count, images, sigma, wrap)
            diff = float((blur_by_convolution(images, sigma, wrap) - blur_by_matrix(images, sigma, wrap)).abs().max())
            figures = f"{conv * 1e3:15.2f} {matrix * 1e3:12.2f} {conv / matrix:8.2f}x {diff:9.1e}"
            print(f"{width}x{height:<6d} {sigma:8.0f} {figures}")


def finishing(repeats: int) -> None:
    if GCD.is_dir():
        photo = sorted(GCD.glob("3_cirrus/*.jpg"))[0]
    else:
        photo = ROOT / "examples" / "sky.jpg"
    image = Image.open(photo).convert("RGB").resize((112, 112), Image.Resampling.LANCZOS)
    captured = []
    run_stages = pipeline.run_stages

    def capturing(stages, picture, canvas, generator):
        captured.append((stages, picture.clone(), canvas))
        return run_stages(stages, picture, canvas, generator)

    pipeline.run_stages = capturing
    try:
        Outpainter.from_pretrained()(image, size=(224, 224), generator=torch.Generator().manual_seed(0))
    finally:
        pipeline.run_stages = run_stages
    print(f"\nFinishing stages of one 112 -> 224 job ({photo.parent.name}/{photo.name})")
    for stages, picture, canvas in captured:
        for stage in stages:
            cost = seconds_per_call(stage, repeats, picture, canvas, torch.Generator().manual_seed(0))
            print(f"{type(stage).__name__:20s} {cost * 1e3:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    if args.threads < 1 or args.repeats < 1:
        parser.error("--threads and --repeats must be at least 1")
    torch.set_num_threads(args.threads)
    print(f"torch={torch.__version__} threads={args.threads}")
    maskgit_passes(args.repeats)
    blurs(args.repeats)
    finishing(args.repeats)


if __name__ == "__main__":
    main()
