"""Outpainting speed with the bundled weights on real validation photos, quiet and loaded.

Jobs: the thesis's default (a 128x128 input grown sideways to 1024 wide x 512 high, one sample)
and 112x112 -> 224x224, on validation photos of the GCD folder chosen from flat (clear sky) to
textured by luminance std (examples/sky.jpg where ../shared is missing). Each row runs:

- `baseline`: the path before batched growth, in this process: windows one by one, window
  redraws unbounded, fp32, 12 decoding steps, torch's default threads (one per core);
- `fp32` (where the CPU has bf16 hardware): today's defaults with `sampling.bf16=false`;
- `skysynth`: today's defaults (MaskGIT in bf16 where the CPU computes it natively) with
  `threads=auto` (one thread per free core);
- with `--cloud-type NAME`, `typed`: the defaults growing that named cloud type (the token
  classifier's and the token prior's guidance, the stages that match the input left out);
- with `--set KEY=VALUE` (repeatable), `variant`: the defaults with those settings.

`--load` adds a second CPU-bound process (a single-threaded matmul loop) for the loaded rows.
Prints seconds per photo, the median and worst over the photos, the per-stage split and the
ratios baseline / skysynth and fp32 / skysynth.

    .venv/bin/python benchmarks/outpaint_speed.py [--photos 6] [--jobs thesis,224] [--load both] [--no-baseline]
        [--cloud-type cumulus] [--set sampling.outward=1]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skysynth.common.hardware import use_bf16  # noqa: E402
from skysynth.common.images import to_tensor  # noqa: E402
from skysynth.common.threads import usable_cores, use_threads  # noqa: E402
from skysynth.eval.outpaint_eval import photo_split  # noqa: E402
from skysynth.flatness import luminance_std  # noqa: E402
from skysynth.outpaint.config import ConfigError, OutpaintConfig, with_overrides  # noqa: E402
from skysynth.outpaint.pipeline import Outpainter  # noqa: E402

JOBS = {"thesis": (128, (1024, 512)), "224": (112, (224, 224))}
GCD = ROOT.parent / "shared" / "data" / "gcd" / "train"
BASELINE = {
    "sampling.batch_windows": 1,
    "guard.window.redraw_budget": 1e6,
    "sampling.bf16": False,
    "sampling.decode_steps": 12,
}
COMPARED = ("baseline", "fp32", "typed", "variant")  # the rows given as a ratio to skysynth, in this order


def photos(count: int) -> list[tuple[str, Image.Image, float]]:
    """`count` validation photos spread from the flattest to the most textured: (name, image, std)."""
    if not GCD.is_dir():
        image = Image.open(ROOT / "examples" / "sky.jpg").convert("RGB")
        return [("examples/sky.jpg", image, float(luminance_std(to_tensor(image.resize((224, 224))))))]
    files = photo_split(GCD, sorted(GCD.glob("*/*.jpg")), 0.05)[::4]
    scored = []
    for path in files:
        image = Image.open(path).convert("RGB")
        scored.append((float(luminance_std(to_tensor(image))), path, image))
    scored.sort(key=lambda item: item[0])
    picks = [scored[round(i * (len(scored) - 1) / max(count - 1, 1))] for i in range(count)]
    return [(f"{p.parent.name}/{p.name}", image, std) for std, p, image in picks]


def _spin(stop) -> None:
    torch.set_num_threads(1)
    a = torch.randn(256, 256)
    while not stop.is_set():
        a = torch.tanh(a @ a)


def run_job(op: Outpainter, image: Image.Image, side: int, size, config, threads: str) -> tuple[float, dict, int]:
    used = use_threads(threads)
    small = image.resize((side, side), Image.Resampling.LANCZOS)
    start = time.perf_counter()
    result = op(small, size=size, config=config, generator=torch.Generator().manual_seed(0))
    return time.perf_counter() - start, result.timings, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--jobs", default="thesis,224", help=f"comma-separated: {', '.join(JOBS)}")
    parser.add_argument("--load", choices=("quiet", "loaded", "both"), default="both")
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="leave the baseline path out (it can take many minutes per photo beside a busy process); "
        "the ratios are then fp32 / skysynth",
    )
    parser.add_argument("--cloud-type", help="add a row growing this named cloud type (ratio typed / skysynth)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="add a row with these pipeline settings over the defaults (ratio variant / skysynth); repeatable",
    )
    args = parser.parse_args()
    jobs = args.jobs.split(",")
    if args.photos < 1 or any(job not in JOBS for job in jobs):
        parser.error(f"--photos must be at least 1 and --jobs from {', '.join(JOBS)}")
    if args.no_baseline and not use_bf16(None, "cpu"):
        parser.error("--no-baseline needs a CPU with bf16 hardware: the fp32 row is then the only reference")
    op = Outpainter.from_pretrained()
    configs = {} if args.no_baseline else {"baseline": with_overrides(OutpaintConfig(), BASELINE)}
    if use_bf16(None, "cpu"):
        configs["fp32"] = with_overrides(OutpaintConfig(), {"sampling.bf16": False})
    configs["skysynth"] = OutpaintConfig()
    if args.cloud_type:
        try:
            configs["typed"] = with_overrides(OutpaintConfig(), {"sampling.cloud_type": args.cloud_type})
        except ConfigError as error:
            parser.error(str(error))
    if args.set:
        try:
            configs["variant"] = with_overrides(OutpaintConfig(), args.set)
        except ConfigError as error:
            parser.error(str(error))
    chosen = photos(args.photos)
    default_threads = str(usable_cores())
    print(f"torch={torch.__version__} cores={usable_cores()} photos={len(chosen)} bf16={use_bf16(None, 'cpu')}")
    op(chosen[0][1].resize((112, 112)), size=(224, 224))  # warm-up
    loads = ("quiet", "loaded") if args.load == "both" else (args.load,)
    for load in loads:
        stop = multiprocessing.Event()
        spinner = multiprocessing.Process(target=_spin, args=(stop,), daemon=True) if load == "loaded" else None
        if spinner:
            spinner.start()
            time.sleep(1.0)
        try:
            for job in jobs:
                side, size = JOBS[job]
                totals = {label: [] for label in configs}
                print(f"\n{job} job ({side} -> {size[0]}x{size[1]}), {load}")
                columns = "".join(f" {label + ' s':>11s}" for label in configs)
                ratios = "".join(f" {k[:4]}/sky" for k in COMPARED if k in configs)
                print(f"{'photo':42s} {'std':>6s}{columns}{ratios}  stages (skysynth)")
                for name, image, std in chosen:
                    for label, config in configs.items():
                        threads = default_threads if label == "baseline" else "auto"
                        seconds, stages, used = run_job(op, image, side, size, config, threads)
                        totals[label].append(seconds)
                        if label == "skysynth":  # the stage column is the defaults' (a variant runs after them)
                            shown, shown_threads = stages, used
                    split = ", ".join(f"{k} {v:.2f}" for k, v in shown.items())
                    print(f"{name:42s} {std:6.3f}{_figures(totals, -1)}  [{shown_threads} thr] {split}")
                for label, pick in (("median", statistics.median), ("worst", max)):
                    picked = {k: [pick(v)] for k, v in totals.items()}
                    print(f"{label:42s} {'':6s}{_figures(picked, -1)}")
        finally:
            if spinner:
                stop.set()
                spinner.join()


def _figures(totals: dict[str, list[float]], index: int) -> str:
    """The seconds of each config at `index`, then each of baseline, fp32, typed and variant / skysynth."""
    seconds = {label: values[index] for label, values in totals.items()}
    text = "".join(f" {value:11.2f}" for value in seconds.values())
    return text + "".join(f" {seconds[k] / seconds['skysynth']:7.2f}x" for k in COMPARED if k in seconds)


if __name__ == "__main__":
    main()
